// No container engine runs here, so the Dockerfile is tested by doing what it does: its runtime
// stage's RUN commands in a temp dir with the build output, then both images' entry points.
import { execSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { projectFile } from '../helpers/fixtures.ts';

interface Stage {
  name: string;
  from: string;
  lines: string[];
}

function dockerfileStages(): Stage[] {
  const stages: Stage[] = [];
  // Continuation lines joined, comments dropped.
  const text = readFileSync(projectFile('Dockerfile'), 'utf8').replace(/\\\n\s*/g, ' ');
  for (const line of text.split('\n').map((entry) => entry.trim())) {
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(\S+)\s+AS\s+(\S+)$/i.exec(line);
    if (from) stages.push({ from: from[1]!, name: from[2]!, lines: [] });
    else stages.at(-1)?.lines.push(line);
  }
  return stages;
}

const stages = dockerfileStages();
const stage = (name: string) => {
  const found = stages.find((candidate) => candidate.name === name);
  if (!found) throw new Error(`Dockerfile has no stage ${name}`);
  return found;
};
const instruction = (lines: string[], keyword: string) => lines.filter((line) => line.startsWith(`${keyword} `)).map((line) => line.slice(keyword.length + 1));

describe('Dockerfile', () => {
  it('has webhook and sidecar targets, each with its own entry point, on the runtime stage', () => {
    expect(stage('webhook').from).toBe('runtime');
    expect(stage('sidecar').from).toBe('runtime');
    expect(instruction(stage('webhook').lines, 'ENTRYPOINT')).toEqual(['["/opt/kubevirt-vduse/bin/kubevirt-vduse-webhook"]']);
    expect(instruction(stage('sidecar').lines, 'ENTRYPOINT')).toEqual(['["/opt/kubevirt-vduse/bin/kubevirt-vduse-sidecar"]']);
    expect(instruction(stage('sidecar').lines, 'ENV')).toContain('PATH=/opt/kubevirt-vduse/bin:$PATH');
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

  it('installs production dependencies only in the runtime stage', () => {
    expect(instruction(stage('runtime').lines, 'RUN').join(' ')).toContain('npm ci --omit=dev');
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
    // COPY package.json package-lock.json ./
    cpSync(projectFile('package.json'), join(app, 'package.json'));
    cpSync(projectFile('package-lock.json'), join(app, 'package-lock.json'));
    // RUN ..., from the npm cache that npm ci filled (no network here).
    for (const command of instruction(stage('runtime').lines, 'RUN')) {
      execSync(command.replace(/npm ci /g, 'npm ci --prefer-offline '), { cwd: app, env: environment, stdio: 'pipe', timeout: 180_000 });
    }
    // COPY --from=build /src/dist dist: the build stage's RUN node scripts/build.ts, into the layout.
    expect(instruction(stage('build').lines, 'RUN').at(-1)).toBe('node scripts/build.ts');
    execSync(`${process.execPath} ${projectFile('scripts', 'build.ts')} --outdir ${join(app, 'dist')}`, { env: environment, stdio: 'pipe' });
    // COPY bin bin
    cpSync(projectFile('bin'), join(app, 'bin'), { recursive: true, verbatimSymlinks: true });
  }, 240_000);

  it('has production dependencies only: no devDependency is installed', () => {
    const manifest = JSON.parse(readFileSync(projectFile('package.json'), 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    for (const name of Object.keys(manifest.dependencies)) expect(existsSync(join(app, 'node_modules', name)), name).toBe(true);
    for (const name of ['typescript', 'vitest', 'esbuild', 'node', 'autocannon']) expect(existsSync(join(app, 'node_modules', name)), name).toBe(false);
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

  it('fails clearly, not with a stack, when the webhook has no certificate', () => {
    const result = run([join(app, 'bin', 'kubevirt-vduse-webhook'), '--tls-cert', '/nonexistent/tls.crt', '--tls-key', '/nonexistent/tls.key', '--kubeconfig', '/nonexistent']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('arguments: --tls-cert: got \\"/nonexistent/tls.crt\\"; expected a readable file (ENOENT)');
    expect(result.stderr).not.toContain('    at ');
  });
});
