import { checkRecordWritable, readRecords, recordPathOf } from './record.ts';
import pLimit from 'p-limit';
import { copyBlob } from '../registry/blob-copy.ts';
import { formatDestination, repositoryUnder, type Destination } from './destination.ts';
import { InputError } from '../input-error.ts';
import { Annotation, type Descriptor } from '../oci/descriptor.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';
import { parseReference } from '../oci/reference.ts';
import type { Repositories, Repository } from '../oci/storage.ts';
import { pushGraph, type PutBlobs } from './push-graph.ts';
import { scatterArtifact, type ScatteredImage } from './scatter.ts';
import type { ScatterRule } from './scatter-map.ts';
import { SUCCESSFUL_SYNCS_FILENAME, writeSuccessfulSyncs, type SyncRecord } from '../sync-dir/successful-syncs.ts';
import { listSyncDir, missingNumbers, type SyncTar } from '../sync-dir/listing.ts';
import { formatNumber, parseSyncName } from '../sync-dir/sync-name.ts';
import { notRegularFile } from '../archive/tar-reader.ts';
import { scanTar, type TarScan } from '../archive/tar-scan.ts';
import { tarScope } from './tar-scope.ts';
import { uploadFromTar, UploadsWhileChecking } from './tar-upload.ts';
import { removeLeftovers } from '../sync-dir/leftovers.ts';
import { withSyncDirLock } from '../sync-dir/lock.ts';

export { recordPathOf, writesSyncDir } from './record.ts';

export interface DeserializeSettings {
  dir: string;
  destination: Destination;
  /**
   * `name`: a blob a tar leaves out must be in DEST/NAME already; `all`: in any DEST/<name> (then mounted). Given, it
   * overrides what each tar records (unrecorded: `name`).
   */
  dedupScope?: DedupScope | undefined;
  /**
   * Also push each gathered image to its original path under the destination (undefined: don't): those of the tars
   * loaded now, and, scattering being idempotent, those of the tars here that were loaded before.
   */
  scatter: { rules: ScatterRule[] } | undefined;
  /**
   * The far-side record, `successful-syncs.csv`: where loaded tars are recorded and read from. Default
   * `DIR/successful-syncs.csv`; elsewhere when DIR is on read-only media (the rows of DIR's own file, if any, are
   * read too and carried over).
   */
  recordPath?: string;
}

export interface LoadedTar {
  syncName: string;
  name: string;
  /** `host/dest/name:tag` (or `@sha256:…` for an artifact pinned by digest only). */
  reference: string;
  digest: string;
  /** Blobs uploaded from the tar, and their bytes. */
  uploaded: number;
  uploadedBytes: number;
  /** Blobs mounted (or copied) from another repository of the destination. */
  mounted: number;
  /** Blobs the destination had already. */
  present: number;
  manifestsPushed: number;
  scattered: ScatteredImage[];
}

/** A tar loaded before whose gathered images were scattered (again) because this run was asked to scatter. */
export interface RescatteredTar {
  syncName: string;
  name: string;
  /** The repository its artifact was loaded into, where the blobs are mounted from. */
  loadedInto: string;
  scattered: ScatteredImage[];
}

export interface DeserializeResult {
  loaded: LoadedTar[];
  /** Tars that successful-syncs.csv records as loaded into this destination. */
  skipped: string[];
  /** With scatter: the skipped tars whose images were scattered, in number order. */
  rescattered: RescatteredTar[];
  /**
   * With scatter: every image this run scattered, once per target (an image several tars carry is listed once),
   * with the digest the target holds at the end of the run; loaded and rescattered tars alike.
   */
  scattered: ScatteredImage[];
}

export interface DeserializeHooks {
  tarStarted?(tar: SyncTar): void;
  /** Sidecar missing and the like: said, not failures. */
  note?(tar: SyncTar, note: string): void;
  /** Bytes uploaded from the tar so far, of those it must upload; called as they go. */
  uploading?(tar: SyncTar, done: number, total: number): void;
  tarLoaded?(loaded: LoadedTar): void;
  /** With scatter, for a tar loaded before: its images are being scattered. */
  rescattering?(tar: SyncTar): void;
  tarRescattered?(rescattered: RescatteredTar): void;
}

const HEADS = 8;
/** What a refused tar that was read leaves: at most blobs it holds (uploaded while it was checked), never a manifest or tag. */
const NO_MANIFEST_PUSHED = 'no manifest or tag of it was pushed';

