export const id = 96;
export const ids = [96];
export const modules = {

/***/ 96:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  runBatch: () => (/* binding */ runBatch)
});

// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: ./src/core/files.ts
var core_files = __webpack_require__(9928);
// EXTERNAL MODULE: ./node_modules/csv-parse/lib/sync.js + 9 modules
var sync = __webpack_require__(5175);
// EXTERNAL MODULE: ./src/core/input-error.ts
var input_error = __webpack_require__(496);
// EXTERNAL MODULE: ./src/core/reference.ts
var core_reference = __webpack_require__(5378);
;// CONCATENATED MODULE: ./src/core/batch-list.ts




const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HEADER = ['name', 'artifact'];
async function readBatchList(path) {
    return parseBatchList(await (0,core_files/* readRequired */.yu)(path, 'batch list'), path);
}
/**
 * formats.md "Batch list": a header only when it reads name,artifact; `#` outside quotes starts a comment;
 * the last row of a name wins, and entries come in file order of their winning rows.
 */
function parseBatchList(text, file) {
    let records;
    try {
        records = (0,sync/* parse */.qg)(text, {
            comment: '#',
            trim: true,
            skip_empty_lines: true,
            relax_column_count: true,
            info: true,
            bom: true,
        });
    }
    catch (error) {
        const line = error.lines;
        throw new input_error/* InputError */.d(`${file}${line ? `:${line}` : ''}: ${error.message}`);
    }
    const first = records[0];
    if (first && first.record.length === 2 && first.record.every((field, i) => field.toLowerCase() === HEADER[i])) {
        records.shift();
    }
    const winners = new Map();
    for (const { record, info } of records) {
        const where = `${file}:${info.lines}`;
        const entry = parseRow(record, where);
        winners.delete(entry.name);
        winners.set(entry.name, entry);
    }
    return [...winners.values()];
}
function parseRow(record, where) {
    if (record.length !== 2) {
        throw new input_error/* InputError */.d(`${where}: expected 2 columns (name,artifact), found ${record.length}`);
    }
    const [name = '', artifact = ''] = record;
    if (!NAME.test(name)) {
        throw new input_error/* InputError */.d(`${where}: invalid name ${JSON.stringify(name)}: use 1-128 of A-Z a-z 0-9 . _ -, not starting with . or -`);
    }
    if (artifact === '')
        throw new input_error/* InputError */.d(`${where}: empty artifact for name ${JSON.stringify(name)}`);
    try {
        return { name, artifact, reference: (0,core_reference/* parseReference */.F2)(artifact), where };
    }
    catch (error) {
        throw new input_error/* InputError */.d(`${where}: ${error.message}`);
    }
}

// EXTERNAL MODULE: ./src/core/ledger.ts
var core_ledger = __webpack_require__(2558);
// EXTERNAL MODULE: ./node_modules/p-limit/index.js + 1 modules
var p_limit = __webpack_require__(370);
// EXTERNAL MODULE: ./src/core/graph.ts
var core_graph = __webpack_require__(2479);
// EXTERNAL MODULE: ./src/core/oci.ts
var oci = __webpack_require__(754);
// EXTERNAL MODULE: ./src/core/tracker.ts
var tracker = __webpack_require__(2263);
;// CONCATENATED MODULE: ./src/core/planner.ts







/**
 * Resolves every artifact before anything is written (a bad row fails the run with nothing created),
 * then decides per artifact what its tar must carry.
 */
