export const id = 190;
export const ids = [190];
export const modules = {

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

/***/ 7190:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   verifySyncDir: () => (/* binding */ verifySyncDir)
/* harmony export */ });
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6760);
/* harmony import */ var node_path__WEBPACK_IMPORTED_MODULE_0___default = /*#__PURE__*/__webpack_require__.n(node_path__WEBPACK_IMPORTED_MODULE_0__);
/* harmony import */ var _ledger_js__WEBPACK_IMPORTED_MODULE_1__ = __webpack_require__(2558);
/* harmony import */ var _successful_syncs_js__WEBPACK_IMPORTED_MODULE_2__ = __webpack_require__(3356);
/* harmony import */ var _sync_dir_js__WEBPACK_IMPORTED_MODULE_3__ = __webpack_require__(2206);
/* harmony import */ var _oci_js__WEBPACK_IMPORTED_MODULE_4__ = __webpack_require__(754);
/* harmony import */ var _tar_scan_js__WEBPACK_IMPORTED_MODULE_5__ = __webpack_require__(1216);
/* harmony import */ var _tracker_js__WEBPACK_IMPORTED_MODULE_6__ = __webpack_require__(2263);







/**
 * Checks a sync directory offline: every tar whole (sidecar, tar stream, blobs against their names, index.json,
 * manifests), every artifact's graph complete once the earlier tars are counted, and the numbering without gaps.
 */
