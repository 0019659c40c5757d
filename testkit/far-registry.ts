/**
 * Reads what a registry holds with plain fetch, independently of our client: the graph below a reference,
 * every manifest and blob fetched and hashed, so a test can prove the far side equals the source.
 */
import { createHash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { expect } from 'vitest';
import { successors } from '../src/core/oci/graph.ts';
import { isManifest, manifestMediaTypes } from '../src/core/oci/descriptor.ts';
import { manifestsChildrenFirst, type ImageSet } from './images.ts';
import type { RunningRegistry } from './registry.ts';

/** Every digest below `reference` (a tag or digest) in `repository`, each fetched and checked against its digest. */
export async function fetchGraph(registryUrl: string, repository: string, reference: string): Promise<Set<string>> {
  const found = new Set<string>();
  const base = `${registryUrl}/v2/${repository}`;
  const visit = async (digestOrTag: string, mediaType: string | undefined): Promise<void> => {
    if (mediaType !== undefined && !isManifest(mediaType)) {
      const bytes = await get(`${base}/blobs/${digestOrTag}`, '*/*');
      expect(digestOf(bytes), `blob ${digestOrTag} in ${repository}`).toBe(digestOrTag);
      found.add(digestOrTag);
      return;
    }
    const bytes = await get(`${base}/manifests/${digestOrTag}`, manifestMediaTypes.join(', '));
    const digest = digestOf(bytes);
    if (digestOrTag.startsWith('sha256:')) expect(digest, `manifest ${digestOrTag} in ${repository}`).toBe(digestOrTag);
    if (found.has(digest)) return;
    found.add(digest);
    for (const child of successors(bytes, `${repository}@${digest}`)) {
      if (!found.has(child.digest)) await visit(child.digest, child.mediaType);
    }
  };
  await visit(reference, undefined);
  return found;
}

/** The digest a tag points at, by plain fetch. */
export async function resolveTag(registryUrl: string, repository: string, tag: string): Promise<string> {
  return digestOf(await get(`${registryUrl}/v2/${repository}/manifests/${tag}`, manifestMediaTypes.join(', ')));
}

/** Every digest of an image set reachable from its root. */
export function digestsOf(set: ImageSet): Set<string> {
  const manifests = manifestsChildrenFirst(set).map((descriptor) => descriptor.digest);
  return new Set([...manifests, ...set.blobs.keys()]);
}

export async function repositories(registryUrl: string): Promise<string[]> {
  const response = await fetch(`${registryUrl}/v2/_catalog`);
  return ((await response.json()) as { repositories?: string[] }).repositories ?? [];
}

/**
 * The repositories under `prefix` of a registry of testkit/registry.ts that hold a manifest (its storage has their
 * `_manifests`): what a pull can see. A refused tar may leave blobs behind, uploaded while it was checked, which no
 * manifest or tag points at (docs/formats.md "What verify and deserialize refuse").
 */
export async function repositoriesWithManifests(registry: RunningRegistry, prefix: string): Promise<string[]> {
  const storage = join(registry.dir, 'data/docker/registry/v2/repositories');
  const held = await Promise.all(
    (await repositories(registry.url))
      .filter((repo) => repo.startsWith(prefix))
      .map(async (repo) => ((await exists(join(storage, repo, '_manifests'))) ? [repo] : [])),
  );
  return held.flat();
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

async function get(url: string, accept: string): Promise<Buffer> {
  const response = await fetch(url, { headers: { accept } });
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return Buffer.from(await response.arrayBuffer());
}

function digestOf(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}
