import type { RestArtifact } from './artifacts-api.ts';

/** An artifact as reports show it. */
export interface ArtifactRef {
  id: number;
  name: string;
  runId: number | undefined;
  createdAt: string;
  sizeInBytes: number;
}

export const refOf = (artifact: RestArtifact): ArtifactRef => ({
  id: artifact.id,
  name: artifact.name,
  runId: artifact.workflowRun?.id,
  createdAt: artifact.createdAt,
  sizeInBytes: artifact.sizeInBytes,
});

/** `artifact NAME (id N)`: how messages name an artifact. */
export const described = (artifact: { name: string; id: number }) => `artifact ${artifact.name} (id ${artifact.id})`;
