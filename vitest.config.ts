import { defineConfig } from 'vitest/config';
import { kubevirtFilesGate, MissingPartsReporter } from './test/helpers/missing-parts.ts';

const kubevirtFiles = kubevirtFilesGate('test', ['test/envelope', 'test/cluster']);

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Run after these, each alone: vitest.cluster.config.ts (a real control plane), vitest.envelope.config.ts.
    exclude: ['test/envelope/**', 'test/cluster/**', 'node_modules/**', ...kubevirtFiles.exclude],
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: ['default', new MissingPartsReporter(kubevirtFiles)],
    // Without Go a run may have no file left; the reporter says why.
    passWithNoTests: kubevirtFiles.exclude.length > 0,
    testTimeout: 30_000,
    hookTimeout: 120_000,
  },
});
