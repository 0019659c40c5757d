/**
 * How the model reports what ace-dt does. An AceDtError's message is the text ace-dt prints (its `%w` chain
 * joined with ": ", as Go's fmt.Errorf does). A panic is ace-dt crashing, not a message. A HarnessLimit is the
 * model refusing to guess: something ace-dt's code reaches that the model does not reproduce.
 */

/** Go sentinel errors the code tests with errors.Is (io.EOF, oras-go's errdef): kept through wrapping, as `%w` keeps them. */
export type GoSentinel = 'EOF' | 'unexpected EOF' | 'already exists' | 'not found';

export class AceDtError extends Error {
  readonly sentinel: GoSentinel | undefined;
  constructor(message: string, sentinel?: GoSentinel) {
    super(message);
    this.name = 'AceDtError';
    this.sentinel = sentinel;
  }
}

/** A Go panic: ace-dt stops with a stack trace. The message is the panic value. */
export class AceDtPanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AceDtPanic';
  }
}

/** Something ace-dt's code would do that this model does not reproduce (it would hang, or depends on what is not modelled). */
export class HarnessLimit extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HarnessLimit';
  }
}

/** Go's io.EOF, io.ErrUnexpectedEOF and oras-go's errdef values, as errors.New made them. */
export const goErrors = {
  eof: () => new AceDtError('EOF', 'EOF'),
  unexpectedEof: () => new AceDtError('unexpected EOF', 'unexpected EOF'),
  alreadyExists: () => new AceDtError('already exists', 'already exists'),
  notFound: () => new AceDtError('not found', 'not found'),
};

/** fmt.Errorf("PREFIX: %w", err): panics and harness limits pass through untouched. */
export function wrapf(prefix: string, error: unknown): Error {
  if (error instanceof AceDtError) return new AceDtError(`${prefix}: ${error.message}`, error.sentinel);
  return asError(error);
}

/** errors.Is(err, sentinel). */
export function isSentinel(error: unknown, sentinel: GoSentinel): boolean {
  return error instanceof AceDtError && error.sentinel === sentinel;
}

export function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

/** Runs `work`; what it throws comes out as fmt.Errorf("CONTEXT: %w", err) would make it. */
export async function withContext<T>(context: string, work: () => T | Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw wrapf(context, error);
  }
}

/** Go's syscall.Errno text for a failed open or read (`open PATH: TEXT`), else Node's message. */
export function goErrno(error: NodeJS.ErrnoException): string {
  const texts: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EACCES: 'permission denied',
    ELOOP: 'too many levels of symbolic links',
    EISDIR: 'is a directory',
    ENOTDIR: 'not a directory',
    ENXIO: 'no such device or address',
    EROFS: 'read-only file system',
  };
  return texts[error.code ?? ''] ?? error.message;
}