/**
 * ace-dt's `mirror batch-deserialize SYNC-DIRECTORY DESTINATION`, made resumable: the tars in number order, each
 * checked whole and its left-out blobs found at the destination before anything of it is pushed, then its blobs,
 * its manifests children first, the root tagged, and only then recorded in successful-syncs.csv. The whole run holds
 * the directory's lock (serialize's and verify's too); notes about the directory come with the directory as the tar.
 */
export async function deserializeSyncDir(
  settings: DeserializeSettings,
  registries: Repositories,
  hooks: DeserializeHooks = {},
): Promise<DeserializeResult> {
  const note = (message: string) => hooks.note?.({ syncName: settings.dir, number: 0, name: '', path: settings.dir, parts: [] }, message);
  // A directory on read-only media is read without the lock (no run can write it either); the record's own check
  // then refuses if the record must be written there.
  return withSyncDirLock(settings.dir, { command: 'deserialize', note, readOnly: true }, async (lock) => {
    const leftovers = lock ? await removeLeftovers(lock, { files: [SUCCESSFUL_SYNCS_FILENAME] }) : [];
    for (const name of leftovers) note(`removed ${name}, left half written by a run that stopped`);
    return deserializeLocked(settings, registries, hooks);
  });
}

async function deserializeLocked(
  settings: DeserializeSettings,
  registries: Repositories,
  hooks: DeserializeHooks,
): Promise<DeserializeResult> {
  const listing = await listSyncDir(settings.dir);
  if (listing.duplicates.length > 0) {
    const [first] = listing.duplicates;
    throw new InputError(`${settings.dir}: ${first?.syncNames.join(' and ')} share a number; their order is unknowable`);
  }
  const syncsPath = recordPathOf(settings);
  const records = await readRecords(settings);
  const target = formatDestination(settings.destination);
  const recordOf = (tar: SyncTar) => records.find((r) => r.filename === tar.syncName && loadedInto(r, target, tar.name));
  const loader = new Loader(settings, registries, listing.tars, records);

  const result: DeserializeResult = { loaded: [], skipped: [], rescattered: [], scattered: [] };
  const irregular = new Map(listing.irregular.map((tar) => [tar.syncName, tar.kind]));
  const inOrder = [...listing.tars, ...listing.irregular].sort((a, b) => a.number - b.number || (a.syncName < b.syncName ? -1 : 1));
  // Nothing is pushed for a tar that could not be recorded: a read-only record would have every rerun push it again.
  if (inOrder.some((tar) => recordOf(tar) === undefined)) await checkRecordWritable(syncsPath);
  for (const tar of inOrder) {
    const kind = irregular.get(tar.syncName);
    if (recordOf(tar) !== undefined) {
      result.skipped.push(tar.syncName);
      if (settings.scatter === undefined) continue;
      hooks.rescattering?.(tar);
      if (kind !== undefined) throw new Error(`${tar.syncName}: cannot scatter its images: ${notRegularFile(kind)}`);
      const rescattered = await loader.rescatter(tar);
      result.rescattered.push(rescattered);
      hooks.tarRescattered?.(rescattered);
      continue;
    }
    hooks.tarStarted?.(tar);
    let loaded: LoadedTar;
    try {
      if (kind !== undefined) throw new Error(`${tar.syncName}: refused, ${notRegularFile(kind)} (nothing of it was pushed)`);
      loaded = await loader.load(tar, hooks);
    } catch (error) {
      const resume =
        result.loaded.length + result.skipped.length > 0
          ? ` (the tars before it are recorded in ${syncsPath}: a rerun resumes with ${tar.syncName})`
          : '';
      throw new Error(`${(error as Error).message}${resume}`, { cause: error });
    }
    records.push({ filename: tar.syncName, artifact: loaded.reference, timestamp: new Date().toISOString() });
    await writeSuccessfulSyncs(syncsPath, records);
    result.loaded.push(loaded);
    hooks.tarLoaded?.(loaded);
  }
  result.scattered = loader.scatteredImages();
  return result;
}

/** ace-dt records `DEST:NAME` (its older releases nothing); we record `DEST/NAME:TAG` or `DEST/NAME@DIGEST`. */
function loadedInto(record: SyncRecord, destination: string, name: string): boolean {
  const { artifact } = record;
  return (
    artifact === '' ||
    artifact === `${destination}:${name}` ||
    artifact.startsWith(`${destination}/${name}:`) ||
    artifact.startsWith(`${destination}/${name}@`)
  );
}