async function planBatch(input, storage) {
    const limit = (0,p_limit/* default */.A)(input.concurrency);
    const roots = await resolveAll(input.entries, storage, limit);
    const plan = { tars: [], upToDate: [], learned: [] };
    const toShip = [];
    input.entries.forEach((entry, i) => {
        const root = roots[i];
        const previous = (0,tracker/* newestRow */.fv)(input.tracker, entry.name);
        if (previous?.digest === root.digest)
            plan.upToDate.push({ entry, row: previous });
        else
            toShip.push({ entry, root, previous });
    });
    if (toShip.length === 0)
        return plan;
    const graphs = await Promise.all(toShip.map(({ entry, root }) => walkEntry(entry, root, storage)));
    const known = new KnownBlobs(input, storage, limit);
    let number = (0,tracker/* nextNumber */.Pt)(input.tracker);
    for (const [i, { entry, root, previous }] of toShip.entries()) {
        const graph = graphs[i];
        const shipped = await known.before(entry.name);
        const blobs = [];
        const deduplicated = [];
        for (const { descriptor } of graph.nodes) {
            if ((0,oci/* isManifest */.Yh)(descriptor.mediaType))
                continue;
            (shipped.has(descriptor.digest) ? deduplicated : blobs).push(descriptor);
        }
        const name = (0,tracker/* syncName */.PN)(number, entry.name, input.compression);
        const tar = {
            entry,
            number,
            syncName: name,
            root: { ...root, annotations: { ...root.annotations, [oci/* Annotation */.YH.refName]: entry.artifact } },
            graph,
            blobs,
            deduplicated,
            bytes: (0,core_graph/* totalSize */.UT)(graph.manifests) + (0,core_graph/* totalSize */.UT)(blobs),
            deduplicatedBytes: (0,core_graph/* totalSize */.UT)(deduplicated),
            previous,
        };
        plan.tars.push(tar);
        known.add(entry.name, graph);
        number++;
    }
    plan.learned = known.learned;
    return plan;
}
async function resolveAll(entries, storage, limit) {
    const results = await Promise.allSettled(entries.map((entry) => limit(() => storage.open(entry.reference).resolve((0,core_reference/* referenceSelector */.d3)(entry.reference)))));
    const failures = results.flatMap((result, i) => result.status === 'rejected' ? [`${entries[i]?.where}: ${entries[i]?.artifact}: ${result.reason.message}`] : []);
    if (failures.length > 0) {
        throw new input_error/* InputError */.d(`cannot resolve ${failures.length} of ${entries.length} artifacts; nothing was written:\n  ${failures.join('\n  ')}`);
    }
    return results.map((result) => result.value);
}
async function walkEntry(entry, root, storage) {
    try {
        return await (0,core_graph/* walkGraph */.ig)(storage.open(entry.reference), root);
    }
    catch (error) {
        throw new input_error/* InputError */.d(`${entry.where}: ${entry.artifact}: ${error.message}`);
    }
}
/** What earlier tars hold, from the ledger, or (for rows it lacks) by walking `repo@digest` in the registry. */
class KnownBlobs {
    learned = [];
    input;
    storage;
    limit;
    /** Blobs of tars planned in this run, by name. */
    planned = new Map();
    constructor(input, storage, limit) {
        this.input = input;
        this.storage = storage;
        this.limit = limit;
    }
    async before(name) {
        const inScope = (rowName) => this.input.dedupScope === 'all' || rowName === name;
        const rows = this.input.tracker.filter((row) => inScope(row.name));
        const entries = await Promise.all(rows.map((row) => this.limit(() => this.describe(row))));
        const digests = new Set();
        for (const entry of entries)
            for (const blob of entry.blobs)
                digests.add(blob.digest);
        for (const [plannedName, blobs] of this.planned)
            if (inScope(plannedName))
                for (const digest of blobs)
                    digests.add(digest);
        return digests;
    }
    add(name, graph) {
        const blobs = this.planned.get(name) ?? new Set();
        for (const { descriptor } of graph.nodes)
            blobs.add(descriptor.digest);
        this.planned.set(name, blobs);
    }
    async describe(row) {
        const known = (0,core_ledger/* entryFor */.cy)(this.input.ledger, row) ?? (0,core_ledger/* entryFor */.cy)(this.learned, row);
        if (known)
            return known;
        try {
            const reference = (0,core_reference/* pinned */.dp)((0,core_reference/* parseReference */.F2)(row.artifact), row.digest);
            const storage = this.storage.open(reference);
            const graph = await (0,core_graph/* walkGraph */.ig)(storage, await storage.resolve(row.digest));
            const blobs = graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType }));
            const entry = { syncName: row.syncName, artifact: row.artifact, digest: row.digest, tar: null, blobs };
            if (!(0,core_ledger/* entryFor */.cy)(this.learned, row))
                this.learned.push(entry);
            return entry;
        }
        catch (error) {
            throw new input_error/* InputError */.d(`tracker row ${row.syncName} (${row.artifact}@${row.digest}): no ledger entry, and its blobs cannot be learned ` +
                `from the registry: ${error.message}. Restore the ledger, or start a new sync directory.`);
        }
    }
}

// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./src/core/digest.ts
var core_digest = __webpack_require__(5543);
;// CONCATENATED MODULE: ./src/core/manifest-json.ts


const blobPath = (digest) => `blobs/sha256/${(0,core_digest/* digestHex */.sU)(digest)}`;
/**
 * ace-dt's `--manifest-json`: a docker-load style list of the images in the tar. RepoTags come from the
 * ref.name a gather index gives each image (or the artifact's own reference when the root is an image).
 */
function dockerLoadManifest(graph, artifact) {
    const entries = [];
    for (const { descriptor, manifest } of graph.nodes) {
        if (manifest === undefined)
            continue;
        const json = JSON.parse(Buffer.from(manifest).toString('utf8'));
        if (!json.config)
            continue;
        const tag = descriptor.digest === graph.root.digest ? artifact : descriptor.annotations?.[oci/* Annotation */.YH.refName];
        entries.push({
            Config: blobPath(json.config.digest),
            RepoTags: tag && tag.includes(':') ? [tag] : [],
            Layers: (json.layers ?? []).map((layer) => blobPath(layer.digest)),
        });
    }
    return Buffer.from(JSON.stringify(entries));
}

;// CONCATENATED MODULE: ./src/core/prefetch.ts

/**
 * Memory the upcoming blobs may fill while the writer is busy, shared by the window. A download that has filled
 * its share waits (TCP backpressure, the kernel's socket buffer holding more) until the writer reaches it, so
 * memory stays bounded and no byte goes through the disk twice, as spooling did. Requests are already answered
 * and data is flowing when the writer gets there, which is what hides a registry's latency; deeper buffers only
 * cost allocation and GC (32 MiB was slower than 8 on the loopback bench).
 */
const READAHEAD_BYTES = 8 * 1024 * 1024;
const MIN_SHARE = 1024 * 1024;
/**
 * The tar is written in order, one blob at a time; while it is, the next `concurrency - 1` blobs are already
 * downloading (and verifying) into memory, each up to its share of READAHEAD_BYTES. The blob being written
 * streams straight through when its download had not started yet.
 */
