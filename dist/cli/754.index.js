export const id = 754;
export const ids = [754];
export const modules = {

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


/***/ }),

/***/ 3356:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   _u: () => (/* binding */ SUCCESSFUL_SYNCS_FILENAME),
/* harmony export */   lQ: () => (/* binding */ readSuccessfulSyncs),
/* harmony export */   wQ: () => (/* binding */ writeSuccessfulSyncs)
/* harmony export */ });
/* harmony import */ var csv_parse_sync__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(5175);
/* harmony import */ var csv_stringify_sync__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6789);
/* harmony import */ var _files_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(9928);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(496);




const SUCCESSFUL_SYNCS_FILENAME = 'successful-syncs.csv';
const HEADER = ['filename', 'artifact', 'timestamp'];
/**
 * A missing file is a first load. ace-dt's files are read too: with or without the header, and with only
 * `filename,timestamp` (its older releases); only the file name matters for skipping.
 */
async function readSuccessfulSyncs(path) {
    const text = await (0,_files_js__WEBPACK_IMPORTED_MODULE_2__/* .readIfExists */ .OR)(path, 'successful-syncs file');
    if (text === undefined)
        return [];
    let records;
    try {
        records = (0,csv_parse_sync__WEBPACK_IMPORTED_MODULE_0__/* .parse */ .qg)(text, { relax_column_count: true, skip_empty_lines: true, trim: true, info: true });
    }
    catch (error) {
        const line = error.lines;
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d(`${path}${line ? `:${line}` : ''}: damaged successful-syncs file: ${error.message}`);
    }
    return records.flatMap(({ record, info }, i) => {
        const [filename = '', second = '', third] = record;
        if (i === 0 && filename === HEADER[0])
            return [];
        if (filename === '')
            throw new _input_error_js__WEBPACK_IMPORTED_MODULE_3__/* .InputError */ .d(`${path}:${info.lines}: damaged successful-syncs file: empty file name`);
        return [third === undefined ? { filename, artifact: '', timestamp: second } : { filename, artifact: second, timestamp: third }];
    });
}
/** Replaced atomically after each tar, so a crash leaves every finished tar recorded and no half row. */
async function writeSuccessfulSyncs(path, records) {
    const rows = [HEADER, ...records.map((r) => [r.filename, r.artifact, r.timestamp])];
    await (0,_files_js__WEBPACK_IMPORTED_MODULE_2__/* .replaceFile */ .fR)(path, (0,csv_stringify_sync__WEBPACK_IMPORTED_MODULE_1__/* .stringify */ .A)(rows, { record_delimiter: 'unix' }));
}


/***/ }),

/***/ 2206:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   Pb: () => (/* binding */ listSyncDir),
/* harmony export */   ZV: () => (/* binding */ formatNumber),
/* harmony export */   hj: () => (/* binding */ missingNumbers)
/* harmony export */ });
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(1455);
/* harmony import */ var node_fs_promises__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_fs_promises__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_1___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_1__);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(496);
/* harmony import */ var _tracker_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2263);




