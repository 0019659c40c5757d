/**
 * Sync tars as another writer makes them: the layout of docs/formats.md (oci-layout, index.json, blobs depth first,
 * index.json again; with ace-dt's `-r`, each manifest's referrers right after its subtree) put together by GNU tar
 * (GNU headers, `./` names, directories with a trailing slash, the second index.json appended with `tar -r`),
 * compressed by the gzip and zstd commands, and no sidecar.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { digestHex } from '../../../src/core/oci/digest.ts';
import { successors } from '../../../src/core/oci/graph.ts';
import { Annotation, isManifest, MediaType, type Descriptor } from '../../../src/core/oci/descriptor.ts';
import { mergeBlobs, parseManifest, type ImageSet } from '../../../testkit/images.ts';

const exec = promisify(execFile);

export interface AceDtTarOptions {
  /** The batch-list reference: the root's ref.name. */
  refName: string;
  /** Non-manifest blobs an earlier tar holds: left out. */
  leaveOut?: ReadonlySet<string>;
  compression: 'none' | 'gzip' | 'zstd';
  /** ace-dt's `-r`: referrers (signatures, SBOMs) of manifests in the graph or of each other, as the referrers API lists them. */
  referrers?: readonly ImageSet[];
}

export async function writeAceDtTar(path: string, set: ImageSet, options: AceDtTarOptions): Promise<void> {
  const staging = await mkdtemp(join(tmpdir(), 'bs-acedt-'));
  try {
    const blobs = mergeBlobs([set, ...(options.referrers ?? [])]);
    const order = aceDtWalk(set, options.referrers ?? []).filter((d) => isManifest(d.mediaType) || !options.leaveOut?.has(d.digest));
    const root = { ...set.root, annotations: { [Annotation.refName]: options.refName } };
    const annotations = { [Annotation.serializationVersion]: '2', [Annotation.layerSizeDeduplicated]: '0' };
    const index = (manifests: Descriptor[]) => JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests, annotations });
    await mkdir(join(staging, 'blobs', 'sha256'), { recursive: true });
    await writeFile(join(staging, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    await writeFile(join(staging, 'index.json'), index([root]));
    for (const d of order) await writeFile(join(staging, 'blobs', 'sha256', digestHex(d.digest)), blobs.get(d.digest) as Uint8Array);
    const tar = `${path}.plain`;
    const names = [
      './oci-layout',
      './index.json',
      './blobs/',
      './blobs/sha256/',
      ...order.map((d) => `./blobs/sha256/${digestHex(d.digest)}`),
    ];
    await exec('tar', ['--format=gnu', '--no-recursion', '-cf', tar, '-C', staging, ...names]);
    const manifests = order.filter((d) => isManifest(d.mediaType));
    await writeFile(join(staging, 'index.json'), index([root, ...manifests.slice(1)]));
    await exec('tar', ['--format=gnu', '-rf', tar, '-C', staging, './index.json']);
    if (options.compression === 'none') await rename(tar, path);
    else {
      await exec(options.compression === 'gzip' ? 'gzip' : 'zstd', options.compression === 'gzip' ? ['-n', tar] : ['-q', '--rm', tar]);
      await rename(`${tar}.${options.compression === 'gzip' ? 'gz' : 'zst'}`, path);
    }
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

/**
 * ace-dt's writeDescriptor: the root, then each manifest before what it points at (oras-go's Successors: subject,
 * config, layers), each blob once; with `-r`, a manifest's referrers (Predecessors) right after its subtree.
 */
function aceDtWalk(set: ImageSet, referrers: readonly ImageSet[]): Descriptor[] {
  const blobs = mergeBlobs([set, ...referrers]);
  const order: Descriptor[] = [];
  const seen = new Set<string>();
  const visit = (d: Descriptor) => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    order.push(d);
    if (!isManifest(d.mediaType)) return;
    for (const child of successors(blobs.get(d.digest) as Uint8Array, d.digest)) visit(child);
    for (const referrer of referrers) if (parseManifest(referrer, referrer.root).subject?.digest === d.digest) visit(referrer.root);
  };
  visit(set.root);
  return order;
}
