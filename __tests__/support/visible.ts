import type { MemoryRegistry } from '../../src/core/oci/memory-store.ts';

/**
 * The repositories of the registry that hold a manifest or a tag: what a pull can see. A refused tar may leave
 * blobs behind (uploaded while it was checked), never a manifest (docs/formats.md "What verify and deserialize refuse").
 */
export async function visibleIn(registry: MemoryRegistry): Promise<string[]> {
  const visible: string[] = [];
  for (const location of registry.repositories()) {
    const [host, ...path] = location.split('/');
    const repository = registry.repository({ registry: host as string, repository: path.join('/') });
    const manifests = await Promise.all(
      repository.digests().map((digest) =>
        repository.resolve(digest).then(
          () => true,
          () => false,
        ),
      ),
    );
    if (repository.tags().length > 0 || manifests.some(Boolean)) visible.push(location);
  }
  return visible;
}
