// The kubevirt-vduse binary, run as a user runs it: a separate process, files and stdin in,
// stdout and exit code out.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { interfaceByAlias, parseXmlIndependently } from '../helpers/canonical-xml.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { kubevirtFile } from '../helpers/kubevirt-files.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';

const MAIN = projectFile('cli', 'main.ts');
const environment = { ...process.env, CONTAINER_NAME: '', NETWORK_BINDING_PLUGIN_NAME: '' };

function cli(args: string[], input?: string) {
  const result = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', input, env: environment, timeout: 120_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const dir = mkdtempSync(join(tmpdir(), 'vduse-cli-'));
const file = (name: string, content: string) => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const networkInfo = file(
  'network-info.json',
  JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-7' } }, mac: macFor(1) }] }),
);
const vmiYaml = stringify(vmiWith([masqueradeDefault, vduseInterface('net1', { pciAddress: '0000:0a:00.0' })]));
const domain = kubevirtFile('domain_x86_64.xml');

describe('kubevirt-vduse render', () => {
  it('prints the rewritten domain for a YAML VMI, with the device link under the container name', () => {
    const result = cli(['render', '--vmi', file('vmi.yaml', vmiYaml), '--domain', domain, '--network-info', networkInfo, '--container-name', 'hook-sidecar-1']);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const iface = interfaceByAlias(result.stdout, 'ua-net1');
    expect(iface?.getAttribute('type')).toBe('vdpa');
    expect(iface?.getElementsByTagName('source').item(0)?.getAttribute('dev')).toBe('/var/run/kubevirt-hooks/hook-sidecar-1/vduse/pod6c270ef2f25');
    expect(iface?.getElementsByTagName('mac').item(0)?.getAttribute('address')).toBe(macFor(1));
  });

  it('reads the VMI from stdin as JSON and defaults the container name to hook-sidecar-0', () => {
    const vmi = vmiWith([vduseInterface('net1', { macAddress: macFor(0) })]);
    const result = cli(['render', '--vmi', '-', '--domain', domain, '--network-info', networkInfo], JSON.stringify(vmi));
    expect(result.status).toBe(0);
    expect(parseXmlIndependently(result.stdout).tagName).toBe('domain');
    expect(result.stdout).toContain('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25');
  });

  it('follows --binding-name, and fails when nothing would be converted instead of printing the domain unchanged', () => {
    const vmi = vmiWith([vduseInterface('net1', { macAddress: macFor(0) })]);
    const result = cli(['render', '--vmi', '-', '--domain', domain, '--network-info', networkInfo, '--binding-name', 'other'], JSON.stringify(vmi));
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('spec.domain.devices.interfaces: got \\"no interface bound to other\\"; expected at least one interface to convert');
  });

  it('picks the binding from the VMI\'s interfaces, vduse-cloudinit included, and takes nothing from the caller\'s environment', () => {
    const vmi = vmiWith([vduseInterface('net1', { macAddress: macFor(0), binding: { name: 'vduse-cloudinit' } })]);
    const shell = { ...environment, CONTAINER_NAME: 'my-shell', NETWORK_BINDING_PLUGIN_NAME: 'vduse' };
    const result = spawnSync(process.execPath, [MAIN, 'render', '--vmi', '-', '--domain', domain, '--network-info', networkInfo], { encoding: 'utf8', input: JSON.stringify(vmi), env: shell });
    expect(result.status, result.stderr).toBe(0);
    expect(interfaceByAlias(result.stdout, 'ua-net1')?.getAttribute('type')).toBe('vdpa');
    expect(result.stdout).toContain('/var/run/kubevirt-hooks/hook-sidecar-0/vduse/pod6c270ef2f25');
    const plain = cli(['render', '--vmi', '-', '--domain', domain, '--network-info', networkInfo], JSON.stringify(vmiWith([masqueradeDefault])));
    expect(plain.status).toBe(1);
    expect(plain.stderr).toContain('got \\"no binding plugin\\"; expected interfaces bound to vduse or vduse-cloudinit; for another plugin name, give --binding-name');
  });

  it('renders the shipped example as docs/usage.md shows it', () => {
    const usage = readFileSync(projectFile('docs', 'usage.md'), 'utf8');
    // As a shell runs it: the domain's path comes from npm run kubevirt-file.
    const command = /npx kubevirt-vduse (render --vmi deploy\/examples\/render\/vmi\.yaml [^\n]+)/.exec(usage)![1]!;
    const result = spawnSync('sh', ['-c', `"$NODE" cli/main.ts ${command}`], { encoding: 'utf8', env: { ...environment, NODE: process.execPath }, cwd: projectFile() });
    expect(result.status, result.stderr).toBe(0);
    const iface = interfaceByAlias(result.stdout, 'ua-dataplane');
    expect(iface?.getAttribute('type')).toBe('vdpa');
    expect(iface?.getElementsByTagName('driver').item(0)?.getAttribute('rx_queue_size')).toBe('512');
  });

  it.each([
    ['a missing flag', ['render', '--domain', domain, '--network-info', networkInfo], '--vmi: missing'],
    ['an unknown flag', ['render', '--vmi', 'x', '--domain', domain, '--network-info', networkInfo, '--bogus'], "Unknown option '--bogus'"],
    ['a missing file', ['render', '--vmi', '/nonexistent.yaml', '--domain', domain, '--network-info', networkInfo], 'ENOENT'],
    ['an e1000 interface', ['render', '--vmi', file('e1000.yaml', stringify(vmiWith([vduseInterface('net1', { model: 'e1000' })]))), '--domain', domain, '--network-info', networkInfo], 'interfaces[net1].model: got "e1000"'],
    ['a VirtualMachine instead of a VMI', ['render', '--vmi', file('vm.yaml', 'kind: VirtualMachine\nspec: {}\n'), '--domain', domain, '--network-info', networkInfo], 'kind: got "VirtualMachine"'],
    ['malformed YAML', ['render', '--vmi', file('bad.yaml', 'spec: [\n'), '--domain', domain, '--network-info', networkInfo], 'a JSON or YAML document'],
    ['a missing device', ['render', '--vmi', file('net2.yaml', stringify(vmiWith([vduseInterface('net2', { macAddress: macFor(0) })]))), '--domain', domain, '--network-info', networkInfo], 'k8s.v1.cni.cncf.io/resourceName'],
  ])('exits 1 with a JSON diagnostic on stderr for %s, printing nothing on stdout', (_title, args, message) => {
    const result = cli(args);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const diagnostic = JSON.parse(result.stderr.trim().split('\n').at(-1)!) as { level: number; msg: string; command: string };
    expect(diagnostic).toMatchObject({ level: 'error', command: 'render' });
    expect(diagnostic.msg).toContain(message);
  });
});

describe('kubevirt-vduse help', () => {
  it('lists the commands', () => {
    const result = cli(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/Commands:\n\s+webhook\s+Serve the mutating admission webhook/);
    expect(result.stdout).toMatch(/\n\s+mutate\s+Print what the webhook does/);
    expect(result.stdout).toMatch(/\n\s+sidecar\s+Serve KubeVirt/);
    expect(result.stdout).toMatch(/\n\s+render\s+Print the domain XML/);
    expect(result.stdout).toMatch(/\n\s+check-migration\s+Compare/);
    expect(result.stdout).toMatch(/\s+demo\s+Run the end-to-end demo/);
  });
  it('--help loads only the command table, not the commands\' modules; a command\'s --help loads its own', () => {
    // Each module the process loads, as a line on stderr, from a module.registerHooks load hook.
    const hook = "import { registerHooks } from 'node:module'; registerHooks({ load(url, context, next) { if (url.startsWith('file:')) process.stderr.write('loaded ' + url + '\\n'); return next(url, context); } });";
    const loaded = (args: string[]) => {
      const result = spawnSync(process.execPath, ['--import', `data:text/javascript,${encodeURIComponent(hook)}`, MAIN, ...args], { encoding: 'utf8', env: environment });
      expect(result.status, result.stderr).toBe(0);
      return result.stderr.split('\n').filter((line) => line.startsWith('loaded file:')).map((line) => line.slice(line.indexOf(projectFile()) + projectFile().length + 1));
    };
    const commandModules = ['webhook', 'mutate', 'doctor', 'migration-test', 'sidecar', 'render', 'check-migration', 'demo'].map((name) => `cli/${name}.ts`);
    const overview = loaded(['--help']);
    expect(overview).toContain('cli/commands.ts');
    expect(overview.filter((module) => commandModules.includes(module))).toEqual([]);
    expect(overview.filter((module) => /^(webhook|sidecar|cluster|node_modules)\//.test(module))).toEqual([]);
    const render = loaded(['render', '--help']);
    expect(render).toContain('cli/render.ts');
    expect(render.filter((module) => commandModules.includes(module))).toEqual(['cli/render.ts']);
  });

  it('shows each flag of a command with its default', () => {
    const result = cli(['render', '--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/--vmi FILE\s+.*\(required\)/);
    expect(result.stdout).toMatch(/--container-name NAME\s+.*\(default: hook-sidecar-0\)/);
  });
  it('refuses an unknown command with exit 1', () => {
    const result = cli(['frobnicate']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('unknown command "frobnicate"');
  });
});

describe('sidecar-shim entry points', () => {
  const vmi = vmiWith([vduseInterface('net1', { macAddress: macFor(0) })], {
    annotations: { 'vduse.kubevirt.io/devices': '{"net1":"/dev/vhost-vdpa-5"}', 'vduse.kubevirt.io/coalesce': 'rx-usecs=32' },
  });
  const shim = (args: string[]) =>
    spawnSync(process.execPath, [MAIN, ...args, '--socket-dir', join(dir, 'shim-hooks')], {
      encoding: 'utf8',
      env: { ...environment, CONTAINER_NAME: 'hook-sidecar-0' },
    });

  it('onDefineDomain takes the VMI and domain as text and prints the domain, devices from the annotation', () => {
    const result = shim(['onDefineDomain', '--vmi', JSON.stringify(vmi), '--domain', readFileSync(domain, 'utf8')]);
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(interfaceByAlias(result.stdout, 'ua-net1')?.getAttribute('type')).toBe('vdpa');
    expect(readlinkSync(join(dir, 'shim-hooks', 'vduse', 'pod6c270ef2f25'))).toBe('/dev/vhost-vdpa-5');
  });

  it('preCloudInitIso prints the cloud-init data with the coalescing rule', () => {
    const cloudInit = JSON.stringify({ DataSource: 'noCloud', UserData: '', VolumeName: 'cloudinitdisk' });
    const result = shim(['preCloudInitIso', '--vmi', JSON.stringify(vmi), '--cloud-init', cloudInit]);
    expect(result.status).toBe(0);
    expect((JSON.parse(result.stdout) as { UserData: string }).UserData).toContain('ethtool -C %k rx-usecs 32 || true');
  });

  it('fails with exit 1 and the reason on stderr', () => {
    const result = shim(['onDefineDomain', '--vmi', '{', '--domain', '<domain/>']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('VMI from virt-launcher: JSON');
  });
});
