import { defineConfig } from 'vitest/config';
import { kubevirtFilesGate, MissingPartsReporter } from './test/helpers/missing-parts.ts';

const kubevirtFiles = kubevirtFilesGate('test/cluster');

// test/cluster/ runs after the main suites, against a real control plane that its global setup
// brings up (test/cluster/cluster.ts) and takes down: one cluster, its files one after another.
export default defineConfig({
  test: {
    include: ['test/cluster/**/*.test.ts'],
    exclude: ['node_modules/**', ...kubevirtFiles.exclude],
    // libvirt first (test/helpers/global-setup.ts): the launcher suite defines the domains KubeVirt's code made.
    globalSetup: ['test/helpers/global-setup.ts', 'test/cluster/setup.ts'],
    fileParallelism: false,
    // it.concurrent tests (the launcher suite's flows) two at a time: one per core.
    maxConcurrency: 2,
    reporters: ['default', new MissingPartsReporter(kubevirtFiles)],
    // Without Go a run may have no file left; the reporter says why.
    passWithNoTests: kubevirtFiles.exclude.length > 0,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
