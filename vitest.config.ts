import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run after these, each alone: vitest.cluster.config.ts (a real control plane), vitest.envelope.config.ts.
    exclude: ['test/envelope/**', 'test/cluster/**', 'node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
