import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import {
  entryFor,
  findLedger,
  ledgerPath,
  legacyLedgerPath,
  readLedger,
  writeLedger,
  type LedgerEntry,
} from '../../src/core/sync-dir/ledger.ts';

const A = 'sha256:' + 'a'.repeat(64);
const B = 'sha256:' + 'b'.repeat(64);
const entry: LedgerEntry = {
  syncName: '000001-tools.tar',
  artifact: 'localhost:5000/gather:sources1',
  digest: A,
  tar: { sha256: B, bytes: 2048 },
  blobs: [{ digest: B, size: 10, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
};

async function ledgerWith(...lines: string[]): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'ledger-')), 'record-keeping.ledger.jsonl');
  await writeFile(path, lines.join('\n'));
  return path;
}

describe('ledger record-keeping.ledger.jsonl (docs/formats.md "Ledger")', () => {
  test('sits in the side directory, named after the tracker; older sync directories keep it beside the tracker', async () => {
    expect(ledgerPath('/sync/record-keeping.csv')).toBe('/sync/batch-serialize/record-keeping.ledger.jsonl');
    expect(ledgerPath('/sync/nightly')).toBe('/sync/batch-serialize/nightly.ledger.jsonl');
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const tracker = join(dir, 'record-keeping.csv');
    expect(await findLedger(tracker)).toBe(ledgerPath(tracker));
    await writeFile(legacyLedgerPath(tracker), '');
    expect(await findLedger(tracker)).toBe(join(dir, 'record-keeping.ledger.jsonl'));
    await writeLedger(ledgerPath(tracker), []);
    expect(await findLedger(tracker)).toBe(ledgerPath(tracker));
  });

  test('round-trips, one JSON line an entry; a missing ledger is empty; the temp file is gone', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ledger-'));
    const path = join(dir, 'record-keeping.ledger.jsonl');
    expect(await readLedger(path)).toEqual([]);
    const learned = { ...entry, syncName: '000002-tools.tar', tar: null };
    await writeLedger(path, [entry, learned]);
    expect(await readLedger(path)).toEqual([entry, learned]);
    expect(await readdir(dir)).toEqual(['record-keeping.ledger.jsonl']);
  });

  test('an entry describes a tracker row only with the same tar and the same root', () => {
    const row = { syncName: '000001-tools.tar', number: 1, name: 'tools', artifact: entry.artifact, digest: A };
    expect(entryFor([entry], row)).toBe(entry);
    expect(entryFor([entry], { ...row, digest: B })).toBeUndefined();
    expect(entryFor([entry], { ...row, syncName: '000001-tools.tar.zst' })).toBeUndefined();
  });

  const damaged: Array<[string, unknown, RegExp]> = [
    ['not JSON', '{"syncName":', /:2: damaged ledger: .*JSON/],
    ['not an object', '[1,2]', /:2: damaged ledger: not a JSON object/],
    ['a sync name off the grammar', { ...entry, syncName: 'tools.tar' }, /:2: damaged ledger: syncName is not NNNNNN-NAME/],
    ['an empty artifact', { ...entry, artifact: '' }, /:2: damaged ledger: artifact is not a reference/],
    ['a bad root digest', { ...entry, digest: 'sha256:abc' }, /:2: damaged ledger: digest is not a sha256 digest/],
    ['tar facts without a size', { ...entry, tar: { sha256: B } }, /:2: damaged ledger: tar is neither null nor/],
    ['a negative blob size', { ...entry, blobs: [{ ...entry.blobs[0], size: -5 }] }, /:2: damaged ledger: blobs\[0\] is not/],
    [
      'a fractional blob size',
      { ...entry, blobs: [entry.blobs[0], { ...entry.blobs[0], size: 1.5 }] },
      /:2: damaged ledger: blobs\[1\] is not/,
    ],
    ['a blob without a media type', { ...entry, blobs: [{ digest: B, size: 1 }] }, /:2: damaged ledger: blobs\[0\] is not/],
  ];
  test.each(damaged)('refuses %s, naming the file, line and field', async (_what, line, message) => {
    const path = await ledgerWith(JSON.stringify(entry), typeof line === 'string' ? line : JSON.stringify(line));
    await expect(readLedger(path)).rejects.toThrow(message);
    await expect(readLedger(path)).rejects.toThrow(path);
  });
});
