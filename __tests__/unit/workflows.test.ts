import { readdir, readFile } from 'node:fs/promises';
import { expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';

const DIR = new URL('../../.github/workflows/', import.meta.url);

/** A commented line that is YAML a user uncomments: `# - uses: …`, `#   with:`, `# key: value`, not prose. */
const COMMENTED_YAML = /^(\s*)# ((?:- )?[a-z][\w-]*:(?: |$).*|\s+[\w-]+:(?: |$).*)$/;

test.each(['example-nightly.yml', 'example-plan.yml', 'ci.yml', 'check-dist.yml'])(
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
  expect((await readdir(DIR)).sort()).toEqual(['check-dist.yml', 'ci.yml', 'example-nightly.yml', 'example-plan.yml']);
});
