import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test, vi } from 'vitest';
import { applyEnv, startActionsServer, type ActionsServer } from '../../testkit/actions-server.ts';
import '../../testkit/quiet-actions-debug.ts';

let server: ActionsServer;
let restoreEnv: () => void;

beforeAll(async () => {
  server = await startActionsServer();
  // @actions/artifact reads GITHUB_API_URL at import: the env comes first, the action's modules after.
  restoreEnv = applyEnv(server.env({ runId: 1 }));
});
afterAll(async () => {
  restoreEnv?.();
  await server?.stop();
});

test('two runs on one prefix: the later save warns that another run saved meanwhile', async () => {
  const { githubServices } = await import('../../src/action/services.ts');
  const { restoreTracker, saveTracker, trackerFiles } = await import('../../src/action/tracker-state.ts');
  const services = githubServices({ token: server.token, repository: server.repository, apiUrl: server.url });
  const syncDir = join(process.env.RUNNER_TEMP as string, 'sync');
  await mkdir(syncDir, { recursive: true });
  const files = trackerFiles(syncDir, 'record-keeping.csv');
  await writeFile(files.tracker, 'sync_name,artifact,digest\n');
  await writeFile(files.ledger, '');
  const paths = [files.tracker, files.ledger];

  await services.cache.save(paths, 'shared-1-1');
  const restored = await restoreTracker(files, 'shared', services);
  expect(restored).toEqual({ from: 'cache', key: 'shared-1-1' });
  await services.cache.save(paths, 'shared-2-1'); // the other run, finishing first

  const stdout = vi.spyOn(process.stdout, 'write');
  try {
    await saveTracker(files, 'shared', 'shared-3-1', restored, services);
    const printed = stdout.mock.calls.map(([chunk]) => String(chunk)).join('');
    expect(printed).toMatch(/::warning::Another run saved the tracker as shared-2-1 after this run restored shared-1-1/);
  } finally {
    stdout.mockRestore();
  }
  expect(server.caches().map((entry) => entry.key)).toEqual(['shared-1-1', 'shared-2-1', 'shared-3-1']);
});
