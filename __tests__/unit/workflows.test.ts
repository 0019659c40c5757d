import { readdir, readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';

const DIR = new URL('../../.github/workflows/', import.meta.url);

/** A commented line that is YAML a user uncomments: `# - uses: …`, `#   with:`, `# key: value`, not prose. */
const COMMENTED_YAML = /^(\s*)# ((?:- )?[a-z][\w-]*:(?: |$).*|\s+[\w-]+:(?: |$).*)$/;

test.each(['example-nightly.yml', 'example-plan.yml', 'example-matrix.yml', 'ci.yml', 'check-dist.yml'])(
  '%s parses, and still parses with its commented YAML lines uncommented',
  async (name) => {
    const text = await readFile(new URL(name, DIR), 'utf8');
    expect(() => parseYaml(text)).not.toThrow();
    const uncommented = text
      .split('\n')
      .map((line) => line.replace(COMMENTED_YAML, '$1$2'))
      .join('\n');
    const workflow = parseYaml(uncommented) as { jobs?: Record<string, unknown> };
    expect(Object.keys(workflow.jobs ?? {}).length).toBeGreaterThan(0);
  },
);

test('every workflow is covered above', async () => {
  expect((await readdir(DIR)).sort()).toEqual([
    'check-dist.yml',
    'ci.yml',
    'example-matrix.yml',
    'example-nightly.yml',
    'example-plan.yml',
  ]);
});

test("example-matrix.yml wires the matrix from the plan job's outputs to each shard and runs record after them, always", async () => {
  interface Job {
    needs?: string | string[];
    if?: string;
    outputs?: Record<string, string>;
    strategy?: { 'fail-fast'?: boolean; matrix?: string };
    steps: Array<{ uses?: string; with?: Record<string, unknown> }>;
  }
  const workflow = parseYaml(await readFile(new URL('example-matrix.yml', DIR), 'utf8')) as { jobs: Record<string, Job> };
  const { plan, shard, record } = workflow.jobs as { plan: Job; shard: Job; record: Job };
  const action = (job: Job) => job.steps.find((step) => step.uses === './')?.with ?? {};
  expect([action(plan).mode, action(shard).mode, action(record).mode]).toEqual(['plan-shards', 'serialize-shard', 'record-shards']);
  expect(plan.outputs?.matrix).toBe('${{ steps.plan.outputs.matrix }}');
  expect(shard.strategy).toEqual({ 'fail-fast': false, matrix: '${{ fromJSON(needs.plan.outputs.matrix) }}' });
  expect(action(shard).shard).toBe('${{ matrix.shard }}');
  expect(record.needs).toEqual(['plan', 'shard']);
  expect(record.if).toMatch(/^always\(\) && needs\.plan\.result == 'success'/);
  const prefixes = new Set([plan, shard, record].map((job) => action(job)['cache-key-prefix']));
  expect(prefixes.size).toBe(1);
});
