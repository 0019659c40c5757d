import type { RegistryResponse } from './transport.ts';

/** A response header's first value; undefined when absent or empty. */
export function header(response: RegistryResponse, name: string): string | undefined {
  const value = response.headers[name];
  const first = Array.isArray(value) ? value[0] : value;
  return first === undefined || first === '' ? undefined : first;
}
