/**
 * The repositories the server knows: the one runs belong to by default, any other a run names, and the forks pull
 * requests come from. Each has a stable numeric id (as GITHUB_REPOSITORY_ID, `repository.id` in event payloads and
 * REST, `head_repository_id` of a workflow run) and a default branch, which decides the runs' cache scopes.
 */
import { createHash } from 'node:crypto';

export interface RepositoryInfo {
  id: number;
  /** `owner/name` */
  fullName: string;
  defaultBranch: string;
  /** A fork of another repository (the head repository of a fork's pull request). */
  fork: boolean;
}

export class Repositories {
  readonly #known = new Map<string, RepositoryInfo>();

  /** Registers a repository, or returns the one already known by that name (its first registration decides). */
  add(fullName: string, options: { defaultBranch?: string; fork?: boolean } = {}): RepositoryInfo {
    if (!/^[\w.-]+\/[\w.-]+$/.test(fullName)) throw new Error(`repository ${fullName} is not owner/name`);
    const known = this.#known.get(fullName);
    if (known !== undefined) return known;
    const info: RepositoryInfo = {
      id: createHash('sha256').update(fullName).digest().readUIntBE(0, 4),
      fullName,
      defaultBranch: options.defaultBranch ?? 'main',
      fork: options.fork ?? false,
    };
    this.#known.set(fullName, info);
    return info;
  }

  get(fullName: string): RepositoryInfo | undefined {
    return this.#known.get(fullName);
  }
}
