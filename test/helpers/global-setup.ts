// Starts libvirtd for the libvirt acceptance tests and warms up its QEMU capability probe, which
// the first define pays for, on KubeVirt's own domain when KubeVirt's files can be had (Go). The
// outcome reaches the tests through provide/inject.
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { kubevirtFilesProblem, readKubevirtFile } from './kubevirt-files.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** "ready", or why libvirt cannot be used. */
    libvirtStatus: string;
  }
}

export default async function setup(project: TestProject): Promise<void> {
  const started = spawnSync('bash', ['scripts/start-libvirt.sh'], { encoding: 'utf8', timeout: 60_000 });
  if (started.status !== 0) {
    project.provide('libvirtStatus', `scripts/start-libvirt.sh failed: ${(started.stderr || started.error?.message || '').trim()}`);
    return;
  }
  if (kubevirtFilesProblem() !== undefined) {
    // start-libvirt.sh saw qemu:///system answer; the first define pays for the probe instead.
    project.provide('libvirtStatus', 'ready');
    return;
  }
  const warmUp = await defineWithQemuDriver(readKubevirtFile('domain_x86_64.xml'));
  project.provide('libvirtStatus', warmUp.accepted ? 'ready' : `KubeVirt's own fixture was refused: ${warmUp.message}`);
}
