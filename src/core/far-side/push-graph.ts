import pLimit from 'p-limit';
import type { Descriptor } from '../oci/descriptor.ts';
import type { ChildrenFirstGraph } from '../oci/graph.ts';
import type { Target } from '../oci/storage.ts';

/** HEAD requests in flight at once while asking a target which blobs it holds. */
const HEADS = 8;

export interface PushedGraph {
  /** The graph's blobs the target held before anything was pushed. */
  present: Set<string>;
  manifestsPushed: number;
}

/**
 * Puts the blobs the target lacks there; may refuse by throwing, before anything is pushed.
 * `missing` is in the graph's walk order.
 */
export type PutBlobs = (missing: Descriptor[], present: ReadonlySet<string>) => Promise<void>;

/**
 * Pushes an artifact's graph the way a registry accepts it: asks the target which of its blobs it holds (HEAD each,
 * a few at a time), lets `putBlobs` put the others there, then pushes the manifests children first, each the target
 * lacks by digest and the top one by `tag` when there is one (always: the tag must end up on it).
 */
export async function pushGraph(
  target: Target,
  graph: ChildrenFirstGraph,
  top: Descriptor,
  tag: string | undefined,
  putBlobs: PutBlobs,
): Promise<PushedGraph> {
  const present = await presentBlobs(target, graph.blobs);
  await putBlobs(
    graph.blobs.filter((blob) => !present.has(blob.digest)),
    present,
  );
  let manifestsPushed = 0;
  for (const { descriptor, bytes } of graph.manifests) {
    const isTop = descriptor.digest === top.digest;
    if (isTop && tag !== undefined) await target.pushManifest(tag, descriptor.mediaType, bytes);
    else if (await target.exists(descriptor)) continue;
    else await target.pushManifest(descriptor.digest, descriptor.mediaType, bytes);
    manifestsPushed++;
  }
  return { present, manifestsPushed };
}

/** The digests of `blobs` the target holds already (HEAD each). */
export async function presentBlobs(target: Target, blobs: readonly Descriptor[]): Promise<Set<string>> {
  const limit = pLimit(HEADS);
  const held = await Promise.all(blobs.map((blob) => limit(() => target.blobExists(blob.digest))));
  return new Set(blobs.filter((_, i) => held[i]).map((blob) => blob.digest));
}
