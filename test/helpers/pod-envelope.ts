// The pod KubeVirt gives a hook sidecar of a VMI with dedicated CPUs or Guaranteed QoS, rebuilt
// with real cgroups: a hard memory limit and a CFS quota of 20 ms per 100 ms (cpu 200m), from
// KubeVirt's pkg/virt-controller/services/renderresources.go sidecarResources. Started from a cold
// page cache, as the first sidecar on a node is: a memory cgroup is charged for the file pages it
// faults in first, so the node binary's pages count against the first sidecar that touches them.
// Used by the pod-envelope benchmark and by the CI test of the shipped limit.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { credentials } from '@grpc/grpc-js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { projectFile } from './fixtures.ts';
import { readKubevirtFile } from './kubevirt-files.ts';
import { unaryCall } from './hook-client.ts';
import { protoClients } from './hook-protos.ts';
import { noCloudData, replayBoot, type ReplayStep } from './virt-launcher-replay.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from './vmis.ts';
import { hookSocketName } from '../../api/names.ts';

export const MIB = 1024 * 1024;
/** Kubernetes' "M": 64M is KubeVirt's default sidecar limit, 61.0 MiB. */
export const MEGA = 1_000_000;
const CPU_PERIOD_US = 100_000;
const CPU_QUOTA_US = 20_000;

export interface CgroupStats {
  peakBytes: number;
  majorFaults: number;
  fileRefaults: number;
  oomKills: number;
}

/** Reads a cgroup file, failing with what is missing rather than skipping it. */
function readCgroupFile(path: string): string {
  if (!existsSync(path)) throw new Error(`cgroup file ${path} does not exist: this kernel's cgroup does not report what the pod-envelope measurement needs`);
  return readFileSync(path, 'utf8');
}

function statField(path: string, names: string[]): number {
  const text = readCgroupFile(path);
  for (const name of names) {
    const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
    if (match) return Number(match[1]);
  }
  throw new Error(`cgroup file ${path} has none of ${names.join(', ')}: this kernel's cgroup does not report it`);
}

export interface PodCgroup {
  version: 'v1' | 'v2';
  /** Wraps a command so that it runs inside the cgroup from its first instruction. */
  wrap(command: string, args: string[]): [string, string[]];
  stats(): CgroupStats;
  remove(): void;
}

