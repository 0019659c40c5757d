export const id = 786;
export const ids = [786];
export const modules = {

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
