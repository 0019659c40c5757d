import { readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { InputDefaults, Inputs, Outputs } from '../../src/action/constants.ts';
import { Defaults, SHARDS_RANGE } from '../../src/core/defaults.ts';

interface ActionYml {
  inputs: Record<string, { default?: string }>;
  outputs: Record<string, unknown>;
}

const action = parseYaml(await readFile(new URL('../../action.yml', import.meta.url), 'utf8')) as ActionYml;

test('Inputs names every input of action.yml, and nothing else', () => {
  expect(Object.values(Inputs).sort()).toEqual(Object.keys(action.inputs).sort());
});

test('Outputs names every output of action.yml, and nothing else', () => {
  expect(Object.values(Outputs).sort()).toEqual(Object.keys(action.outputs).sort());
});

test("action.yml's non-empty defaults are exactly InputDefaults", () => {
  const declared = Object.entries(action.inputs).flatMap(([name, input]) => (input.default ? [[name, input.default]] : []));
  expect(Object.fromEntries(declared)).toEqual(InputDefaults);
});

test('the defaults the CLI and the Action share are the ones action.yml declares', () => {
  expect(action.inputs[Inputs.Compression]?.default).toBe(Defaults.compression);
  expect(action.inputs[Inputs.TrackerFilename]?.default).toBe(Defaults.trackerFilename);
  expect(action.inputs[Inputs.DedupScope]?.default).toBe(Defaults.dedupScope);
  expect(action.inputs[Inputs.Concurrency]?.default).toBe(String(Defaults.concurrency));
  expect(action.inputs[Inputs.Shards]?.default).toBe(String(SHARDS_RANGE[1]));
});
