// Starts a VMI's binding sidecars as its virt-launcher Pod would run them, and lets KubeVirt's own
// virt-launcher code meet them: the Go harness test/cluster/go/launcher (its converter, its hook
// manager and its memlock formula, built from the same KubeVirt module as the control plane).
//
// Each hook-sidecar-N container of the Pod runs as its image runs it: our image's entry point
// (bin/kubevirt-vduse-sidecar) with the image's ENV from the Dockerfile and the container's env
// from the Pod, or KubeVirt's slirp binding sidecar, built from its module. Each runs in a mount
// namespace of its own where its scratch directory is /var/run/kubevirt-hooks, as the Pod's
// hook-sidecar-N subPath is. Played, because no kubelet or device plugin runs here: the
// downward-API network-info file (given with --network-info; its devices are /dev/null, a
// character device libvirt can open), and the compute container's view of the hooks volume (the
// harness mounts the scratch directory there in its own mount namespace). The host's
// /var/run/kubevirt-hooks is never touched.
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createInterface } from 'node:readline';
import { DEFAULT_HOOK_SOCKET_DIR, pluginBindingNames } from '../../api/names.ts';
import type { NetworkInfo } from '../../api/network-info.ts';
import { imageEnvironment } from '../helpers/dockerfile.ts';
import { projectFile } from '../helpers/fixtures.ts';
import type { CloudInitData } from '../helpers/virt-launcher-replay.ts';
import type { Pod } from './helpers.ts';

/** What the harness printed: the start, up to the define, or where it stopped. */
export interface HarnessResult {
  /** The converter's domain, as the hook manager hands it to the first sidecar. */
  converted?: string;
  cloudInitBefore?: CloudInitData | null;
  cloudInit?: CloudInitData | null;
  /** The domain virt-launcher defines: the sidecars', or on KubeVirt 1.9 with Plugins, the plugin pipeline's after them. */
  domain?: string;
  /** The sidecars' domain, when the plugin pipeline rebuilt it. */
  sidecarDomain?: string;
  /** Whether this KubeVirt has the plugin pipeline (1.9 and later). */
  pluginPipeline: boolean;
  /** KubeVirt's memlock rlimit for QEMU (pkg/hypervisor/kvm CalculateMemlockSize). */
  memlockBytes: number;
  /** KubeVirt's memory overhead for the VMI, addedOverhead included (GetMemoryOverhead). */
  overheadBytes: number;
  /** The virtio-mem device memory hotplug up to maxGuest attaches (pkg/liveupdate/memory BuildMemoryDevice). */
  hotplugMemoryDevice?: string;
  /** The sockets KubeVirt's hook manager calls OnDefineDomain on, in its order (/var/run/kubevirt-hooks/hook-sidecar-N/NAME.sock). */
  onDefineDomainOrder?: string[];
  step?: string;
  error?: string;
  panic?: string;
}

export interface Launch {
  result: HarnessResult;
  /** The scratch directory that stands for the hooks volume. */
  hooksDir: string;
  /** The domain with the compute container's paths where this machine has them. */
  onThisMachine(domainXml: string): string;
  /** Each sidecar's output so far. */
  logs(): string;
  /** The libvirt-normalised define: libvirt's XML of the domain, read into KubeVirt's model and through the hooks again. */
  redefine(libvirtXml: string, vmi: object): Promise<HarnessResult>;
  /** The VM stops: virt-launcher calls Shutdown; the sidecars are stopped and the scratch removed. */
  stop(): Promise<HarnessResult | undefined>;
}

export interface LaunchOptions {
  vmi: object;
  pod: Pod;
  kubevirt: object;
  /** The directory of the KubeVirt module's binaries (launcher, network-slirp-binding). */
  kubevirtBin: string;
  networkInfo: NetworkInfo;
  collectTimeoutSeconds?: number;
  /** The Plugin CRs virt-handler sends with the Plugins feature gate on (KubeVirt 1.9). */
  plugins?: object[];
}

interface VmiInterfaces {
  spec: { domain: { devices: { interfaces: { name: string; binding?: { name: string }; macAddress?: string }[] } } };
}

