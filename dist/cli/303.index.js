export const id = 303;
export const ids = [303,786];
export const modules = {

/***/ 5303:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

// ESM COMPAT FLAG
__webpack_require__.r(__webpack_exports__);

// EXPORTS
__webpack_require__.d(__webpack_exports__, {
  deserializeSyncDir: () => (/* binding */ deserializeSyncDir),
  tagOf: () => (/* binding */ tagOf)
});

// EXTERNAL MODULE: external "node:path"
var external_node_path_ = __webpack_require__(6760);
// EXTERNAL MODULE: external "node:stream"
var external_node_stream_ = __webpack_require__(7075);
// EXTERNAL MODULE: ./node_modules/p-limit/index.js + 1 modules
var p_limit = __webpack_require__(370);
;// CONCATENATED MODULE: ./src/core/blob-copy.ts

/**
 * Puts a blob that `source` holds into `target`: mounted when both are on one registry and it agrees, else
 * streamed through us (the download starts only if the registry declined the mount).
 */
async function copyBlob(target, descriptor, source) {
    const content = external_node_stream_.Readable.from(download(source, descriptor), { objectMode: false });
    try {
        const mountFrom = registryOf(source) === registryOf(target) ? { mountFrom: source.repository } : {};
        return await target.pushBlob(descriptor, content, mountFrom);
    }
    finally {
        content.destroy();
    }
}
async function* download(source, descriptor) {
    yield* (await source.fetchBlob(descriptor));
}
function registryOf(repository) {
    return repository.location.slice(0, repository.location.length - repository.repository.length - 1);
}

// EXTERNAL MODULE: ./src/core/destination.ts
var destination = __webpack_require__(171);
// EXTERNAL MODULE: ./src/core/input-error.ts
var input_error = __webpack_require__(496);
// EXTERNAL MODULE: ./src/core/oci.ts
var oci = __webpack_require__(754);
// EXTERNAL MODULE: ./src/core/reference.ts
var reference = __webpack_require__(5378);
// EXTERNAL MODULE: ./src/core/graph.ts
var graph = __webpack_require__(2479);
// EXTERNAL MODULE: ./src/core/scatter-map.ts
var scatter_map = __webpack_require__(7786);
// EXTERNAL MODULE: ./src/core/tar-scan.ts
var tar_scan = __webpack_require__(1216);
;// CONCATENATED MODULE: ./src/core/scatter.ts






const BLOB_CHECKS = 4;
/**
 * ace-dt's `mirror scatter`: each image the gather artifact lists (children with `vnd.act3-ace.manifest.source`)
 * goes to its original repository path under the destination, its blobs mounted from where the artifact was loaded.
 */
async function scatterArtifact(input, registries) {
    const rootBytes = input.manifests.get(input.root.digest);
    if (rootBytes === undefined)
        throw new Error(`scatter: the root manifest ${input.root.digest} is not at hand`);
    const images = (0,graph/* successors */.ir)(rootBytes, `manifest ${input.root.digest}`, true).filter((child) => (0,oci/* isManifest */.Yh)(child.mediaType) && child.annotations?.[oci/* Annotation */.YH.manifestSource] !== undefined);
    const scattered = [];
    for (const image of images) {
        const source = image.annotations?.[oci/* Annotation */.YH.manifestSource];
        const target = (0,scatter_map.scatterTarget)(source, input.destination, input.rules);
        const repository = registries.repository(target.reference);
        await pushImage(image, repository, target.tag, input);
        const where = `${target.reference.registry}/${target.reference.repository}`;
        scattered.push({ source, target: target.tag === undefined ? `${where}@${image.digest}` : `${where}:${target.tag}`, digest: image.digest });
    }
    return scattered;
}
async function pushImage(image, repository, tag, input) {
    const graph = (0,tar_scan/* walkManifests */.C)(image, input.manifests, false);
    if (graph.missing.length > 0)
        throw new Error(`scatter: manifest ${graph.missing[0]?.digest} of ${image.digest} is not at hand`);
    const limit = (0,p_limit/* default */.A)(BLOB_CHECKS);
    await Promise.all(graph.blobs.map((blob) => limit(async () => {
        if (!(await repository.blobExists(blob.digest)))
            await copyBlob(repository, blob, input.loadedInto);
    })));
    for (const { descriptor, bytes } of graph.manifests) {
        const top = descriptor.digest === image.digest;
        if (top && tag !== undefined)
            await repository.pushManifest(tag, descriptor.mediaType, bytes);
        else if (!(await repository.exists(descriptor)))
            await repository.pushManifest(descriptor.digest, descriptor.mediaType, bytes);
    }
}

// EXTERNAL MODULE: ./src/core/successful-syncs.ts
var successful_syncs = __webpack_require__(3356);
// EXTERNAL MODULE: ./src/core/sync-dir.ts
var sync_dir = __webpack_require__(2206);
// EXTERNAL MODULE: ./src/core/tar-reader.ts + 1 modules
var tar_reader = __webpack_require__(6503);
// EXTERNAL MODULE: ./src/core/tracker.ts
var tracker = __webpack_require__(2263);
;// CONCATENATED MODULE: ./src/core/deserialize.ts














const HEADS = 8;
/**
 * ace-dt's `mirror batch-deserialize SYNC-DIRECTORY DESTINATION`, made resumable: the tars in number order, each
 * checked whole and its left-out blobs found at the destination before anything of it is pushed, then its blobs,
 * its manifests children first, the root tagged, and only then recorded in successful-syncs.csv.
 */
async function deserializeSyncDir(settings, registries, hooks = {}) {
    const listing = await (0,sync_dir/* listSyncDir */.Pb)(settings.dir);
    if (listing.duplicates.length > 0) {
        const [first] = listing.duplicates;
        throw new input_error/* InputError */.d(`${settings.dir}: ${first?.syncNames.join(' and ')} share a number; their order is unknowable`);
    }
    const syncsPath = (0,external_node_path_.join)(settings.dir, successful_syncs/* SUCCESSFUL_SYNCS_FILENAME */._u);
    const records = await (0,successful_syncs/* readSuccessfulSyncs */.lQ)(syncsPath);
    const target = (0,destination/* formatDestination */.kS)(settings.destination);
    const isLoaded = (tar) => records.some((r) => r.filename === tar.syncName && loadedInto(r, target, tar.name));
    const loader = new Loader(settings, registries, listing.tars, records);
    const result = { loaded: [], skipped: [] };
    for (const tar of listing.tars) {
        if (isLoaded(tar)) {
            result.skipped.push(tar.syncName);
            continue;
        }
        hooks.tarStarted?.(tar);
        let loaded;
        try {
            loaded = await loader.load(tar, hooks);
        }
        catch (error) {
            const resume = result.loaded.length + result.skipped.length > 0 ? ` (the tars before it are recorded in ${syncsPath}: a rerun resumes with ${tar.syncName})` : '';
            throw new Error(`${error.message}${resume}`, { cause: error });
        }
        records.push({ filename: tar.syncName, artifact: loaded.reference, timestamp: new Date().toISOString() });
        await (0,successful_syncs/* writeSuccessfulSyncs */.wQ)(syncsPath, records);
        result.loaded.push(loaded);
        hooks.tarLoaded?.(loaded);
    }
    return result;
}
/** ace-dt records `DEST:NAME` (its older releases nothing); we record `DEST/NAME:TAG` or `DEST/NAME@DIGEST`. */
function loadedInto(record, destination, name) {
    const { artifact } = record;
    return artifact === '' || artifact === `${destination}:${name}` || artifact.startsWith(`${destination}/${name}:`) || artifact.startsWith(`${destination}/${name}@`);
}
class Loader {
    settings;
    registries;
    tars;
    loadedNames;
    /** DEST itself, when ace-dt's batch-deserialize loaded earlier tars there (all names in one repository). */
    aceDtRepository;
    /** Where this run knows each blob to be: a later tar mounts rather than uploads it. */
    located = new Map();
    constructor(settings, registries, tars, records) {
        this.settings = settings;
        this.registries = registries;
        this.tars = tars;
        this.loadedNames = new Set([...tars.map((t) => t.name), ...records.flatMap((r) => (0,tracker/* parseSyncName */.uq)(r.filename)?.name ?? [])]);
        const { registry, path } = settings.destination;
        const target = (0,destination/* formatDestination */.kS)(settings.destination);
        const byAceDt = records.some((r) => r.artifact === `${target}:${(0,tracker/* parseSyncName */.uq)(r.filename)?.name}`);
        this.aceDtRepository = byAceDt && path !== '' ? registries.repository({ registry, repository: path }) : undefined;
    }
    async load(tar, hooks) {
        const scan = await (0,tar_scan/* scanTar */.t)(tar.path);
        if (scan.problems.length > 0 || scan.root === undefined || scan.graph === undefined) {
            throw new Error(`${tar.syncName}: refused, the tar is damaged (nothing of it was pushed):\n  ${scan.problems.join('\n  ')}`);
        }
        for (const note of scan.notes)
            hooks.note?.(tar, note);
        const { root, graph } = scan;
        const repository = this.registries.repository((0,destination/* repositoryUnder */.vt)(this.settings.destination, tar.name, tar.syncName));
        const tag = tagOf(root);
        const present = await this.present(repository, graph);
        const missing = graph.blobs.filter((blob) => !present.has(blob.digest));
        const leftOut = missing.filter((blob) => !scan.held.has(blob.digest));
        const sources = await this.locate(leftOut, tar.name, repository);
        const unfound = leftOut.filter((blob) => !sources.has(blob.digest));
        if (unfound.length > 0)
            throw this.refusal(tar, repository, unfound);
        const loaded = {
            syncName: tar.syncName,
            name: tar.name,
            reference: `${repository.location}${tag === undefined ? `@${root.digest}` : `:${tag}`}`,
            digest: root.digest,
            uploaded: 0,
            uploadedBytes: 0,
            mounted: 0,
            present: present.size,
            manifestsPushed: 0,
            scattered: [],
        };
        const toUpload = new Map();
        for (const blob of missing) {
            const source = sources.get(blob.digest) ?? this.elsewhere(blob.digest, repository);
            if (source === undefined)
                toUpload.set(blob.digest, blob);
            else {
                await copyBlob(repository, blob, source);
                loaded.mounted++;
            }
        }
        if (toUpload.size > 0)
            await this.upload(tar, scan, repository, toUpload, loaded, hooks);
        for (const { descriptor, bytes } of graph.manifests) {
            const isRoot = descriptor.digest === root.digest;
            if (isRoot && tag !== undefined)
                await repository.pushManifest(tag, descriptor.mediaType, bytes);
            else if (await repository.exists(descriptor))
                continue;
            else
                await repository.pushManifest(descriptor.digest, descriptor.mediaType, bytes);
            loaded.manifestsPushed++;
        }
        for (const blob of graph.blobs)
            this.located.set(blob.digest, repository);
        if (this.settings.scatter !== undefined) {
            const input = { root, manifests: scan.manifests, loadedInto: repository, destination: this.settings.destination, rules: this.settings.scatter.rules };
            loaded.scattered = await scatterArtifact(input, this.registries);
        }
        return loaded;
    }
    /** The graph's blobs the repository holds already (HEAD each). */
    async present(repository, graph) {
        const limit = (0,p_limit/* default */.A)(HEADS);
        const held = await Promise.all(graph.blobs.map((blob) => limit(() => repository.blobExists(blob.digest))));
        return new Set(graph.blobs.filter((_, i) => held[i]).map((blob) => blob.digest));
    }
    /**
     * For blobs a tar leaves out and its repository lacks: another repository of the destination that holds each
     * (one this run put it in, ace-dt's single repository, or with `--dedup-scope all` another name's).
     */
    async locate(blobs, name, repository) {
        const found = new Map();
        const names = this.settings.dedupScope === 'all' ? [...this.loadedNames].filter((other) => other !== name) : [];
        const others = names.flatMap((other) => {
            try {
                return [this.registries.repository((0,destination/* repositoryUnder */.vt)(this.settings.destination, other, other))];
            }
            catch {
                return []; // a name that cannot be a repository never loaded anywhere
            }
        });
        if (this.aceDtRepository !== undefined)
            others.unshift(this.aceDtRepository);
        const limit = (0,p_limit/* default */.A)(HEADS);
        await Promise.all(blobs.map((blob) => limit(async () => {
            const known = this.elsewhere(blob.digest, repository);
            if (known !== undefined)
                return void found.set(blob.digest, known);
            for (const other of others)
                if (await other.blobExists(blob.digest))
                    return void found.set(blob.digest, other);
        })));
        return found;
    }
    elsewhere(digest, repository) {
        const known = this.located.get(digest);
        return known !== undefined && known.location !== repository.location ? known : undefined;
    }
    /** The second pass: streams the blobs the destination lacks from the tar to the registry. */
    async upload(tar, scan, repository, blobs, loaded, hooks) {
        const total = [...blobs.values()].reduce((sum, blob) => sum + blob.size, 0);
        let done = 0;
        await (0,tar_reader/* readTarFile */.i)(tar.path, async (entry, body) => {
            const blob = entry.digest === undefined ? undefined : blobs.get(entry.digest);
            if (blob === undefined)
                return;
            const counted = new external_node_stream_.Transform({
                transform(chunk, _encoding, next) {
                    done += chunk.byteLength;
                    hooks.uploading?.(tar, done, total);
                    next(null, chunk);
                },
            });
            await repository.pushBlob(blob, (0,external_node_stream_.pipeline)(body, counted, () => undefined));
            blobs.delete(blob.digest);
            loaded.uploaded++;
            loaded.uploadedBytes += blob.size;
        }, { hashFile: false });
        if (blobs.size > 0)
            throw new Error(`${scan.path}: changed since it was checked: ${[...blobs.keys()][0]} is no longer in it`);
    }
    refusal(tar, repository, unfound) {
        const present = new Set(this.tars.map((t) => t.number));
        const gaps = (0,sync_dir/* missingNumbers */.hj)(tar.number - 1, present).map((n) => `${(0,sync_dir/* formatNumber */.ZV)(n)}-*.tar`);
        const where = this.settings.dedupScope === 'all' ? `any repository under ${(0,destination/* formatDestination */.kS)(this.settings.destination)}` : repository.location;
        const listed = unfound.slice(0, 5).map((blob) => `${blob.digest} (${blob.mediaType}, ${blob.size} bytes)`);
        const more = unfound.length > listed.length ? [`… and ${unfound.length - listed.length} more`] : [];
        const hint = gaps.length > 0
            ? `an earlier tar held them and is not loaded: load ${gaps.join(', ')} first`
            : `an earlier tar of ${tar.name} held them, but none is missing from the numbering here: was it loaded into another destination, or serialized with --dedup-scope all (then deserialize with --dedup-scope all)?`;
        return new Error(`${tar.syncName}: refused, nothing of it was pushed: it leaves out ${unfound.length} blob(s) that ${where} does not hold; ${hint}:\n  ${[...listed, ...more].join('\n  ')}`);
    }
}
/**
 * The tag the root gets: that of the batch-list reference in ref.name (`host/gather:sources1` → `sources1`,
 * `ubuntu` → `latest`); a reference pinned by digest alone gives none.
 */
function tagOf(root) {
    const name = root.annotations?.[oci/* Annotation */.YH.refName];
    if (name === undefined || name === '')
        return undefined;
    try {
        return (0,reference/* parseReference */.F2)(name).tag;
    }
    catch {
        return undefined;
    }
}


/***/ }),