class Prefetcher {
    storage;
    descriptors;
    ahead;
    share;
    started = new Map();
    live = new Set();
    closed = false;
    constructor(storage, descriptors, options) {
        this.storage = storage;
        this.descriptors = descriptors;
        this.ahead = Math.max(0, options.concurrency - 1);
        this.share = Math.max(MIN_SHARE, Math.floor(READAHEAD_BYTES / Math.max(1, this.ahead)));
    }
    blobs() {
        return this.descriptors.map((descriptor, index) => ({ descriptor, open: () => this.open(index) }));
    }
    /** Stops the downloads still running; call it whether the tar succeeded or not. */
    async close() {
        this.closed = true;
        for (const stream of this.live)
            stream.destroy();
        await Promise.allSettled(this.started.values()); // a download starting meanwhile is destroyed by track()
    }
    async open(index) {
        for (let next = index + 1; next <= Math.min(index + this.ahead, this.descriptors.length - 1); next++)
            this.start(next);
        const waiting = await this.started.get(index)?.catch(() => undefined);
        // A download that broke while it waited for the writer (a server tired of a stalled connection, say) is
        // tried once more, directly; one that breaks after the writer took it fails the tar like any other.
        if (waiting !== undefined && waiting.errored === null && !waiting.destroyed)
            return waiting;
        return this.track(await this.storage.fetchBlob(this.descriptors[index]));
    }
    start(index) {
        if (this.started.has(index) || this.closed)
            return;
        const buffered = this.storage.fetchBlob(this.descriptors[index]).then((source) => {
            const buffer = new external_node_stream_.PassThrough({ highWaterMark: Math.floor(this.share / 2) }); // it buffers both sides
            (0,external_node_stream_.pipeline)(source, buffer, () => undefined); // a failure stays on `buffer`, for open() to see
            return this.track(buffer);
        });
        buffered.catch(() => undefined); // seen by open(), which tries again
        this.started.set(index, buffered);
    }
    track(stream) {
        if (this.closed) {
            stream.destroy();
            return stream;
        }
        this.live.add(stream);
        stream.once('close', () => this.live.delete(stream));
        return stream;
    }
}

// EXTERNAL MODULE: ./src/core/sidecar.ts
var sidecar = __webpack_require__(3136);
// EXTERNAL MODULE: external "node:stream/promises"
var external_node_stream_promises_ = __webpack_require__(6466);
// EXTERNAL MODULE: ./node_modules/tar-stream/index.js
var tar_stream = __webpack_require__(6118);
// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:worker_threads"
var external_node_worker_threads_ = __webpack_require__(5919);
// EXTERNAL MODULE: ./src/core/compression.ts
var compression = __webpack_require__(5721);
;// CONCATENATED MODULE: ./src/core/file-sink.ts




/**
 * From this much on, a compressed tar is compressed, hashed and written on a worker thread, beside the downloads,
 * digest checks and tar framing of the main thread (zstd, 400 MB: 3.6 s -> 1.3 s in `npm run bench`); below it
 * a worker costs more to start than it saves. An uncompressed tar stays inline: on the worker it was slower
 * (1.4 s -> 1.6 s), the copy into batches and the synchronous writes costing more than the hashing saved.
 */
const WORKER_THRESHOLD = 64 * 1024 * 1024;
function fileSink(handle, options) {
    const worker = options.compression !== 'none' && options.expectedBytes >= WORKER_THRESHOLD;
    return worker ? workerSink(handle, options) : inlineSink(handle, options);
}
/**
 * How far the tar may run ahead of the disk. A deep buffer reaches the file in a few large writev calls while the
 * next blobs stream in; the default 64 KiB made a 400 MB tar about 15% slower (`npm run bench`).
 */
