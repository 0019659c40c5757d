import { expect, test } from 'vitest';
import { registryOrigin } from '../../src/core/registry/transport.ts';

test('https, except loopback hosts and hosts named insecure', () => {
  expect(registryOrigin('ghcr.io', [])).toBe('https://ghcr.io');
  expect(registryOrigin('docker.io', [])).toBe('https://registry-1.docker.io');
  expect(registryOrigin('localhost:5000', [])).toBe('http://localhost:5000');
  expect(registryOrigin('127.0.0.1:5000', [])).toBe('http://127.0.0.1:5000');
  expect(registryOrigin('[::1]:5000', [])).toBe('http://[::1]:5000');
  expect(registryOrigin('mirror.internal:5000', ['mirror.internal:5000'])).toBe('http://mirror.internal:5000');
  expect(registryOrigin('mirror.internal:5000', ['mirror.internal'])).toBe('http://mirror.internal:5000');
  expect(registryOrigin('mirror.internal:5000', ['other.internal'])).toBe('https://mirror.internal:5000');
});
