import type { PlannedTar } from './planner.ts';
import type { SerializeHooks, WrittenTar } from './write-tars.ts';
import { formatBytes } from '../format.ts';
import { LOG_LINE_INTERVAL_MS, throttle } from '../throttle.ts';

const REDRAW_INTERVAL_MS = 100;
const BAR_WIDTH = 24;

interface Current {
  syncName: string;
  total: number;
  done: number;
  started: number;
}

/**
 * Progress on stderr: a live bar on a terminal, and on anything else (a CI log) a plain line every few
 * seconds, so logs stay readable.
 */
export function progressReporter(
  stream: Pick<NodeJS.WriteStream, 'isTTY' | 'write'>,
): Required<Pick<SerializeHooks, 'tarStarted' | 'progress' | 'tarRecorded'>> {
  const live = stream.isTTY === true;
  let current: Current | undefined;
  const update = throttle(live ? REDRAW_INTERVAL_MS : LOG_LINE_INTERVAL_MS);

  const status = (c: Current): string => {
    const seconds = Math.max((Date.now() - c.started) / 1000, 0.001);
    const percent = c.total === 0 ? 100 : Math.floor((c.done / c.total) * 100);
    return `${c.syncName}  ${formatBytes(c.done)} / ${formatBytes(c.total)} (${percent}%)  ${formatBytes(c.done / seconds)}/s`;
  };
  const draw = (c: Current): void => {
    const filled = c.total === 0 ? BAR_WIDTH : Math.round((c.done / c.total) * BAR_WIDTH);
    stream.write(`\r\x1b[K[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${status(c)}`);
  };

  return {
    tarStarted(tar: PlannedTar) {
      current = { syncName: tar.syncName, total: tar.contentBytes, done: 0, started: Date.now() };
      update.restart();
      if (live) draw(current);
      else stream.write(`${tar.syncName}: ${tar.entry.artifact}, ${tar.blobs.length} blobs, ${formatBytes(tar.contentBytes)} to write\n`);
    },
    progress(bytes: number) {
      if (!current) return;
      current.done += bytes;
      if (!update.due()) return;
      if (live) draw(current);
      else stream.write(`  ${status(current)}\n`);
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
