import { defineConfig } from 'vitest/config';

// test/envelope/ runs alone, after the main suites: it drops the page cache and measures a process
// held to cpu 200m, which other suites' load would distort.
export default defineConfig({
  test: {
    include: ['test/envelope/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
  },
});
