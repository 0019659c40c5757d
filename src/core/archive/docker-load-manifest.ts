import { digestHex } from '../oci/digest.ts';
import type { Graph } from '../oci/graph.ts';
import { Annotation, type Manifest } from '../oci/descriptor.ts';

interface DockerLoadEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

const blobPath = (digest: string) => `blobs/sha256/${digestHex(digest)}`;

/**
 * ace-dt's `--manifest-json`: a docker-load style list of the images in the tar. RepoTags come from the
 * ref.name a gather index gives each image (or the artifact's own reference when the root is an image).
 */
export function dockerLoadManifest(graph: Graph, artifact: string): Uint8Array {
  const entries: DockerLoadEntry[] = [];
  for (const { descriptor, manifest } of graph.nodes) {
    if (manifest === undefined) continue;
    const json = JSON.parse(Buffer.from(manifest).toString('utf8')) as Manifest;
    if (!json.config) continue;
    const tag = descriptor.digest === graph.root.digest ? artifact : descriptor.annotations?.[Annotation.refName];
    entries.push({
      Config: blobPath(json.config.digest),
      RepoTags: tag && tag.includes(':') ? [tag] : [],
      Layers: (json.layers ?? []).map((layer) => blobPath(layer.digest)),
    });
  }
  return Buffer.from(JSON.stringify(entries));
}