class Loader {
  private readonly settings: DeserializeSettings;
  private readonly registries: Repositories;
  private readonly tars: readonly SyncTar[];
  private readonly loadedNames: Set<string>;
  /** DEST itself, when ace-dt's batch-deserialize loaded earlier tars there (all names in one repository). */
  private readonly aceDtRepository: Repository | undefined;
  /** Where this run knows each blob to be: a later tar mounts rather than uploads it. */
  private readonly located = new Map<string, Repository>();
  /** What this run scattered, by target: the same image again is not pushed again, and is listed once. */
  private readonly scattered = new Map<string, ScatteredImage>();

  constructor(settings: DeserializeSettings, registries: Repositories, tars: readonly SyncTar[], records: readonly SyncRecord[]) {
    this.settings = settings;
    this.registries = registries;
    this.tars = tars;
    this.loadedNames = new Set([...tars.map((t) => t.name), ...records.flatMap((r) => parseSyncName(r.filename)?.name ?? [])]);
    const { registry, path } = settings.destination;
    const target = formatDestination(settings.destination);
    const byAceDt = records.some((r) => r.artifact === `${target}:${parseSyncName(r.filename)?.name}`);
    this.aceDtRepository = byAceDt && path !== '' ? registries.repository({ registry, repository: path }) : undefined;
  }

  async load(tar: SyncTar, hooks: DeserializeHooks): Promise<LoadedTar> {
    const { scan, early } = await this.checkAndUpload(tar, hooks);
    if (scan.problems.length > 0 || scan.root === undefined || scan.graph === undefined) {
      throw new Error(`${tar.syncName}: refused, the tar is damaged (${NO_MANIFEST_PUSHED}):\n  ${scan.problems.join('\n  ')}`);
    }
    if (early.failure !== undefined) throw early.failure;
    const { scope, note: scopeNote } = tarScope(scan, this.settings.dedupScope, 'loaded');
    for (const note of [...scan.notes, ...(scopeNote === undefined ? [] : [scopeNote])]) hooks.note?.(tar, note);
    const { root, graph, referrers } = scan;
    const repository = this.registries.repository(repositoryUnder(this.settings.destination, tar.name, tar.syncName));
    const tag = tagOf(root);

    const loaded: LoadedTar = {
      syncName: tar.syncName,
      name: tar.name,
      reference: `${repository.location}${tag === undefined ? `@${root.digest}` : `:${tag}`}`,
      digest: root.digest,
      uploaded: early.uploaded.size,
      uploadedBytes: [...early.uploaded.values()].reduce((sum, blob) => sum + blob.size, 0),
      mounted: 0,
      present: 0,
      manifestsPushed: 0,
      scattered: [],
    };
    // The referrers' blobs go with the root's (one check of what the tar leaves out before anything is pushed, one
    // pass over the tar); their manifests after the root's, each referrer after its subject.
    const blobs = [...graph.blobs, ...referrers.flatMap((referrer) => referrer.graph.blobs)];
    const putBlobs: PutBlobs = (missing) => this.putBlobs(tar, scan, scope, repository, missing, loaded, hooks);
    const pushed = await pushGraph(repository, { manifests: graph.manifests, blobs }, root, tag, putBlobs);
    loaded.present = [...pushed.present].filter((digest) => !early.uploaded.has(digest)).length;
    loaded.manifestsPushed = pushed.manifestsPushed;
    for (const referrer of referrers) {
      const manifestsOnly = { manifests: referrer.graph.manifests, blobs: [] };
      loaded.manifestsPushed += (await pushGraph(repository, manifestsOnly, referrer.descriptor, undefined, putNothing)).manifestsPushed;
    }
    for (const blob of blobs) this.located.set(blob.digest, repository);
    if (this.settings.scatter !== undefined) loaded.scattered = await this.scatter(scan, root, repository, this.settings.scatter.rules);
    return loaded;
  }