/** The tars of a sync directory (ours or ace-dt's), by file name; sidecars, trackers and other files are not tars. */
async function listSyncDir(dir) {
    let names;
    try {
        names = await (0,node_fs_promises__WEBPACK_IMPORTED_MODULE_0__.readdir)(dir);
    }
    catch (error) {
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${dir}: cannot read the sync directory: ${error.message}`);
    }
    const tars = [];
    for (const syncName of names) {
        const parsed = (0,_tracker_js__WEBPACK_IMPORTED_MODULE_3__/* .parseSyncName */ .uq)(syncName);
        if (parsed)
            tars.push({ syncName, ...parsed, path: (0,node_path__WEBPACK_IMPORTED_MODULE_1__.join)(dir, syncName) });
    }
    tars.sort((a, b) => a.number - b.number || (a.syncName < b.syncName ? -1 : 1));
    const byNumber = new Map();
    for (const tar of tars)
        byNumber.set(tar.number, [...(byNumber.get(tar.number) ?? []), tar.syncName]);
    const duplicates = [...byNumber].filter(([, syncNames]) => syncNames.length > 1).map(([number, syncNames]) => ({ number, syncNames }));
    const partials = names.filter((name) => name.endsWith('.partial') && (0,_tracker_js__WEBPACK_IMPORTED_MODULE_3__/* .parseSyncName */ .uq)(name.slice(0, -'.partial'.length)));
    return { tars, duplicates, partials: partials.sort() };
}
/** Numbers from 1 to `highest` that are not `present`. */
function missingNumbers(highest, present) {
    const missing = [];
    for (let number = 1; number <= highest; number++)
        if (!present.has(number))
            missing.push(number);
    return missing;
}
function formatNumber(number) {
    return String(number).padStart(6, '0');
}


/***/ }),

/***/ 6503:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {


// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  M: () => (/* binding */ TarReadError),
  i: () => (/* binding */ readTarFile)
});

// EXTERNAL MODULE: external "node:crypto"
var external_node_crypto_ = __webpack_require__(7598);
// EXTERNAL MODULE: external "node:fs"
var external_node_fs_ = __webpack_require__(3024);
// EXTERNAL MODULE: external "node:fs/promises"
var promises_ = __webpack_require__(1455);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: external "node:stream/promises"
var external_node_stream_promises_ = __webpack_require__(6466);
// EXTERNAL MODULE: ./node_modules/tar-stream/index.js
var tar_stream = __webpack_require__(6118);
// EXTERNAL MODULE: ./src/core/compression.ts
var core_compression = __webpack_require__(5721);
// EXTERNAL MODULE: ./src/core/digest.ts
var core_digest = __webpack_require__(5543);
// EXTERNAL MODULE: external "node:worker_threads"
var external_node_worker_threads_ = __webpack_require__(5919);
;// CONCATENATED MODULE: ./src/core/file-hasher.ts


/**
 * Big files are hashed on a worker thread, so that the reader's own work (tar parsing, every blob hashed
 * against its name) runs beside it on a second core; below this size a worker costs more to start than it saves.
 */
const WORKER_THRESHOLD = 64 * 1024 * 1024;
function fileHasher(size) {
    return size >= WORKER_THRESHOLD ? new WorkerHasher() : new InlineHasher();
}
class InlineHasher {
    hash = (0,external_node_crypto_.createHash)('sha256');
    update(chunk) {
        this.hash.update(chunk);
    }
    async digest() {
        return `sha256:${this.hash.digest('hex')}`;
    }
    close() { }
}
/** Runs in the worker: each message a chunk to hash (acknowledged with its size), `null` asks for the digest. */
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const hash = require('node:crypto').createHash('sha256');
parentPort.on('message', (chunk) => {
  if (chunk === null) parentPort.postMessage('sha256:' + hash.digest('hex'));
  else {
    hash.update(new Uint8Array(chunk));
    parentPort.postMessage(chunk.byteLength);
  }
});`;
/** Chunks sent but not yet hashed, at most: the reader waits beyond it. */
const MAX_PENDING = 8 * 1024 * 1024;
class WorkerHasher {
    worker = new external_node_worker_threads_.Worker(WORKER_SOURCE, { eval: true });
    pending = 0;
    room;
    result;
    failure;
    closed = false;
    constructor() {
        this.worker.on('message', (message) => {
            if (typeof message === 'string')
                return this.result?.resolve(message);
            this.pending -= message;
            if (this.pending <= MAX_PENDING)
                this.wake();
        });
        this.worker.on('error', (error) => {
            this.failure = error;
            this.wake();
            this.result?.reject(error);
        });
    }
    async update(chunk) {
        if (this.failure)
            throw this.failure;
        // A copy the worker owns: the reader still needs the original.
        const copy = new Uint8Array(chunk);
        this.pending += copy.byteLength;
        this.worker.postMessage(copy.buffer, [copy.buffer]);
        if (this.pending > MAX_PENDING)
            await new Promise((resolve) => (this.room = resolve));
        if (this.failure)
            throw this.failure;
    }
    async digest() {
        if (this.failure)
            throw this.failure;
        const digest = new Promise((resolve, reject) => (this.result = { resolve, reject }));
        this.worker.postMessage(null);
        try {
            return await digest;
        }
        finally {
            this.close();
        }
    }
    close() {
        if (this.closed)
            return;
        this.closed = true;
        void this.worker.terminate();
    }
    wake() {
        const room = this.room;
        this.room = undefined;
        room?.();
    }
}

;// CONCATENATED MODULE: ./src/core/tar-reader.ts









/** The tar could not be read to its end: truncated, not a tar, bad compression, or a visitor failed. */
class TarReadError extends Error {
    constructor(path, entry, cause) {
        const where = entry === undefined ? path : `${path}: entry ${entry}`;
        super(`${where}: ${describe(cause)}`, { cause });
        this.name = 'TarReadError';
    }
}
const READ_CHUNK = 1024 * 1024;
const BLOCK = 512;
const BLOB_NAME = /^blobs\/sha256\/([a-f0-9]{64})$/;
/**
 * Streams a tar file (plain, gzip or zstd, told by its magic bytes) entry by entry, hashing the file as stored
 * and every blob against its name in the same pass, with nothing held whole in memory.
 */
async function readTarFile(path, visit, options = {}) {
    const compression = (0,core_compression/* detectCompression */.IR)(await readHead(path));
    const hasher = options.hashFile === false ? undefined : fileHasher((await (0,promises_.stat)(path)).size);
    const tap = new CountingStream((chunk) => hasher?.update(chunk));
    const inner = new CountingStream();
    const unpack = (0,core_compression/* decompressor */.ni)(compression);
    const reader = (0,tar_stream.extract)();
    const source = (0,external_node_fs_.createReadStream)(path, { highWaterMark: READ_CHUNK });
    const flowing = unpack ? (0,external_node_stream_promises_.pipeline)(source, tap, unpack, inner, reader) : (0,external_node_stream_promises_.pipeline)(source, tap, inner, reader);
    flowing.catch(() => undefined); // awaited below; the entry loop sees the same failure first
    let current;
    let end = 0;
    try {
        for await (const stream of reader) {
            const entry = describeEntry(stream.header);
            current = entry.name;
            end = alignToBlock(stream.offset + BLOCK + entry.size);
            const bytes = stream;
            const body = external_node_stream_.Readable.from(entry.digest === undefined ? bytes : verified(bytes, entry), { objectMode: false });
            await visit(entry, body);
            if (!body.readableEnded && !body.destroyed)
                for await (const _ of body)
                    ;
            current = undefined;
        }
        await flowing;
        // Two zero blocks close a tar; without them the file ended early at an entry boundary.
        if (inner.bytes < end + 2 * BLOCK)
            throw new Error(`the tar ends after ${inner.bytes} bytes without its end-of-archive blocks (truncated?)`);
    }
    catch (error) {
        reader.destroy();
        source.destroy();
        hasher?.close();
        throw error instanceof TarReadError ? error : new TarReadError(path, current, error);
    }
    return { compression, bytes: tap.bytes, sha256: hasher ? await hasher.digest() : '', tarBytes: inner.bytes };
}
async function readHead(path) {
    const handle = await (0,promises_.open)(path, 'r');
    try {
        const head = Buffer.alloc(4);
        const { bytesRead } = await handle.read(head, 0, 4, 0);
        return head.subarray(0, bytesRead);
    }
    finally {
        await handle.close();
    }
}
function describeEntry(header) {
    const name = header.name.replace(/^(?:\.\/)+/, '').replace(/\/+$/, '');
    const type = header.type ?? 'file';
    const size = header.size ?? 0;
    const blob = type === 'file' || type === 'contiguous-file' ? BLOB_NAME.exec(name) : null;
    return { name, type, size, digest: blob ? `sha256:${blob[1]}` : undefined };
}
function alignToBlock(offset) {
    return Math.ceil(offset / BLOCK) * BLOCK;
}
async function* verified(stream, entry) {
    const hash = (0,external_node_crypto_.createHash)('sha256');
    let seen = 0;
    for await (const chunk of stream) {
        hash.update(chunk);
        seen += chunk.byteLength;
        yield chunk;
    }
    const digest = `sha256:${hash.digest('hex')}`;
    const expected = { digest: entry.digest, size: entry.size };
    if (digest !== expected.digest)
        throw new core_digest/* DigestMismatchError */.h(`blob ${expected.digest}`, expected, { digest, size: seen });
}
/** Passes bytes through, counting them and showing each chunk to `see` (waiting when it asks to). */
class CountingStream extends external_node_stream_.Transform {
    bytes = 0;
    see;
    constructor(see) {
        super({ highWaterMark: READ_CHUNK });
        this.see = see;
    }
    _transform(chunk, _encoding, done) {
        this.bytes += chunk.byteLength;
        const seen = this.see?.(chunk);
        if (seen === undefined)
            done(null, chunk);
        else
            seen.then(() => done(null, chunk), done);
    }
}
function describe(error) {
    const message = error instanceof Error ? error.message : String(error);
    const code = error?.code;
    if (message === 'Unexpected end of data' || code === 'Z_BUF_ERROR' || /unexpected end of file/i.test(message)) {
        return `${message} (the file is truncated)`;
    }
    return message;
}


/***/ }),

