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

/** Uploaded by a run of the repository itself, not one for a pull request from a fork (which names artifacts as it likes). */
export const fromForkRun = (run: NonNullable<RestArtifact['workflowRun']>): boolean => run.headRepositoryId !== run.repositoryId;

/** `artifact NAME (id N)`: how messages name an artifact. */
export const described = (artifact: { name: string; id: number }) => `artifact ${artifact.name} (id ${artifact.id})`;
