import pLimit from 'p-limit';
import type { Descriptor } from '../oci/descriptor.ts';
import { successors, type ChildrenFirstGraph } from '../oci/graph.ts';
import type { Target } from '../oci/storage.ts';

/** HEAD requests in flight at once while asking a target which blobs it holds. */
const HEADS = 8;
/** Manifests pushed (or asked for) at once. */
const MANIFESTS = 8;

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
 * lacks by digest and the top one by `tag` when there is one (always: the tag must end up on it). Manifests that
 * point only at manifests pushed already go side by side.
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
  const limit = pLimit(MANIFESTS);
  let manifestsPushed = 0;
  for (const level of levels(graph.manifests)) {
    const pushed = await Promise.all(
      level.map(({ descriptor, bytes }) =>
        limit(async () => {
          if (descriptor.digest === top.digest && tag !== undefined) await target.pushManifest(tag, descriptor.mediaType, bytes);
          else if (await target.exists(descriptor)) return false;
          else await target.pushManifest(descriptor.digest, descriptor.mediaType, bytes);
          return true;
        }),
      ),
    );
    manifestsPushed += pushed.filter(Boolean).length;
  }
  return { present, manifestsPushed };
}

/**
 * The manifests (children first) by depth: those of a level point at manifests of earlier levels only, so a level
 * can be pushed all at once. A manifest outside the list (a referrer's subject, pushed before) does not count.
 */
function levels(manifests: ChildrenFirstGraph['manifests']): Array<ChildrenFirstGraph['manifests']> {
  const depth = new Map<string, number>();
  const found: Array<ChildrenFirstGraph['manifests']> = [];
  for (const manifest of manifests) {
    const children = successors(manifest.bytes, `manifest ${manifest.descriptor.digest}`);
    const level = 1 + Math.max(-1, ...children.map((child) => depth.get(child.digest) ?? -1));
    depth.set(manifest.descriptor.digest, level);
    (found[level] ??= []).push(manifest);
  }
  return found;
}

/** The digests of `blobs` the target holds already (HEAD each). */
export async function presentBlobs(target: Target, blobs: readonly Descriptor[]): Promise<Set<string>> {
  const limit = pLimit(HEADS);
  const held = await Promise.all(blobs.map((blob) => limit(() => target.blobExists(blob.digest))));
  return new Set(blobs.filter((_, i) => held[i]).map((blob) => blob.digest));
}
