import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run after these, each alone: vitest.cluster.config.ts (a real control plane), vitest.envelope.config.ts;
    // and on its own, vitest.datapath.config.ts (npm run test:datapath).
    exclude: ['test/envelope/**', 'test/cluster/**', 'test/datapath/**', 'node_modules/**'],
    globalSetup: ['test/helpers/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