const FILE_BUFFER_BYTES = 8 * 1024 * 1024;
function inlineSink(handle, options) {
    const hash = (0,external_node_crypto_.createHash)('sha256');
    let bytes = 0;
    const measure = new external_node_stream_.Transform({
        transform(chunk, _encoding, done) {
            hash.update(chunk);
            bytes += chunk.byteLength;
            done(null, chunk);
        },
    });
    // `flush` fsyncs before the stream closes the file, and pipeline settles only once it has closed.
    const file = handle.createWriteStream({ flush: true, highWaterMark: FILE_BUFFER_BYTES });
    const compress = (0,compression/* compressor */.e)(options.compression, options.level);
    let sha256;
    return {
        stages: compress ? [compress, measure, file] : [measure, file],
        written: () => ({ bytes, sha256: (sha256 ??= 'sha256:' + hash.digest('hex')) }),
    };
}
/**
 * Runs in the worker, for gzip or zstd. Messages in: `{ buffer, length }` batches of bytes, then `null` for the end; each buffer
 * goes back once written (for the next batch: no allocation, no garbage), and the end is answered with
 * `{ bytes, sha256 }` once the file is fsynced. A failure (a full disk) is thrown, which ends the worker with an
 * 'error' for the main thread.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { writeSync, fsyncSync } = require('node:fs');
const zlib = require('node:zlib');
const { fd, compression, level, chunkSize } = workerData;
const hash = require('node:crypto').createHash('sha256');
let bytes = 0;
function write(chunk) {
  hash.update(chunk);
  bytes += chunk.byteLength;
  for (let at = 0; at < chunk.byteLength; ) at += writeSync(fd, chunk, at);
}
function finish() {
  fsyncSync(fd);
  parentPort.postMessage({ bytes, sha256: 'sha256:' + hash.digest('hex') });
}
const compress =
  compression === 'gzip' ? zlib.createGzip(level === undefined ? { chunkSize } : { chunkSize, level })
  : zlib.createZstdCompress(level === undefined ? { chunkSize } : { chunkSize, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
compress.on('data', write);
compress.on('end', finish);
compress.on('error', (error) => { throw error; });
// A compressor ends only once every batch went through on its own: zstd frames the last input differently when
// it comes with the end, which would make the file depend on timing.
let compressing = 0;
let ending = false;
const endWhenIdle = () => ending && compressing === 0 && compress.end();
const giveBack = (buffer) => parentPort.postMessage(buffer, [buffer]);
parentPort.on('message', (batch) => {
  if (batch === null) {
    ending = true;
    return endWhenIdle();
  }
  const chunk = new Uint8Array(batch.buffer, 0, batch.length);
  compressing++;
  compress.write(chunk, () => {
    compressing--;
    giveBack(batch.buffer);
    endWhenIdle();
  });
});`;
/** Bytes gathered into one message: few enough messages that posting costs little, each one copy. */
const BATCH_BYTES = 2 * 1024 * 1024;
/** Batches posted but not yet taken, at most: the tar waits beyond it. */
const MAX_IN_FLIGHT = 4;
function workerSink(handle, options) {
    const worker = new external_node_worker_threads_.Worker(WORKER_SOURCE, {
        eval: true,
        workerData: { fd: handle.fd, compression: options.compression, level: options.level, chunkSize: compression/* COMPRESSOR_CHUNK_BYTES */.QC },
    });
    const free = [];
    let batch = new Uint8Array(BATCH_BYTES);
    let filled = 0;
    let inFlight = 0;
    let failure;
    let waiting;
    let result;
    const wake = () => {
        const resume = waiting;
        waiting = undefined;
        resume?.(failure);
    };
    worker.on('message', (message) => {
        if (message instanceof ArrayBuffer) {
            inFlight--;
            free.push(message);
        }
        else
            result = message;
        wake();
    });
    worker.on('error', (error) => {
        failure = error;
        wake();
    });
    worker.on('exit', () => {
        failure ??= new Error('the file writer thread stopped early');
        wake();
    });
    const settled = (done, ready) => {
        if (failure)
            return done(failure);
        if (ready())
            return done();
        waiting = (error) => (error ? done(error) : settled(done, ready));
    };
    const post = () => {
        worker.postMessage({ buffer: batch.buffer, length: filled }, [batch.buffer]);
        inFlight++;
        const reused = free.pop();
        batch = reused === undefined ? new Uint8Array(BATCH_BYTES) : new Uint8Array(reused);
        filled = 0;
    };
    const sink = new external_node_stream_.Writable({
        highWaterMark: BATCH_BYTES,
        write(chunk, _encoding, done) {
            for (let at = 0; at < chunk.byteLength;) {
                const taken = Math.min(BATCH_BYTES - filled, chunk.byteLength - at);
                batch.set(chunk.subarray(at, at + taken), filled);
                filled += taken;
                at += taken;
                if (filled === BATCH_BYTES)
                    post();
            }
            settled(done, () => inFlight < MAX_IN_FLIGHT);
        },
        final(done) {
            if (filled > 0)
                post();
            worker.postMessage(null);
            settled(done, () => result !== undefined);
        },
        destroy(error, done) {
            void worker.terminate().finally(() => done(error));
        },
    });
    sink.once('finish', () => void worker.terminate());
    return {
        stages: [sink],
        written: () => result,
    };
}

;// CONCATENATED MODULE: ./src/core/tar-writer.ts







const FILE_MODE = 0o666;
const DIRECTORY_MODE = 0o777;
const EPOCH = new Date(0);
const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
/** The largest size a ustar header holds in its 11 octal digits (8 GiB - 1). */
const USTAR_MAX_SIZE = 0o77777777777;
/**
 * Writes one OCI image layout as a tar (formats.md, "Tar layout") to `path`, which must not exist yet.
 * The file is fsynced before this resolves; on any failure it is removed and the failure's cause is thrown.
 * Blobs stream through one at a time with backpressure: no blob is ever held whole in memory.
 */
async function writeTar(path, contents, options) {
    if (contents.manifests[0]?.digest !== contents.root.digest) {
        throw new Error(`tar ${path}: the manifests list must start with the root ${contents.root.digest}`);
    }
    const firstIndex = indexJson([contents.root], contents.annotations);
    const pack = (0,tar_stream.pack)();
    pack.on('error', ignore); // what destroys it reaches us through the pipeline and the entries
    const abort = new AbortController();
    const tearDown = (error) => {
        if (!abort.signal.aborted) {
            abort.abort(error);
            pack.destroy(error instanceof Error ? error : new Error(String(error)));
        }
        throw error;
    };
    const handle = await (0,promises_.open)(path, 'wx');
    const sink = fileSink(handle, { compression: options.compression, level: options.level, expectedBytes: blobBytes(contents.blobs) });
    const source = external_node_stream_.Readable.from(pack, { objectMode: false });
    const flowing = (0,external_node_stream_promises_.pipeline)(source, ...sink.stages);
    const [flowed, filled] = await Promise.allSettled([
        flowing.catch(tearDown),
        fillPack(pack, contents, firstIndex, options.onBytes, abort.signal).catch(tearDown),
    ]);
    const failure = rootCause(flowed, filled);
    if (failure !== undefined) {
        await handle.close(); // a no-op unless the stream never got to close it
        await (0,promises_.rm)(path, { force: true });
        throw failure.error;
    }
    await handle.close();
    return { path, ...sink.written() };
}
/** The blobs' total size when it is known ahead; 0 (the small case) when they come one by one. */
function blobBytes(blobs) {
    return Array.isArray(blobs) ? blobs.reduce((sum, blob) => sum + blob.descriptor.size, 0) : 0;
}
/**
 * When one side fails the other fails too, in an order streams do not promise: a stream error that is not
 * the echo of the producer's own error (or of the tear-down) is the cause, else the producer's error is.
 */
