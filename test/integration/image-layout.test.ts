// No container engine runs here, so the Dockerfile is tested by doing what it does: its runtime
// stage's RUN commands in a temp dir with the build output, then both images' entry points.
import { execSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cloudInitBindingName, DEFAULT_BINDING_PLUGIN_NAME } from '../../api/names.ts';
import { dockerfileStage, dockerfileStages, imageEnvironment, instruction } from '../helpers/dockerfile.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { logLines, waitForLine } from '../helpers/processes.ts';

const stages = dockerfileStages();
const stage = (name: string) => dockerfileStage(name, stages);

describe('Dockerfile', () => {
  it('has webhook and sidecar targets, each with its own entry point, on the runtime stage', () => {
    expect(stage('webhook').from).toBe('runtime');
    expect(stage('sidecar').from).toBe('runtime');
    expect(instruction(stage('webhook').lines, 'ENTRYPOINT')).toEqual(['["/opt/kubevirt-vduse/bin/kubevirt-vduse-webhook"]']);
    expect(instruction(stage('sidecar').lines, 'ENTRYPOINT')).toEqual(['["/opt/kubevirt-vduse/bin/kubevirt-vduse-sidecar"]']);
    expect(instruction(stage('sidecar').lines, 'ENV')).toContain('PATH=/opt/kubevirt-vduse/bin:$PATH');
  });

  it('has a sidecar-cloudinit target: the sidecar that names its binding itself, for KubeVirt 1.8', () => {
    expect(stage('sidecar-cloudinit').from).toBe('runtime');
    expect(instruction(stage('sidecar-cloudinit').lines, 'ENTRYPOINT')).toEqual(instruction(stage('sidecar').lines, 'ENTRYPOINT'));
    expect(instruction(stage('sidecar-cloudinit').lines, 'ENV')).toEqual(['PATH=/opt/kubevirt-vduse/bin:$PATH', `NETWORK_BINDING_PLUGIN_NAME=${cloudInitBindingName(DEFAULT_BINDING_PLUGIN_NAME)}`]);
  });

  it('builds on a UBI Node.js minimal image of the pinned major, named without a registry host', () => {
    const pinned = JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { devDependencies: Record<string, string> };
    const major = /\d+/.exec(pinned.devDependencies.node!)![0];
    const base = /^ARG BASE_IMAGE=(\S+)$/m.exec(readFileSync(projectFile('Dockerfile'), 'utf8'))![1]!;
    expect(base).toBe(`ubi9/nodejs-${major}-minimal`);
    expect(stage('build').from).toBe('${BASE_IMAGE}');
    expect(stage('runtime').from).toBe('${BASE_IMAGE}');
  });

  it('runs as a numeric non-root user, with OCI labels', () => {
    const users = instruction(stage('runtime').lines, 'USER');
    expect(users.at(-1)).toMatch(/^[1-9]\d*$/);
    const labels = instruction(stage('runtime').lines, 'LABEL').join(' ');
    for (const key of ['title', 'description', 'version', 'licenses']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
  });

  it('installs no dependencies in the runtime stage: the bundle carries them', () => {
    expect(instruction(stage('runtime').lines, 'RUN').join(' ')).not.toContain('npm');
    expect(instruction(stage('runtime').lines, 'COPY')).toEqual(['--from=build /src/dist dist', 'bin bin']);
  });

  it('.dockerignore lets in exactly what the build stage copies, and keeps node_modules out', () => {
    const allowed = readFileSync(projectFile('.dockerignore'), 'utf8').split('\n').filter((line) => line.startsWith('!')).map((line) => line.slice(1));
    const copied = instruction(stage('build').lines, 'COPY').flatMap((line) => line.split(/\s+/).slice(0, -1)).concat(instruction(stage('runtime').lines, 'COPY').filter((line) => !line.startsWith('--from')).map((line) => line.split(/\s+/)[0]!));
    expect(new Set(allowed)).toEqual(new Set(copied));
    expect(readFileSync(projectFile('.dockerignore'), 'utf8')).toMatch(/^\*$/m);
  });
});

describe('the image layout, built the way the Dockerfile builds it', () => {
  const root = mkdtempSync(join(tmpdir(), 'vduse-image-'));
  const app = join(root, 'opt', 'kubevirt-vduse');
  // Node 24 from the devDependency stands in for the base image's.
  const environment = { ...process.env, PATH: `${dirname(process.execPath)}:/usr/bin:/bin` };
  const run = (command: string[], extraPath?: string) =>
    spawnSync(command[0]!, command.slice(1), { cwd: app, encoding: 'utf8', env: extraPath ? { ...environment, PATH: `${extraPath}:${environment.PATH}` } : environment, timeout: 60_000 });

  beforeAll(() => {
    mkdirSync(app, { recursive: true });
    // The runtime stage runs nothing (checked above).
    expect(instruction(stage('runtime').lines, 'RUN')).toEqual([]);
    // COPY --from=build /src/dist dist: the build stage's last RUN, into the layout.
    const buildCommand = instruction(stage('build').lines, 'RUN').at(-1)!;
    expect(buildCommand).toBe('node scripts/build.ts --no-source-maps');
    execSync(`${process.execPath} ${projectFile('scripts', 'build.ts')} --no-source-maps --outdir ${join(app, 'dist')}`, { env: environment, stdio: 'pipe' });
    // COPY bin bin
    cpSync(projectFile('bin'), join(app, 'bin'), { recursive: true, verbatimSymlinks: true });
  }, 240_000);

  it('has no node_modules and no source maps, and its modules are marked ES modules', () => {
    expect(existsSync(join(app, 'node_modules'))).toBe(false);
    expect(execSync(`find ${join(app, 'dist')} -name '*.map'`, { encoding: 'utf8' })).toBe('');
    expect(JSON.parse(readFileSync(join(app, 'dist', 'package.json'), 'utf8'))).toEqual({ type: 'module' });
  });

  it('answers mutate from the bundle alone', () => {
    const vm = projectFile('deploy', 'examples', 'vm-plain.yaml');
    const mutate = run([process.execPath, join(app, 'dist', 'kubevirt-vduse.js'), 'mutate', '--file', vm, '--namespace-labels', 'vduse.kubevirt.io/policy=enabled', '--nad', 'ovs-dpdk-vduse=vduse.io/vduse']);
    expect(mutate.stderr).toContain('mutated:');
    expect(mutate.status).toBe(0);
  });

  it('starts the webhook entry point', () => {
    const result = run([join(app, 'bin', 'kubevirt-vduse-webhook'), '--help']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('Usage: kubevirt-vduse webhook [flags]');
    expect(result.stdout).toContain('--tls-cert FILE');
  });

  it('starts the sidecar entry point, and the shim commands from PATH', () => {
    const sidecar = run([join(app, 'bin', 'kubevirt-vduse-sidecar'), '--help']);
    expect(sidecar.status).toBe(0);
    expect(sidecar.stdout).toContain('Usage: kubevirt-vduse sidecar [flags]');
    expect(readlinkSync(join(app, 'bin', 'onDefineDomain'))).toBe('kubevirt-vduse-sidecar');
    for (const shim of ['onDefineDomain', 'preCloudInitIso']) {
      const result = run([shim, '--help'], join(app, 'bin'));
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toContain(`Usage: kubevirt-vduse ${shim} [flags]`);
    }
  });

  it.each([
    ['sidecar', DEFAULT_BINDING_PLUGIN_NAME, ['OnDefineDomain', 'Shutdown']],
    ['sidecar-cloudinit', cloudInitBindingName(DEFAULT_BINDING_PLUGIN_NAME), ['OnDefineDomain', 'PreCloudInitIso', 'Shutdown']],
  ])('the %s image under KubeVirt 1.8, which sets only CONTAINER_NAME, serves its binding on its own socket', async (target, binding, hookPoints) => {
    // The stage's ENV lines, as the container runtime applies them; KubeVirt 1.8 adds CONTAINER_NAME alone.
    const socketDir = mkdtempSync(join(tmpdir(), 'vduse-image-hooks-'));
    const child = spawn(join(app, 'bin', 'kubevirt-vduse-sidecar'), ['--socket-dir', socketDir], { env: { PATH: environment.PATH, ...imageEnvironment(target), CONTAINER_NAME: 'hook-sidecar-0' }, stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const lines = logLines(child);
      const serving = await waitForLine(child, lines, (line) => line.msg === 'serving', `the ${target} entry point did not start`);
      expect(serving).toMatchObject({ plugin: binding, hookPoints, socket: join(socketDir, `${binding}.sock`) });
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('fails clearly, not with a stack, when the webhook has no certificate', () => {
    const result = run([join(app, 'bin', 'kubevirt-vduse-webhook'), '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key', '--kubeconfig', '/nonexistent']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('arguments: --tls-cert: got \\"/nonexistent/tls.crt\\"; expected a readable file (ENOENT)');
    expect(result.stderr).not.toContain('    at ');
  });
});