async function verifySyncDir(options, hooks = {}) {
    const listing = await (0,_sync_dir_js__WEBPACK_IMPORTED_MODULE_3__/* .listSyncDir */ .Pb)(options.dir);
    const notes = [];
    const context = await readContext(options, notes);
    const report = { dir: options.dir, ok: true, dedupScope: options.dedupScope, tars: [], absent: absentTars(listing.tars, context), problems: [], notes };
    for (const { number, syncNames } of listing.duplicates)
        report.problems.push(`${syncNames.join(' and ')} share number ${(0,_sync_dir_js__WEBPACK_IMPORTED_MODULE_3__/* .formatNumber */ .ZV)(number)}: their order is unknowable`);
    for (const partial of listing.partials)
        report.notes.push(`${partial}: a tar whose writing never finished (not a tar to load)`);
    for (const absent of report.absent) {
        if (absent.state === 'missing')
            report.problems.push(`${absent.syncName} is missing (the numbering has a gap)`);
        else if (absent.state === 'earlier')
            report.notes.push(`${absent.syncName} is not here and not recorded as loaded`);
    }
    if (listing.tars.length === 0)
        report.problems.push(`no tars (NNNNNN-NAME.tar[.gz|.zst]) in ${options.dir}`);
    const chain = new DedupChain(options.dedupScope);
    for (const tar of listing.tars) {
        const scan = await (0,_tar_scan_js__WEBPACK_IMPORTED_MODULE_5__/* .scanTar */ .t)(tar.path);
        const verdict = judge(tar, scan, chain, report.absent, context);
        chain.add(tar, scan);
        report.tars.push(verdict);
        hooks.tarChecked?.(verdict);
    }
    report.ok = report.problems.length === 0 && report.tars.every((tar) => tar.ok);
    return report;
}
/** The tracker, ledger and successful-syncs.csv only help name what is missing: a damaged one is noted and left out. */
async function readContext(options, notes) {
    const trackerPath = (0,node_path__WEBPACK_IMPORTED_MODULE_0__.join)(options.dir, options.trackerFilename);
    const optional = async (read) => read().catch((error) => {
        notes.push(`${error.message} (ignored)`);
        return [];
    });
    return {
        tracker: await optional(() => (0,_tracker_js__WEBPACK_IMPORTED_MODULE_6__/* .readTracker */ .T_)(trackerPath)),
        ledger: await optional(() => (0,_ledger_js__WEBPACK_IMPORTED_MODULE_1__/* .readLedger */ .SC)((0,_ledger_js__WEBPACK_IMPORTED_MODULE_1__/* .ledgerPath */ .tf)(trackerPath))),
        loaded: await optional(() => (0,_successful_syncs_js__WEBPACK_IMPORTED_MODULE_2__/* .readSuccessfulSyncs */ .lQ)((0,node_path__WEBPACK_IMPORTED_MODULE_0__.join)(options.dir, _successful_syncs_js__WEBPACK_IMPORTED_MODULE_2__/* .SUCCESSFUL_SYNCS_FILENAME */ ._u))),
    };
}
function absentTars(tars, context) {
    const recorded = [...context.tracker.map((row) => ({ number: row.number, syncName: row.syncName })), ...context.loaded.flatMap(numbered)];
    const present = new Set(tars.map((tar) => tar.number));
    const highest = Math.max(0, ...tars.map((tar) => tar.number), ...recorded.map((r) => r.number));
    const numbers = (0,_sync_dir_js__WEBPACK_IMPORTED_MODULE_3__/* .missingNumbers */ .hj)(highest, present);
    const lowest = Math.min(...present);
    return numbers.map((number) => {
        const syncName = recorded.find((r) => r.number === number)?.syncName ?? `${(0,_sync_dir_js__WEBPACK_IMPORTED_MODULE_3__/* .formatNumber */ .ZV)(number)}-*.tar`;
        const loaded = context.loaded.some((record) => record.filename === syncName);
        return { number, syncName, state: loaded ? 'loaded' : number < lowest ? 'earlier' : 'missing' };
    });
}
function numbered(record) {
    const parsed = (0,_tracker_js__WEBPACK_IMPORTED_MODULE_6__/* .parseSyncName */ .uq)(record.filename);
    return parsed ? [{ number: parsed.number, syncName: record.filename }] : [];
}
/** What the tars read so far hold, by name: what a later tar may leave out. */
class DedupChain {
    scope;
    /** Earlier tars here that could not be trusted whole: what they should have held may be what is missing. */
    damaged = [];
    byName = new Map();
    /** Any tar's, for the hint when a tar leaves out what only another name's tar holds. */
    firstHolder = new Map();
    constructor(scope) {
        this.scope = scope;
    }
    holds(name, digest) {
        if (this.scope === 'all')
            return this.firstHolder.has(digest);
        return this.byName.get(name)?.has(digest) ?? false;
    }
    holder(digest) {
        return this.firstHolder.get(digest);
    }
    add(tar, scan) {
        if (scan.problems.length > 0)
            this.damaged.push(tar);
        const set = this.byName.get(tar.name) ?? new Set();
        for (const digest of scan.held.keys()) {
            set.add(digest);
            if (!this.firstHolder.has(digest))
                this.firstHolder.set(digest, tar.syncName);
        }
        this.byName.set(tar.name, set);
    }
}
function judge(tar, scan, chain, absent, context) {
    const verdict = {
        syncName: tar.syncName,
        number: tar.number,
        name: tar.name,
        ok: false,
        compression: scan.file?.compression ?? null,
        bytes: scan.file?.bytes ?? null,
        sha256: scan.file?.sha256 ?? null,
        sidecar: scan.sidecar?.state ?? null,
        root: scan.root ? { digest: scan.root.digest, mediaType: scan.root.mediaType, refName: scan.root.annotations?.[_oci_js__WEBPACK_IMPORTED_MODULE_4__/* .Annotation */ .YH.refName] ?? null } : null,
        manifests: scan.manifests.size,
        blobs: scan.held.size,
        fromEarlierTars: 0,
        fromLoadedTars: [],
        missing: [],
        problems: [...scan.problems],
        notes: [...scan.notes],
    };
    for (const descriptor of scan.graph?.blobs ?? []) {
        if ((0,_oci_js__WEBPACK_IMPORTED_MODULE_4__/* .isManifest */ .Yh)(descriptor.mediaType) || scan.held.has(descriptor.digest))
            continue;
        if (chain.holds(tar.name, descriptor.digest)) {
            verdict.fromEarlierTars++;
            continue;
        }
        const expectedIn = expectedHolders(tar, descriptor.digest, chain, absent, context);
        const blob = { digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType, expectedIn };
        const loaded = expectedIn.length > 0 && expectedIn.every((holder) => holder.state === 'loaded');
        if (loaded)
            verdict.fromLoadedTars.push(blob);
        else
            verdict.missing.push(blob);
    }
    if (verdict.missing.length > 0) {
        const other = verdict.missing.map((blob) => chain.holder(blob.digest)).find((holder) => holder !== undefined);
        verdict.problems.push(`${verdict.missing.length} blob(s) of the artifact are in neither this tar nor an earlier tar here` + (other ? ` (${other} of another name holds some: serialized with --dedup-scope all?)` : ''));
    }
    if (verdict.fromLoadedTars.length > 0) {
        verdict.notes.push(`${verdict.fromLoadedTars.length} blob(s) come from tars already loaded (successful-syncs.csv): deserialize checks the registry holds them`);
    }
    verdict.ok = verdict.problems.length === 0;
    return verdict;
}
/**
 * The tars that should have held a blob a tar leaves out: earlier tars in scope that are not here, or damaged.
 * The ledger, when it travelled, says exactly which.
 */
function expectedHolders(tar, digest, chain, absent, context) {
    const inScope = (syncName) => {
        const name = (0,_tracker_js__WEBPACK_IMPORTED_MODULE_6__/* .parseSyncName */ .uq)(syncName)?.name;
        return chain.scope === 'all' || name === undefined || name === '*' || name === tar.name;
    };
    const candidates = [
        ...absent.map((a) => ({ number: a.number, syncName: a.syncName, state: a.state === 'loaded' ? 'loaded' : 'absent' })),
        ...chain.damaged.map((d) => ({ number: d.number, syncName: d.syncName, state: 'damaged' })),
    ].filter((c) => c.number < tar.number && inScope(c.syncName));
    candidates.sort((a, b) => a.number - b.number);
    const exact = candidates.filter((c) => context.ledger.some((entry) => entry.syncName === c.syncName && entry.blobs.some((blob) => blob.digest === digest)));
    return (exact.length > 0 ? exact : candidates).map(({ syncName, state }) => ({ syncName, state }));
}


/***/ })

};
