// The nested datapath rig: one L1 boot runs every scenario of the suite and records what each
// part saw, then the tests read the record.
//
// In L1 (l1.sh, written here): the feature probes (devices the kernel must refuse or accept), then
// one VDUSE device per scenario, in order, each added with `vdpa dev add` and bound to vhost_vdpa,
// so that scenario N's device is /dev/vhost-vdpa-N; then libvirtd, and each scenario's domain
// started with `virsh create`, one after the other: each L2 boots the L2 image with the scenario's
// settings appended (/scenario.sh) and powers off when it is done. One at a time, because L2s
// booting side by side, TCG inside TCG on L1's two vCPUs, crashed their kernels far more often
// than one alone (BOOT_ATTEMPTS). Everything lands in
// the run directory: the devices' reports, `vdpa dev show`, libvirt's QEMU logs, L2's consoles.
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpioArchive } from './cpio.ts';
import { bootL1, FAST_BOOT, type L1Result } from './l1.ts';

/** A VDUSE device in L1, as vduse-net makes it. */
export interface DeviceSpec {
  /** The MAC in its config space: the one the device plugin reports in network-info. */
  mac: string;
  maxQueueSize: number;
  /** Features offered, by vduse-net's names; its default when absent. */
  features?: string[];
}

export interface Scenario {
  /** Short and unique: [a-z0-9-]. */
  name: string;
  /** The domain as the chain produced it; domainForL1 makes it bootable in L1. */
  domainXml: string;
  /** The scenario's device becomes /dev/vhost-vdpa-N, N its index in the list. */
  device: DeviceSpec;
  /** The sidecar's udev rule for the NIC, when the VM asks for coalescing. */
  coalesceRule?: { mac: string; program: string };
  /**
   * Ask, while L2 runs, whether the domain could migrate: QEMU's migration blockers (query-migrate's
   * blocked-reasons), and a `virsh save`, which libvirt refuses with them as it refuses a migration
   * (qemuMigrationSrcIsAllowed). A save that goes through is restored at once, so L2 runs on.
   */
  migrationProbe?: boolean;
}

/** What the migration probe saw. */
export interface MigrationProbe {
  /** QEMU's blocked-reasons; [] when nothing blocks a migration. */
  blockedReasons: string[] | undefined;
  save: { status: number; output: string };
}

/** What vduse-net reports (test/cluster/go/vduse-net/main.go). */
export interface DeviceReport {
  name: string;
  created: boolean;
  createError?: string;
  offeredFeatures: string[];
  negotiatedFeatures: string[];
  driverOk: boolean;
  statusHistory: number[];
  queues: { index: number; role: 'rx' | 'tx'; maxSize: number; size: number; ready: boolean; frames: number; bytes: number }[];
  address: string;
  arpReplies: number;
  echoReplies: number;
  framesByKind: Record<string, number>;
  unreachable: { queue: number; what: string; iova: string; error: string; times: number }[];
  errors: string[];
}

export interface ScenarioResult {
  /** `virsh create`'s exit status and output, and L1's uptime when it returned. */
  create: { status: number; output: string; at: number };
  /** L2's `DATAPATH <key> <value>` lines, by key, in order. */
  report: Record<string, string[]>;
  /** L2's console, all of it (of the last attempt). */
  console: string;
  /** The first fault line of each boot that fell over before L2's init and was started again. */
  retries: string[];
  device: DeviceReport | undefined;
  /** libvirt's log of the domain: the QEMU command line, and QEMU's messages. */
  qemuLog: string;
  /** The domain as libvirt had it once it ran (virsh dumpxml). */
  liveXml: string;
  migration?: MigrationProbe;
}

export interface Probe {
  name: string;
  features: string[];
}

export interface RigResult {
  l1: L1Result;
  probes: Record<string, { status: number; report: DeviceReport | undefined }>;
  /** `vdpa -j dev show` after every device was added. */
  vdpaDevices: Record<string, { max_vq_size: number; max_vqs: number }>;
  /** L1's uptime when libvirtd answered. */
  libvirtReadyAt: number;
  scenarios: Record<string, ScenarioResult>;
}

