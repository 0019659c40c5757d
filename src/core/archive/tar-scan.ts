import { lstat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { LAYOUT_VERSION, MAX_INDEX_JSON_BYTES } from '../oci/layout.ts';
import { readCapped } from '../streams.ts';
import { DigestMismatchError } from '../oci/digest.ts';
import { subjectOf, successors, walkManifests, type ChildrenFirstGraph } from '../oci/graph.ts';
import { Annotation, isManifest, MAX_MANIFEST_BYTES, type Descriptor, type Manifest } from '../oci/descriptor.ts';
import { basename } from 'node:path';
import { checkSidecar, readSidecar, type SidecarCheck, type SidecarLine } from './sidecar.ts';
import { entryHazard, hashTarFile, readTarFile, TarReadError, type PartRead, type TarEntry, type TarFile } from './tar-reader.ts';
import { digestHex } from '../oci/digest.ts';
import { parsePartName, partName } from '../sync-dir/sync-name.ts';
import type { DedupScope } from '../sync-dir/dedup-scope.ts';

/** What one sync tar holds, read once from end to end, and everything wrong with it. */
export interface TarScan {
  path: string;
  /** The paths of the parts read as the tar (`--max-file-size`), in order; empty for a tar in one file. */
  parts: readonly string[];
  /** Undefined when the stream could not be read to its end (the reason is among the problems). */
  file: TarFile | undefined;
  sidecar: SidecarCheck | undefined;
  /** The root as the first index.json names it, with its ref.name annotation (the batch-list reference). */
  root: Descriptor | undefined;
  /** Blobs whose content hashes to their names: digest → size. */
  held: Map<string, number>;
  /** The bytes of every manifest met, each checked. */
  manifests: Map<string, Uint8Array>;
  graph: ChildrenFirstGraph | undefined;
  /**
   * The root graph's referrers (ace-dt's `-r`: signatures, SBOMs; referrers of those too), listed in the closing
   * index.json: in push order, each after its subject, each graph without what the root's and earlier ones hold.
   */
  referrers: Referrer[];
  /** The `--dedup-scope` the tar was serialized with, as its index.json records it (ace-dt's and older tars: none). */
  dedupScope: DedupScope | undefined;
  /** Failures: the tar must not be trusted or loaded. */
  problems: string[];
  /** Worth saying, not failures (a missing sidecar: ace-dt writes none). */
  notes: string[];
}

/**
 * Sees the blobs a manifest read before points at as the scan reads them (deserialize uploads them meanwhile): a
 * sink for a blob's bytes, or undefined. Only while the scan has found no problem, never for a manifest.
 */
export type BlobTap = (blob: Descriptor) => Promise<BlobSink | undefined>;

export interface BlobSink {
  write(chunk: Buffer): Promise<void> | void;
  /** The bytes ended: `ok` when they hashed to the blob's name; else nothing of them may be used. */
  close(ok: boolean): void;
}

export interface Referrer {
  descriptor: Descriptor;
  graph: ChildrenFirstGraph;
}

/** A scan that has read nothing yet (or never will: then its problems say why). */
export function emptyScan(path: string, problems: string[] = [], parts: readonly string[] = []): TarScan {
  return {
    path,
    parts,
    file: undefined,
    sidecar: undefined,
    root: undefined,
    held: new Map(),
    manifests: new Map(),
    graph: undefined,
    referrers: [],
    dedupScope: undefined,
    problems,
    notes: [],
  };
}

/**
 * Reads a tar (ours or ace-dt's, any compression) the way a deserializer must trust it: the layout file, the
 * root in index.json, every blob against its name, every manifest parsed (they come before what they point at),
 * the closing index.json, and the root's graph complete as far as manifests go (every manifest travels in every
 * tar; other blobs may have been left out because an earlier tar holds them).
 */
export async function scanTar(path: string, parts: readonly string[] = [], tap?: BlobTap): Promise<TarScan> {
  const scan = emptyScan(path, [], parts);
  const listed = parts.length === 0 ? undefined : await readSidecar(path);
  if (listed !== undefined) {
    const wrong = await partsProblems(path, parts, listed);
    if (wrong.length > 0) {
      scan.problems.push(...wrong);
      return scan;
    }
  }
  const visitor = new ScanVisitor(scan, tap);
  try {
    scan.file = await readTarFile(path, (entry, body) => visitor.visit(entry, body), { parts });
  } catch (error) {
    if (!(error instanceof TarReadError)) throw error;
    scan.problems.push(error.message);
    return scan;
  }
  scan.sidecar =
    listed === undefined ? await checkSidecar(path, scan.file.sha256) : checkParts(listed, scan.file.parts ?? [], scan.problems);
  // Damaged parts are named among the problems already.
  const partsChecked = listed !== undefined && 'lines' in listed;
  if (scan.sidecar.state === 'mismatch' && !partsChecked) scan.problems.unshift(`checksum mismatch: ${scan.sidecar.reason}`);
  if (scan.sidecar.state === 'missing') {
    const what =
      parts.length === 0 ? 'the file as a whole is unchecked' : 'its parts are unchecked (a missing last part shows as a truncated tar)';
    scan.notes.push(`no .sha256 sidecar (ace-dt writes none): ${what}`);
  }
  if (scan.sidecar.state === 'joined') {
    scan.notes.push(
      `its sidecar lists ${scan.sidecar.parts} parts and the file here is whole (joined with cat?): the file as a whole is ` +
        'unchecked (its blobs are checked)',
    );
  }
  visitor.finish();
  return scan;
}

/**
 * A tar's parts checked against its sidecar without reading them as a tar (`record`, before it moves a shard's
 * parts): the problems scanTar names first (a part missing, unlisted or damaged, no sidecar), or, when there are
 * none, the sidecar's lines and the joined file's size and sha256. The parts may sit in other directories than
 * `path`, whose sidecar is read.
 */
export async function checkPartFiles(
  path: string,
  parts: readonly string[],
): Promise<{ problems: string[] } | { problems: []; lines: SidecarLine[]; file: { bytes: number; sha256: string } }> {
  const listed = await readSidecar(path);
  if (!('lines' in listed)) return { problems: [listed.state === 'mismatch' ? listed.reason : 'no sidecar (.sha256) listing its parts'] };
  const problems = await partsProblems(path, parts, listed);
  if (problems.length > 0) return { problems };
  let file: Awaited<ReturnType<typeof hashTarFile>>;
  try {
    file = await hashTarFile(path, parts);
  } catch (error) {
    return { problems: [(error as Error).message] };
  }
  checkParts(listed, file.parts, problems);
  return problems.length > 0 ? { problems } : { problems: [], lines: listed.lines, file };
}

/**
 * Why the parts found cannot be read as the tar, before anything is read: the whole tar here too (which one is
 * the tar is unknowable), a part the sidecar lists that is not here, a part it does not list, or, without a sidecar,
 * a gap in the part numbers.
 */
async function partsProblems(path: string, parts: readonly string[], listed: Awaited<ReturnType<typeof readSidecar>>): Promise<string[]> {
  const here = parts.map((part) => basename(part));
  const problems: string[] = [];
  if (await exists(path)) {
    problems.push(`both ${basename(path)} and its parts (${here.join(', ')}) are here: which is the tar is unknowable (remove one)`);
  }
  if ('lines' in listed) {
    const names = listed.lines.map((line) => line.name);
    for (const name of names) if (!here.includes(name)) problems.push(`${name} is missing: the sidecar lists ${names.length} parts`);
    for (const name of here) {
      if (!names.includes(name)) problems.push(`${name}: a part the sidecar ${listed.path} does not list (it lists ${names.length})`);
    }
    return problems;
  }
  const syncName = basename(path);
  const indexes = here.map((name) => parsePartName(name)?.index ?? 0);
  const highest = Math.max(...indexes);
  for (let index = 1; index <= highest; index++) {
    if (!indexes.includes(index)) problems.push(`${partName(syncName, index)} is missing: the parts have a gap (part ${highest} is here)`);
  }
  return problems;
}

/**
 * Each part against its sidecar line (their names matched already); a mismatch is a problem named by the part, first
 * among the problems (a damaged part usually breaks the stream too: that comes after).
 */
function checkParts(
  listed: { path: string; lines: SidecarLine[] } | SidecarCheck,
  read: readonly PartRead[],
  problems: string[],
): SidecarCheck {
  if (!('lines' in listed)) return listed;
  const damage: string[] = [];
  for (const part of read) {
    const name = basename(part.path);
    const line = listed.lines.find((candidate) => candidate.name === name);
    if (line === undefined || line.sha256 === part.sha256) continue;
    damage.push(
      `${name}: checksum mismatch: ${listed.path} says sha256 ${digestHex(line.sha256)}, the part hashes to ${digestHex(part.sha256)}`,
    );
  }
  problems.unshift(...damage);
  return damage.length === 0 ? { state: 'match' } : { state: 'mismatch', reason: `${damage.length} of ${read.length} parts damaged` };
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

/** `blobs`, `blobs/sha256`, and the `./` some writers put first (cleaned to ''). */
const EXPECTED_DIRECTORIES = new Set(['', '.', 'blobs', 'blobs/sha256']);

class ScanVisitor {
  private readonly scan: TarScan;
  /** Descriptors learned from index.json and the manifests read so far; the first met wins. */
  private readonly known = new Map<string, Descriptor>();
  /**
   * Blobs nothing before them pointed at that look like manifests: referrers, which only the closing index.json
   * names (ace-dt's `-r` writes each after its subject's graph), or strays.
   */
  private readonly unclaimed = new Map<string, Buffer>();
  private entries = 0;
  private indexes: Descriptor[][] = [];
  private readonly tap: BlobTap | undefined;

  constructor(scan: TarScan, tap: BlobTap | undefined) {
    this.scan = scan;
    this.tap = tap;
  }

  async visit(entry: TarEntry, body: Readable): Promise<void> {
    const position = this.entries++;
    const hazard = entryHazard(entry);
    if (hazard !== undefined) {
      this.scan.problems.push(hazard);
      return;
    }
    if (entry.digest !== undefined) return this.blob(entry, entry.digest, body);
    if (entry.type === 'directory') {
      if (!EXPECTED_DIRECTORIES.has(entry.name)) this.scan.notes.push(`unexpected directory ${entry.name} (ignored)`);
      return;
    }
    if (entry.name === 'oci-layout') return this.layout(body, position);
    if (entry.name === 'index.json') return this.index(entry, body);
    // ace-dt's --manifest-json adds a docker-load style manifest.json; nothing to load from it.
    if (entry.name !== 'manifest.json') this.scan.notes.push(`unexpected entry ${entry.name} (${entry.type}, ignored)`);
  }

  finish(): void {
    const { scan } = this;
    const [first, last] = [this.indexes[0], this.indexes.at(-1)];
    if (first === undefined) {
      scan.problems.push('no index.json: nothing names the root');
      return;
    }
    const closing = this.indexes.length < 2 ? undefined : last;
    if (closing === undefined)
      scan.problems.push('no closing index.json after the blobs (docs/formats.md "Tar layout": index.json comes again last)');
    else {
      this.claim(closing);
      this.checkClosingIndex(closing);
    }
    if (scan.root === undefined) return;
    scan.graph = this.graph(scan.root);
    const reached = new Set([...scan.graph.manifests.map((m) => m.descriptor.digest), ...scan.graph.blobs.map((d) => d.digest)]);
    scan.referrers = this.referrers(closing ?? [], reached);
    this.noteStrays(reached);
  }

  private async layout(body: Readable, position: number): Promise<void> {
    const text = (await readEntry(body, MAX_INDEX_JSON_BYTES)).toString('utf8');
    let version: unknown;
    try {
      version = (JSON.parse(text) as { imageLayoutVersion?: unknown }).imageLayoutVersion;
    } catch {
      version = undefined;
    }
    if (version !== LAYOUT_VERSION)
      this.scan.problems.push(`oci-layout is not {"imageLayoutVersion":"${LAYOUT_VERSION}"}: ${JSON.stringify(text.slice(0, 100))}`);
    if (position !== 0) this.scan.notes.push('oci-layout is not the first entry');
  }

  private async index(entry: TarEntry, body: Readable): Promise<void> {
    const ordinal = this.indexes.length + 1;
    if (entry.size > MAX_INDEX_JSON_BYTES) {
      this.scan.problems.push(`index.json #${ordinal} is ${entry.size} bytes, over the ${MAX_INDEX_JSON_BYTES}-byte limit`);
      return;
    }
    let json: Manifest;
    try {
      json = JSON.parse((await readEntry(body, MAX_INDEX_JSON_BYTES)).toString('utf8')) as Manifest;
    } catch (error) {
      this.scan.problems.push(`index.json #${ordinal} is not JSON: ${(error as Error).message}`);
      this.indexes.push([]);
      return;
    }
    const manifests = Array.isArray(json.manifests) ? json.manifests : [];
    this.indexes.push(manifests);
    if (ordinal > 2)
      this.scan.problems.push(`index.json appears ${ordinal} times (docs/formats.md "Tar layout": once before the blobs, once after)`);
    if (ordinal !== 1) return;
    // The one manifest, or the one named by ref.name (ace-dt's deserializer takes the first; ours and ace-dt's tars have one).
    const named = manifests.filter((m) => m?.annotations?.[Annotation.refName] !== undefined);
    const root = named.length === 1 ? named[0] : manifests.length === 1 ? manifests[0] : undefined;
    if (root === undefined || !isManifest(root.mediaType)) {
      this.scan.problems.push(
        `index.json names no root: expected one manifest, or one with ${Annotation.refName} ` +
          `(found ${manifests.length}, ${named.length} named)`,
      );
      return;
    }
    this.scan.root = root;
    this.known.set(root.digest, root);
    const scope = json.annotations?.[Annotation.dedupScope];
    if (scope === 'name' || scope === 'all') this.scan.dedupScope = scope;
    else if (scope !== undefined)
      this.scan.problems.push(
        `index.json's ${Annotation.dedupScope} is ${JSON.stringify(scope)}, not name or all (a newer batch-serialize?)`,
      );
  }

  private async blob(entry: TarEntry, digest: string, body: Readable): Promise<void> {
    const { scan } = this;
    if (scan.held.has(digest)) {
      scan.problems.push(`blob ${digest} appears twice`);
      return;
    }
    const known = this.known.get(digest);
    if (known !== undefined && known.size !== entry.size) {
      scan.problems.push(`blob ${digest} is ${entry.size} bytes; the descriptor that points at it says ${known.size}`);
    }
    const manifest = known !== undefined && isManifest(known.mediaType);
    if (manifest && entry.size > MAX_MANIFEST_BYTES) {
      scan.problems.push(`manifest ${digest} is ${entry.size} bytes, over the ${MAX_MANIFEST_BYTES}-byte limit for manifests`);
    }
    // Nothing before it pointed at it: a referrer, or a stray. Read when it could be a manifest.
    const unclaimed = known === undefined && entry.size <= MAX_MANIFEST_BYTES;
    let bytes: Buffer | undefined;
    const tapped = known !== undefined && !manifest && known.size === entry.size && scan.problems.length === 0;
    const sink = tapped ? await this.tap?.(known) : undefined;
    try {
      if ((manifest || unclaimed) && entry.size <= MAX_MANIFEST_BYTES) bytes = await readEntry(body, MAX_MANIFEST_BYTES);
      else for await (const chunk of body as AsyncIterable<Buffer>) await sink?.write(chunk);
      sink?.close(true);
    } catch (error) {
      sink?.close(false);
      if (!(error instanceof DigestMismatchError)) throw error;
      scan.problems.push(error.message);
      return;
    }
    scan.held.set(digest, entry.size);
    if (bytes === undefined) return;
    if (!manifest) return this.keepIfManifest(digest, bytes);
    try {
      this.learn(successors(bytes, `manifest ${digest}`));
      scan.manifests.set(digest, bytes);
    } catch (error) {
      scan.problems.push((error as Error).message);
    }
  }

  private learn(children: Descriptor[]): void {
    for (const child of children) if (!this.known.has(child.digest)) this.known.set(child.digest, child);
  }

  /**
   * An unclaimed blob that looks like a manifest is kept until the closing index.json says whether it is one;
   * what it points at is known meanwhile, so a referrer's own manifests are read as manifests.
   */
  private keepIfManifest(digest: string, bytes: Buffer): void {
    if (!looksLikeManifest(bytes)) return;
    this.unclaimed.set(digest, bytes);
    try {
      this.learn(successors(bytes, `manifest ${digest}`));
    } catch {
      // said if the closing index.json names it a manifest (claim)
    }
  }

  /** The unclaimed blobs the closing index.json lists as manifests are manifests: checked as such now. */
  private claim(listed: Descriptor[]): void {
    const { scan } = this;
    for (const descriptor of listed) {
      const bytes = this.unclaimed.get(descriptor?.digest);
      if (bytes === undefined || !isManifest(descriptor.mediaType)) continue;
      this.unclaimed.delete(descriptor.digest);
      if (bytes.byteLength !== descriptor.size) {
        scan.problems.push(`blob ${descriptor.digest} is ${bytes.byteLength} bytes; the closing index.json says ${descriptor.size}`);
        continue;
      }
      try {
        successors(bytes, `manifest ${descriptor.digest}`);
        scan.manifests.set(descriptor.digest, bytes);
      } catch (error) {
        scan.problems.push((error as Error).message);
      }
    }
  }

  private checkClosingIndex(listed: Descriptor[]): void {
    const { scan } = this;
    const [first] = listed;
    if (scan.root !== undefined && first?.digest !== scan.root.digest) {
      scan.problems.push(`the closing index.json starts with ${first?.digest ?? 'nothing'}, not the root ${scan.root.digest}`);
    }
    if (first?.annotations?.[Annotation.refName] === undefined)
      scan.problems.push(`the closing index.json's root has no ${Annotation.refName} annotation`);
    for (const descriptor of listed) {
      const digest = descriptor?.digest;
      if (!scan.manifests.has(digest) && !scan.problems.some((problem) => problem.includes(digest)))
        scan.problems.push(`the closing index.json lists manifest ${digest} that the tar does not hold`);
    }
  }

  /** The root's graph; a manifest the tar lacks (or holds before anything points at it) is a problem. */
  private graph(root: Descriptor): ChildrenFirstGraph {
    const { missing, ...graph } = walkManifests(root, this.scan.manifests);
    this.reportMissing(missing);
    return graph;
  }

  /**
   * What the closing index.json lists beyond the root's graph (`reached`, which grows): referrers of a manifest of
   * the graph or of an earlier referrer (ace-dt's `-r`), in push order. Anything else listed has no place there.
   */
  private referrers(listed: Descriptor[], reached: Set<string>): Referrer[] {
    const { scan } = this;
    const subject = (descriptor: Descriptor) =>
      subjectOf(scan.manifests.get(descriptor.digest) as Uint8Array, `manifest ${descriptor.digest}`);
    let pending = listed.filter((descriptor) => scan.manifests.has(descriptor?.digest) && !reached.has(descriptor.digest));
    const found: Referrer[] = [];
    for (let progress = true; progress;) {
      progress = false;
      for (const descriptor of pending) {
        const about = subject(descriptor);
        if (reached.has(descriptor.digest) || about === undefined || !reached.has(about.digest)) continue;
        const { missing, ...graph } = walkManifests(descriptor, scan.manifests, reached);
        this.reportMissing(missing);
        for (const digest of [...graph.manifests.map((m) => m.descriptor.digest), ...graph.blobs.map((d) => d.digest)]) reached.add(digest);
        found.push({ descriptor, graph });
        progress = true;
      }
      pending = pending.filter((descriptor) => !reached.has(descriptor.digest));
    }
    for (const descriptor of pending) {
      const about = subject(descriptor);
      scan.problems.push(
        `the closing index.json lists manifest ${descriptor.digest}, which is neither in the root's graph nor a referrer of it ` +
          (about === undefined ? '(it has no subject)' : `(its subject ${about.digest} is neither)`),
      );
    }
    return found;
  }

  private reportMissing(missing: Descriptor[]): void {
    const { scan } = this;
    for (const descriptor of missing) {
      if (!scan.held.has(descriptor.digest))
        scan.problems.push(
          `manifest ${descriptor.digest} (${descriptor.mediaType}) is not in the tar; every tar carries all its manifests`,
        );
      else if (!scan.problems.some((p) => p.includes(descriptor.digest)))
        scan.problems.push(
          `manifest ${descriptor.digest} comes before anything in the tar points at it (docs/formats.md "Tar layout": depth first)`,
        );
    }
  }

  private noteStrays(reached: ReadonlySet<string>): void {
    const strays = [...this.scan.held.keys()].filter((digest) => !reached.has(digest));
    if (strays.length > 0)
      this.scan.notes.push(
        `${strays.length} blob(s) not in the root's graph: ${strays.slice(0, 3).join(', ')}${strays.length > 3 ? ', …' : ''}`,
      );
  }
}

/** JSON with a schemaVersion of 2 and manifests, or a config: an image index or manifest (either kind). */
function looksLikeManifest(bytes: Buffer): boolean {
  if (!bytes.toString('utf8', 0, 64).trimStart().startsWith('{')) return false;
  try {
    const json = JSON.parse(bytes.toString('utf8')) as Manifest | null;
    return json?.schemaVersion === 2 && (Array.isArray(json.manifests) || (typeof json.config === 'object' && json.config !== null));
  } catch {
    return false;
  }
}

/** An entry's bytes in memory; `limit` guards against a size header that lies. */
function readEntry(body: Readable, limit: number): Promise<Buffer> {
  return readCapped(body, limit, () => new Error(`entry runs past ${limit} bytes`));
}
