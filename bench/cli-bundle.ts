/**
 * The CLI as users run it: one ncc bundle of src/cli/main.ts, as `npm run build` makes for dist/cli. Running the
 * TypeScript sources instead costs a second of module loading and type stripping per process, which no user pays.
 */
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const NCC = join(ROOT, 'node_modules', '.bin', 'ncc');

/** Bundles the CLI from the current sources into a temp directory (removed when this process exits); returns its index.js. */
export async function freshCliBundle(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bs-cli-bundle-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  try {
    await promisify(execFile)(NCC, ['build', join(ROOT, 'src', 'cli', 'main.ts'), '-o', dir, '--quiet'], { cwd: ROOT });
  } catch (error) {
    const { stderr } = error as { stderr?: string };
    throw new Error(`ncc could not bundle src/cli/main.ts: ${stderr?.trim() || String(error)}`, { cause: error });
  }
  return join(dir, 'index.js');
}