const L2_DIR = '/var/lib/libvirt/images/vduse-datapath';
/**
 * TCG inside TCG now and then breaks L2's kernel while it boots, before its init runs: a general
 * protection fault in the IRET of do_sync_core while the kernel patches its own text, a double
 * fault, a jump to address 0. A domain whose kernel fell over before init, and so before virtio_net
 * was loaded or the device touched, is started again, up to BOOT_ATTEMPTS times; the tests report
 * each such retry. A fault after init is never retried.
 */
const BOOT_ATTEMPTS = 3;
const EMULATION_FAULT = 'Oops|Kernel panic|double fault|general protection fault';
/**
 * KubeVirt's host-model CPU is, under TCG in L1, QEMU's whole TCG model (EPYC with la57, pku,
 * fsgsbase, ...). On it, L2's 6.12 kernel double-faults early in boot more often than not, in
 * SLUB's cmpxchg16b fast path: TCG inside TCG, with shared and with private memory alike, and with
 * 4-level paging too. QEMU's default model (qemu64) boots every time.
 */
const L2_CPU = '<cpu mode="custom" match="exact"><model fallback="allow">qemu64</model>';
const GUEST_IP = '169.254.100.2';
export const PEER_IP = '169.254.100.1';
export const PINGS = 3;

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
const domainName = (scenario: string) => `vduse-datapath-${scenario}`;

/**
 * The chain's domain as L1's libvirt boots it. Changed, and only this: the name and the SMBIOS UUID
 * (the scenarios boot the same VMI, libvirt takes that UUID for the domain's, and one domain left
 * over must not stop the next); TCG instead of KVM (L1 has none), and QEMU's default CPU model for
 * host-model (L2_CPU); the disks, the pod's unix-socket character devices and the VNC socket left
 * out, since their files are virt-launcher's; L2's kernel and image booted directly in place of the
 * VMI's disk; and the serial console in a file L1 can read, in place of KubeVirt's pty console.
 * Memory, the interfaces and everything else stay as the chain made them.
 */
