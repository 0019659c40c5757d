import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A CNCF distribution registry (Debian's docker-registry) on 127.0.0.1, with its storage in a temp dir. */
export interface RunningRegistry {
  /** `127.0.0.1:PORT`: the registry part of a reference. */
  host: string;
  url: string;
  dir: string;
  stop(): Promise<void>;
}

export interface RegistryOptions {
  /** YAML placed under `auth:` in the registry's config (htpasswd or token). */
  authYaml?: string;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

export async function startRegistry(options: RegistryOptions = {}): Promise<RunningRegistry> {
  const dir = await mkdtemp(join(tmpdir(), 'bs-registry-'));
  const port = await freePort();
  const config = [
    'version: 0.1',
    'log: {level: error, accesslog: {disabled: true}}',
    'storage:',
    `  filesystem: {rootdirectory: ${join(dir, 'data')}}`,
    '  delete: {enabled: true}',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(options.authYaml ? ['auth:', ...options.authYaml.split('\n').map((l) => `  ${l}`)] : []),
  ].join('\n');
  await writeFile(join(dir, 'config.yml'), config + '\n');
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`docker-registry exited (${code}): ${stderr}`))),
  );
  const url = `http://127.0.0.1:${port}`;
  await Promise.race([waitForHttp(`${url}/v2/`), exited]);
  exited.catch(() => undefined);
  return {
    host: `127.0.0.1:${port}`,
    url,
    dir,
    async stop() {
      child.removeAllListeners('exit');
      child.kill('SIGTERM');
      await new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function waitForHttp(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      await fetch(url);
      return;
    } catch (error) {
      if (Date.now() > deadline) throw new Error(`registry at ${url} did not answer: ${String(error)}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}