/***/ 1216:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   C: () => (/* binding */ walkManifests),
/* harmony export */   t: () => (/* binding */ scanTar)
/* harmony export */ });
/* harmony import */ var _digest_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(5543);
/* harmony import */ var _graph_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2479);
/* harmony import */ var _oci_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(754);
/* harmony import */ var _sidecar_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(3136);
/* harmony import */ var _tar_reader_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(6503);





const MAX_INDEX_JSON_BYTES = 32 * 1024 * 1024;
const LAYOUT_VERSION = '1.0.0';
/**
 * Reads a tar (ours or ace-dt's, any compression) the way a deserializer must trust it: the layout file, the
 * root in index.json, every blob against its name, every manifest parsed (they come before what they point at),
 * the closing index.json, and the root's graph complete as far as manifests go (every manifest travels in every
 * tar; other blobs may have been left out because an earlier tar holds them).
 */
async function scanTar(path, options = {}) {
    const scan = { path, file: undefined, sidecar: undefined, root: undefined, held: new Map(), manifests: new Map(), graph: undefined, problems: [], notes: [] };
    const visitor = new ScanVisitor(scan);
    try {
        scan.file = await (0,_tar_reader_js__WEBPACK_IMPORTED_MODULE_4__/* .readTarFile */ .i)(path, (entry, body) => visitor.visit(entry, body), { hashFile: options.hashFile ?? true });
    }
    catch (error) {
        if (!(error instanceof _tar_reader_js__WEBPACK_IMPORTED_MODULE_4__/* .TarReadError */ .M))
            throw error;
        scan.problems.push(error.message);
        return scan;
    }
    if (options.hashFile ?? true) {
        scan.sidecar = await (0,_sidecar_js__WEBPACK_IMPORTED_MODULE_3__/* .checkSidecar */ .E)(path, scan.file.sha256);
        if (scan.sidecar.state === 'mismatch')
            scan.problems.unshift(`checksum mismatch: ${scan.sidecar.reason}`);
        if (scan.sidecar.state === 'missing')
            scan.notes.push('no .sha256 sidecar (ace-dt writes none): the file as a whole is unchecked');
    }
    visitor.finish();
    return scan;
}
class ScanVisitor {
    scan;
    /** Descriptors learned from index.json and the manifests read so far; the first met wins. */
    known = new Map();
    entries = 0;
    indexes = [];
    constructor(scan) {
        this.scan = scan;
    }
    async visit(entry, body) {
        const position = this.entries++;
        if (entry.digest !== undefined)
            return this.blob(entry, entry.digest, body);
        if (entry.type === 'directory') {
            if (entry.name !== 'blobs' && entry.name !== 'blobs/sha256')
                this.scan.notes.push(`unexpected directory ${entry.name} (ignored)`);
            return;
        }
        if (entry.name === 'oci-layout')
            return this.layout(body, position);
        if (entry.name === 'index.json')
            return this.index(entry, body);
        // ace-dt's --manifest-json adds a docker-load style manifest.json; nothing to load from it.
        if (entry.name !== 'manifest.json')
            this.scan.notes.push(`unexpected entry ${entry.name} (${entry.type}, ignored)`);
    }
    finish() {
        const { scan } = this;
        const [first, last] = [this.indexes[0], this.indexes.at(-1)];
        if (first === undefined) {
            scan.problems.push('no index.json: nothing names the root');
            return;
        }
        if (this.indexes.length < 2)
            scan.problems.push('no closing index.json after the blobs (formats.md: index.json comes again last)');
        else if (last !== undefined)
            this.checkClosingIndex(last);
        if (scan.root !== undefined)
            scan.graph = this.graph(scan.root);
    }
    async layout(body, position) {
        const text = (await collect(body, MAX_INDEX_JSON_BYTES)).toString('utf8');
        let version;
        try {
            version = JSON.parse(text).imageLayoutVersion;
        }
        catch {
            version = undefined;
        }
        if (version !== LAYOUT_VERSION)
            this.scan.problems.push(`oci-layout is not {"imageLayoutVersion":"${LAYOUT_VERSION}"}: ${JSON.stringify(text.slice(0, 100))}`);
        if (position !== 0)
            this.scan.notes.push('oci-layout is not the first entry');
    }
    async index(entry, body) {
        const ordinal = this.indexes.length + 1;
        if (entry.size > MAX_INDEX_JSON_BYTES) {
            this.scan.problems.push(`index.json #${ordinal} is ${entry.size} bytes, over the ${MAX_INDEX_JSON_BYTES}-byte limit`);
            return;
        }
        let json;
        try {
            json = JSON.parse((await collect(body, MAX_INDEX_JSON_BYTES)).toString('utf8'));
        }
        catch (error) {
            this.scan.problems.push(`index.json #${ordinal} is not JSON: ${error.message}`);
            this.indexes.push([]);
            return;
        }
        const manifests = Array.isArray(json.manifests) ? json.manifests : [];
        this.indexes.push(manifests);
        if (ordinal > 2)
            this.scan.problems.push(`index.json appears ${ordinal} times (formats.md: once before the blobs, once after)`);
        if (ordinal !== 1)
            return;
        // ace-dt's deserializer: the one manifest, or the one named by ref.name.
        const named = manifests.filter((m) => m?.annotations?.[_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .Annotation */ .YH.refName] !== undefined);
        const root = named.length === 1 ? named[0] : manifests.length === 1 ? manifests[0] : undefined;
        if (root === undefined || !(0,_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .isManifest */ .Yh)(root.mediaType)) {
            this.scan.problems.push(`index.json names no root: expected one manifest, or one with ${_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .Annotation */ .YH.refName} (found ${manifests.length}, ${named.length} named)`);
            return;
        }
        this.scan.root = root;
        this.known.set(root.digest, root);
    }
    async blob(entry, digest, body) {
        const { scan } = this;
        if (scan.held.has(digest)) {
            scan.problems.push(`blob ${digest} appears twice`);
            return;
        }
        const known = this.known.get(digest);
        if (known !== undefined && known.size !== entry.size) {
            scan.problems.push(`blob ${digest} is ${entry.size} bytes; the descriptor that points at it says ${known.size}`);
        }
        const manifest = known !== undefined && (0,_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .isManifest */ .Yh)(known.mediaType);
        if (manifest && entry.size > _oci_js__WEBPACK_IMPORTED_MODULE_2__/* .MAX_MANIFEST_BYTES */ .ZJ) {
            scan.problems.push(`manifest ${digest} is ${entry.size} bytes, over the ${_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .MAX_MANIFEST_BYTES */ .ZJ}-byte limit for manifests`);
        }
        let bytes;
        try {
            if (manifest && entry.size <= _oci_js__WEBPACK_IMPORTED_MODULE_2__/* .MAX_MANIFEST_BYTES */ .ZJ)
                bytes = await collect(body, _oci_js__WEBPACK_IMPORTED_MODULE_2__/* .MAX_MANIFEST_BYTES */ .ZJ);
            else
                for await (const _ of body)
                    ;
        }
        catch (error) {
            if (!(error instanceof _digest_js__WEBPACK_IMPORTED_MODULE_0__/* .DigestMismatchError */ .h))
                throw error;
            scan.problems.push(error.message);
            return;
        }
        scan.held.set(digest, entry.size);
        if (bytes === undefined)
            return;
        try {
            for (const child of (0,_graph_js__WEBPACK_IMPORTED_MODULE_1__/* .successors */ .ir)(bytes, `manifest ${digest}`, digest === scan.root?.digest)) {
                if (!this.known.has(child.digest))
                    this.known.set(child.digest, child);
            }
            scan.manifests.set(digest, bytes);
        }
        catch (error) {
            scan.problems.push(error.message);
        }
    }
    checkClosingIndex(listed) {
        const { scan } = this;
        const [first] = listed;
        if (scan.root !== undefined && first?.digest !== scan.root.digest) {
            scan.problems.push(`the closing index.json starts with ${first?.digest ?? 'nothing'}, not the root ${scan.root.digest}`);
        }
        if (first?.annotations?.[_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .Annotation */ .YH.refName] === undefined)
            scan.problems.push(`the closing index.json's root has no ${_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .Annotation */ .YH.refName} annotation`);
        for (const descriptor of listed) {
            if (!scan.manifests.has(descriptor?.digest))
                scan.problems.push(`the closing index.json lists manifest ${descriptor?.digest} that the tar does not hold`);
        }
    }
    /** The root's graph; a manifest the tar lacks (or holds before anything points at it) is a problem. */
    graph(root) {
        const { scan } = this;
        const { missing, ...graph } = walkManifests(root, scan.manifests);
        for (const descriptor of missing) {
            if (!scan.held.has(descriptor.digest))
                scan.problems.push(`manifest ${descriptor.digest} (${descriptor.mediaType}) is not in the tar; every tar carries all its manifests`);
            else if (!scan.problems.some((p) => p.includes(descriptor.digest)))
                scan.problems.push(`manifest ${descriptor.digest} comes before anything in the tar points at it (formats.md: depth first)`);
        }
        const needed = new Set([...graph.manifests.map((m) => m.descriptor.digest), ...graph.blobs.map((d) => d.digest)]);
        const strays = [...scan.held.keys()].filter((digest) => !needed.has(digest));
        if (strays.length > 0)
            scan.notes.push(`${strays.length} blob(s) not in the root's graph: ${strays.slice(0, 3).join(', ')}${strays.length > 3 ? ', …' : ''}`);
        return graph;
    }
}
/**
 * The graph below `top` through manifests held in memory: each manifest after what it points at, the other blobs
 * in walk order, and the manifests that are not at hand. `top` is walked as a root (extra-manifests count) when it is one.
 */
