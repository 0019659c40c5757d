import { describe, expect, test } from 'vitest';
import {
  apiHost,
  formatReference,
  hideCredentials,
  InvalidReferenceError,
  isLoopbackHost,
  parseReference,
  pinned,
} from '../../src/core/oci/reference.ts';

const D = 'sha256:' + 'a'.repeat(64);

describe('docker reference grammar', () => {
  test.each([
    ['ubuntu', { registry: 'docker.io', repository: 'library/ubuntu', tag: 'latest' }],
    ['ubuntu:22.04', { registry: 'docker.io', repository: 'library/ubuntu', tag: '22.04' }],
    ['grafana/grafana:10.4.1', { registry: 'docker.io', repository: 'grafana/grafana', tag: '10.4.1' }],
    ['docker.io/library/registry:2.8.3', { registry: 'docker.io', repository: 'library/registry', tag: '2.8.3' }],
    ['index.docker.io/caddy', { registry: 'docker.io', repository: 'library/caddy', tag: 'latest' }],
    ['localhost:5000/gather:sources1', { registry: 'localhost:5000', repository: 'gather', tag: 'sources1' }],
    ['localhost/a/b', { registry: 'localhost', repository: 'a/b', tag: 'latest' }],
    ['127.0.0.1:5000/a/b/c:v1', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'v1' }],
    ['ghcr.io/org/img@' + D, { registry: 'ghcr.io', repository: 'org/img', digest: D }],
    ['ghcr.io/org/img:v1@' + D, { registry: 'ghcr.io', repository: 'org/img', tag: 'v1', digest: D }],
    ['[::1]:5000/repo:t', { registry: '[::1]:5000', repository: 'repo', tag: 't' }],
    ['my-reg.example.com/a__b/c-d.e:x_y.z-1', { registry: 'my-reg.example.com', repository: 'a__b/c-d.e', tag: 'x_y.z-1' }],
  ])('%s', (text, expected) => {
    expect(parseReference(text)).toEqual({ kind: 'registry', ...expected });
  });

  test.each([
    ['', /empty/],
    ['Ubuntu', /bad repository path component "Ubuntu"/],
    ['library/Ubuntu', /bad repository path component "Ubuntu"/],
    ['repo:bad tag', /bad tag/],
    ['repo@sha256:short', /bad digest/],
    ['repo@sha512:' + 'a'.repeat(128), /sha256 only/],
    ['a//b', /bad repository path component ""/],
    ['https://host/repo', /unsupported scheme/],
    ['repo:' + 'x'.repeat(129), /bad tag/],
  ])('rejects %j', (text, message) => {
    expect(() => parseReference(text)).toThrow(message);
  });

  test.each([
    ['user:secret@ghcr.io/org/app:1', '***@ghcr.io/org/app:1'],
    ['https://user:secret@ghcr.io/org/app:1', 'https://***@ghcr.io/org/app:1'],
    ['user@localhost:5000/app', '***@localhost:5000/app'],
    ['user:se/cr@et@reg.example/x@' + D, '***@reg.example/x@' + D],
    ['user:secret@[::1]:5000/x', '***@[::1]:5000/x'],
  ])('refuses the credentials in %j, and never repeats them', (text, shown) => {
    expect(() => parseReference(text)).toThrow(
      new InvalidReferenceError(shown, 'credentials (USER:PASSWORD@) do not belong in it: log in to the registry instead'),
    );
    expect(hideCredentials(text)).toBe(shown);
  });

  test.each(['ubuntu@' + D, 'reg.example/x:1@' + D, 'ocidir://backups@host.example/store:v1'])('%j holds no credentials', (text) => {
    expect(hideCredentials(text)).toBe(text);
    expect(() => parseReference(text)).not.toThrow();
  });

  test.each([
    ['user:secret@registry/app', '***@registry/app', 'bad digest "registry/app"'],
    ['repo@sha256:short', '***@sha256:short', 'bad digest "sha256:short"'],
  ])('%j, refused for another reason, is shown without what stands before its @', (text, shown, why) => {
    expect(() => parseReference(text)).toThrow(`invalid reference ${JSON.stringify(shown)}: ${why}`);
  });

  test('ocidir:// layouts', () => {
    expect(parseReference('ocidir://examples/store:sources1')).toEqual({ kind: 'ocidir', path: 'examples/store', tag: 'sources1' });
    expect(parseReference('ocidir:///abs/path@' + D)).toEqual({ kind: 'ocidir', path: '/abs/path', digest: D });
    expect(parseReference('ocidir://./store')).toEqual({ kind: 'ocidir', path: './store', tag: 'latest' });
    expect(() => parseReference('ocidir://')).toThrow(/needs a path/);
  });

  test('helpers', () => {
    expect(apiHost('docker.io')).toBe('registry-1.docker.io');
    expect(apiHost('localhost:5000')).toBe('localhost:5000');
    expect(formatReference(pinned(parseReference('localhost:5000/gather:sources1'), D))).toBe(`localhost:5000/gather@${D}`);
    expect(formatReference(parseReference('ubuntu'))).toBe('docker.io/library/ubuntu:latest');
    expect([
      isLoopbackHost('localhost:5000'),
      isLoopbackHost('127.1.2.3'),
      isLoopbackHost('[::1]:80'),
      isLoopbackHost('example.com'),
    ]).toEqual([true, true, true, false]);
  });
});
