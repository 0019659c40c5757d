/** A progress line in a log (not a terminal) at most this often: the near side's and the far side's. */
export const LOG_LINE_INTERVAL_MS = 5_000;

/**
 * At most one event per interval: progress lines in a CI log, redraws of a bar on a terminal. Time is read
 * from Date.now at each call (tests fake it). src/core/far-side may use it: it belongs to neither side.
 */
export interface Throttle {
  /** True, and the interval starts again, when a whole interval passed since it last started. */
  due(): boolean;
  /** Starts the interval now: the next `due` waits a whole interval. */
  restart(): void;
}

/** The first interval starts now. */
export function throttle(intervalMs: number): Throttle {
  let last = Date.now();
  return {
    due() {
      const now = Date.now();
      if (now - last < intervalMs) return false;
      last = now;
      return true;
    },
    restart() {
      last = Date.now();
    },
  };
}
