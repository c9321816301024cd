// The sidecar in the pod KubeVirt gives it, under the limit the install ships: a fresh memory
// cgroup and cpu 200m, a cold page cache, and virt-launcher's whole flow replayed. Pass or fail
// by KubeVirt's own deadlines only. Runs on its own after the main suites (vitest.envelope.config.ts),
// because it drops the page cache and because other suites' load would eat its CPU quota.
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, expect, it } from 'vitest';
import { SIDECAR_MEMORY_LIMIT, SIDECAR_MEMORY_LIMIT_BYTES } from '../../api/sidecar-resources.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { MEGA, podCgroupProblem, runInEnvelope } from '../helpers/pod-envelope.ts';
import { describeRequiring } from '../helpers/requirements.ts';

describeRequiring('the sidecar in the pod KubeVirt gives it', 'a memory and CPU cgroup', podCgroupProblem(), () => {
  let distDir = '';
  beforeAll(() => {
    distDir = join(mkdtempSync(join(tmpdir(), 'vduse-envelope-')), 'dist');
    execFileSync(process.execPath, [projectFile('scripts', 'build.ts'), '--outdir', distDir], { stdio: 'pipe' });
  });

  it(`boots a VMI through virt-launcher's flow from a cold page cache under the shipped ${SIDECAR_MEMORY_LIMIT}`, async () => {
    const run = await runInEnvelope(SIDECAR_MEMORY_LIMIT_BYTES, { kind: 'sidecar', distDir });
    expect(run.failure).toBeUndefined();
    expect(run.steps.map(({ step }) => step)).toEqual(['collect', 'PreCloudInitIso', 'OnDefineDomain', 'OnDefineDomain', 'OnDefineDomain', 'Shutdown']);
    expect(run.stats.oomKills).toBe(0);
  }, 120_000);

  it('can fail: under 40M the flow does not complete', async () => {
    const run = await runInEnvelope(40 * MEGA, { kind: 'sidecar', distDir }, 10_000);
    expect(run.passed).toBe(false);
    expect(run.failure).toMatch(/Info|collect|OOM|exited/);
  }, 120_000);
});
