/**
 * The image-spec v1 structs ace-dt decodes (github.com/opencontainers/image-spec/specs-go/v1: ImageLayout,
 * Descriptor, Platform, Index, Manifest) as Go types for go-json's decoder, and the media-type tests of
 * internal/mirror/encoding/mediatype.go.
 */
import { decodeAs, type GoType } from './go-json.ts';

export interface GoDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Map<string, string>;
}

export interface GoIndex {
  manifests: GoDescriptor[];
  subject: GoDescriptor | undefined;
  annotations: Map<string, string>;
}

export interface GoManifest {
  config: GoDescriptor;
  layers: GoDescriptor[];
  subject: GoDescriptor | undefined;
}

const string: GoType = { kind: 'string', name: 'string' };
const annotations: GoType = { kind: 'stringMap', name: 'map[string]string' };
const platform: GoType = {
  kind: 'struct',
  name: 'v1.Platform',
  fields: {
    architecture: string,
    os: string,
    'os.version': string,
    'os.features': { kind: 'slice', name: '[]string', elem: string },
    variant: string,
  },
};
const descriptor: GoType = {
  kind: 'struct',
  name: 'v1.Descriptor',
  fields: {
    mediaType: string,
    digest: { kind: 'string', name: 'digest.Digest' },
    size: { kind: 'int', name: 'int64' },
    urls: { kind: 'slice', name: '[]string', elem: string },
    annotations,
    data: { kind: 'bytes', name: '[]uint8' },
    platform: { kind: 'pointer', name: '*v1.Platform', elem: platform },
    artifactType: string,
  },
};
const descriptors: GoType = { kind: 'slice', name: '[]v1.Descriptor', elem: descriptor };
const subject: GoType = { kind: 'pointer', name: '*v1.Descriptor', elem: descriptor };
const schemaVersion: GoType = { kind: 'int', name: 'int' };

export const goTypes = {
  imageLayout: { kind: 'struct', name: 'v1.ImageLayout', fields: { imageLayoutVersion: string } } as GoType,
  index: {
    kind: 'struct',
    name: 'v1.Index',
    fields: { schemaVersion, mediaType: string, artifactType: string, manifests: descriptors, subject, annotations },
  } as GoType,
  manifest: {
    kind: 'struct',
    name: 'v1.Manifest',
    fields: { schemaVersion, mediaType: string, artifactType: string, config: descriptor, layers: descriptors, subject, annotations },
  } as GoType,
  descriptors,
};

export const decodeIndex = (value: unknown) => decodeAs(value, goTypes.index) as GoIndex;
export const decodeManifest = (value: unknown) => decodeAs(value, goTypes.manifest) as GoManifest;
export const decodeDescriptors = (value: unknown) => decodeAs(value, goTypes.descriptors) as GoDescriptor[];

export const mediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  octetStream: 'application/octet-stream',
} as const;

/** encoding.IsIndex */
export const isIndex = (mediaType: string) => mediaType === mediaTypes.ociIndex || mediaType === mediaTypes.dockerList;
/** encoding.IsManifest: an index or an image manifest. */
export const isManifest = (mediaType: string) =>
  isIndex(mediaType) || mediaType === mediaTypes.ociManifest || mediaType === mediaTypes.dockerManifest;

/** The (mediaType, digest, size) triple oras-go and ace-dt key their stores and caches by. */
export const keyOf = (d: Pick<GoDescriptor, 'mediaType' | 'digest' | 'size'>) => `${d.mediaType}\n${d.digest}\n${d.size}`;
