// kubevirt-vduse migration-test against the local API server playing a cluster: a VMI and its
// virt-launcher pods, VirtualMachineInstanceMigrations that move the VMI's status.migrationState
// over time (to success, to failure, or nowhere), and the exec subresource over WebSocket, which
// answers virsh dumpxml, readlink and cat with what the real sidecar callbacks rendered and linked
// on each "node".
import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dumpxmlCommand, SESSION_LIBVIRT_URI } from '../../cluster/migration-test.ts';
import { HookCallbacks } from '../../sidecar/callbacks.ts';
import { type ExecRequest, FakeApiServer } from '../helpers/fake-apiserver.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';

const NS = 'telco';
const VM = 'vm-dpdk';
const VMI_PATH = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstances/${VM}`;
const MIGRATIONS = `/apis/kubevirt.io/v1/namespaces/${NS}/virtualmachineinstancemigrations`;
const podPath = (name: string) => `/api/v1/namespaces/${NS}/pods/${name}`;

interface Node {
  name: string;
  device: string;
  socketDir: string;
  infoPath: string;
  callbacks: HookCallbacks;
}

function node(name: string, device: string): Node {
  const dir = mkdtempSync(join(tmpdir(), `vduse-mt-${name}-`));
  const infoPath = join(dir, 'network-info');
  writeFileSync(infoPath, JSON.stringify({ interfaces: [{ network: 'dataplane', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: device } }, mac: macFor(1) }] }));
  const socketDir = join(dir, 'hooks');
  return { name, device, socketDir, infoPath, callbacks: new HookCallbacks({ bindingName: 'vduse', socketDir, containerName: 'hook-sidecar-0', networkInfoPath: infoPath, networkInfoTimeoutMs: 1000, annotationHook: false }) };
}

const vmiSpec = vmiWith([masqueradeDefault, vduseInterface('dataplane', { macAddress: macFor(1) })]).spec;

function vmiObject(nodeName: string, extra: Record<string, unknown> = {}) {
  return {
    apiVersion: 'kubevirt.io/v1',
    kind: 'VirtualMachineInstance',
    metadata: { name: VM, namespace: NS, uid: 'vmi-uid-1', ownerReferences: [{ apiVersion: 'kubevirt.io/v1', kind: 'VirtualMachine', name: VM, uid: 'vm-uid-1', controller: true }] },
    spec: vmiSpec,
    status: {
      phase: 'Running',
      nodeName,
      // Non-root, KubeVirt's default: libvirt runs in session mode in the compute container.
      runtimeUser: 107,
      conditions: [
        { type: 'Ready', status: 'True' },
        { type: 'LiveMigratable', status: 'True' },
      ],
      interfaces: [
        { name: 'default', mac: '52:54:00:7f:02:5a', interfaceName: 'eth0', infoSource: 'domain, guest-agent' },
        { name: 'dataplane', mac: macFor(1), interfaceName: 'eth1', infoSource: 'domain, guest-agent' },
      ],
      ...extra,
    },
  };
}

function launcherPod(name: string, nodeName: string) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: NS, labels: { 'kubevirt.io': 'virt-launcher', 'kubevirt.io/created-by': 'vmi-uid-1', 'vm.kubevirt.io/name': VM } },
    spec: {
      nodeName,
      containers: [
        { name: 'compute', image: 'quay.io/kubevirt/virt-launcher:v1.8.0' },
        { name: 'hook-sidecar-0', image: 'kubevirt-vduse/sidecar:0.1.0', env: [{ name: 'CONTAINER_NAME', value: 'hook-sidecar-0' }, { name: 'NETWORK_BINDING_PLUGIN_NAME', value: 'vduse' }] },
      ],
    },
    status: { phase: 'Running' },
  };
}

type Outcome = 'succeed' | 'fail' | 'hang';

describe('kubevirt-vduse migration-test', () => {
  let api: FakeApiServer;
  let nodes: Record<string, Node>;
  /** Domain XML each pod's compute container answers, by pod name. */
  let domains: Map<string, string>;
  let podNode: Map<string, Node>;
  let outcome: Outcome;
  let tamper: { targetXml?: (xml: string) => string; targetLink?: string };

  beforeEach(async () => {
    api = await new FakeApiServer().start();
    nodes = { 'node-a': node('node-a', '/dev/vhost-vdpa-3'), 'node-b': node('node-b', '/dev/vhost-vdpa-7') };
    domains = new Map();
    podNode = new Map();
    outcome = 'succeed';
    tamper = {};
    // The source boots: the sidecar renders the domain and links the device.
    const vmi = vmiObject('node-a');
    domains.set('virt-launcher-vm-dpdk-aaaaa', await nodes['node-a']!.callbacks.onDefineDomain(readKubevirtFile('domain_x86_64.xml'), JSON.stringify(vmi)));
    podNode.set('virt-launcher-vm-dpdk-aaaaa', nodes['node-a']!);
    api.putObject(VMI_PATH, vmi);
    api.putObject(podPath('virt-launcher-vm-dpdk-aaaaa'), launcherPod('virt-launcher-vm-dpdk-aaaaa', 'node-a'));
    api.execHandler = (request: ExecRequest) => {
      const at = podNode.get(request.pod);
      if (!at) return { stderr: `pod ${request.pod} not found`, exitCode: 1 };
      const [command, ...args] = request.command;
      if (request.container === 'compute' && command === 'virsh') {
        // A non-root virt-launcher has no system libvirtd: virsh without the session URI fails as it does there.
        if (args[0] !== '-c' || args[1] !== SESSION_LIBVIRT_URI) {
          return { stderr: "error: failed to connect to the hypervisor\nerror: Failed to connect socket to '/var/run/libvirt/virtqemud-sock-ro': No such file or directory\n", exitCode: 1 };
        }
        if (args[2] === 'dumpxml' && args[3] === `${NS}_${VM}`) return { stdout: domains.get(request.pod)!, exitCode: 0 };
      }
      if (request.container === 'hook-sidecar-0' && command === 'readlink') {
        const targets = args.map((path) => readlinkSync(path.replace('/var/run/kubevirt-hooks', at.socketDir)));
        return { stdout: `${targets.join('\n')}\n`, exitCode: 0 };
      }
      if (request.container === 'hook-sidecar-0' && command === 'cat' && args[0] === '/etc/podinfo/network-info') return { stdout: readFileSync(at.infoPath, 'utf8'), exitCode: 0 };
      return { stderr: `${request.command.join(' ')}: not found`, exitCode: 127 };
    };
    let migrations = 0;
    api.onCreate = (path, migration) => {
      if (!path.startsWith(MIGRATIONS)) return;
      const uid = (migration.metadata as { uid: string }).uid;
      const current = api.objectAt(VMI_PATH) as ReturnType<typeof vmiObject>;
      const from = current.status.nodeName;
      const to = from === 'node-a' ? 'node-b' : 'node-a';
      const targetPod = `virt-launcher-vm-dpdk-${'bcdef'[migrations++ % 5]!.repeat(5)}`;
      const setPhase = (phase: string, conditions: object[] = []) => {
        const stored = api.objectAt(path) as Record<string, unknown> | undefined;
        if (stored) api.putObject(path, { ...stored, status: { phase, conditions } });
      };
      const state = { migrationUid: uid, sourceNode: from, targetNode: to, sourcePod: '', targetPod, mode: 'PreCopy', startTimestamp: new Date().toISOString() };
      if (outcome === 'hang') return setPhase('Scheduling');
      setTimeout(() => {
        // The target pod starts; its sidecar links its own device and renders on the source's XML.
        api.putObject(podPath(targetPod), launcherPod(targetPod, to));
        podNode.set(targetPod, nodes[to]!);
        const sourcePod = [...podNode.entries()].find(([, at]) => at.name === from)![0];
        void nodes[to]!.callbacks.onDefineDomain(domains.get(sourcePod)!, JSON.stringify(current)).then((xml) => domains.set(targetPod, tamper.targetXml ? tamper.targetXml(xml) : xml));
        setPhase('Running');
        api.putObject(VMI_PATH, vmiObject(from, { migrationState: state }));
      }, 60);
      setTimeout(() => {
        if (outcome === 'fail') {
          setPhase('Failed', [{ type: 'Failed', status: 'True', reason: 'MigrationFailed', message: 'target virt-launcher pod failed to start' }]);
          api.putObject(VMI_PATH, vmiObject(from, { migrationState: { ...state, failed: true, completed: true, endTimestamp: new Date().toISOString(), failureReason: 'Live migration failed: target domain failed to start' } }));
          return;
        }
        // The target's readlink answers where the link must not point: the source's device.
        if (tamper.targetLink) api.execHandler = readlinkAnswers(api.execHandler, targetPod, tamper.targetLink);
        setPhase('Succeeded');
        api.putObject(VMI_PATH, vmiObject(to, { migrationState: { ...state, completed: true, endTimestamp: new Date(Date.now() + 3200).toISOString() } }));
      }, 250);
    };
  });

  afterEach(async () => {
    await api.stop();
  });

  const start = (...args: string[]) => {
    let stdout = '';
    let stderr = '';
    const child: ChildProcess = execFile(process.execPath, [projectFile('cli', 'main.ts'), 'migration-test', `${NS}/${VM}`, '--kubeconfig', api.kubeconfigFile(), '--poll-interval', '50ms', ...args], { encoding: 'utf8', timeout: 60_000 });
    child.stdout!.on('data', (chunk: string) => (stdout += chunk));
    child.stderr!.on('data', (chunk: string) => (stderr += chunk));
    const done = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => child.on('exit', (code) => setTimeout(() => resolve({ status: code, stdout, stderr }), 20)));
    return { child, done };
  };

  it('passes a good migration: the domains match, the target links its own device, the VMI keeps its MACs', async () => {
    const { status, stdout, stderr } = await start().done;
    expect(stderr).toContain('run 1/1: Running');
    expect(stdout).toContain(`run 1/1: VirtualMachineInstanceMigration ${NS}/${VM}-vduse-test-`);
    expect(stdout).toContain(': node-a -> node-b, mode PreCopy');
    expect(stdout).toContain('ok    domain: the converted interfaces match (check-migration)');
    expect(stdout).toContain("ok    link dataplane: /dev/vhost-vdpa-7 on node-b (device-info), not the source's /dev/vhost-vdpa-3");
    expect(stdout).toContain(`ok    VMI interfaces: dataplane ${macFor(1)}, unchanged`);
    expect(stdout).toContain('verdict: PASS');
    expect(status).toBe(0);
  });

  it('migrates back and forth --count times and ends with a summary; JSON for CI', async () => {
    const { status, stdout } = await start('--count', '2', '--output', 'json').done;
    const report = JSON.parse(stdout) as { passed: boolean; runs: { sourceNode: string; targetNode: string; durationSeconds: number; passed: boolean }[]; summary: { runs: number; failed: number; durationSeconds: { min: number; median: number; max: number } } };
    expect(report.passed).toBe(true);
    expect(report.runs.map((run) => `${run.sourceNode}->${run.targetNode}`)).toEqual(['node-a->node-b', 'node-b->node-a']);
    expect(report.summary).toMatchObject({ runs: 2, failed: 0 });
    expect(report.summary.durationSeconds.min).toBeGreaterThan(3);
    expect(status).toBe(0);
  });

  it('fails when the target domain differs', async () => {
    tamper.targetXml = (xml) => xml.replace('rx_queue_size="1024"', 'rx_queue_size="256"');
    const { status, stdout } = await start().done;
    expect(stdout).toContain('FAIL  domain: ua-dataplane: rx_queue_size: source 1024, target 256');
    expect(stdout).toContain('verdict: FAIL');
    expect(status).toBe(1);
  });

  it("fails when the target's link points at the source's device", async () => {
    tamper.targetLink = '/dev/vhost-vdpa-3';
    const { status, stdout } = await start().done;
    expect(stdout).toContain("FAIL  link dataplane: resolves to /dev/vhost-vdpa-3, but the target's device-info gives /dev/vhost-vdpa-7");
    expect(status).toBe(1);
  });

  it("reports a failed migration with KubeVirt's reason", async () => {
    outcome = 'fail';
    const { status, stdout } = await start().done;
    expect(stdout).toContain('FAIL  migration: Live migration failed: target domain failed to start');
    expect(stdout).toContain('verdict: FAIL');
    expect(status).toBe(1);
  });

  it('times out, deletes the migration it created, and says so', async () => {
    outcome = 'hang';
    const { status, stdout } = await start('--timeout', '1').done;
    expect(stdout).toMatch(/FAIL {2}migration: timed out after 1 s in phase Scheduling; deleted VirtualMachineInstanceMigration vm-dpdk-vduse-test-\w+/);
    expect(api.deleted).toEqual([api.created[0]!.path]);
    expect(status).toBe(1);
  });

  it('on Ctrl-C, deletes the migration it started, says so, and exits 130', async () => {
    outcome = 'hang';
    const { child, done } = start();
    for (let waited = 0; api.created.length === 0; waited += 20) {
      if (waited > 20_000) throw new Error('no migration created');
      await sleep(20);
    }
    child.kill('SIGINT');
    const { status, stderr } = await done;
    expect(stderr).toContain(`interrupted: deleted VirtualMachineInstanceMigration ${NS}/${api.created[0]!.path.split('/').at(-1)!}`);
    expect(api.deleted).toEqual([api.created[0]!.path]);
    expect(status).toBe(130);
  });

  it('refuses a VMI that is not live-migratable, naming the condition', async () => {
    const vmi = vmiObject('node-a');
    vmi.status.conditions[1] = { type: 'LiveMigratable', status: 'False', reason: 'InterfaceNotLiveMigratable', message: 'cannot migrate VMI which does not use masquerade' } as never;
    api.putObject(VMI_PATH, vmi);
    const { status, stderr } = await start().done;
    expect(stderr).toContain('condition LiveMigratable is not True (InterfaceNotLiveMigratable: cannot migrate VMI which does not use masquerade)');
    expect(api.created).toEqual([]);
    expect(status).toBe(1);
  });
});

/** An exec handler whose readlink in one pod answers a given target. */
function readlinkAnswers(inner: (request: ExecRequest) => { stdout?: string; stderr?: string; exitCode: number }, pod: string, target: string) {
  return (request: ExecRequest) => (request.pod === pod && request.command[0] === 'readlink' ? { stdout: `${target}\n`, exitCode: 0 } : inner(request));
}

describe('virsh dumpxml, as KubeVirt\'s tests run it', () => {
  it('uses the session URI for a non-root VMI (runtimeUser or the nonroot annotation), and virsh\'s default for a root one', () => {
    const vmi = (runtimeUser: number, annotations?: Record<string, string>) => ({ metadata: { name: VM, namespace: NS, uid: 'u', annotations }, status: { runtimeUser } });
    expect(dumpxmlCommand(vmi(107))).toEqual(['virsh', '-c', 'qemu+unix:///session?socket=/var/run/libvirt/virtqemud-sock', 'dumpxml', `${NS}_${VM}`]);
    expect(dumpxmlCommand(vmi(0, { 'kubevirt.io/nonroot': '' }))).toEqual(['virsh', '-c', SESSION_LIBVIRT_URI, 'dumpxml', `${NS}_${VM}`]);
    expect(dumpxmlCommand(vmi(0))).toEqual(['virsh', 'dumpxml', `${NS}_${VM}`]);
  });
});
