import { expect, test } from 'vitest';
import { parseChallenges } from '../../src/core/registry/challenge.ts';

test('a Docker Hub bearer challenge', () => {
  expect(
    parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'),
  ).toEqual([
    {
      scheme: 'bearer',
      params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' },
    },
  ]);
});

test('several challenges, quoted commas and escapes, unquoted values, several headers', () => {
  const header =
    'Basic realm="Registry, with comma", ' +
    'Bearer realm="https://a/token",service=reg,scope="repository:x:pull,push repository:y:pull",error="insufficient_scope"';
  expect(parseChallenges([header, 'Custom  key = "a \\"quoted\\" word"'])).toEqual([
    { scheme: 'basic', params: { realm: 'Registry, with comma' } },
    {
      scheme: 'bearer',
      params: { realm: 'https://a/token', service: 'reg', scope: 'repository:x:pull,push repository:y:pull', error: 'insufficient_scope' },
    },
    { scheme: 'custom', params: { key: 'a "quoted" word' } },
  ]);
  expect(parseChallenges(undefined)).toEqual([]);
  expect(parseChallenges('')).toEqual([]);
});
