import type { PlanHooks, PlannedTar } from './planner.ts';
import type { SerializeHooks, WrittenTar } from './write-tars.ts';
import type { RetryEvent } from '../registry/retry.ts';
import { formatBytes } from '../format.ts';
import { LOG_LINE_INTERVAL_MS, throttle } from '../throttle.ts';

const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 24;
const MIN_BAR_WIDTH = 10;
/** Shorter than this, the artifact on the bar says too little to be worth its room. */
const MIN_ARTIFACT_WIDTH = 12;
const DEFAULT_COLUMNS = 80;

interface Current {
  syncName: string;
  artifact: string;
  total: number;
  done: number;
  started: number;
}

/** Where progress goes: stderr. `columns` is the terminal's width when it is one (read at every redraw: it may change). */
export type ProgressStream = Pick<NodeJS.WriteStream, 'isTTY' | 'write'> & { readonly columns?: number };

export type ProgressReporter = Required<Pick<SerializeHooks, 'tarStarted' | 'progress' | 'tarRecorded'>> &
  Required<PlanHooks> & {
    /** A retry or a resumed download (RetryOptions.onRetry): one line, the bar drawn again under it. */
    retrying(event: RetryEvent): void;
  };

/**
 * Progress on stderr: a live bar on a terminal, and on anything else (a CI log) a plain line every few
 * seconds, so logs stay readable.
 */
export function progressReporter(stream: ProgressStream): ProgressReporter {
  const live = stream.isTTY === true;
  let current: Current | undefined;
  const update = throttle(live ? REDRAW_INTERVAL_MS : LOG_LINE_INTERVAL_MS);

  const draw = (c: Current): void => {
    stream.write(`\r\x1b[K${barLine(c, Date.now(), stream.columns)}`);
  };
  /** A whole line of its own: on a terminal it replaces the bar, which is drawn again below it. */
  const line = (text: string): void => {
    if (live && current) {
      stream.write(`\r\x1b[K${text}\n`);
      draw(current);
    } else stream.write(`${text}\n`);
  };

  return {
    resolving(artifacts: number) {
      line(`resolving ${artifacts} ${artifacts === 1 ? 'artifact' : 'artifacts'}…`);
    },
    tarStarted(tar: PlannedTar) {
      current = { syncName: tar.syncName, artifact: tar.entry.artifact, total: tar.contentBytes, done: 0, started: Date.now() };
      update.restart();
      if (live) draw(current);
      else stream.write(`${tar.syncName}: ${tar.entry.artifact}, ${tar.blobs.length} blobs, ${formatBytes(tar.contentBytes)} to write\n`);
    },
    progress(bytes: number) {
      if (!current) return;
      current.done += bytes;
      if (!update.due()) return;
      if (live) draw(current);
      else stream.write(`  ${current.syncName}  ${numbers(current, Date.now(), true)}\n`);
    },
    retrying(event: RetryEvent) {
      line(`${event.what}: ${event.reason}, trying again in ${event.delayMs} ms`);
    },
    tarRecorded(tar: WrittenTar) {
      if (live && current) {
        draw(current);
        stream.write('\n');
      }
      const seconds = current ? (Date.now() - current.started) / 1000 : 0;
      stream.write(`${tar.syncName}: done, ${formatBytes(tar.bytes)} in ${seconds.toFixed(1)} s, recorded\n`);
      current = undefined;
    },
  };
}

/** `50.0 MiB / 100.0 MiB (50%)  5.0 MiB/s`: the numbers of the CI line and of the bar. */
function numbers(c: Current, now: number, withRate: boolean): string {
  const seconds = Math.max((now - c.started) / 1000, 0.001);
  const percent = c.total === 0 ? 100 : Math.floor((c.done / c.total) * 100);
  const amounts = `${formatBytes(c.done)} / ${formatBytes(c.total)} (${percent}%)`;
  return withRate ? `${amounts}  ${formatBytes(c.done / seconds)}/s` : amounts;
}

/**
 * `[######------] 000002-tools.tar localhost:5000/gather:sources2  50.0 MiB / 100.0 MiB (50%)  5.0 MiB/s`, fitted to one
 * line short of the terminal's width (a line as wide as the terminal wraps on some, leaving a line behind each redraw).
 * When it does not fit, in turn: the bar narrows (to MIN_BAR_WIDTH), the rate goes, the artifact is shortened in the
 * middle (its tag stays), the artifact goes, the bar goes; whatever is left is cut.
 */
function barLine(c: Current, now: number, columns: number | undefined): string {
  const width = Math.max(0, (columns !== undefined && columns > 0 ? columns : DEFAULT_COLUMNS) - 1);
  const amounts = numbers(c, now, false);
  const withRate = numbers(c, now, true);
  const bar = (cells: number): string => {
    const filled = c.total === 0 ? cells : Math.min(cells, Math.round((c.done / c.total) * cells));
    return `[${'#'.repeat(filled)}${'-'.repeat(cells - filled)}] `;
  };
  const compose = (cells: number, artifact: string | undefined, figures: string): string =>
    `${cells > 0 ? bar(cells) : ''}${c.syncName}${artifact === undefined ? '' : ` ${artifact}`}  ${figures}`;

  // Everything, the bar as wide as the room allows.
  const full = compose(0, c.artifact, withRate).length;
  if (full + 3 + MIN_BAR_WIDTH <= width) return compose(Math.min(BAR_WIDTH, width - full - 3), c.artifact, withRate);
  // The narrowest bar; the artifact whole or shortened, with the rate if there is room for it.
  for (const figures of [withRate, amounts]) {
    const room = width - compose(MIN_BAR_WIDTH, '', figures).length;
    if (room >= c.artifact.length) return compose(MIN_BAR_WIDTH, c.artifact, figures);
    if (figures === amounts && room >= MIN_ARTIFACT_WIDTH) return compose(MIN_BAR_WIDTH, shorten(c.artifact, room), figures);
  }
  // No artifact, then no bar.
  if (compose(MIN_BAR_WIDTH, undefined, amounts).length <= width) return compose(MIN_BAR_WIDTH, undefined, amounts);
  return compose(0, undefined, amounts).slice(0, width);
}

/** `registry.example.com/…/tools:1.2`: the middle gives way, so the start and the tag stay. */
function shorten(text: string, width: number): string {
  if (text.length <= width) return text;
  const tail = Math.floor((width - 1) / 2);
  return `${text.slice(0, width - 1 - tail)}…${text.slice(text.length - tail)}`;
}