/** Why this machine cannot make the pod's cgroup, or undefined when it can. */
export function podCgroupProblem(): string | undefined {
  try {
    createPodCgroup(64 * MEGA).remove();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/** A fresh memory and CPU cgroup, v1 or v2, whichever the machine has, with the limit. */
export function createPodCgroup(limitBytes: number): PodCgroup {
  const name = `kubevirt-vduse-pod-${process.pid}-${Date.now()}`;
  const v1Memory = '/sys/fs/cgroup/memory';
  const v1Cpu = '/sys/fs/cgroup/cpu';
  const write = (path: string, value: string) => {
    try {
      writeFileSync(path, value);
    } catch (error) {
      throw new Error(`cannot write ${value} to ${path}: ${(error as Error).message} (the pod-envelope measurement runs as root)`, { cause: error });
    }
  };
  if (existsSync(join(v1Memory, 'memory.limit_in_bytes'))) {
    const memory = join(v1Memory, name);
    const cpu = join(v1Cpu, name);
    try {
      mkdirSync(memory);
      mkdirSync(cpu);
    } catch (error) {
      throw new Error(`cannot create cgroup ${memory} or ${cpu}: ${(error as Error).message}`, { cause: error });
    }
    write(join(memory, 'memory.limit_in_bytes'), String(limitBytes));
    // No swap either: the pod's limit is for memory and swap together where swap exists.
    if (existsSync(join(memory, 'memory.memsw.limit_in_bytes'))) write(join(memory, 'memory.memsw.limit_in_bytes'), String(limitBytes));
    write(join(cpu, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
    write(join(cpu, 'cpu.cfs_quota_us'), String(CPU_QUOTA_US));
    return {
      version: 'v1',
      wrap: (command, args) => ['sh', ['-c', `echo $$ > ${memory}/cgroup.procs && echo $$ > ${cpu}/cgroup.procs && exec "$@"`, 'sh', command, ...args]],
      stats: () => ({
        peakBytes: Number(readCgroupFile(join(memory, 'memory.max_usage_in_bytes'))),
        majorFaults: statField(join(memory, 'memory.stat'), ['total_pgmajfault', 'pgmajfault']),
        fileRefaults: statField(join(memory, 'memory.stat'), ['total_workingset_refault_file', 'total_workingset_refault', 'workingset_refault_file', 'workingset_refault']),
        oomKills: statField(join(memory, 'memory.oom_control'), ['oom_kill']),
      }),
      remove: () => {
        for (const dir of [memory, cpu]) if (existsSync(dir)) rmdirSync(dir);
      },
    };
  }
  const root = '/sys/fs/cgroup';
  if (!existsSync(join(root, 'cgroup.controllers'))) throw new Error(`neither cgroup v1 (${v1Memory}) nor cgroup v2 (${root}/cgroup.controllers) is mounted`);
  const controllers = readFileSync(join(root, 'cgroup.controllers'), 'utf8');
  for (const controller of ['memory', 'cpu']) if (!controllers.split(/\s+/).includes(controller)) throw new Error(`cgroup v2 at ${root} has no ${controller} controller`);
  const dir = join(root, name);
  mkdirSync(dir);
  write(join(dir, 'memory.max'), String(limitBytes));
  if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
  write(join(dir, 'cpu.max'), `${CPU_QUOTA_US} ${CPU_PERIOD_US}`);
  return {
    version: 'v2',
    wrap: (command, args) => ['sh', ['-c', `echo $$ > ${dir}/cgroup.procs && exec "$@"`, 'sh', command, ...args]],
    stats: () => ({
      peakBytes: Number(readCgroupFile(join(dir, 'memory.peak'))),
      majorFaults: statField(join(dir, 'memory.stat'), ['pgmajfault']),
      fileRefaults: statField(join(dir, 'memory.stat'), ['workingset_refault_file', 'workingset_refault']),
      oomKills: statField(join(dir, 'memory.events'), ['oom_kill']),
    }),
    remove: () => {
      if (existsSync(dir)) rmdirSync(dir);
    },
  };
}

/**
 * A private copy of the node binary and of the image's files (bin/, dist/), so that no running
 * process holds their pages, then the page cache dropped: the next start faults everything in.
 */
export function coldImage(extraFiles: string[] = [], distDir = projectFile('dist')): { dir: string; node: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-pod-image-'));
  const nodeBinary = projectFile('node_modules', 'node', 'bin', 'node');
  if (!existsSync(nodeBinary)) throw new Error(`${nodeBinary} is missing: run npm ci (the node@24 devDependency)`);
  if (!existsSync(join(distDir, 'kubevirt-vduse.js'))) throw new Error(`${distDir}/kubevirt-vduse.js is missing: run npm run build first`);
  mkdirSync(join(dir, 'node-bin'));
  cpSync(nodeBinary, join(dir, 'node-bin', 'node'));
  cpSync(projectFile('bin'), join(dir, 'bin'), { recursive: true, verbatimSymlinks: true });
  cpSync(distDir, join(dir, 'dist'), { recursive: true });
  for (const file of extraFiles) cpSync(file, join(dir, file.split('/').at(-1)!));
  execFileSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch (error) {
    throw new Error(`cannot drop the page cache (/proc/sys/vm/drop_caches: ${(error as Error).message}); a cold start needs root`, { cause: error });
  }
  return { dir, node: join(dir, 'node-bin', 'node'), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface EnvelopeRun {
  passed: boolean;
  /** Why it failed: the replay's error, an OOM kill, or an exit code. */
  failure?: string;
  stats: CgroupStats;
  steps: ReplayStep[];
}

/** The VMI every run boots: the cloud-init binding with coalescing, so every hook point runs. */
const ENVELOPE_VMI = vmiWith([masqueradeDefault, vduseInterface('net1', { macAddress: macFor(0), binding: { name: 'vduse-cloudinit' } })], {
  annotations: { 'vduse.kubevirt.io/coalesce': 'adaptive-rx,rx-usecs=64' },
});

export interface EnvelopeProcess {
  /**
   * 'sidecar': bin/kubevirt-vduse-sidecar as the image runs it; 'floor': the bare node:http2 echo;
   * 'peer': KubeVirt's vDPA binding plugin's sidecar (peerBinary), as its image runs it.
   */
  kind: 'sidecar' | 'floor' | 'peer';
  /** The peer's sidecar binary (test/cluster/build.ts, module vdpa-network-binding-plugin). */
  peerBinary?: string;
  /** The VMI the flow boots; the cloud-init binding with coalescing by default. */
  vmi?: object;
  /** V8 flags for the floor (the sidecar's come from its entry point). */
  floorFlags?: string[];
  /** Overrides the sidecar entry point's NODE_FLAGS, to try other flags. */
  sidecarFlags?: string;
  /** The build output to run; dist/ by default. */
  distDir?: string;
}

/** The binding the flow's VMI uses: the sidecar serves it (its socket is named after it). */
const bindingOf = (what: EnvelopeProcess): string => {
  const interfaces = ((what.vmi ?? ENVELOPE_VMI) as { spec: { domain: { devices: { interfaces: { binding?: { name: string } }[] } } } }).spec.domain.devices.interfaces;
  return interfaces.find((iface) => iface.binding !== undefined)?.binding?.name ?? 'vduse-cloudinit';
};

interface Started {
  image: ReturnType<typeof coldImage>;
  cgroup: PodCgroup;
  hooksDir: string;
  /** The socket virt-launcher will find: vduse-cloudinit.sock for the sidecar, echo.sock for the floor. */
  socketPath: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  stderr: () => string;
}

/**
 * The peer's sidecar listens on /var/run/kubevirt-hooks/vdpa.sock and reads
 * /etc/podinfo/network-info, both constants: it runs in a mount namespace of its own where the
 * socket folder is bound there (over a private /run) and /etc has podinfo/ in an overlay. The host's
 * /run and /etc are never written.
 */
export const PEER_SOCKET = 'vdpa.sock';
export function inPeerMounts(socketDir: string, networkInfo: string, scratch: string, command: string, args: string[]): [string, string[]] {
  const script = [
    'mount -t tmpfs tmpfs /run && mkdir -p /var/run/kubevirt-hooks && mount --bind "$0" /var/run/kubevirt-hooks',
    'mkdir -p "$2/upper" "$2/work" && mount -t overlay overlay -o "lowerdir=/etc,upperdir=$2/upper,workdir=$2/work" /etc',
    'mkdir -p /etc/podinfo && cp "$1" /etc/podinfo/network-info && shift 2 && exec "$@"',
  ].join(' && ');
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, socketDir, networkInfo, scratch, command, ...args]];
}

/** The process started cold in a fresh pod cgroup, as the image's entry point starts it. */
function startInEnvelope(limitBytes: number, what: EnvelopeProcess): Started {
  const echo = projectFile('test', 'bench', 'http2-echo.js');
  const image = coldImage(what.kind === 'floor' ? [echo] : what.kind === 'peer' ? [what.peerBinary!] : [], what.distDir);
  const cgroup = createPodCgroup(limitBytes);
  const hooksDir = join(image.dir, 'hooks');
  const socketDir = join(hooksDir, 'hook-sidecar-0');
  mkdirSync(socketDir, { recursive: true });
  const infoPath = join(image.dir, 'network-info');
  writeFileSync(infoPath, JSON.stringify({ interfaces: [{ network: 'net1', deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/vhost-vdpa-0' } }, mac: macFor(0) }] }));
  const [command, args] =
    what.kind === 'sidecar'
      ? cgroup.wrap(join(image.dir, 'bin', 'kubevirt-vduse-sidecar'), ['--socket-dir', socketDir, '--network-info', infoPath])
      : what.kind === 'peer'
        ? cgroup.wrap(...inPeerMounts(socketDir, infoPath, join(image.dir, 'etc-overlay'), join(image.dir, what.peerBinary!.split('/').at(-1)!), []))
        : cgroup.wrap(image.node, [...(what.floorFlags ?? []), join(image.dir, 'http2-echo.js'), join(socketDir, 'echo.sock')]);
  const child: ChildProcess = spawn(command, args, {
    env: {
      PATH: `${join(image.dir, 'node-bin')}:${process.env.PATH ?? ''}`,
      CONTAINER_NAME: 'hook-sidecar-0',
      NETWORK_BINDING_PLUGIN_NAME: bindingOf(what),
      ...(what.sidecarFlags !== undefined ? { KUBEVIRT_VDUSE_NODE_FLAGS: what.sidecarFlags } : {}),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  const socketPath = join(socketDir, what.kind === 'sidecar' ? hookSocketName(bindingOf(what)) : what.kind === 'peer' ? PEER_SOCKET : 'echo.sock');
  return { image, cgroup, hooksDir, socketPath, child, exited, stderr: () => stderr };
}

/** The CPU time a process and its threads have had, from /proc/PID/task/TID/schedstat (nanoseconds). */
function cpuMillis(pid: number): number {
  return readdirSync(`/proc/${pid}/task`).reduce((sum, task) => sum + Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]) / 1e6, 0);
}

export interface ServeTimes {
  /** From the process's start to its socket file. */
  socketMs: number;
  /** From the process's start to the answer of the first Info call, and the CPU it had by then. */
  infoMs: number;
  infoCpuMs: number;
}

/** One cold start in the pod's cgroup: how long until the socket appears and the first Info is answered. */
export async function timeToServe(limitBytes: number, what: EnvelopeProcess): Promise<ServeTimes> {
  const started = performance.now();
  const run = startInEnvelope(limitBytes, what);
  try {
    while (!existsSync(run.socketPath)) {
      if (run.child.exitCode !== null) throw new Error(`exited (${String(run.child.exitCode)}) before its socket appeared: ${run.stderr().trim().split('\n').at(-1) ?? ''}`);
      if (performance.now() - started > 30_000) throw new Error('no socket within 30 s');
      await sleep(2);
    }
    const socketMs = performance.now() - started;
    const info = new (protoClients().info)(`unix:${run.socketPath}`, credentials.createInsecure());
    try {
      // As virt-launcher dials: blocking until the server accepts (the file exists a moment before it listens).
      await new Promise<void>((resolve, reject) => info.waitForReady(Date.now() + 30_000, (error) => (error ? reject(error) : resolve())));
      await unaryCall(info, 'Info', {}, 30_000);
    } finally {
      info.close();
    }
    return { socketMs, infoMs: performance.now() - started, infoCpuMs: cpuMillis(run.child.pid!) };
  } finally {
    if (run.child.exitCode === null) run.child.kill('SIGKILL');
    await run.exited;
    run.cgroup.remove();
    run.image.remove();
  }
}

/** One cold start in the pod's cgroup, driven through virt-launcher's flow by the replay. */
export async function runInEnvelope(limitBytes: number, what: EnvelopeProcess, collectTimeoutMs = 30_000): Promise<EnvelopeRun> {
  const { image, cgroup, hooksDir, child, exited, stderr } = startInEnvelope(limitBytes, what);
  let failure: string | undefined;
  let steps: ReplayStep[] = [];
  try {
    const boot = await Promise.race([
      replayBoot({
        launcher: { hooksDir, sidecars: 1, collectTimeoutMs },
        vmi: what.vmi ?? ENVELOPE_VMI,
        cloudInit: noCloudData('#cloud-config\npassword: fedora\n'),
        domainXml: readKubevirtFile('domain_x86_64.xml'),
      }),
      exited.then((code) => Promise.reject(new Error(`the process exited (${String(code)}) before the flow ended: ${stderr().trim().split('\n').at(-1) ?? ''}`))),
    ]);
    steps = boot.steps;
    const code = await Promise.race([exited, sleep(10_000).then(() => 'still running after Shutdown')]);
    if (code !== 0) failure = `exit ${String(code)} after Shutdown`;
  } catch (error) {
    failure = (error as Error).message;
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await exited;
  }
  const stats = cgroup.stats();
  if (stats.oomKills > 0) failure = `OOM-killed (${stats.oomKills})${failure ? `: ${failure}` : ''}`;
  cgroup.remove();
  image.remove();
  return { passed: failure === undefined, ...(failure ? { failure } : {}), stats, steps };
}
