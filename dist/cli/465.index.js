export const id = 465;
export const ids = [465];
export const modules = {

/***/ 7465:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   resultJson: () => (/* binding */ resultJson)
/* harmony export */ });
/** A run's result for machines: the CLI's `--json` and the Action's `plan` output. */
function resultJson(result, dryRun) {
    return {
        dryRun,
        upToDate: result.plan.upToDate.map(({ entry, row }) => ({ name: entry.name, artifact: entry.artifact, syncName: row.syncName })),
        planned: result.plan.tars.map((tar) => ({
            syncName: tar.syncName,
            name: tar.entry.name,
            artifact: tar.entry.artifact,
            previous: tar.previous?.artifact ?? null,
            digest: tar.root.digest,
            manifests: tar.graph.manifests.length,
            blobs: tar.blobs.length,
            bytes: tar.bytes,
            deduplicatedBlobs: tar.deduplicated.length,
            deduplicatedBytes: tar.deduplicatedBytes,
        })),
        written: result.written.map(({ path: _path, ...tar }) => tar),
    };
}


/***/ })

};