function walkManifests(top, manifests, isRoot = true) {
    const graph = { manifests: [], blobs: [], missing: [] };
    const seen = new Set();
    const visit = (descriptor, root) => {
        if (seen.has(descriptor.digest))
            return;
        seen.add(descriptor.digest);
        if (!(0,_oci_js__WEBPACK_IMPORTED_MODULE_2__/* .isManifest */ .Yh)(descriptor.mediaType)) {
            graph.blobs.push(descriptor);
            return;
        }
        const bytes = manifests.get(descriptor.digest);
        if (bytes === undefined) {
            graph.missing.push(descriptor);
            return;
        }
        for (const child of (0,_graph_js__WEBPACK_IMPORTED_MODULE_1__/* .successors */ .ir)(bytes, `manifest ${descriptor.digest}`, root))
            visit(child, false);
        graph.manifests.push({ descriptor, bytes });
    };
    visit(top, isRoot);
    return graph;
}
/** An entry's bytes in memory; `limit` guards against a size header that lies. */
async function collect(body, limit) {
    const chunks = [];
    let total = 0;
    for await (const chunk of body) {
        total += chunk.byteLength;
        if (total > limit)
            throw new Error(`entry runs past ${limit} bytes`);
        chunks.push(chunk);
    }
    return Buffer.concat(chunks, total);
}


/***/ })

};
