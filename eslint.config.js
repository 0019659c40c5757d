// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** Everywhere in src: undici's index loads fetch, WebSocket and Node's own undici, twice the CLI's start. */
const UNDICI_INDEX = {
  name: 'undici',
  allowTypeImports: true,
  message: "undici's index loads all of undici and Node's own copy: import its dispatchers from src/core/undici.ts",
};
const restrict = (paths, groups) => ({
  'no-restricted-imports': ['error', { paths, patterns: groups.map(([group, message]) => ({ group, message })) }],
});
/** Imports a folder of src may not make: the architecture, enforced (README, "Layout"). */
const forbid = (...groups) => restrict([UNDICI_INDEX], groups);
const NO_GITHUB = [['@actions/*'], 'src/core and src/cli know nothing of GitHub: only src/action imports @actions/*'];
const NO_ENTRIES = [
  ['**/cli/**', '**/action/**', '**/github/**'],
  'src/core is the engine: the CLI, the Action and src/github import it, never the other way (src/core knows nothing of GitHub)',
];
const NO_NEAR_SIDE = [
  ['**/serialize/**'],
  'the far side does not depend on the near side (shared pieces live in oci/, archive/ or sync-dir/)',
];
const NO_FAR_SIDE = [['**/far-side/**'], 'the near side does not depend on the far side'];
const NO_SIDES = [['**/serialize/**', '**/far-side/**'], 'oci/, registry/, archive/ and sync-dir/ are the building blocks both sides use'];
const NO_TESTS = [['**/__tests__/**'], 'the tests folder is for tests: shared fixtures live in testkit/'];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'examples/store/', 'demo-sync/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
      // Prettier wraps code at 140 columns but not strings or comments: this catches those.
      'max-len': ['error', { code: 140, ignoreUrls: true }],
    },
  },
  { files: ['src/**'], rules: forbid() },
  { files: ['src/core/**'], rules: forbid(NO_GITHUB, NO_ENTRIES) },
  { files: ['src/core/{oci,registry,archive,sync-dir}/**'], rules: forbid(NO_GITHUB, NO_ENTRIES, NO_SIDES) },
  { files: ['src/core/far-side/**'], rules: forbid(NO_GITHUB, NO_ENTRIES, NO_NEAR_SIDE) },
  { files: ['src/core/serialize/**'], rules: forbid(NO_GITHUB, NO_ENTRIES, NO_FAR_SIDE) },
  { files: ['src/cli/**'], rules: forbid(NO_GITHUB) },
  {
    files: ['src/github/**'],
    rules: forbid(
      [['@actions/*'], 'src/github speaks GitHub REST with undici, so the CLI can use it: only src/action imports @actions/*'],
      [['**/cli/**', '**/action/**'], 'src/github is a library the CLI uses: it imports src/core, never the entry points'],
    ),
  },
  {
    // The worker's code runs alone in its thread (worker-protocol.ts evaluates its source): types only.
    files: ['src/core/archive/worker.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['./*', '../*'], allowTypeImports: true, message: 'the worker file runs alone' }] },
      ],
    },
  },
  { files: ['bench/**', 'examples/**', 'testkit/**', 'scripts/**'], rules: restrict([], [NO_TESTS]) },
  // Types the files src/core/undici.ts loads with undici's own.
  { files: ['src/core/undici-parts.d.ts'], rules: { 'no-restricted-imports': 'off' } },
);
