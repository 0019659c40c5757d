/** The CLI's end-of-run tables: the same rows (src/core/serialize/tar-rows.ts) as the Action's job summary. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { formatDeserializeResult, formatReport } from '../../src/cli/report.ts';
import { Defaults } from '../../src/core/defaults.ts';
import { runBatch, type BatchSettings } from '../../src/core/serialize/run.ts';
import { RegistryAndLayoutStorages } from '../../src/core/serialize/storages.ts';
import { PLAN_COLUMNS, WRITTEN_COLUMNS } from '../../src/core/serialize/tar-rows.ts';
import { mergeBlobs, tutorialImages, writeOciLayout } from '../../testkit/images.ts';

let scratch: string;
let store: string;

beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'bs-cli-report-'));
  store = join(scratch, 'store');
  const images = await tutorialImages();
  await writeOciLayout(store, mergeBlobs([images.sources1, images.sources2]), [
    { descriptor: images.sources1.root, tag: 'sources1' },
    { descriptor: images.sources2.root, tag: 'sources2' },
  ]);
});
afterAll(async () => {
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

const ref = (tag: string) => `ocidir://${store}:${tag}`;

async function serialize(rows: string[], dryRun: boolean): Promise<string> {
  const batchFile = join(scratch, 'batch.csv');
  await writeFile(batchFile, rows.join('\n') + '\n');
  const settings: BatchSettings = {
    batchFile,
    syncDir: join(scratch, 'sync'),
    trackerFilename: Defaults.trackerFilename,
    compression: 'none',
    compressionLevel: undefined,
    manifestJson: false,
    dedupScope: Defaults.dedupScope,
    dryRun,
    concurrency: Defaults.concurrency,
  };
  const storages = new RegistryAndLayoutStorages({ insecureRegistries: [] });
  try {
    return formatReport(await runBatch(settings, storages), dryRun);
  } finally {
    await storages.close();
  }
}

/** A formatTable line as its cells (columns are two or more spaces apart). */
const cells = (line: string | undefined) => (line ?? '').trim().split(/ {2,}/);

test('dry run, written tars, nothing new: the plan columns, the written columns with a total, a sentence', async () => {
  const planned = (await serialize([`tools,${ref('sources1')}`], true)).split('\n');
  expect(planned[0]).toBe('Dry run: nothing was written. Would write:');
  expect(cells(planned[1])).toEqual(PLAN_COLUMNS);
  const count = expect.stringMatching(/^\d+$/);
  const kib = expect.stringMatching(/KiB$/);
  expect(cells(planned[2])).toEqual(['000001-tools.tar', `(new) -> ${ref('sources1')}`, count, kib, '0 B (0 blobs)']);

  const written = (await serialize([`tools,${ref('sources1')}`], false)).split('\n');
  expect(cells(written[0])).toEqual(WRITTEN_COLUMNS);
  expect(cells(written[1])).toEqual(['000001-tools.tar', ref('sources1'), count, kib, '0 B (0 blobs)']);
  expect(cells(written[2])).toEqual(['total', cells(written[1])[2], cells(written[1])[3], '0 B (0 blobs)']);

  const upgrade = (await serialize([`tools,${ref('sources2')}`], true)).split('\n');
  expect(cells(upgrade[2])?.[1]).toBe(`${ref('sources1')} -> ${ref('sources2')}`);
  expect(cells(upgrade[2])?.[4]).toMatch(/^\S+ \S+ \(5 blobs\)$/);

  await serialize([`tools,${ref('sources2')}`], false);
  expect(await serialize([`tools,${ref('sources2')}`], false)).toBe(
    `tools: ${ref('sources2')} is up to date (shipped in 000002-tools.tar)\nNothing new to serialize; nothing was written.`,
  );
});

test("deserialize's summary: nothing new, but the images scattered again are listed once each, with their digests", () => {
  const image = {
    source: 'docker.io/grafana/grafana:10.4.1',
    target: 'far:5000/grafana/grafana:10.4.1',
    digest: 'sha256:' + 'a'.repeat(64),
  };
  const text = formatDeserializeResult({
    loaded: [],
    skipped: ['000001-tools.tar'],
    rescattered: [{ syncName: '000001-tools.tar', name: 'tools', scattered: [image] }],
    scattered: [image],
  } as unknown as Parameters<typeof formatDeserializeResult>[0]);
  expect(text.split('\n')).toEqual([
    'Already loaded (successful-syncs.csv): 000001-tools.tar',
    'Nothing new to load.',
    'Scattered:',
    `  ${image.source} -> ${image.target} (${image.digest})`,
  ]);
});
