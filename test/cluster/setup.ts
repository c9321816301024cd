// Brings the real control plane up for test/cluster/ and takes it down after. It needs Go (to
// build the parts, test/cluster/build.ts) and root (the webhook's Service port is 443): without
// them the suite fails under CI=true and is skipped loudly elsewhere (test/helpers/requirements.ts).
import { spawnSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { MissingSource } from './build.ts';
import { down, up } from './cluster.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** "ready", "missing: <what>" (a tool the cluster needs), "skipped: <source>" (one the proxy refuses and the cache lacks) or "failed: <why>". */
    clusterStatus: string;
  }
}

function missing(): string | undefined {
  if (spawnSync('go', ['version']).status !== 0) return 'Go is not installed (the control plane is built from its Go modules): install Go 1.26 or later (the go command)';
  if (process.getuid?.() !== 0) return 'not root (the webhook listens on 443, its Service port): run npm test as root';
  if (spawnSync('jq', ['--version']).status !== 0) return 'jq is not installed (the binding registration runs deploy/kubevirt/register-vduse.jq): Debian: jq';
  return undefined;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const problem = missing();
  if (problem !== undefined) {
    project.provide('clusterStatus', `missing: ${problem}`);
    return () => Promise.resolve();
  }
  try {
    // A fresh cluster for each run: the suites expect only what they make.
    await up(process.env.KUBEVIRT_VERSION, { recreate: true });
    project.provide('clusterStatus', 'ready');
  } catch (error) {
    // A source the module proxy refuses and the cache lacks: skipped, in one line, even under CI.
    if (error instanceof MissingSource) project.provide('clusterStatus', `skipped: ${error.message}`);
    else project.provide('clusterStatus', `failed: npm run cluster -- up: ${error instanceof Error ? error.message : String(error)}`);
  }
  return async () => {
    if (!process.env.KEEP_CLUSTER) await down();
  };
}
