// Builds what the datapath suite boots, before the suite runs: the 6.12 kernel from Debian's
// bookworm-backports (fetched once, then cached), the L1 and L2 images, and the VDUSE device
// (test/cluster/go/vduse-net). Where any of it cannot be had, the suite fails under CI=true with
// the reason, and is skipped loudly elsewhere (test/helpers/requirements.ts).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { buildModule } from '../cluster/build.ts';
import { buildImages, missingTools } from './images.ts';
import { debianKernel } from './kernel.ts';

export interface DatapathAssets {
  kernel: string;
  kernelVersion: string;
  images: { l1: string; l2: string };
  deviceBin: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** "ready", or why the rig cannot run here. */
    datapathStatus: string;
    datapathAssets: DatapathAssets | undefined;
  }
}

function problem(): string | undefined {
  if (process.getuid?.() !== 0) return 'not root (L1 needs the whole root filesystem shared, and VDUSE needs CAP_NET_ADMIN)';
  if (spawnSync('go', ['version']).status !== 0) return 'Go is not installed (the VDUSE device is built from test/cluster/go/vduse-net)';
  return missingTools();
}

export default async function setup(project: TestProject): Promise<void> {
  project.provide('datapathAssets', undefined);
  const missing = problem();
  if (missing !== undefined) {
    project.provide('datapathStatus', missing);
    return;
  }
  try {
    const kernel = debianKernel();
    const images = buildImages(kernel);
    const deviceBin = join(await buildModule('vduse-net'), 'vduse-net');
    project.provide('datapathAssets', { kernel: kernel.vmlinuz, kernelVersion: kernel.version, images, deviceBin });
    project.provide('datapathStatus', 'ready');
  } catch (error) {
    project.provide('datapathStatus', `the kernel or the images could not be had: ${error instanceof Error ? error.message : String(error)}`);
  }
}