export function domainForL1(xml: string, scenario: string): string {
  const name = domainName(scenario);
  const console = `/var/lib/libvirt/qemu/${name}.console`;
  const os = `<kernel>${L2_DIR}/vmlinuz</kernel><initrd>${L2_DIR}/${scenario}.cpio</initrd><cmdline>console=ttyS0 ${FAST_BOOT}</cmdline>`;
  return xml
    .replace(/<domain type=(["'])kvm\1/, '<domain type=$1qemu$1')
    .replace(/<cpu mode="host-model">/, L2_CPU)
    .replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`)
    .replace(/<entry name="uuid">[^<]*<\/entry>/, `<entry name="uuid">${randomUUID()}</entry>`)
    .replace(/<disk[\s\S]*?<\/disk>\s*/g, '')
    .replace(/<(serial|console|channel) type="unix">[\s\S]*?<\/\1>\s*/g, '')
    .replace(/<(serial|console) type="pty">[\s\S]*?<\/\1>\s*/g, '')
    .replace(/<graphics[\s\S]*?<\/graphics>\s*/g, '')
    .replace(/<boot [^>]*\/>|<boot [^>]*><\/boot>/g, '')
    .replace(/(<type [^>]*>hvm<\/type>)/, `$1${os}`)
    .replace('</devices>', `<serial type="file"><source path="${console}"/><target port="0"/></serial><console type="file"><source path="${console}"/><target type="serial" port="0"/></console></devices>`);
}

function l1Script(deviceBin: string, scenarios: Scenario[], probes: Probe[]): string {
  const lines = [
    'export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    `now() { cut -d' ' -f1 /proc/uptime; }`,
    'say() { echo "L1 $(now)s: $*"; }',
    'finish() { say "$*"; for pid in $devices; do kill -TERM "$pid"; done; sleep 1; sync; poweroff -f; }',
    'devices=',
    'mkdir -p results',
    'say "the kernel\'s rules for VDUSE net devices: the probes"',
    ...probes.map(
      (probe) =>
        `${quote(deviceBin)} -name ${quote(`probe-${probe.name}`)} -mac 02:00:00:00:00:01 -features ${quote(probe.features.join(','))} -report results/probe-${probe.name}.json > results/probe-${probe.name}.log 2>&1 & pid=$!; ` +
        `for i in $(seq 1 50); do grep -q ready results/probe-${probe.name}.log && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done; ` +
        `kill -TERM $pid 2>/dev/null; wait $pid; echo $? > results/probe-${probe.name}.status`,
    ),
    ...scenarios.flatMap((scenario, index) => [
      `say "device ${index} for ${scenario.name}: max queue size ${String(scenario.device.maxQueueSize)}"`,
      `${quote(deviceBin)} -name dp${String(index)} -mac ${scenario.device.mac} -max-queue-size ${String(scenario.device.maxQueueSize)}` +
        `${scenario.device.features ? ` -features ${quote(scenario.device.features.join(','))}` : ''} -ip ${PEER_IP} -report results/device-${scenario.name}.json > results/device-${scenario.name}.log 2>&1 &`,
      'devices="$devices $!"',
      `for i in $(seq 1 100); do grep -q ready results/device-${scenario.name}.log && break; sleep 0.1; done`,
      `grep -q ready results/device-${scenario.name}.log || finish "device ${index} did not start: $(cat results/device-${scenario.name}.log)"`,
      `vdpa dev add name dp${String(index)} mgmtdev vduse || finish "vdpa dev add dp${String(index)} failed"`,
      `[ -e /sys/bus/vdpa/devices/dp${String(index)}/vhost-vdpa-${String(index)} ] || finish "dp${String(index)} is not /dev/vhost-vdpa-${String(index)}: $(ls /sys/bus/vdpa/devices/dp${String(index)})"`,
    ]),
    'vdpa -j dev show > results/vdpa-dev-show.json',
    'say "libvirtd"',
    // L1's libvirt starts clean: none of this machine's domains, networks or pools (the removals
    // touch only L1's tmpfs), and QEMU's capabilities from an earlier L1 when there are any: libvirt
    // probes again by itself when they do not match its QEMU, and a probe costs a minute or more in L1.
    'rm -rf /etc/libvirt/qemu/*.xml /etc/libvirt/qemu/autostart /etc/libvirt/qemu/networks/autostart /etc/libvirt/storage/autostart /var/cache/libvirt/qemu/capabilities',
    'mkdir -p /var/log/libvirt/qemu /var/cache/libvirt/qemu/capabilities /var/lib/libvirt/qemu results/capabilities ' + L2_DIR,
    'cp capabilities-seed/*.xml /var/cache/libvirt/qemu/capabilities/ 2>/dev/null',
    'virtlogd -d && libvirtd -d || finish "libvirtd did not start"',
    'for i in $(seq 1 300); do virsh -c qemu:///system version > /dev/null 2>&1 && break; sleep 0.2; done',
    'now > results/libvirt-ready',
    `cp vmlinuz ${scenarios.map((scenario) => `${scenario.name}.cpio`).join(' ')} ${L2_DIR}/`,
    ...scenarios.flatMap((scenario) => {
      const name = domainName(scenario.name);
      const console = `/var/lib/libvirt/qemu/${name}.console`;
      return [
        `for attempt in $(seq 1 ${String(BOOT_ATTEMPTS)}); do`,
        `  say "virsh create ${name} (attempt $attempt)"; rm -f ${console}`,
        `  virsh -c qemu:///system create domain-${scenario.name}.xml > results/create-${scenario.name}.out 2>&1; echo $? > results/create-${scenario.name}.status; now > results/create-${scenario.name}.at`,
        `  virsh -c qemu:///system dumpxml ${name} > results/live-${scenario.name}.xml 2>/dev/null`,
        ...(scenario.migrationProbe ? migrationProbeLines(name, scenario.name) : []),
        `  tail -F ${console} 2>/dev/null | sed -u 's/^/[L2 ${scenario.name}] /' & tail=$!`,
        // Until the domain is gone (L2 powers off), or its kernel faulted (it may hang, or reboot for ever).
        `  for i in $(seq 1 600); do virsh -c qemu:///system domstate ${name} > /dev/null 2>&1 || break; grep -q -E '${EMULATION_FAULT}' ${console} 2>/dev/null && sleep 2 && break; sleep 1; done`,
        `  virsh -c qemu:///system destroy ${name} > /dev/null 2>&1; kill $tail`,
        `  cp ${console} results/console-${scenario.name}.log; cp /var/log/libvirt/qemu/${name}.log results/qemu-${scenario.name}.log`,
        // Again only when L2's kernel fell over before its init ran: before the datapath was touched.
        `  grep -q '^DATAPATH boot' ${console} && break`,
        `  grep -m1 -E '${EMULATION_FAULT}' ${console} >> results/retries-${scenario.name} || break`,
        'done',
      ];
    }),
    'cp /var/cache/libvirt/qemu/capabilities/*.xml results/capabilities/',
    'finish "done"',
  ];
  return `${lines.join('\n')}\n`;
}

