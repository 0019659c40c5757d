/**
 * ArtifactService v2 (github.actions.results.api.v1.ArtifactService). An artifact belongs to the run whose token
 * created it; it is visible (listed, downloadable) once finalized, until expired or deleted. Names are unique per
 * run, across its attempts, among finalized artifacts: CreateArtifact of a taken name fails with 409 already_exists
 * "an artifact with this name already exists on the workflow run", which @actions/artifact surfaces as "Failed to
 * CreateArtifact: Received non-retryable error: Failed request: (409) Conflict: …" (the twirp client retries only
 * 429 and 5xx). DeleteArtifact (what deleteArtifact calls, after ListArtifacts by name) frees the name; an unfinalized
 * artifact is replaced by a new attempt.
 */
import type { BlobStore } from './blob-store.ts';
import { twirpRefusal, type Faults } from './faults.ts';
import type { Run } from './runs.ts';
import { int64Field, stringField, TwirpError, type Message } from './twirp.ts';

export interface ArtifactInfo {
  id: number;
  name: string;
  repository: string;
  runId: number;
  attempt: number;
  /** The run's head branch (a pull request's head branch, or the branch or tag of a push). */
  headBranch: string;
  /** `owner/name` the head branch lives in: `repository`, or the fork a pull request came from. */
  headRepository: string;
  /** Bytes stored (the zip, or the raw file with skipArchive); undefined until finalized. */
  size: number | undefined;
  /** `sha256:<hex>` as the uploader reported it. */
  digest: string | undefined;
  mimeType: string;
  finalized: boolean;
  expired: boolean;
  createdAt: Date;
  expiresAt: Date;
}

export interface Artifact extends ArtifactInfo {
  runBackendId: string;
  jobBackendId: string;
  blobPath: string;
  updatedAt: Date;
}

const defaultRetentionMs = 90 * 24 * 3600 * 1000;

export class ArtifactService {
  readonly #blobs: BlobStore;
  readonly #faults: Faults;
  #artifacts: Artifact[] = [];
  #ids = 0;

  constructor(blobs: BlobStore, faults: Faults) {
    this.#blobs = blobs;
    this.#faults = faults;
  }

  all(): readonly Artifact[] {
    return this.#artifacts;
  }