function rootCause(flowed, filled) {
    if (flowed.status === 'rejected') {
        const echo = filled.status === 'rejected' && (flowed.reason === filled.reason || isTearDownError(flowed.reason));
        return { error: echo ? filled.reason : flowed.reason };
    }
    return filled.status === 'rejected' ? { error: filled.reason } : undefined;
}
function isTearDownError(error) {
    const code = error?.code;
    return error?.name === 'AbortError' || code === 'ERR_STREAM_PREMATURE_CLOSE';
}
async function fillPack(pack, contents, firstIndex, onBytes, signal) {
    await addBytes(pack, 'oci-layout', OCI_LAYOUT);
    await addBytes(pack, 'index.json', firstIndex);
    // tar-stream 3 writes directory names as given (its trailing-slash rule tests a field it never sets), so
    // these come out bare as formats.md wants; the tar tests pin that.
    for (const name of ['blobs', 'blobs/sha256']) {
        await startEntry(pack, { name, type: 'directory', mode: DIRECTORY_MODE, mtime: EPOCH }).done;
    }
    const written = new Set();
    for await (const blob of contents.blobs) {
        signal.throwIfAborted();
        const digest = (0,core_digest/* assertDigest */.V7)(blob.descriptor.digest, 'tar blob');
        if (written.has(digest))
            throw new Error(`blob ${digest} is listed twice for one tar`);
        written.add(digest);
        await addBlob(pack, blob, onBytes, signal);
    }
    for (const file of contents.files ?? [])
        await addBytes(pack, file.name, file.bytes);
    await addBytes(pack, 'index.json', indexJson(contents.manifests, contents.annotations));
    pack.finalize();
}
/**
 * Copies one blob into its entry through a pipeline, which reads in flowing mode: chunk by chunk as they came
 * (async iteration would join everything a prefetched stream holds into one buffer per read).
 */
async function addBlob(pack, blob, onBytes, signal) {
    const { digest, size } = blob.descriptor;
    const what = `blob ${digest}`;
    const source = await blob.open();
    const { sink, done } = startFileEntry(pack, `blobs/sha256/${(0,core_digest/* digestHex */.sU)(digest)}`, size);
    done.catch(() => undefined); // awaited below; a failure meanwhile reaches the copy through the race in write()
    let written = 0;
    const into = new external_node_stream_.Writable({
        write(chunk, _encoding, callback) {
            written += chunk.byteLength;
            if (written > size)
                return callback(new Error(`${what}: source gave more than the ${size} bytes its descriptor says`));
            onBytes?.(chunk.byteLength);
            if (sink.write(chunk))
                callback();
            else
                Promise.race([drained(sink), done]).then(() => callback(), callback);
        },
        final(callback) {
            callback(written < size ? new Error(`${what}: source ended after ${written} of the ${size} bytes its descriptor says`) : null);
        },
    });
    await (0,external_node_stream_promises_.pipeline)(source, into, { signal });
    sink.end(null); // streamx types want an argument; null adds nothing
    await done;
}
/**
 * Starts a file entry whose body the caller writes to `sink`. Past the ustar size limit tar-stream alone would
 * write a GNU base-256 size; asking it for PAX gives an extended header with `path` and `size` records, which
 * PAX readers (GNU tar, Go, libarchive) take over the ustar fields (tar-stream names that header `PaxHeader`).
 */
function startFileEntry(pack, name, size) {
    const pax = size > USTAR_MAX_SIZE ? { pax: { size: String(size) } } : {};
    return startEntry(pack, { name, size, mode: FILE_MODE, mtime: EPOCH, ...pax });
}
function addBytes(pack, name, body) {
    return startEntry(pack, { name, mode: FILE_MODE, mtime: EPOCH }, body).done;
}
/** An entry's outcome, through `done` only: tar-stream also emits a failure as an 'error' nobody needs to hear. */
function startEntry(pack, header, body) {
    let sink;
    const done = new Promise((resolve, reject) => {
        const callback = (error) => (error ? reject(error) : resolve());
        sink = body === undefined ? pack.entry(header, callback) : pack.entry(header, body, callback);
    });
    sink.on('error', ignore);
    return { sink: sink, done };
}
function ignore() { }
/** Resolves when the entry takes more bytes; rejects when the tar stream is torn down instead. */
function drained(sink) {
    return new Promise((resolve, reject) => {
        const onDrain = () => {
            sink.off('close', onClose);
            resolve();
        };
        const onClose = () => {
            sink.off('drain', onDrain);
            reject(new Error('tar stream closed while a blob was being written'));
        };
        sink.once('drain', onDrain);
        sink.once('close', onClose);
    });
}
/**
 * index.json as compact JSON with Go's field order (ace-dt's encoder) and sorted annotation keys,
 * so the same content always gives the same bytes.
 */
