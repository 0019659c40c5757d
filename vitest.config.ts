import { defineConfig } from 'vitest/config';

/**
 * Two tiers: `unit` needs Node alone (npm run test:unit); `integration` starts real registries and runs skopeo,
 * umoci, GNU tar and the bundled Action (npm test installs them first, then runs both).
 */
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      { extends: true, test: { name: 'unit', include: ['__tests__/unit/**/*.test.ts'] } },
      { extends: true, test: { name: 'integration', include: ['__tests__/integration/**/*.test.ts'] } },
    ],
  },
});
