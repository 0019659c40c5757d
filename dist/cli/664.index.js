export const id = 664;
export const ids = [664];
export const modules = {

/***/ 4664:
/***/ ((__unused_webpack_module, __webpack_exports__, __webpack_require__) => {

__webpack_require__.r(__webpack_exports__);
/* harmony export */ __webpack_require__.d(__webpack_exports__, {
/* harmony export */   progressReporter: () => (/* binding */ progressReporter)
/* harmony export */ });
/* harmony import */ var _format_js__WEBPACK_IMPORTED_MODULE_0__ = __webpack_require__(6228);

const LINE_INTERVAL_MS = 5_000;
const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 24;
/**
 * Progress on stderr: a live bar on a terminal, and on anything else (a CI log) a plain line every few
 * seconds, so logs stay readable.
 */
function progressReporter(stream) {
    const live = stream.isTTY === true;
    let current;
    let lastDraw = 0;
    const status = (c) => {
        const seconds = Math.max((Date.now() - c.started) / 1000, 0.001);
        const percent = c.total === 0 ? 100 : Math.floor((c.done / c.total) * 100);
        return `${c.syncName}  ${(0,_format_js__WEBPACK_IMPORTED_MODULE_0__/* .formatBytes */ .z3)(c.done)} / ${(0,_format_js__WEBPACK_IMPORTED_MODULE_0__/* .formatBytes */ .z3)(c.total)} (${percent}%)  ${(0,_format_js__WEBPACK_IMPORTED_MODULE_0__/* .formatBytes */ .z3)(c.done / seconds)}/s`;
    };
    const draw = (c) => {
        const filled = c.total === 0 ? BAR_WIDTH : Math.round((c.done / c.total) * BAR_WIDTH);
        stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${status(c)}`);
    };
    return {
        tarStarted(tar) {
            current = { syncName: tar.syncName, total: tar.bytes, done: 0, started: Date.now() };
            lastDraw = Date.now();
            if (live)
                draw(current);
            else
                stream.write(`${tar.syncName}: ${tar.entry.artifact}, ${tar.blobs.length} new blobs, ${(0,_format_js__WEBPACK_IMPORTED_MODULE_0__/* .formatBytes */ .z3)(tar.bytes)} to write\n`);
        },
        progress(bytes) {
            if (!current)
                return;
            current.done += bytes;
            const now = Date.now();
            if (now - lastDraw < (live ? REDRAW_INTERVAL_MS : LINE_INTERVAL_MS))
                return;
            lastDraw = now;
            if (live)
                draw(current);
            else
                stream.write(`  ${status(current)}\n`);
        },
        tarRecorded(tar) {
            if (live && current) {
                draw(current);
                stream.write('\n');
            }
            const seconds = current ? (Date.now() - current.started) / 1000 : 0;
            stream.write(`${tar.syncName}: done, ${(0,_format_js__WEBPACK_IMPORTED_MODULE_0__/* .formatBytes */ .z3)(tar.bytes)} in ${seconds.toFixed(1)} s, recorded\n`);
            current = undefined;
        },
    };
}


/***/ })

};
