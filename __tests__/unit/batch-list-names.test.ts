import { describe, expect, test } from 'vitest';
import { parseBatchList } from '../../src/core/serialize/batch-list.ts';
import { repositoryUnder } from '../../src/core/far-side/destination.ts';

/** Names become repository path components on the far side: what it cannot load is refused when the list is read. */
describe('batch-list names the far side can load', () => {
  test.each([
    ['MyTools', 'registry repository names are lowercase', ' (use "mytools")'],
    ['tools-V2', 'registry repository names are lowercase', ' (use "tools-v2")'],
    ['_tools', 'it is not a registry repository name', ''],
    ['tools_', 'it is not a registry repository name', ''],
    ['a..b', 'it is not a registry repository name', ''],
    ['a.-b', 'it is not a registry repository name', ''],
    ['a___b', 'it is not a registry repository name', ''],
    ['A._B', 'registry repository names are lowercase', ''],
  ])('%s: refused with file:line and why', (name, why, instead) => {
    const text = `name,artifact\nok,localhost:5000/a:1\n${name},localhost:5000/a:1\n`;
    expect(() => parseBatchList(text, 'batch.csv')).toThrow(
      `batch.csv:3: invalid name ${JSON.stringify(name)}: the far side loads it into the repository DEST/${name} and ${why}: ` +
        `use lowercase letters and digits, separated by one . or _, two _, or -s${instead}`,
    );
  });

  test.each(['tools', 'my-tools.v2', 'a__b', 'a--b', 'x_y', '0', 'n'.repeat(128)])('%s: accepted, and the far side takes it', (name) => {
    expect(parseBatchList(`${name},localhost:5000/a:1\n`, 'batch.csv').map((entry) => entry.name)).toEqual([name]);
    expect(repositoryUnder({ registry: 'far.example', path: 'mirror' }, name, name).repository).toBe(`mirror/${name}`);
  });
});
