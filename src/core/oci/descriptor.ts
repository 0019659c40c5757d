/** OCI content descriptors and the media types the graph walk distinguishes. */

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
  artifactType?: string;
  urls?: string[];
}

export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
} as const;

export const manifestMediaTypes: readonly string[] = Object.values(MediaType);

export function isManifest(mediaType: string): boolean {
  return manifestMediaTypes.includes(mediaType);
}

/** The parts of an image manifest or index that point at other content. */
export interface Manifest {
  schemaVersion?: number;
  mediaType?: string;
  artifactType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export const Annotation = {
  refName: 'org.opencontainers.image.ref.name',
  extraManifests: 'vnd.act3-ace.data.extra-manifests',
  serializationVersion: 'vnd.act3-ace.data.serialization.version',
  layerSizeDeduplicated: 'vnd.act3-ace.data.layer.size.deduplicated',
  layerSizeTotal: 'vnd.act3-ace.data.layer.size.total',
  manifestSource: 'vnd.act3-ace.manifest.source',
  toolVersion: 'vnd.act3-ace.data.serialization.tool',
  /** Ours, in a tar's index.json: the `--dedup-scope` it was serialized with (`name`, `all`), for the far side. */
  dedupScope: 'vnd.batch-serialize.dedup-scope',
} as const;

/** A manifest's size cap: a registry that serves more is misbehaving, and we hold manifests in memory. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
