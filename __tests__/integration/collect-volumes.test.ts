/**
 * A tar in parts (`max-file-size`) through the artifact store: serialized by the real CLI, uploaded by the Action's
 * own hook (one artifact per part, each with the sidecar) to the loopback Actions server, collected by the real CLI
 * into an empty sync directory that verify accepts; a part whose artifact expired is named.
 */
import '../../testkit/quiet-actions-debug.ts';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { uploadTar } from '../../src/action/tar-upload.ts';
import { githubServices } from '../../src/action/services.ts';
import type { ActionSettings } from '../../src/action/inputs.ts';
import type { WrittenTar } from '../../src/core/serialize/write-tars.ts';
import { applyEnv, startActionsServer, type ActionsServer } from '../../testkit/actions-server.ts';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';
import { runCli } from './support/cli.ts';

const PREFIX = 'batch-serialize-batch.csv';
let server: ActionsServer;
let scratch: string;
let restoreEnv = (): void => undefined;

beforeAll(async () => {
  server = await startActionsServer();
  scratch = await mkdtemp(join(tmpdir(), 'bs-collect-volumes-'));
});
afterAll(async () => {
  restoreEnv();
  await rm(scratch, { recursive: true, force: true });
  await server?.stop();
});

test('each part its own artifact; collect rebuilds the parts and the sidecar, verify accepts them; an expired part is named', async () => {
  const images = await tutorialImages({ layerScale: 40 });
  await writeOciLayout(join(scratch, 'layout'), mergeBlobs([images.sources1]), [{ descriptor: images.sources1.root, tag: 'sources1' }]);
  await writeFile(join(scratch, 'batch.csv'), `name,artifact\nops,ocidir://${join(scratch, 'layout')}:sources1\n`);
  const env = server.env({ runId: 21 });
  restoreEnv = applyEnv(env);
  const written = join(env.GITHUB_WORKSPACE as string, 'sync');
  const serialized = await runCli([join(scratch, 'batch.csv'), written, '--max-file-size', '64KiB']);
  expect(serialized.code, serialized.stderr).toBe(0);
  const parts = (await readdir(written)).filter((name) => name.includes('.part-')).sort();
  expect(parts.length).toBeGreaterThan(3);

  const settings = { cacheKeyPrefix: PREFIX, retentionDays: undefined, batch: { syncDir: written } } as unknown as ActionSettings;
  const services = githubServices({ token: server.token, repository: server.repository, apiUrl: server.url });
  const ids = new Map<string, number>();
  const tar = {
    syncName: '000001-ops.tar',
    files: parts.map((part) => join(written, part)),
    checksumPath: join(written, 'batch-serialize', '000001-ops.tar.sha256'),
  } as WrittenTar;
  await uploadTar(settings, services, ids)?.(tar);
  expect(server.artifacts().map((artifact) => artifact.name)).toEqual(parts.map((part) => `${PREFIX}-${part}`));

  const collect = (dir: string) =>
    runCli(['collect', dir, '--prefix', PREFIX, '--repo', server.repository, '--api-url', server.url], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_TOKEN: server.token },
    });
  const sync = join(scratch, 'collected');
  const collected = await collect(sync);
  expect(collected.code, collected.stdout + collected.stderr).toBe(0);
  expect((await readdir(sync)).filter((name) => name.includes('.part-')).sort()).toEqual(parts);
  const verified = await runCli(['verify', sync]);
  expect(verified.code, verified.stdout + verified.stderr).toBe(0);

  const second = server.artifacts().find((artifact) => artifact.name === `${PREFIX}-${parts[1]}`);
  server.expireArtifact(second?.id as number);
  const again = join(scratch, 'collected-again');
  const incomplete = await collect(again);
  expect(incomplete.code).toBe(1);
  expect(incomplete.stdout + incomplete.stderr).toMatch(
    new RegExp(`${basename(parts[1] as string).replaceAll('.', '\\.')}: artifact \\S+ \\(id \\d+\\) has expired`),
  );
  const refused = await runCli(['verify', again]);
  expect(refused.code).toBe(1);
  expect(refused.stdout + refused.stderr).toMatch(
    new RegExp(`${(parts[1] as string).replaceAll('.', '\\.')} is missing: the sidecar lists ${parts.length} parts`),
  );
});
