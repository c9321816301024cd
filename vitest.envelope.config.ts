import { defineConfig } from 'vitest/config';
import { kubevirtFilesGate, MissingPartsReporter } from './test/helpers/missing-parts.ts';

const kubevirtFiles = kubevirtFilesGate('test/envelope');

// test/envelope/ runs alone, after the main suites: it drops the page cache and measures a process
// held to cpu 200m, which other suites' load would distort.
export default defineConfig({
  test: {
    include: ['test/envelope/**/*.test.ts'],
    exclude: ['node_modules/**', ...kubevirtFiles.exclude],
    fileParallelism: false,
    reporters: ['default', new MissingPartsReporter(kubevirtFiles)],
    // Without Go a run may have no file left; the reporter says why.
    passWithNoTests: kubevirtFiles.exclude.length > 0,
    testTimeout: 120_000,
  },
});
