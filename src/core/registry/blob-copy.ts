import { Readable } from 'node:stream';
import type { Descriptor } from '../oci/descriptor.ts';
import type { Repository, Target } from '../oci/storage.ts';

/**
 * Puts a blob that `source` holds into `target`: mounted when both are on one registry and it agrees, else
 * streamed through us (the download starts only if the registry declined the mount).
 */
export async function copyBlob(target: Target, descriptor: Descriptor, source: Repository): Promise<'mounted' | 'uploaded'> {
  const content = Readable.from(download(source, descriptor), { objectMode: false });
  try {
    const mountFrom = registryOf(source) === registryOf(target) ? { mountFrom: source.repository } : {};
    return await target.pushBlob(descriptor, content, mountFrom);
  } finally {
    content.destroy();
  }
}

async function* download(source: Repository, descriptor: Descriptor): AsyncGenerator<Buffer> {
  yield* (await source.fetchBlob(descriptor)) as AsyncIterable<Buffer>;
}

function registryOf(repository: Target): string {
  return repository.location.slice(0, repository.location.length - repository.repository.length - 1);
}
