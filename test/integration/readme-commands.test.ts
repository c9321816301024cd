// The README's first command, as a new user runs it from a fresh checkout: npm run demo builds the
// bundle and runs the demo from dist/, not from cli/. Then the command as the docs say to run it
// (npx kubevirt-vduse), and on the machine's own older Node.js, which must be told what it needs.
import { spawnSync } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { PROJECT_ROOT, projectFile } from '../helpers/fixtures.ts';
import { kubevirtFile } from '../helpers/kubevirt-files.ts';
import { commandProblem, describeRequiring } from '../helpers/requirements.ts';

const run = (command: string, args: string[], env: NodeJS.ProcessEnv = process.env) => spawnSync(command, args, { cwd: PROJECT_ROOT, encoding: 'utf8', env, timeout: 240_000 });

describe('npm run demo, as the README runs it', () => {
  it('builds the bundle, passes the example VM through the HTTPS webhook, converts its VDUSE interface and, with libvirt, gets libvirt\'s acceptance', () => {
    const result = run('npm', ['run', 'demo']);
    expect(result.stderr).not.toContain('"level":"error"');
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('node dist/kubevirt-vduse.js demo');
    expect(result.stdout).toContain(`(${projectFile('test', 'fixtures', 'demo', 'vm.yaml')})`);
    expect(result.stdout).toMatch(/The webhook serves HTTPS on 127\.0\.0\.1:\d+\/mutate/);
    expect(result.stdout).toMatch(/the webhook admits it with [1-9]\d* patch operations/);
    expect(result.stdout).toContain(`one that KubeVirt's converter makes, in KubeVirt's converter test (${kubevirtFile('domain_x86_64.xml')})`);
    expect(result.stdout).toContain('Warning: vduse: interfaces dataplane now use binding vduse');
    expect(result.stdout).toContain('"reservedOverhead":{"memLock":"Required","addedOverhead":"1Gi"}');
    expect(result.stdout).toContain('<interface type="vdpa">');
    expect(result.stdout).toContain('<driver name="vhost" rx_queue_size="1024" tx_queue_size="1024"/>');
    if (inject('libvirtStatus') === 'ready') expect(result.stdout).toContain("libvirt's qemu driver accepts the domain");
  }, 240_000);

  it('npx kubevirt-vduse runs the built command on the project\'s Node.js', () => {
    const result = run('npx', ['kubevirt-vduse', 'render', '--help']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('Usage: kubevirt-vduse render [flags]');
  });
});

// The machines carry an older Node.js than the pinned one; a user who runs the bundle with it
// directly must be told which Node.js the command needs, not shown minified code.
const OLD_NODE = '/usr/bin/node';
const oldNodeMajor = Number(/^v(\d+)/.exec(spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout)?.[1] ?? 0);
describeRequiring('the bundle on an older Node.js', 'an older Node.js at /usr/bin/node', commandProblem(OLD_NODE, ['--version']) ?? (oldNodeMajor >= 24 ? `it is Node.js ${oldNodeMajor}` : undefined), () => {
  it('says which Node.js it needs and how to run it, in two lines and exit 1', () => {
    if (spawnSync('test', ['-f', projectFile('dist', 'kubevirt-vduse.js')]).status !== 0) expect(run('npm', ['run', 'build']).status).toBe(0);
    const result = run(OLD_NODE, [projectFile('dist', 'kubevirt-vduse.js'), '--help']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`kubevirt-vduse needs Node.js 24 or later; this is Node.js ${oldNodeMajor}.`);
    expect(result.stderr).toContain('npx kubevirt-vduse');
    expect(result.stderr.trim().split('\n')).toHaveLength(2);
  });
});
