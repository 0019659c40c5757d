import { writeSync } from 'node:fs';

/**
 * TEST ONLY. `BATCH_SERIALIZE_CRASH_AT=POINT:K` stops the process (SIGSTOP) the K-th time it reaches POINT, after
 * saying so on stderr, so that a test can kill it (SIGKILL) at exactly that step, or let it go on (SIGCONT). Unset,
 * as it always is outside the tests, nothing happens. The points of a serialize run, in order, for each tar:
 *
 * - `tar-writing`: the tar's first blob bytes are on their way into `NAME.partial` (K: the tar's place in the run);
 * - `tar-written`: `NAME.partial` is complete and fsynced;
 * - `temp-written`: an atomic replace has written and fsynced `FILE.tmp-PID`, not yet renamed it (K counts every
 *   replace of the run: for the n-th tar, 3n-2 is its sidecar, 3n-1 the ledger, 3n the tracker);
 * - `sidecar-written`: `NAME.sha256` is in place, the tar is still `NAME.partial`;
 * - `part-renamed`: a part `NAME.part-NNN` is in place, the next ones not yet (also `record` moving a shard's parts);
 * - `renamed`: `NAME` is in place, not yet recorded;
 * - `ledger-written`: the ledger records it, the tracker does not yet;
 * - `tracker-written`: recorded (between tars; after the last one the run only reports and releases the lock);
 * - `locked`: the sync directory's lock is held and nothing else is done yet (K = 1; also verify and deserialize).
 */
export const CRASH_AT_VARIABLE = 'BATCH_SERIALIZE_CRASH_AT';

const reached = new Map<string, number>();

export function crashPoint(point: string): void {
  const wanted = process.env[CRASH_AT_VARIABLE];
  if (wanted === undefined || wanted === '') return;
  const count = (reached.get(point) ?? 0) + 1;
  reached.set(point, count);
  if (wanted !== `${point}:${count}`) return;
  writeSync(2, `batch-serialize: crash point ${point}:${count} reached (${CRASH_AT_VARIABLE}, for tests only): stopping\n`);
  process.kill(process.pid, 'SIGSTOP');
}
