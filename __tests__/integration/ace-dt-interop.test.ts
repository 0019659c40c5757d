/**
 * Issue 11: sync directories we make, read the way ace-dt's code reads them (testkit/ace-dt, a model written from
 * ace-dt's source): its batch-deserialize directory loop and lenient reader, its strict reader tar by tar, and
 * its batch-serialize's read of the tracker. One directory serialized by the CLI against a real registry, one
 * assembled by `collect` from the tar artifacts the bundled Action uploaded to the loopback Actions services.
 */
import { appendFile, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { batchDeserialize } from '../../testkit/ace-dt/batch-deserialize.ts';
import { deserialize } from '../../testkit/ace-dt/deserialize.ts';
import { DestinationRepository } from '../../testkit/ace-dt/registry.ts';
import { readTrackerAsAceDt } from '../../testkit/ace-dt/tracker.ts';
import { runAction } from '../../testkit/action-run.ts';
import { startActionsServer, type ActionsServer } from '../../testkit/actions-server.ts';
import { manifestsChildrenFirst, pushImageSet, tutorialImages, type ImageSet, type TutorialImages } from '../../testkit/images.ts';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';
import { runCli } from './support/cli.ts';

/** ace-dt's DESTINATION: a repository without a tag. */
const DEST = 'far.example:5000/mirror';
const TAR = /^(\d{6,})-.+\.tar(\.gz|\.zst)?$/;

let registry: RunningRegistry;
let images: TutorialImages;
/** sources2 gathered with ace-dt's --index-fallback: the caddy index is named only in extra-manifests. */
let fallback: ImageSet;
let work: string;

beforeAll(async () => {
  [registry, images, fallback] = await Promise.all([
    startRegistry(),
    tutorialImages(),
    tutorialImages({ indexFallback: true }).then((t) => t.sources2),
  ]);
  await pushImageSet(registry.url, 'gather', 'sources1', images.sources1);
  await pushImageSet(registry.url, 'gather', 'sources2', images.sources2);
  await pushImageSet(registry.url, 'gather', 'fallback', fallback);
  work = await mkdtemp(join(tmpdir(), 'bs-acedt-interop-'));
});
afterAll(async () => {
  await registry?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

const ref = (repoTag: string) => `${registry.host}/${repoTag}`;

/** ace-dt's batch-deserialize of the directory into DEST: each tar loaded with its root, or where it stopped and why. */
async function aceDtBatchDeserialize(
  dir: string,
): Promise<{ loaded: Array<[string, string]>; repository: DestinationRepository } | { entry: string | undefined; error: string }> {
  try {
    const result = await batchDeserialize({ syncDir: dir, destination: DEST });
    return { loaded: result.loaded.map((tar) => [tar.file, tar.root.digest]), repository: result.repository };
  } catch (error) {
    return { entry: (error as { entry?: string }).entry, error: (error as Error).message };
  }
}

/** Every tar of the directory in number order through ace-dt's strict reader, into one repository: each root, in order. */
async function aceDtStrictEach(dir: string): Promise<{ roots: Array<[string, string]>; repository: DestinationRepository }> {
  const repository = new DestinationRepository(DEST);
  const tars = (await readdir(dir)).filter((name) => TAR.test(name)).sort((a, b) => numberOf(a) - numberOf(b));
  const roots: Array<[string, string]> = [];
  for (const tar of tars) roots.push([tar, (await deserialize({ file: join(dir, tar), destination: repository, strict: true })).digest]);
  return { roots, repository };
}

const numberOf = (name: string) => Number(TAR.exec(name)?.[1]);

/** The repository ace-dt loaded into holds every set whole: each manifest PUT as one, every other blob uploaded. */
function expectHolds(repository: DestinationRepository, sets: ImageSet[]): void {
  for (const set of sets) {
    const manifests = new Set(manifestsChildrenFirst(set).map((d) => d.digest));
    for (const digest of manifests) expect(repository.manifestDigests(), `manifest ${digest}`).toContain(digest);
    for (const digest of set.blobs.keys()) if (!manifests.has(digest)) expect(repository.blobDigests(), `blob ${digest}`).toContain(digest);
  }
}

describe('a sync directory serialized by the CLI: a plain run, then a zstd one with a nested index in extra-manifests', () => {
  let sync: string;

  beforeAll(async () => {
    sync = join(work, 'cli');
    const batch = join(work, 'cli.csv');
    await writeFile(batch, `name,artifact\ntools,${ref('gather:sources1')}\n`);
    const plain = await runCli([batch, sync]);
    expect(plain.code, plain.stderr).toBe(0);
    await appendFile(batch, `tools,${ref('gather:sources2')}\nnested,${ref('gather:fallback')}\n`);
    const zstd = await runCli([batch, sync, '--compression', 'zstd']);
    expect(zstd.code, zstd.stderr).toBe(0);
  });

  const expectedRoots = (): Array<[string, string]> => [
    ['000001-tools.tar', images.sources1.root.digest],
    ['000002-tools.tar.zst', images.sources2.root.digest],
    ['000003-nested.tar.zst', fallback.root.digest],
  ];

  test("ace-dt's batch-deserialize loads every tar and takes nothing else for one", async () => {
    const outcome = await aceDtBatchDeserialize(sync);
    expect(outcome).toEqual({ loaded: expectedRoots(), repository: expect.any(DestinationRepository) });
    if ('repository' in outcome) expectHolds(outcome.repository, [images.sources1, images.sources2, fallback]);
  });

  test("ace-dt's strict reader takes each tar, in number order, into one repository", async () => {
    const { roots, repository } = await aceDtStrictEach(sync);
    expect(roots).toEqual(expectedRoots());
    expectHolds(repository, [images.sources1, images.sources2, fallback]);
  });

  test("ace-dt's batch-serialize reads the tracker: it would go on at 000004 and skip what was shipped", async () => {
    expect(await readTrackerAsAceDt(join(sync, 'record-keeping.csv'))).toEqual({
      nextNumber: 4,
      shipped: new Map([
        [
          'tools',
          new Map([
            [ref('gather:sources1'), '000001-tools.tar'],
            [ref('gather:sources2'), '000002-tools.tar.zst'],
          ]),
        ],
        ['nested', new Map([[ref('gather:fallback'), '000003-nested.tar.zst']])],
      ]),
    });
  });
});

describe("a sync directory assembled by collect from the Action's tar artifacts", () => {
  const PREFIX = 'interop';
  let server: ActionsServer;
  let sync: string;

  /** One nightly run of the bundled Action on a fresh runner, with this batch list. */
  async function nightly(runId: number, rows: string[], inputs: Record<string, string> = {}): Promise<void> {
    await server.resetRunner();
    const run = { runId, event: 'schedule' };
    await writeFile(join(server.env(run).GITHUB_WORKSPACE as string, 'batch.csv'), ['name,artifact', ...rows].join('\n') + '\n');
    const result = await runAction(server, run, { 'github-token': server.token, 'cache-key-prefix': PREFIX, ...inputs });
    expect(result.code, result.stdout + result.stderr).toBe(0);
  }

  beforeAll(async () => {
    server = await startActionsServer();
    await nightly(1, [`tools,${ref('gather:sources1')}`]);
    await nightly(2, [`tools,${ref('gather:sources1')}`, `tools,${ref('gather:sources2')}`], { compression: 'zstd' });
    sync = join(work, 'collected');
    const collected = await runCli(['collect', sync, '--prefix', PREFIX, '--repo', server.repository, '--api-url', server.url], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_TOKEN: server.token },
    });
    expect(collected.code, collected.stdout + collected.stderr).toBe(0);
  }, 240_000);
  afterAll(() => server?.stop());

  const expectedRoots = (): Array<[string, string]> => [
    ['000001-tools.tar', images.sources1.root.digest],
    ['000002-tools.tar.zst', images.sources2.root.digest],
  ];

  test("ace-dt's batch-deserialize loads every tar and takes nothing else for one", async () => {
    const outcome = await aceDtBatchDeserialize(sync);
    expect(outcome).toEqual({ loaded: expectedRoots(), repository: expect.any(DestinationRepository) });
    if ('repository' in outcome) expectHolds(outcome.repository, [images.sources1, images.sources2]);
  });

  test("ace-dt's strict reader takes each tar, in number order, into one repository", async () => {
    const { roots, repository } = await aceDtStrictEach(sync);
    expect(roots).toEqual(expectedRoots());
    expectHolds(repository, [images.sources1, images.sources2]);
  });
});