  infos(): ArtifactInfo[] {
    return this.#artifacts.map(({ runBackendId: _run, jobBackendId: _job, blobPath: _path, updatedAt: _updated, ...info }) => ({
      ...info,
    }));
  }

  expire(id: number): void {
    const artifact = this.byId(id);
    if (artifact === undefined) throw new Error(`no artifact with id ${id}`);
    artifact.expired = true;
    const now = new Date();
    if (artifact.expiresAt > now) artifact.expiresAt = now;
  }

  byId(id: number): Artifact | undefined {
    return this.#artifacts.find((a) => a.id === id);
  }

  nameOfBlob(path: string): string | undefined {
    return this.#artifacts.find((a) => a.blobPath === path)?.name;
  }

  /** A signed GET URL for a finalized artifact's bytes, named as GitHub names the download. */
  downloadUrl(artifact: Artifact): string {
    const fileName = artifact.mimeType === 'application/zip' ? `${artifact.name}.zip` : artifact.name;
    return this.#blobs.signedUrl(artifact.blobPath, 'r', {
      ttlMs: 60_000,
      contentDisposition:
        `attachment; filename="${fileName.replace(/[^\x20-\x7e]|"/g, '_')}"; ` + `filename*=UTF-8''${encodeURIComponent(fileName)}`,
    });
  }

  async delete(artifact: Artifact): Promise<void> {
    this.#artifacts = this.#artifacts.filter((a) => a !== artifact);
    await this.#blobs.delete(artifact.blobPath);
  }

  async call(method: string, request: Message, run: Run): Promise<Message> {
    if (stringField(request, 'workflow_run_backend_id') !== run.runBackendId) {
      throw new TwirpError('permission_denied', 'workflow_run_backend_id does not match the runtime token');
    }
    switch (method) {
      case 'CreateArtifact':
        return this.#create(request, run);
      case 'FinalizeArtifact':
        return this.#finalize(request, run);
      case 'ListArtifacts':
        return this.#list(request, run);
      case 'GetSignedArtifactURL':
        return { signed_url: this.downloadUrl(this.#named(request, run)) };
      case 'DeleteArtifact': {
        const artifact = this.#named(request, run);
        await this.delete(artifact);
        return { ok: true, artifact_id: String(artifact.id) };
      }
      default:
        throw new TwirpError('not_found', `no method ArtifactService/${method}`);
    }
  }

  async #create(request: Message, run: Run): Promise<Message> {
    checkJob(request, run);
    const name = requiredName(request);
    const refusal = this.#faults.take({ kind: 'artifact', name }, 'reserve');
    if (refusal !== undefined) throw twirpRefusal(refusal, 'reservation');
    const version = int64Field(request, 'version');
    if (version !== 4 && version !== 7) throw new TwirpError('invalid_argument', `artifact version ${String(version)} is not supported`);
    const sameName = this.#artifacts.filter((a) => a.runBackendId === run.runBackendId && a.name === name);
    if (sameName.some((a) => a.finalized))
      throw new TwirpError('already_exists', 'an artifact with this name already exists on the workflow run');
    await Promise.all(sameName.map((a) => this.delete(a)));
    const expiresAt = stringField(request, 'expires_at');
    const now = new Date();
    const id = ++this.#ids;
    const artifact: Artifact = {
      id,
      name,
      repository: run.repository,
      runId: run.runId,
      attempt: run.attempt,
      headBranch: run.headBranch,
      headRepository: run.headRepository,
      size: undefined,
      digest: undefined,
      mimeType: stringField(request, 'mime_type') || 'application/zip',
      finalized: false,
      expired: false,
      createdAt: now,
      updatedAt: now,
      expiresAt: expiresAt ? new Date(expiresAt) : new Date(now.getTime() + defaultRetentionMs),
      runBackendId: run.runBackendId,
      jobBackendId: run.jobBackendId,
      blobPath: `/blob/artifacts/${id}`,
    };
    this.#artifacts.push(artifact);
    return { ok: true, signed_upload_url: this.#blobs.signedUrl(artifact.blobPath, 'cw') };
  }

  #finalize(request: Message, run: Run): Message {
    checkJob(request, run);
    const name = requiredName(request);
    const artifact = this.#artifacts.find((a) => a.runBackendId === run.runBackendId && a.name === name && !a.finalized);
    if (artifact === undefined) throw new TwirpError('not_found', `no artifact ${name} is being uploaded in this run`);
    const refusal = this.#faults.take({ kind: 'artifact', name }, 'finalize');
    if (refusal !== undefined) throw twirpRefusal(refusal, 'finalize');
    const uploaded = this.#blobs.size(artifact.blobPath);
    if (uploaded === undefined) throw new TwirpError('failed_precondition', `nothing was uploaded for artifact ${name}`);
    const size = int64Field(request, 'size') ?? 0;
    if (size !== uploaded)
      throw new TwirpError('invalid_argument', `size ${size} but ${uploaded} bytes were uploaded for artifact ${name}`);
    Object.assign(artifact, { finalized: true, size, digest: stringField(request, 'hash') || undefined, updatedAt: new Date() });
    return { ok: true, artifact_id: String(artifact.id) };
  }

  #list(request: Message, run: Run): Message {
    const nameFilter = stringField(request, 'name_filter');
    const idFilter = int64Field(request, 'id_filter');
    const artifacts = this.#visible(run).filter(
      (a) => (nameFilter === '' || a.name === nameFilter) && (idFilter === undefined || a.id === idFilter),
    );
    return {
      artifacts: artifacts.map((a) => ({
        workflow_run_backend_id: a.runBackendId,
        workflow_job_run_backend_id: a.jobBackendId,
        database_id: String(a.id),
        name: a.name,
        size: String(a.size),
        created_at: a.createdAt.toISOString(),
        ...(a.digest === undefined ? {} : { digest: a.digest }),
      })),
    };
  }

  #named(request: Message, run: Run): Artifact {
    const name = requiredName(request);
    const artifact = this.#visible(run).find((a) => a.name === name);
    if (artifact === undefined) throw new TwirpError('not_found', `no artifact ${name} in this run`);
    return artifact;
  }

  #visible(run: Run): Artifact[] {
    return this.#artifacts.filter((a) => a.runBackendId === run.runBackendId && a.finalized && !a.expired);
  }
}

function checkJob(request: Message, run: Run): void {
  if (stringField(request, 'workflow_job_run_backend_id') !== run.jobBackendId) {
    throw new TwirpError('permission_denied', 'workflow_job_run_backend_id does not match the runtime token');
  }
}

function requiredName(request: Message): string {
  const name = stringField(request, 'name');
  if (name === '') throw new TwirpError('invalid_argument', 'name is required');
  return name;
}