const VDUSE_BINDINGS: ReadonlySet<string> = new Set(pluginBindingNames('vduse'));

/** The VMI's interfaces on either VDUSE binding. */
export const vduseInterfaces = <Vmi extends VmiInterfaces>(vmi: Vmi): Vmi['spec']['domain']['devices']['interfaces'] =>
  vmi.spec.domain.devices.interfaces.filter((iface) => VDUSE_BINDINGS.has(iface.binding?.name ?? ''));

/**
 * network-info as the device plugin, Multus and virt-controller would give it (KubeVirt 1.8 and
 * later): one vDPA device per VDUSE interface, with the MAC the CNI reported for it, which is the
 * VMI's where it sets one.
 */
export function networkInfoFor(vmi: VmiInterfaces): NetworkInfo {
  return {
    interfaces: vduseInterfaces(vmi)
      .map((iface, index) => ({
        network: iface.name,
        deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/null' } },
        mac: iface.macAddress ?? `02:00:00:cc:00:${index.toString(16).padStart(2, '0')}`,
      })),
  };
}

/** The image's name without registry, tag or digest: "sidecar-cloudinit" for .../kubevirt-vduse/sidecar-cloudinit:0.1.0. */
const imageName = (image: string) => /([^/:@]+)(?::[^/@]*)?(?:@.*)?$/.exec(image)?.[1] ?? image;

/** What a sidecar container runs: the command, and its environment. */
function sidecarCommand(container: Pod['spec']['containers'][number], kubevirtBin: string, networkInfoPath: string): { command: string[]; env: Record<string, string> } {
  const fromPod = Object.fromEntries((container.env ?? []).filter((variable) => variable.value !== undefined).map((variable) => [variable.name, variable.value!]));
  const name = imageName(container.image);
  if (name === 'network-slirp-binding') return { command: [join(kubevirtBin, 'network-slirp-binding')], env: fromPod };
  if (name !== 'sidecar' && name !== 'sidecar-cloudinit') throw new Error(`container ${container.name}: no image ${container.image} to run here`);
  return {
    command: [projectFile('bin', 'kubevirt-vduse-sidecar'), '--network-info', networkInfoPath],
    env: { ...imageEnvironment(name), ...fromPod },
  };
}