/** The migration probe's shell lines (Scenario.migrationProbe), run once the domain is up. */
function migrationProbeLines(domain: string, scenario: string): string[] {
  const virsh = 'virsh -c qemu:///system';
  const saved = `/var/lib/libvirt/qemu/${domain}.save`;
  return [
    `  say "${domain}: could it migrate? QEMU's blockers, then virsh save"`,
    `  ${virsh} qemu-monitor-command ${domain} '{"execute":"query-migrate"}' > results/query-migrate-${scenario}.json 2>&1`,
    `  ${virsh} save ${domain} ${saved} > results/save-${scenario}.out 2>&1; echo $? > results/save-${scenario}.status`,
    `  [ "$(cat results/save-${scenario}.status)" = 0 ] && ${virsh} restore ${saved} >> results/save-${scenario}.out 2>&1; rm -f ${saved}`,
  ];
}

/** L2's settings, /scenario.sh in a cpio archive appended to the L2 image. */
function scenarioArchive(scenario: Scenario): Buffer {
  const settings = [
    `GUEST_IP=${GUEST_IP}`,
    `PEER_IP=${PEER_IP}`,
    `PINGS=${String(PINGS)}`,
    `NIC_MAC=${scenario.device.mac}`,
    `RULE_MAC=${quote(scenario.coalesceRule?.mac ?? '')}`,
    `RULE_PROGRAM=${quote(scenario.coalesceRule?.program ?? '')}`,
  ];
  return cpioArchive([{ path: 'scenario.sh', data: Buffer.from(`${settings.join('\n')}\n`) }]);
}

const readJson = <T>(path: string): T | undefined => (existsSync(path) ? (JSON.parse(readFileSync(path, 'utf8')) as T) : undefined); // eslint-disable-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what it reads
const readText = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : '');

/** L2's report lines: `DATAPATH key value`, by key. */
export function datapathLines(console: string): Record<string, string[]> {
  const lines: Record<string, string[]> = {};
  for (const match of console.matchAll(/^DATAPATH (\S+) ?(.*)$/gm)) (lines[match[1]!] ??= []).push(match[2]!.replace(/\r$/, ''));
  return lines;
}