/***/ 7786:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   readScatterMap: () => (/* binding */ readScatterMap),
/* harmony export */   scatterTarget: () => (/* binding */ scatterTarget)
/* harmony export */ });
/* harmony import */ var _files_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(9928);
/* harmony import */ var _destination_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(171);
/* harmony import */ var _input_error_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(496);
/* harmony import */ var _reference_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(5378);




/** `SOURCE-PREFIX=DEST-PREFIX` per line; `#` comments and blank lines are skipped. */
async function readScatterMap(path) {
    const text = await (0,_files_js__WEBPACK_IMPORTED_MODULE_0__/* .readRequired */ .yu)(path, 'scatter map');
    return text.split(/\r?\n/).flatMap((raw, i) => {
        const line = raw.trim();
        if (line === '' || line.startsWith('#'))
            return [];
        const where = `${path}:${i + 1}`;
        const equals = line.indexOf('=');
        const from = line.slice(0, Math.max(equals, 0)).trim();
        const to = line.slice(equals + 1).trim();
        if (equals < 0 || from === '' || to === '')
            throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${where}: expected SOURCE-PREFIX=DEST-PREFIX, got ${JSON.stringify(line)}`);
        return [{ from, to, where }];
    });
}
/**
 * An image's original reference (its `vnd.act3-ace.manifest.source`) to where it goes: the longest matching
 * SOURCE-PREFIX of the map is replaced by its DEST-PREFIX; without a match, the repository path goes under the
 * destination (`docker.io/grafana/grafana:10.4.1` → `DEST/grafana/grafana:10.4.1`).
 */
function scatterTarget(source, destination, rules) {
    const what = `scatter of ${source}`;
    let parsed;
    try {
        parsed = (0,_reference_js__WEBPACK_IMPORTED_MODULE_3__/* .parseReference */ .F2)(source);
    }
    catch (error) {
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${what}: ${error.message}`);
    }
    if (parsed.kind !== 'registry')
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${what}: not a registry reference`);
    const rule = longestMatch(source, rules) ?? longestMatch((0,_reference_js__WEBPACK_IMPORTED_MODULE_3__/* .formatReference */ .FH)(parsed), rules);
    if (rule === undefined) {
        const reference = (0,_destination_js__WEBPACK_IMPORTED_MODULE_1__/* .repositoryUnder */ .vt)(destination, parsed.repository, what);
        return { reference, tag: parsed.tag ?? undefined };
    }
    const mapped = rule.to + (source.startsWith(rule.from) ? source : (0,_reference_js__WEBPACK_IMPORTED_MODULE_3__/* .formatReference */ .FH)(parsed)).slice(rule.from.length);
    let target;
    try {
        target = (0,_reference_js__WEBPACK_IMPORTED_MODULE_3__/* .parseReference */ .F2)(mapped);
    }
    catch (error) {
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${rule.where}: maps ${source} to ${mapped}: ${error.message}`);
    }
    if (target.kind !== 'registry')
        throw new _input_error_js__WEBPACK_IMPORTED_MODULE_2__/* .InputError */ .d(`${rule.where}: maps ${source} to ${mapped}, not a registry reference`);
    return { reference: { kind: 'registry', registry: target.registry, repository: target.repository }, tag: target.tag };
}
function longestMatch(source, rules) {
    let best;
    for (const rule of rules)
        if (source.startsWith(rule.from) && (best === undefined || rule.from.length > best.from.length))
            best = rule;
    return best;
}


/***/ })

};
