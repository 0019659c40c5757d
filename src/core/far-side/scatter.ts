import pLimit from 'p-limit';
import { copyBlob } from '../registry/blob-copy.ts';
import type { Destination } from './destination.ts';
import { successors, walkManifests } from '../oci/graph.ts';
import { Annotation, isManifest, type Descriptor } from '../oci/descriptor.ts';
import type { Repositories, Repository } from '../oci/storage.ts';
import { pushGraph } from './push-graph.ts';
import { scatterTarget, type ScatterRule } from './scatter-map.ts';

/** One gathered image pushed to its own repository. */
export interface ScatteredImage {
  source: string;
  /** `host/repo:tag` or `host/repo@sha256:…` */
  target: string;
  digest: string;
}

export interface ScatterInput {
  root: Descriptor;
  /** Every manifest of the artifact, by digest. */
  manifests: ReadonlyMap<string, Uint8Array>;
  /** Where the whole artifact was loaded: holds every blob. */
  loadedInto: Repository;
  destination: Destination;
  rules: readonly ScatterRule[];
}

const BLOB_COPIES = 4;

/**
 * ace-dt's `mirror scatter`: each image the gather artifact lists (children with `vnd.act3-ace.manifest.source`)
 * goes to its original repository path under the destination, its blobs mounted from where the artifact was loaded.
 */
export async function scatterArtifact(
  input: ScatterInput,
  registries: Repositories,
  /** An image this run already put at its target (another tar carried it): listed, not pushed again. */
  pushedAlready: (image: ScatteredImage) => boolean = () => false,
): Promise<ScatteredImage[]> {
  const rootBytes = input.manifests.get(input.root.digest);
  if (rootBytes === undefined) throw new Error(`scatter: the root manifest ${input.root.digest} is not at hand`);
  const images = successors(rootBytes, `manifest ${input.root.digest}`).filter(
    (child) => isManifest(child.mediaType) && child.annotations?.[Annotation.manifestSource] !== undefined,
  );
  const scattered: ScatteredImage[] = [];
  for (const image of images) {
    const source = image.annotations?.[Annotation.manifestSource] as string;
    const target = scatterTarget(source, input.destination, input.rules);
    const where = `${target.reference.registry}/${target.reference.repository}`;
    const done = { source, target: target.tag === undefined ? `${where}@${image.digest}` : `${where}:${target.tag}`, digest: image.digest };
    if (!pushedAlready(done)) await pushImage(image, registries.repository(target.reference), target.tag, input);
    scattered.push(done);
  }
  return scattered;
}

async function pushImage(image: Descriptor, repository: Repository, tag: string | undefined, input: ScatterInput): Promise<void> {
  const graph = walkManifests(image, input.manifests);
  if (graph.missing.length > 0) throw new Error(`scatter: manifest ${graph.missing[0]?.digest} of ${image.digest} is not at hand`);
  await pushGraph(repository, graph, image, tag, async (missing) => {
    const limit = pLimit(BLOB_COPIES);
    await Promise.all(missing.map((blob) => limit(() => copyBlob(repository, blob, input.loadedInto))));
  });
}