  /**
   * The tar checked whole (tar-scan.ts) while the blobs of it the repository lacks go up as the check reaches them
   * (tar-upload.ts), so the tar is read once. Nothing is made visible meanwhile: blobs no manifest points at, which
   * a refused tar may leave behind; its manifests and tag are pushed only once the whole tar checked out.
   */
  private async checkAndUpload(
    tar: SyncTar,
    hooks: DeserializeHooks,
  ): Promise<{ scan: TarScan; early: { uploaded: ReadonlyMap<string, Descriptor>; failure: unknown } }> {
    let repository: Repository;
    try {
      repository = this.registries.repository(repositoryUnder(this.settings.destination, tar.name, tar.syncName));
    } catch {
      return { scan: await scanTar(tar.path, tar.parts), early: { uploaded: new Map(), failure: undefined } }; // refused after the check
    }
    let done = 0;
    let total = 0;
    const wanted = async (blob: Descriptor) => {
      if (this.elsewhere(blob.digest, repository) !== undefined || (await repository.blobExists(blob.digest))) return false;
      total += blob.size;
      return true;
    };
    const uploads = await UploadsWhileChecking.open(tar.path, tar.parts, repository, wanted, {
      read: (bytes) => hooks.uploading?.(tar, (done = Math.min(total, done + bytes)), total),
    });
    if (uploads === undefined) return { scan: await scanTar(tar.path, tar.parts), early: { uploaded: new Map(), failure: undefined } };
    let scan: TarScan;
    try {
      scan = await scanTar(tar.path, tar.parts, uploads.tap);
    } catch (error) {
      await uploads.settle();
      throw error;
    }
    const failure = await uploads.settle();
    return { scan, early: { uploaded: uploads.uploaded, failure } };
  }

  /**
   * A tar loaded before, when this run scatters: its manifests come from the tar (checked whole, as for loading),
   * its blobs are mounted from the repository it was loaded into, the one of DEST/NAME and DEST (ace-dt's) that
   * holds its root.
   */
  async rescatter(tar: SyncTar): Promise<RescatteredTar> {
    const rules = this.settings.scatter?.rules ?? [];
    const scan = await scanTar(tar.path, tar.parts);
    if (scan.problems.length > 0 || scan.root === undefined) {
      throw new Error(`${tar.syncName}: cannot scatter its images, the tar is damaged (loaded before):\n  ${scan.problems.join('\n  ')}`);
    }
    const root = scan.root;
    const { registry, path } = this.settings.destination;
    const candidates: Repository[] = [];
    try {
      candidates.push(this.registries.repository(repositoryUnder(this.settings.destination, tar.name, tar.syncName)));
    } catch {
      // a name that cannot be a repository (ace-dt loads such a tar into DEST itself, tagged NAME)
    }
    if (path !== '') candidates.push(this.registries.repository({ registry, repository: path }));
    let loadedInto: Repository | undefined;
    for (const candidate of candidates) {
      if (await candidate.exists(root)) {
        loadedInto = candidate;
        break;
      }
    }
    if (loadedInto === undefined) {
      throw new Error(
        `${tar.syncName}: cannot scatter its images: recorded as loaded, but its root ${root.digest} is in none of ` +
          `${candidates.map((c) => c.location).join(', ') || formatDestination(this.settings.destination)} ` +
          '(deleted there? remove its row from the record to load it again)',
      );
    }
    const scattered = await this.scatter(scan, root, loadedInto, rules);
    return { syncName: tar.syncName, name: tar.name, loadedInto: loadedInto.location, scattered };
  }

  /** Every image of the run, once per target, with the digest pushed last. */
  scatteredImages(): ScatteredImage[] {
    return [...this.scattered.values()];
  }

  private async scatter(scan: TarScan, root: Descriptor, loadedInto: Repository, rules: readonly ScatterRule[]): Promise<ScatteredImage[]> {
    const input = { root, manifests: scan.manifests, loadedInto, destination: this.settings.destination, rules };
    const skip = (image: ScatteredImage) => this.scattered.get(image.target)?.digest === image.digest;
    const scattered = await scatterArtifact(input, this.registries, skip);
    for (const image of scattered) this.scattered.set(image.target, image);
    return scattered;
  }

  /**
   * The blobs the repository lacks: those the tar leaves out must be in another repository of the destination
   * (else the tar is refused, nothing of it pushed) and are mounted from there, the others stream from the tar.
   */
  private async putBlobs(
    tar: SyncTar,
    scan: TarScan,
    scope: DedupScope,
    repository: Repository,
    missing: Descriptor[],
    loaded: LoadedTar,
    hooks: DeserializeHooks,
  ): Promise<void> {
    const leftOut = missing.filter((blob) => !scan.held.has(blob.digest));
    const sources = await this.locate(leftOut, tar.name, repository, scope);
    const unfound = leftOut.filter((blob) => !sources.has(blob.digest));
    if (unfound.length > 0) throw this.refusal(tar, scan, scope, repository, unfound);
    const toUpload = new Map<string, Descriptor>();
    for (const blob of missing) {
      const source = sources.get(blob.digest) ?? this.elsewhere(blob.digest, repository);
      if (source === undefined) toUpload.set(blob.digest, blob);
      else {
        await copyBlob(repository, blob, source);
        loaded.mounted++;
      }
    }
    if (toUpload.size > 0) await this.upload(tar, scan, repository, toUpload, loaded, hooks);
  }

