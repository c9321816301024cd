import { defineConfig } from 'vitest/config';

// test/datapath/: packets through a real VDUSE device, in a nested VM (`npm run test:datapath`).
// The real control plane first (test/cluster/setup.ts), then the kernel, the images and the device
// (test/datapath/setup.ts). One L1 boot runs every scenario in beforeAll; it shows its progress.
export default defineConfig({
  test: {
    include: ['test/datapath/**/*.test.ts'],
    globalSetup: ['test/cluster/setup.ts', 'test/datapath/setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 30 * 60_000,
  },
});
