import { describe, expect, test } from 'vitest';
import { formatDestination, parseDestination, repositoryUnder } from '../../src/core/far-side/destination.ts';
import { InputError } from '../../src/core/input-error.ts';

describe('parseDestination', () => {
  test.each([
    ['registry.example.com/mirror', { registry: 'registry.example.com', path: 'mirror' }],
    ['127.0.0.1:5000', { registry: '127.0.0.1:5000', path: '' }],
    ['  localhost/team/mirror//  ', { registry: 'localhost', path: 'team/mirror' }],
    ['[::1]:5000/a', { registry: '[::1]:5000', path: 'a' }],
    ['registry.internal:5000/base/mirror.v2/x_y', { registry: 'registry.internal:5000', path: 'base/mirror.v2/x_y' }],
  ])('%j is %j', (text, expected) => {
    expect(parseDestination(text)).toEqual(expected);
    expect(formatDestination(expected)).toBe(text.trim().replace(/\/+$/, ''));
  });

  test.each([
    'mirror',
    'mirror/tools',
    'reg.example:5000/x:tag',
    `reg.example/x@sha256:${'a'.repeat(64)}`,
    '',
    'reg example:5000',
    'reg.ex_ample',
  ])('%j: not HOST[:PORT][/PATH]', (text) => {
    const parse = () => parseDestination(text);
    expect(parse).toThrow(InputError);
    expect(parse).toThrow(
      `destination ${JSON.stringify(text)}: expected HOST[:PORT][/PATH] (a registry and an optional repository path, no tag or digest)`,
    );
  });

  test.each([
    ['user:secret@127.0.0.1:5000', '***@127.0.0.1:5000'],
    ['https://user:secret@reg.example/mirror', 'https://***@reg.example/mirror'],
    ['user:secret@registry/mirror', '***@registry/mirror'],
    ['user:sec/ret@reg.example', '***@reg.example'],
  ])('%j: credentials refused, and not repeated', (text, shown) => {
    expect(() => parseDestination(text)).toThrow(
      new InputError(
        `destination ${JSON.stringify(shown)}: credentials (USER:PASSWORD@) do not belong in it: log in to the registry instead`,
      ),
    );
  });

  test.each([
    ['reg.example/Mirror', /^destination "reg\.example\/Mirror": invalid reference "reg\.example\/Mirror": .*component "Mirror"/],
    ['reg.example/a//b', /^destination "reg\.example\/a\/\/b": invalid reference .*bad repository path component ""/],
    ['reg.example/-x', /^destination "reg\.example\/-x": invalid reference .*bad repository path component "-x"/],
  ])('%j: a path that is no repository name', (text, message) => {
    const parse = () => parseDestination(text);
    expect(parse).toThrow(InputError);
    expect(parse).toThrow(message);
  });
});

describe('repositoryUnder', () => {
  test('DEST/RELATIVE, or RELATIVE itself when DEST has no path', () => {
    expect(repositoryUnder({ registry: 'reg.example:5000', path: 'team/mirror' }, 'tools', 'x')).toEqual({
      kind: 'registry',
      registry: 'reg.example:5000',
      repository: 'team/mirror/tools',
    });
    expect(repositoryUnder({ registry: 'reg.example:5000', path: '' }, 'grafana/grafana', 'x')).toEqual({
      kind: 'registry',
      registry: 'reg.example:5000',
      repository: 'grafana/grafana',
    });
  });

  test('a name that is no repository path component: an InputError prefixed with what it is for', () => {
    const under = () => repositoryUnder({ registry: 'reg.example', path: 'mirror' }, 'Tools', '000001-Tools.tar');
    expect(under).toThrow(InputError);
    expect(under).toThrow(/^000001-Tools\.tar: invalid reference "reg\.example\/mirror\/Tools": bad repository path component "Tools"/);
  });

  test('a repository the docker grammar would rewrite elsewhere is refused, not silently moved', () => {
    const under = () => repositoryUnder({ registry: 'docker.io', path: '' }, 'ubuntu', '000001-ubuntu.tar');
    expect(under).toThrow(InputError);
    expect(under).toThrow('000001-ubuntu.tar: docker.io/ubuntu is not a repository name (lowercase letters, digits and . _ - only)');
  });
});