  /**
   * For blobs a tar leaves out and its repository lacks: another repository of the destination that holds each
   * (one this run put it in, ace-dt's single repository, or with `--dedup-scope all` another name's).
   */
  private async locate(blobs: Descriptor[], name: string, repository: Repository, scope: DedupScope): Promise<Map<string, Repository>> {
    const found = new Map<string, Repository>();
    const names = scope === 'all' ? [...this.loadedNames].filter((other) => other !== name) : [];
    const others = names.flatMap((other) => {
      try {
        return [this.registries.repository(repositoryUnder(this.settings.destination, other, other))];
      } catch {
        return []; // a name that cannot be a repository never loaded anywhere
      }
    });
    if (this.aceDtRepository !== undefined) others.unshift(this.aceDtRepository);
    const limit = pLimit(HEADS);
    await Promise.all(
      blobs.map((blob) =>
        limit(async () => {
          const known = this.elsewhere(blob.digest, repository);
          if (known !== undefined) return void found.set(blob.digest, known);
          for (const other of others) if (await other.blobExists(blob.digest)) return void found.set(blob.digest, other);
        }),
      ),
    );
    return found;
  }

  private elsewhere(digest: string, repository: Repository): Repository | undefined {
    const known = this.located.get(digest);
    return known !== undefined && known.location !== repository.location ? known : undefined;
  }

  /** The second pass: the blobs the destination lacks, from the tar to the registry, several at once (tar-upload.ts). */
  private async upload(
    tar: SyncTar,
    scan: TarScan,
    repository: Repository,
    blobs: Map<string, Descriptor>,
    loaded: LoadedTar,
    hooks: DeserializeHooks,
  ): Promise<void> {
    const total = [...blobs.values()].reduce((sum, blob) => sum + blob.size, 0);
    let done = 0;
    await uploadFromTar(scan.path, scan.parts, repository, blobs, {
      read: (bytes) => hooks.uploading?.(tar, (done = Math.min(total, done + bytes)), total),
      uploaded: (blob) => {
        loaded.uploaded++;
        loaded.uploadedBytes += blob.size;
      },
    });
  }

  private refusal(tar: SyncTar, scan: TarScan, scope: DedupScope, repository: Repository, unfound: Descriptor[]): Error {
    const present = new Set(this.tars.map((t) => t.number));
    const gaps = missingNumbers(tar.number - 1, present).map((n) => `${formatNumber(n)}-*.tar`);
    const where = scope === 'all' ? `any repository under ${formatDestination(this.settings.destination)}` : repository.location;
    const listed = unfound.slice(0, 5).map((blob) => `${blob.digest} (${blob.mediaType}, ${blob.size} bytes)`);
    const more = unfound.length > listed.length ? [`… and ${unfound.length - listed.length} more`] : [];
    const hint =
      gaps.length > 0
        ? `an earlier tar held them and is not loaded: load ${gaps.join(', ')} first`
        : `an earlier tar of ${tar.name} held them, but none is missing from the numbering here: was it loaded into another ` +
          `destination${scopeHint(scan.dedupScope, scope)}?`;
    return new Error(
      `${tar.syncName}: refused, ${NO_MANIFEST_PUSHED}: it leaves out ${unfound.length} blob(s) that ${where} does not hold; ` +
        `${hint}:\n  ${[...listed, ...more].join('\n  ')}`,
    );
  }
}

/** When a narrower scope than the tar's may be why: --dedup-scope all, which the tar records or may have been serialized with. */
function scopeHint(recorded: DedupScope | undefined, scope: DedupScope): string {
  if (scope === 'all' || recorded === 'name') return '';
  if (recorded === 'all') return ', or is --dedup-scope name wrong here (the tar records --dedup-scope all)';
  return ', or serialized with --dedup-scope all (then deserialize with --dedup-scope all)';
}

/** A referrer's blobs go with its subject's: nothing is left to put when its manifests are pushed. */
const putNothing: PutBlobs = async () => undefined;

/**
 * The tag the root gets: that of the batch-list reference in ref.name (`host/gather:sources1` → `sources1`,
 * `ubuntu` → `latest`); a reference pinned by digest alone gives none.
 */
export function tagOf(root: Descriptor): string | undefined {
  const name = root.annotations?.[Annotation.refName];
  if (name === undefined || name === '') return undefined;
  try {
    return parseReference(name).tag;
  } catch {
    return undefined;
  }
}