function readMigrationProbe(results: string, scenario: string): MigrationProbe {
  // virsh's answer, or its error when the monitor command failed.
  const answer = readText(join(results, `query-migrate-${scenario}.json`));
  let blockedReasons: string[] | undefined;
  try {
    const query = JSON.parse(answer) as { return?: { 'blocked-reasons'?: string[] } };
    if (query.return) blockedReasons = query.return['blocked-reasons'] ?? [];
  } catch {
    blockedReasons = undefined;
  }
  return {
    blockedReasons,
    save: { status: Number(readText(join(results, `save-${scenario}.status`)).trim() || NaN), output: readText(join(results, `save-${scenario}.out`)) },
  };
}

export interface RigOptions {
  kernel: string;
  images: { l1: string; l2: string };
  deviceBin: string;
  scenarios: Scenario[];
  probes: Probe[];
  timeoutMs: number;
  /** Where L1's libvirt keeps QEMU's capabilities between runs. */
  capabilitiesCache: string;
}

export async function runRig(options: RigOptions): Promise<RigResult> {
  const runDir = mkdtempSync(join(tmpdir(), 'vduse-datapath-'));
  try {
    writeFileSync(join(runDir, 'l1.sh'), l1Script(options.deviceBin, options.scenarios, options.probes));
    writeFileSync(join(runDir, 'vmlinuz'), readFileSync(options.kernel));
    mkdirSync(options.capabilitiesCache, { recursive: true });
    cpSync(options.capabilitiesCache, join(runDir, 'capabilities-seed'), { recursive: true });
    const l2 = readFileSync(options.images.l2);
    for (const scenario of options.scenarios) {
      writeFileSync(join(runDir, `${scenario.name}.cpio`), Buffer.concat([l2, scenarioArchive(scenario)]));
      writeFileSync(join(runDir, `domain-${scenario.name}.xml`), domainForL1(scenario.domainXml, scenario.name));
    }
    const l1 = await bootL1({ kernel: options.kernel, initrd: options.images.l1, runDir, memoryMiB: 3072, cpus: 2, timeoutMs: options.timeoutMs, label: 'datapath L1' });
    const results = join(runDir, 'results');
    if (existsSync(join(results, 'capabilities')) && readdirSync(join(results, 'capabilities')).length > 0) {
      rmSync(options.capabilitiesCache, { recursive: true, force: true });
      cpSync(join(results, 'capabilities'), options.capabilitiesCache, { recursive: true });
    }
    const devices = readJson<{ dev: Record<string, { max_vq_size: number; max_vqs: number }> }>(join(results, 'vdpa-dev-show.json'))?.dev ?? {};
    return {
      l1,
      probes: Object.fromEntries(options.probes.map((probe) => [probe.name, { status: Number(readText(join(results, `probe-${probe.name}.status`)).trim() || NaN), report: readJson<DeviceReport>(join(results, `probe-${probe.name}.json`)) }])),
      vdpaDevices: devices,
      libvirtReadyAt: Number(readText(join(results, 'libvirt-ready')).trim() || NaN),
      scenarios: Object.fromEntries(
        options.scenarios.map((scenario) => {
          const console = readText(join(results, `console-${scenario.name}.log`)).replaceAll('\r', '');
          return [
            scenario.name,
            {
              create: { status: Number(readText(join(results, `create-${scenario.name}.status`)).trim() || NaN), output: readText(join(results, `create-${scenario.name}.out`)), at: Number(readText(join(results, `create-${scenario.name}.at`)).trim() || NaN) },
              report: datapathLines(console),
              console,
              retries: readText(join(results, `retries-${scenario.name}`)).split('\n').filter(Boolean),
              device: readJson<DeviceReport>(join(results, `device-${scenario.name}.json`)),
              qemuLog: readText(join(results, `qemu-${scenario.name}.log`)),
              liveXml: readText(join(results, `live-${scenario.name}.xml`)),
              ...(scenario.migrationProbe ? { migration: readMigrationProbe(results, scenario.name) } : {}),
            },
          ];
        }),
      ),
    };
  } finally {
    if (!process.env.KEEP_DATAPATH) rmSync(runDir, { recursive: true, force: true });
  }
}
