import { defineConfig } from 'vitest/config';
import { kubevirtFilesGate, MissingPartsReporter } from './test/helpers/missing-parts.ts';

const kubevirtFiles = kubevirtFilesGate('test/datapath');

// test/datapath/: packets through a real VDUSE device, in a nested VM (`npm run test:datapath`).
// The real control plane first (test/cluster/setup.ts), then the kernel, the images and the device
// (test/datapath/setup.ts). One L1 boot runs every scenario in beforeAll; it shows its progress.
export default defineConfig({
  test: {
    include: ['test/datapath/**/*.test.ts'],
    exclude: ['node_modules/**', ...kubevirtFiles.exclude],
    globalSetup: ['test/cluster/setup.ts', 'test/datapath/setup.ts'],
    fileParallelism: false,
    reporters: ['default', new MissingPartsReporter(kubevirtFiles)],
    // Without Go a run may have no file left; the reporter says why.
    passWithNoTests: kubevirtFiles.exclude.length > 0,
    testTimeout: 60_000,
    hookTimeout: 30 * 60_000,
  },
});
