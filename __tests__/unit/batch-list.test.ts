import { describe, expect, test } from 'vitest';
import { aceDtNameWarnings, parseBatchList } from '../../src/core/serialize/batch-list.ts';

const rows = (text: string) => parseBatchList(text, 'batch.csv').map(({ name, artifact, where }) => [name, artifact, where]);

describe('batch list (docs/formats.md)', () => {
  test("the tutorial's FAQ form: spaces, header and trailing comments", () => {
    const text =
      'name, artifact # header\ntools, localhost:5000/gather:sources1 # artifact 1\nops, localhost:5000/gather:ops1 # artifact 2\n';
    expect(rows(text)).toEqual([
      ['tools', 'localhost:5000/gather:sources1', 'batch.csv:2'],
      ['ops', 'localhost:5000/gather:ops1', 'batch.csv:3'],
    ]);
  });

  test('a first row that is not the header is data (ace-dt would drop it)', () => {
    expect(rows('tools,localhost:5000/a:1\n')).toEqual([['tools', 'localhost:5000/a:1', 'batch.csv:1']]);
    expect(rows('  # leading comment\n\nNAME , Artifact\nx,localhost:5000/a:1')).toEqual([['x', 'localhost:5000/a:1', 'batch.csv:4']]);
  });

  test('the last row of a name wins, in file order of the winning rows', () => {
    const text = 'name,artifact\ntools,localhost:5000/g:1\nops,localhost:5000/o:1\ntools,localhost:5000/g:2\n';
    expect(rows(text)).toEqual([
      ['ops', 'localhost:5000/o:1', 'batch.csv:3'],
      ['tools', 'localhost:5000/g:2', 'batch.csv:4'],
    ]);
  });

  test('names with - and . (ace-dt breaks on them) and quoted fields', () => {
    expect(rows('my-tools.v2,"localhost:5000/g:1"\nx__y,localhost:5000/g:1')).toEqual([
      ['my-tools.v2', 'localhost:5000/g:1', 'batch.csv:1'],
      ['x__y', 'localhost:5000/g:1', 'batch.csv:2'],
    ]);
  });

  test.each([
    ['name,artifact\ntools\n', /batch\.csv:2: expected 2 columns \(name,artifact\), found 1/],
    ['name,artifact\ntools,a:1,extra\n', /batch\.csv:2: expected 2 columns/],
    ['name,artifact\ntools,\n', /batch\.csv:2: empty artifact for name "tools"/],
    ['name,artifact\ntools,Not A Ref\n', /batch\.csv:2: invalid reference "Not A Ref"/],
    [
      'name,artifact\ntools,https://bot:hunter2@ghcr.io/org/app:1\n',
      /^batch\.csv:2: invalid reference "https:\/\/\*\*\*@ghcr\.io\/org\/app:1": credentials/,
    ],
    ['name,artifact\n-tools,localhost:5000/a:1\n', /batch\.csv:2: invalid name "-tools"/],
    ['name,artifact\n.hidden,localhost:5000/a:1\n', /batch\.csv:2: invalid name ".hidden"/],
    ['name,artifact\na/b,localhost:5000/a:1\n', /batch\.csv:2: invalid name "a\/b"/],
    [`name,artifact\n${'n'.repeat(129)},localhost:5000/a:1\n`, /batch\.csv:2: invalid name/],
    ['name,artifact\n\nok,localhost:5000/a:1\nbad,"unterminated\n', /batch\.csv:4: .*quote/i],
  ])('bad input %#: clear error naming file and line', (text, message) => {
    expect(() => parseBatchList(text, 'batch.csv')).toThrow(message);
  });
});

test("a name ace-dt's far side cannot load (a - or a .) gets a warning naming the line and the limitation", () => {
  const entries = parseBatchList('name,artifact\ntools,a/b:1\nmy-tools,a/c:1\nv1.2,a/d:1\nx_y,a/e:1\n', 'batch.csv');
  expect(aceDtNameWarnings(entries)).toEqual([
    'batch.csv:3: name "my-tools" has a "-" or ".": ace-dt\'s batch-deserialize cannot load its tars ' +
      '(it needs exactly one "-" in a tar\'s name and cuts the name at the first "."); our deserialize can',
    'batch.csv:4: name "v1.2" has a "-" or ".": ace-dt\'s batch-deserialize cannot load its tars ' +
      '(it needs exactly one "-" in a tar\'s name and cuts the name at the first "."); our deserialize can',
  ]);
});