function indexJson(manifests, annotations) {
    return Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: oci/* MediaType */.zu.ociIndex,
        manifests: manifests.map(descriptorInGoOrder),
        annotations: sortedRecord(annotations),
    }));
}
const DESCRIPTOR_ORDER = ['mediaType', 'digest', 'size', 'urls', 'annotations', 'data', 'platform', 'artifactType'];
const PLATFORM_ORDER = ['architecture', 'os', 'os.version', 'os.features', 'variant'];
function descriptorInGoOrder(descriptor) {
    const ordered = inOrder(descriptor, DESCRIPTOR_ORDER);
    if (descriptor.annotations)
        ordered.annotations = sortedRecord(descriptor.annotations);
    if (descriptor.platform)
        ordered.platform = inOrder(descriptor.platform, PLATFORM_ORDER);
    return ordered;
}
/** Known keys in the given order, then any others as they came: nothing a source wrote is dropped. */
function inOrder(object, order) {
    const keys = [...order.filter((key) => key in object), ...Object.keys(object).filter((key) => !order.includes(key))];
    return Object.fromEntries(keys.map((key) => [key, object[key]]));
}
function sortedRecord(record) {
    return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

// EXTERNAL MODULE: ./src/core/version.ts + 1 modules
var version = __webpack_require__(4910);
;// CONCATENATED MODULE: ./src/core/serialize.ts












const PARTIAL = /^\d{6,}-.+\.tar(?:\.gz|\.zst)?\.partial$/;
/** A `.partial` tar left by a run that died is ours to remove. */
async function removeLeftovers(syncDir) {
    const names = (await (0,promises_.readdir)(syncDir).catch(() => [])).filter((name) => PARTIAL.test(name));
    await Promise.all(names.map((name) => (0,promises_.rm)((0,external_node_path_.join)(syncDir, name), { recursive: true, force: true })));
    return names;
}
/**
 * Writes the planned tars one by one. Each is written as `NAME.partial`, gets its `NAME.sha256` beside it, is
 * renamed when complete, handed to
 * `beforeRecord`, and only then recorded: ledger, then tracker, each replaced atomically.
 */
async function serializePlan(tars, state, settings, storage, hooks = {}) {
    const written = [];
    for (const tar of tars) {
        const done = await writeOne(tar, settings, storage, hooks);
        await hooks.beforeRecord?.(done);
        state.ledger.push({
            syncName: done.syncName,
            artifact: done.artifact,
            digest: done.digest,
            tar: { sha256: done.sha256, bytes: done.bytes },
            blobs: tar.graph.nodes.map(({ descriptor: { digest, size, mediaType } }) => ({ digest, size, mediaType })),
        });
        await (0,core_ledger/* writeLedger */.XL)(settings.ledgerPath, state.ledger);
        state.tracker.push({ syncName: done.syncName, number: tar.number, name: tar.entry.name, artifact: done.artifact, digest: done.digest });
        await (0,tracker/* writeTracker */.aG)(settings.trackerPath, state.tracker);
        hooks.tarRecorded?.(done);
        written.push(done);
    }
    return written;
}
async function writeOne(tar, settings, storage, hooks) {
    const path = (0,external_node_path_.join)(settings.syncDir, tar.syncName);
    if (await (0,core_files/* pathExists */.s0)(path)) {
        throw new Error(`${path} exists but the tracker does not record it; refusing to overwrite it (move it away and run again)`);
    }
    hooks.tarStarted?.(tar);
    const prefetcher = new Prefetcher(storage.open(tar.entry.reference), tar.blobs, { concurrency: settings.concurrency });
    const fetched = new Map(prefetcher.blobs().map((blob) => [blob.descriptor.digest, blob]));
    const blobs = [];
    for (const node of tar.graph.nodes) {
        const { manifest } = node;
        if (manifest !== undefined)
            blobs.push({ descriptor: node.descriptor, open: async () => external_node_stream_.Readable.from([manifest]) });
        else {
            const blob = fetched.get(node.descriptor.digest);
            if (blob)
                blobs.push(blob);
        }
    }
    const rootJson = JSON.parse(Buffer.from(tar.graph.nodes[0]?.manifest ?? '{}').toString('utf8'));
    const files = settings.manifestJson ? [{ name: 'manifest.json', bytes: dockerLoadManifest(tar.graph, tar.entry.artifact) }] : [];
    try {
        const result = await writeTar(`${path}.partial`, {
            root: tar.root,
            manifests: [tar.root, ...tar.graph.manifests.slice(1)],
            annotations: {
                [oci/* Annotation */.YH.serializationVersion]: '2',
                [oci/* Annotation */.YH.layerSizeDeduplicated]: rootJson.annotations?.[oci/* Annotation */.YH.layerSizeDeduplicated] ?? '0',
                [oci/* Annotation */.YH.toolVersion]: version/* TOOL_VERSION */.w,
            },
            blobs,
            files,
        }, { compression: settings.compression, level: settings.compressionLevel, onBytes: hooks.progress });
        const checksumPath = await (0,sidecar/* writeSidecar */.J)(path, result.sha256);
        await (0,promises_.rename)(`${path}.partial`, path);
        await (0,core_files/* syncDirectory */.zR)(settings.syncDir);
        return {
            syncName: tar.syncName,
            path,
            checksumPath,
            name: tar.entry.name,
            artifact: tar.entry.artifact,
            digest: tar.root.digest,
            bytes: result.bytes,
            sha256: result.sha256,
            blobs: blobs.length,
            contentBytes: tar.bytes,
            deduplicatedBlobs: tar.deduplicated.length,
            deduplicatedBytes: tar.deduplicatedBytes,
        };
    }
    finally {
        await prefetcher.close();
    }
}

;// CONCATENATED MODULE: ./src/core/batch.ts







/** ace-dt's `mirror batch-serialize BATCH-LIST SYNC-DIRECTORY`, without its bugs (formats.md). */
async function runBatch(settings, storage, hooks = {}, 
/** The batch list when the caller has read it already (the Action reads it first, to fail fast). */
entries) {
    entries ??= await readBatchList(settings.batchFile);
    const trackerPath = (0,external_node_path_.join)(settings.syncDir, settings.trackerFilename);
    const ledger = (0,core_ledger/* ledgerPath */.tf)(trackerPath);
    const state = { tracker: await (0,tracker/* readTracker */.T_)(trackerPath), ledger: await (0,core_ledger/* readLedger */.SC)(ledger) };
    if (!settings.dryRun)
        await removeLeftovers(settings.syncDir);
    const plan = await planBatch({ entries, ...state, compression: settings.compression, dedupScope: settings.dedupScope, concurrency: settings.concurrency }, storage);
    if (settings.dryRun || plan.tars.length === 0)
        return { plan, written: [] };
    await (0,promises_.mkdir)(settings.syncDir, { recursive: true });
    state.ledger.push(...plan.learned);
    const written = await serializePlan(plan.tars, state, { ...settings, trackerPath, ledgerPath: ledger }, storage, hooks);
    return { plan, written };
}


/***/ }),

