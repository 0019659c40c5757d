import pLimit from 'p-limit';
import { isDigest } from './digest.ts';
import { Annotation, isManifest, type Descriptor, type Manifest } from './descriptor.ts';
import type { FetchedManifest, ReadOnlyStorage } from './storage.ts';

export interface GraphNode {
  descriptor: Descriptor;
  /** The bytes of a manifest or index (always shipped, so always fetched); absent for other blobs. */
  manifest?: Uint8Array;
}

export interface Graph {
  root: Descriptor;
  /** Every distinct blob in tar order: depth first, each manifest before what it points at. */
  nodes: GraphNode[];
  /** Every manifest met, in walk order, root first, each as the descriptor it was first met by. */
  manifests: Descriptor[];
}

const MANIFEST_FETCHES = 8;

/**
 * oras-go's Successors, as ace-dt calls it: a manifest's subject first, then an index's manifests or a manifest's
 * config and layers; any index may name more in the `vnd.act3-ace.data.extra-manifests` annotation (ace-dt's index
 * fallback, which ace-dt follows on every index, nested ones too), after those.
 */
export function successors(manifest: Uint8Array, where: string): Descriptor[] {
  const json = parseManifest(manifest, where);
  const found = [
    ...(json.subject ? [json.subject] : []),
    ...(json.manifests ?? []),
    ...(json.config ? [json.config] : []),
    ...(json.layers ?? []),
  ];
  const extra = Array.isArray(json.manifests) ? json.annotations?.[Annotation.extraManifests] : undefined;
  if (extra !== undefined) found.push(...parseExtraManifests(extra, where));
  for (const descriptor of found) checkDescriptor(descriptor, where);
  return found;
}

/** The manifest a referrer (a signature, an SBOM: OCI 1.1's `subject`) is about; undefined for any other. */
export function subjectOf(manifest: Uint8Array, where: string): Descriptor | undefined {
  return parseManifest(manifest, where).subject;
}

function parseManifest(manifest: Uint8Array, where: string): Manifest {
  try {
    return JSON.parse(Buffer.from(manifest).toString('utf8')) as Manifest;
  } catch (error) {
    throw new Error(`${where}: manifest is not JSON: ${(error as Error).message}`);
  }
}

function parseExtraManifests(value: string, where: string): Descriptor[] {
  try {
    const parsed: unknown = JSON.parse(value);
    if (Array.isArray(parsed)) return parsed as Descriptor[];
  } catch {
    // reported below with the annotation's name
  }
  throw new Error(`${where}: annotation ${Annotation.extraManifests} is not a JSON array of descriptors`);
}

function checkDescriptor(descriptor: Descriptor, where: string): void {
  const valid =
    descriptor !== null &&
    typeof descriptor === 'object' &&
    typeof descriptor.mediaType === 'string' &&
    isDigest(descriptor.digest) &&
    Number.isSafeInteger(descriptor.size) &&
    descriptor.size >= 0;
  if (!valid) throw new Error(`${where}: bad descriptor ${JSON.stringify(descriptor)} (sha256 digests and sizes only)`);
}

/**
 * Walks an artifact's graph from its root, fetching every manifest (children of an index concurrently); the root's
 * bytes are not fetched again when given (fetched with the root: ReadOnlyStorage.fetchReference).
 */
export async function walkGraph(storage: ReadOnlyStorage, root: Descriptor | FetchedManifest): Promise<Graph> {
  const limit = pLimit(MANIFEST_FETCHES);
  const fetches = new Map<string, Promise<Uint8Array>>();
  if ('bytes' in root) fetches.set(root.descriptor.digest, Promise.resolve(root.bytes));
  const rootDescriptor = descriptorOf(root);
  const fetchManifest = (descriptor: Descriptor): Promise<Uint8Array> => {
    let pending = fetches.get(descriptor.digest);
    if (!pending) {
      pending = limit(() => storage.fetchManifest(descriptor));
      pending.catch(() => undefined); // awaited in visit(); a sibling's failure must not go unhandled meanwhile
      fetches.set(descriptor.digest, pending);
    }
    return pending;
  };

  const graph: Graph = { root: rootDescriptor, nodes: [], manifests: [] };
  const seen = new Set<string>();
  const visit = async (descriptor: Descriptor): Promise<void> => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    if (!isManifest(descriptor.mediaType)) {
      graph.nodes.push({ descriptor });
      return;
    }
    const manifest = await fetchManifest(descriptor);
    graph.nodes.push({ descriptor, manifest });
    graph.manifests.push(descriptor);
    const next = successors(manifest, `${storage.location}@${descriptor.digest}`);
    for (const child of next) if (isManifest(child.mediaType) && !seen.has(child.digest)) void fetchManifest(child);
    for (const child of next) await visit(child);
  };
  await visit(rootDescriptor);
  return graph;
}

/** The descriptor of a root, fetched with its bytes or not. */
export function descriptorOf(root: Descriptor | FetchedManifest): Descriptor {
  return 'bytes' in root ? root.descriptor : root;
}

export function totalSize(descriptors: Iterable<Descriptor>): number {
  let total = 0;
  for (const descriptor of descriptors) total += descriptor.size;
  return total;
}

/** An artifact's graph as a registry accepts it pushed. */
export interface ChildrenFirstGraph {
  /** Each manifest after everything it points at, the top last. */
  manifests: Array<{ descriptor: Descriptor; bytes: Uint8Array }>;
  /** Every non-manifest blob, once each, in walk order. */
  blobs: Descriptor[];
}

/**
 * The graph below `top` through manifests held in memory: each manifest after what it points at, the other blobs
 * in walk order, and the manifests that are not at hand. Extra manifests count on every index. What `skip` names
 * (a referrer's subject, pushed before it) is left out, and so is everything below it.
 */
export function walkManifests(
  top: Descriptor,
  manifests: ReadonlyMap<string, Uint8Array>,
  skip: ReadonlySet<string> = new Set(),
): ChildrenFirstGraph & { missing: Descriptor[] } {
  const graph: ChildrenFirstGraph & { missing: Descriptor[] } = { manifests: [], blobs: [], missing: [] };
  const seen = new Set(skip);
  const visit = (descriptor: Descriptor): void => {
    if (seen.has(descriptor.digest)) return;
    seen.add(descriptor.digest);
    if (!isManifest(descriptor.mediaType)) {
      graph.blobs.push(descriptor);
      return;
    }
    const bytes = manifests.get(descriptor.digest);
    if (bytes === undefined) {
      graph.missing.push(descriptor);
      return;
    }
    for (const child of successors(bytes, `manifest ${descriptor.digest}`)) visit(child);
    graph.manifests.push({ descriptor, bytes });
  };
  visit(top);
  return graph;
}
