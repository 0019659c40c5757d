/**
 * @actions/core writes `::debug::` lines to stdout whatever the log level (the runner hides them unless step
 * debugging is on), and @actions/cache and @actions/artifact write hundreds. Importing this module drops those
 * lines from this process's stdout; everything else (info, warnings, errors, vitest's own reports) passes.
 * Tests that load @actions/* import it first; it also serves as a vitest `setupFiles` entry.
 */
const DEBUG = '::debug::';
const installed = Symbol.for('batch-serialize.quiet-actions-debug');

type Write = (chunk: unknown, ...rest: unknown[]) => boolean;

export function dropActionsDebugLines(stream: NodeJS.WriteStream & { [installed]?: true } = process.stdout): void {
  if (stream[installed]) return;
  stream[installed] = true;
  const write = stream.write.bind(stream) as Write;
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (!(typeof chunk === 'string' && chunk.startsWith(DEBUG))) return write(chunk, ...rest);
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    if (callback) queueMicrotask(callback);
    return true;
  }) as typeof stream.write;
}

dropActionsDebugLines();
