/**
 * References as users write them: the docker grammar (distribution/reference) for registries,
 * and `ocidir://PATH[:TAG|@DIGEST]` (regclient's scheme) for an OCI image layout on disk.
 */

import { isDigest } from './digest.ts';

export interface RegistryReference {
  kind: 'registry';
  /** As users name it: `docker.io`, `localhost:5000`, `ghcr.io`. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
}

export interface LayoutReference {
  kind: 'ocidir';
  path: string;
  tag?: string;
  digest?: string;
}

export type Reference = RegistryReference | LayoutReference;

const DOCKER_HUB = 'docker.io';
const OCIDIR_SCHEME = 'ocidir://';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN =
  /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(?:\.(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]))*(?::[0-9]+)?$/;
const IPV6_DOMAIN = /^\[[a-fA-F0-9:]+\](?::[0-9]+)?$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const MAX_NAME = 255;

export class InvalidReferenceError extends Error {
  constructor(reference: string, why: string) {
    super(`invalid reference ${JSON.stringify(hideCredentials(reference))}: ${why}`);
    this.name = 'InvalidReferenceError';
  }
}

/** What a reference or a destination holding USER[:PASSWORD]@ is told. */
export const CREDENTIALS_REFUSED = 'credentials (USER:PASSWORD@) do not belong in it: log in to the registry instead';

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * Where a USER[:PASSWORD]@ would end: the last `@` not followed by a digest (a password may hold `/` or `@`; the
 * digest is a reference's end), or -1. An `ocidir://` path is a file's, and has none.
 */
function credentialsEnd(text: string): number {
  if (text.startsWith(OCIDIR_SCHEME)) return -1;
  for (let at = text.lastIndexOf('@'); at >= 0; at = at === 0 ? -1 : text.lastIndexOf('@', at - 1)) {
    if (!DIGEST.test(text.slice(at + 1))) return at;
  }
  return -1;
}

/**
 * `text` as a message may show it: all before an `@` that no digest follows is `***` (after a URL's scheme), for
 * it may be USER:PASSWORD. `name@sha256:…` is shown whole.
 */
export function hideCredentials(text: string): string {
  const at = credentialsEnd(text);
  if (at < 0) return text;
  const scheme = URL_SCHEME.exec(text)?.[0] ?? '';
  return `${at >= scheme.length ? scheme : ''}***${text.slice(at)}`;
}

/** USER[:PASSWORD]@HOST, with or without a URL's scheme: what a reference is refused for, in words of its own. */
function holdsCredentials(text: string): boolean {
  const at = credentialsEnd(text);
  const host = text.slice(at + 1).split('/')[0] as string;
  return at > 0 && looksLikeHost(host) && isRegistryHost(host);
}

/** distribution/reference's test of a name's first part: a host has a `.` or a `:`, or is `localhost`. */
export function looksLikeHost(part: string): boolean {
  return part.includes('.') || part.includes(':') || part === 'localhost';
}

/** `host`, `host:port` or `[ipv6]:port`, as a reference's first part names a registry. */
export function isRegistryHost(name: string): boolean {
  return DOMAIN.test(name) || IPV6_DOMAIN.test(name);
}

export function parseReference(input: string): Reference {
  const text = input.trim();
  if (text === '') throw new InvalidReferenceError(input, 'empty');
  if (holdsCredentials(text)) throw new InvalidReferenceError(input, CREDENTIALS_REFUSED);
  if (text.startsWith(OCIDIR_SCHEME)) return parseLayoutReference(text);
  if (URL_SCHEME.test(text)) throw new InvalidReferenceError(input, 'unsupported scheme (only ocidir:// and plain registry references)');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = checkDigest(input, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) throw new InvalidReferenceError(input, `bad tag ${JSON.stringify(tag)}`);
    rest = rest.slice(0, colon);
  }
  if (rest.length > MAX_NAME) throw new InvalidReferenceError(input, `repository name longer than ${MAX_NAME} characters`);

  const { registry, repository } = splitDomain(rest);
  if (registry !== DOCKER_HUB && !isRegistryHost(registry)) {
    throw new InvalidReferenceError(input, `bad registry ${JSON.stringify(registry)}`);
  }
  for (const part of repository.split('/')) {
    if (!PATH_COMPONENT.test(part)) {
      throw new InvalidReferenceError(
        input,
        `bad repository path component ${JSON.stringify(part)} (lowercase letters, digits and . _ - only)`,
      );
    }
  }
  return withTagAndDigest({ kind: 'registry', registry, repository }, tag, digest);
}

/** distribution/reference's splitDockerDomain: the first path part is a host only when it looks like one. */
function splitDomain(name: string): { registry: string; repository: string } {
  const slash = name.indexOf('/');
  const first = slash < 0 ? '' : name.slice(0, slash);
  const isHost = slash >= 0 && (looksLikeHost(first) || first !== first.toLowerCase());
  if (!isHost) {
    return { registry: DOCKER_HUB, repository: slash < 0 ? `library/${name}` : name };
  }
  const registry = first === 'index.docker.io' ? DOCKER_HUB : first;
  const repository = name.slice(slash + 1);
  return { registry, repository: registry === DOCKER_HUB && !repository.includes('/') ? `library/${repository}` : repository };
}

function parseLayoutReference(text: string): LayoutReference {
  let rest = text.slice(OCIDIR_SCHEME.length);
  let digest: string | undefined;
  let tag: string | undefined;
  const at = rest.lastIndexOf('@');
  if (at >= 0 && at > rest.lastIndexOf('/')) {
    digest = checkDigest(text, rest.slice(at + 1));
    rest = rest.slice(0, at);
  }
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    if (!TAG.test(tag)) throw new InvalidReferenceError(text, `bad tag ${JSON.stringify(tag)}`);
    rest = rest.slice(0, colon);
  }
  if (rest === '') throw new InvalidReferenceError(text, 'ocidir:// needs a path');
  return withTagAndDigest({ kind: 'ocidir', path: rest }, tag, digest);
}