/***/ 2479:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   UT: () => (/* binding */ totalSize),
/* harmony export */   ig: () => (/* binding */ walkGraph),
/* harmony export */   ir: () => (/* binding */ successors)
/* harmony export */ });
/* harmony import */ var p_limit__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(370);
/* harmony import */ var _digest_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(5543);
/* harmony import */ var _oci_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(754);



const MANIFEST_FETCHES = 8;
/**
 * oras-go's FindSuccessors: an index points at its manifests, a manifest at its config and layers, either at
 * its subject; the root may name more in the `vnd.act3-ace.data.extra-manifests` annotation.
 */
function successors(manifest, where, isRoot) {
    let json;
    try {
        json = JSON.parse(Buffer.from(manifest).toString('utf8'));
    }
    catch (error) {
        throw new Error(`${where}: manifest is not JSON: ${error.message}`);
    }
    const found = [...(json.manifests ?? []), ...(json.config ? [json.config] : []), ...(json.layers ?? [])];
    if (json.subject)
        found.push(json.subject);
    const extra = isRoot ? json.annotations?.[_oci_js__WEBPACK_IMPORTED_MODULE_1__/* .Annotation */ .YH.extraManifests] : undefined;
    if (extra !== undefined)
        found.push(...parseExtraManifests(extra, where));
    for (const descriptor of found)
        checkDescriptor(descriptor, where);
    return found;
}
function parseExtraManifests(value, where) {
    try {
        const parsed = JSON.parse(value);
        if (Array.isArray(parsed))
            return parsed;
    }
    catch {
        // reported below with the annotation's name
    }
    throw new Error(`${where}: annotation ${_oci_js__WEBPACK_IMPORTED_MODULE_1__/* .Annotation */ .YH.extraManifests} is not a JSON array of descriptors`);
}
function checkDescriptor(descriptor, where) {
    const valid = descriptor !== null &&
        typeof descriptor === 'object' &&
        typeof descriptor.mediaType === 'string' &&
        (0,_digest_js__WEBPACK_IMPORTED_MODULE_0__/* .isDigest */ .Bc)(descriptor.digest) &&
        Number.isSafeInteger(descriptor.size) &&
        descriptor.size >= 0;
    if (!valid)
        throw new Error(`${where}: bad descriptor ${JSON.stringify(descriptor)} (sha256 digests and sizes only)`);
}
/** Walks an artifact's graph from its root, fetching every manifest (children of an index concurrently). */
async function walkGraph(storage, root) {
    const limit = (0,p_limit__WEBPACK_IMPORTED_MODULE_2__/* ["default"] */ .A)(MANIFEST_FETCHES);
    const fetches = new Map();
    const fetchManifest = (descriptor) => {
        let pending = fetches.get(descriptor.digest);
        if (!pending) {
            pending = limit(() => storage.fetchManifest(descriptor));
            pending.catch(() => undefined); // awaited in visit(); a sibling's failure must not go unhandled meanwhile
            fetches.set(descriptor.digest, pending);
        }
        return pending;
    };
    const graph = { root, nodes: [], manifests: [] };
    const seen = new Set();
    const visit = async (descriptor, isRoot) => {
        if (seen.has(descriptor.digest))
            return;
        seen.add(descriptor.digest);
        if (!(0,_oci_js__WEBPACK_IMPORTED_MODULE_1__/* .isManifest */ .Yh)(descriptor.mediaType)) {
            graph.nodes.push({ descriptor });
            return;
        }
        const manifest = await fetchManifest(descriptor);
        graph.nodes.push({ descriptor, manifest });
        graph.manifests.push(descriptor);
        const next = successors(manifest, `${storage.location}@${descriptor.digest}`, isRoot);
        for (const child of next)
            if ((0,_oci_js__WEBPACK_IMPORTED_MODULE_1__/* .isManifest */ .Yh)(child.mediaType) && !seen.has(child.digest))
                void fetchManifest(child);
        for (const child of next)
            await visit(child, false);
    };
    await visit(root, true);
    return graph;
}
function totalSize(descriptors) {
    let total = 0;
    for (const descriptor of descriptors)
        total += descriptor.size;
    return total;
}


/***/ }),

/***/ 2558:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   SC: () => (/* binding */ readLedger),
/* harmony export */   XL: () => (/* binding */ writeLedger),
/* harmony export */   cy: () => (/* binding */ entryFor),
/* harmony export */   tf: () => (/* binding */ ledgerPath)
/* harmony export */ });
/* harmony import */ var _files_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(9928);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(496);
/* harmony import */ var _digest_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(5543);