/** A process in a mount namespace of its own, where dir is /var/run/kubevirt-hooks (over a private tmpfs /run). */
function inOwnHooksMount(dir: string, command: string[], env: Record<string, string>): ChildProcess {
  const script = 'mount -t tmpfs tmpfs /run && mkdir -p "$1" && mount --bind "$0" "$1" && shift && exec "$@"';
  return spawn('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, dir, DEFAULT_HOOK_SOCKET_DIR, ...command], {
    // The image's entry point runs `node`: the pinned one.
    env: { PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/**
 * The CPUs virt-launcher reads from its cgroup: the kubelet's CPU manager gives a Guaranteed
 * compute container as many exclusive CPUs as it requests; elsewhere it is the node's (two here).
 */
function podCpuSet(pod: Pod): number[] {
  const requested = pod.spec.containers.find((container) => container.name === 'compute')?.resources.requests?.cpu;
  const count = requested !== undefined && /^\d+$/.test(requested) ? Number(requested) : 2;
  return Array.from({ length: count }, (_unused, index) => index);
}

/** How many sidecars virt-launcher waits for: the compute container's --hook-sidecars. */
function hookSidecars(pod: Pod): number {
  const command = pod.spec.containers.find((container) => container.name === 'compute')?.command ?? [];
  const index = command.indexOf('--hook-sidecars');
  return index < 0 ? 0 : Number(command[index + 1]);
}

/** Debian's OVMF files (package ovmf) under the names virt-launcher's image gives them (pkg/virt-launcher/virtwrap/efi). */
const OVMF_FILES: Record<string, string> = {
  'OVMF_CODE.fd': 'OVMF_CODE.fd',
  'OVMF_VARS.fd': 'OVMF_VARS.fd',
  'OVMF_CODE.secboot.fd': 'OVMF_CODE.secboot.fd',
  // The variables with Microsoft's keys enrolled, as in KubeVirt's image.
  'OVMF_VARS.secboot.fd': 'OVMF_VARS.ms.fd',
};
const DEBIAN_OVMF = '/usr/share/OVMF';

export async function launch(options: LaunchOptions): Promise<Launch> {
  const hooksDir = mkdtempSync(join(tmpdir(), 'vduse-hooks-'));
  const podInfo = mkdtempSync(join(tmpdir(), 'vduse-podinfo-'));
  // QEMU, as libvirt's qemu user, opens the OVMF links through it when a test starts an EFI domain.
  chmodSync(podInfo, 0o755);
  const ovmf = join(podInfo, 'ovmf');
  mkdirSync(ovmf);
  for (const [name, debian] of Object.entries(OVMF_FILES)) {
    if (!existsSync(join(DEBIAN_OVMF, debian))) throw new Error(`${join(DEBIAN_OVMF, debian)} is missing: install Debian's ovmf package (EFI VMIs need it)`);
    symlinkSync(join(DEBIAN_OVMF, debian), join(ovmf, name));
  }
  const networkInfoPath = join(podInfo, 'network-info');
  writeFileSync(networkInfoPath, JSON.stringify(options.networkInfo));
  let output = '';
  const collect = (child: ChildProcess, name: string) => {
    child.stdout?.on('data', (chunk: Buffer) => (output += `[${name}] ${chunk.toString()}`));
    child.stderr?.on('data', (chunk: Buffer) => (output += `[${name}] ${chunk.toString()}`));
  };
  const sidecars = options.pod.spec.containers
    .filter((container) => container.name.startsWith('hook-sidecar-'))
    .map((container) => {
      const dir = join(hooksDir, container.name);
      mkdirSync(dir);
      const { command, env } = sidecarCommand(container, options.kubevirtBin, networkInfoPath);
      const child = inOwnHooksMount(dir, command, env);
      collect(child, container.name);
      return child;
    });

  const harness = spawn(join(options.kubevirtBin, 'launcher'), ['--hooks-dir', hooksDir], { stdio: ['pipe', 'pipe', 'pipe'] });
  harness.stderr.on('data', (chunk: Buffer) => (output += `[virt-launcher] ${chunk.toString()}`));
  const lines = createInterface({ input: harness.stdout })[Symbol.asyncIterator]();
  const next = async (): Promise<HarnessResult | undefined> => {
    const line = await lines.next();
    return line.done ? undefined : (JSON.parse(line.value) as HarnessResult);
  };
  harness.stdin.write(JSON.stringify({ vmi: options.vmi, kubevirt: options.kubevirt, sidecars: hookSidecars(options.pod), cpuSet: podCpuSet(options.pod), ovmfPath: ovmf, collectTimeoutSeconds: options.collectTimeoutSeconds ?? 30, ...(options.plugins ? { plugins: options.plugins } : {}) }));
  const result = await next();
  const exited = new Promise<void>((resolve) => (harness.exitCode !== null ? resolve() : harness.on('exit', () => resolve())));
  const stopSidecars = async () => {
    await Promise.all(
      sidecars.map((child) => {
        if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
        const gone = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        child.kill('SIGTERM');
        return gone;
      }),
    );
    rmSync(podInfo, { recursive: true, force: true });
    rmSync(hooksDir, { recursive: true, force: true });
  };
  if (!result) {
    await exited;
    await stopSidecars();
    throw new Error(`the launcher harness printed nothing:\n${output}`);
  }
  return {
    result,
    hooksDir,
    onThisMachine: (xml) => xml.replaceAll(`${DEFAULT_HOOK_SOCKET_DIR}/`, `${hooksDir}/`),
    logs: () => output,
    async redefine(libvirtXml, vmi) {
      harness.stdin.write(JSON.stringify({ libvirtXML: libvirtXml.replaceAll(`${hooksDir}/`, `${DEFAULT_HOOK_SOCKET_DIR}/`), vmi }));
      const answer = await next();
      if (!answer) throw new Error(`the launcher harness stopped:\n${output}`);
      return answer;
    },
    async stop() {
      harness.stdin.end();
      const stopped = await next();
      await exited;
      await stopSidecars();
      return stopped;
    },
  };
}
