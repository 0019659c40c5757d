import { afterAll, beforeAll, expect, test } from 'vitest';
import { startRegistry, type RunningRegistry } from '../../testkit/registry.ts';

let registry: RunningRegistry;
beforeAll(async () => (registry = await startRegistry()));
afterAll(() => registry?.stop());

test('the test registry speaks the distribution API', async () => {
  const response = await fetch(`${registry.url}/v2/`);
  expect(response.status).toBe(200);
  expect(response.headers.get('docker-distribution-api-version')).toBe('registry/2.0');
});