/** The ledger sits beside the tracker: `record-keeping.csv` → `record-keeping.ledger.jsonl`. */
function ledgerPath(trackerPath) {
    return trackerPath.replace(/\.csv$/i, '') + '.ledger.jsonl';
}
async function readLedger(path) {
    const text = (await (0,_files_js__WEBPACK_IMPORTED_MODULE_0__/* .readIfExists */ .OR)(path, 'ledger')) ?? '';
    return text.split('\n').flatMap((line, i) => (line.trim() === '' ? [] : [parseEntry(line, `${path}:${i + 1}`)]));
}
function parseEntry(line, where) {
    let entry;
    try {
        entry = JSON.parse(line);
    }
    catch (error) {
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .d(`${where}: damaged ledger: ${error.message}`);
    }
    const valid = typeof entry.syncName === 'string' &&
        typeof entry.artifact === 'string' &&
        (0,_digest_js__WEBPACK_IMPORTED_MODULE_2__/* .isDigest */ .Bc)(entry.digest) &&
        Array.isArray(entry.blobs) &&
        entry.blobs.every((blob) => (0,_digest_js__WEBPACK_IMPORTED_MODULE_2__/* .isDigest */ .Bc)(blob.digest) && Number.isSafeInteger(blob.size) && typeof blob.mediaType === 'string');
    if (!valid)
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_1__/* .InputError */ .d(`${where}: damaged ledger: not a ledger entry`);
    return entry;
}
async function writeLedger(path, entries) {
    await (0,_files_js__WEBPACK_IMPORTED_MODULE_0__/* .replaceFile */ .fR)(path, entries.map((entry) => JSON.stringify(entry) + '\n').join(''));
}
/** The entry that describes a tracker row: same tar and same root, or none (then the registry must tell). */
function entryFor(entries, row) {
    return entries.find((entry) => entry.syncName === row.syncName && entry.digest === row.digest);
}


/***/ }),

/***/ 754:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   $P: () => (/* binding */ manifestMediaTypes),
/* harmony export */   YH: () => (/* binding */ Annotation),
/* harmony export */   Yh: () => (/* binding */ isManifest),
/* harmony export */   ZJ: () => (/* binding */ MAX_MANIFEST_BYTES),
/* harmony export */   zu: () => (/* binding */ MediaType)
/* harmony export */ });
/** OCI content descriptors and the media types the graph walk distinguishes. */
const MediaType = {
    ociManifest: 'application/vnd.oci.image.manifest.v1+json',
    ociIndex: 'application/vnd.oci.image.index.v1+json',
    dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
    dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};
const manifestMediaTypes = Object.values(MediaType);
function isManifest(mediaType) {
    return manifestMediaTypes.includes(mediaType);
}
const Annotation = {
    refName: 'org.opencontainers.image.ref.name',
    extraManifests: 'vnd.act3-ace.data.extra-manifests',
    serializationVersion: 'vnd.act3-ace.data.serialization.version',
    layerSizeDeduplicated: 'vnd.act3-ace.data.layer.size.deduplicated',
    layerSizeTotal: 'vnd.act3-ace.data.layer.size.total',
    manifestSource: 'vnd.act3-ace.manifest.source',
    toolVersion: 'vnd.act3-ace.data.serialization.tool',
};
/** A manifest's size cap: a registry that serves more is misbehaving, and we hold manifests in memory. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;


/***/ }),

/***/ 3136:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   E: () => (/* binding */ checkSidecar),
/* harmony export */   J: () => (/* binding */ writeSidecar)
/* harmony export */ });
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _digest_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(5543);
/* harmony import */ var _files_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(9928);



const LINE = /^([a-f0-9]{64}) [ *](.+)$/;
function sidecarPath(tarPath) {
    return `${tarPath}.sha256`;
}
/** Writes the tar's `NAME.sha256` (atomically) and returns its path. */
async function writeSidecar(tarPath, sha256) {
    const path = sidecarPath(tarPath);
    await (0,_files_js__WEBPACK_IMPORTED_MODULE_2__/* .replaceFile */ .fR)(path, `${(0,_digest_js__WEBPACK_IMPORTED_MODULE_1__/* .digestHex */ .sU)(sha256)}  ${(0,node_path__WEBPACK_IMPORTED_MODULE_0__.basename)(tarPath)}\n`);
    return path;
}
/** Compares the sidecar with the file's digest as read, as `sha256sum -c` would. */
async function checkSidecar(tarPath, sha256) {
    const path = sidecarPath(tarPath);
    const text = await (0,_files_js__WEBPACK_IMPORTED_MODULE_2__/* .readIfExists */ .OR)(path, 'checksum file');
    if (text === undefined)
        return { state: 'missing' };
    const lines = text.split('\n').filter((line) => line.trim() !== '');
    const match = lines.length === 1 ? LINE.exec(lines[0]) : null;
    if (!match)
        return { state: 'mismatch', reason: `${path} is not one sha256sum line` };
    const [, hex, name] = match;
    if (name !== (0,node_path__WEBPACK_IMPORTED_MODULE_0__.basename)(tarPath))
        return { state: 'mismatch', reason: `${path} names ${JSON.stringify(name)}, not ${(0,node_path__WEBPACK_IMPORTED_MODULE_0__.basename)(tarPath)}` };
    if (hex !== (0,_digest_js__WEBPACK_IMPORTED_MODULE_1__/* .digestHex */ .sU)(sha256))
        return { state: 'mismatch', reason: `${path} says sha256 ${hex}, the file hashes to ${(0,_digest_js__WEBPACK_IMPORTED_MODULE_1__/* .digestHex */ .sU)(sha256)}` };
    return { state: 'match' };
}


/***/ })

};
