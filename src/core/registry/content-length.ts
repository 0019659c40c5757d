import type { Descriptor } from '../oci/descriptor.ts';
import { DigestMismatchError } from '../oci/digest.ts';
import { discard } from '../streams.ts';
import { header } from './headers.ts';
import type { RegistryResponse } from './transport.ts';

/** A Content-Length that contradicts the descriptor fails before any byte is read. */
export function checkLength(what: string, response: RegistryResponse, descriptor: Descriptor): void {
  const length = header(response, 'content-length');
  if (length === undefined || Number(length) === descriptor.size) return;
  discard(response.body);
  throw new DigestMismatchError(what, descriptor, { digest: 'unknown (Content-Length)', size: Number(length) });
}