function checkDigest(input: string, digest: string): string {
  if (!DIGEST.test(digest)) throw new InvalidReferenceError(input, `bad digest ${JSON.stringify(digest)}`);
  if (!isDigest(digest)) throw new InvalidReferenceError(input, `unsupported digest ${JSON.stringify(digest)} (sha256 only)`);
  return digest;
}

function withTagAndDigest<T extends Reference>(ref: T, tag: string | undefined, digest: string | undefined): T {
  if (tag !== undefined) ref.tag = tag;
  if (digest !== undefined) ref.digest = digest;
  if (tag === undefined && digest === undefined) ref.tag = 'latest';
  return ref;
}

/** The host serving the distribution API for a registry name (Docker Hub's API lives elsewhere). */
export function apiHost(registry: string): string {
  return registry === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

/** What the reference points at inside its repository: the digest when pinned, else the tag. */
export function referenceSelector(ref: Reference): string {
  return ref.digest ?? ref.tag ?? 'latest';
}

export function formatReference(ref: Reference): string {
  const base = ref.kind === 'ocidir' ? `${OCIDIR_SCHEME}${ref.path}` : `${ref.registry}/${ref.repository}`;
  return base + (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
}

/** The same repository pinned to a digest: how earlier tracker rows are revisited without re-resolving tags. */
export function pinned(ref: Reference, digest: string): Reference {
  const { tag: _tag, digest: _digest, ...where } = ref;
  return { ...where, digest } as Reference;
}

/** Loopback hosts may speak plain HTTP without being listed as insecure. */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.replace(/:[0-9]+$/, '').replace(/^\[|\]$/g, '');
  return host === 'localhost' || /^127(?:\.[0-9]{1,3}){3}$/.test(host) || host === '::1';
}
