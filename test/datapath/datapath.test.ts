// Packets through a real VDUSE device, with real code at every step but the device's far end.
//
// - The VM goes through the real control plane (kube-apiserver, our webhook, virt-api,
//   virt-controller: test/cluster/), and KubeVirt's own converter and hook manager run our sidecar
//   on the VMI it made (test/cluster/launcher.ts). network-info names /dev/vhost-vdpa-N, so the
//   sidecar's device link points there.
// - L1 is a VM on this machine (QEMU, TCG) with Debian's 6.12 kernel, which has VDUSE. Inside it,
//   our Go device (test/cluster/go/vduse-net) is created through /dev/vduse/control, added with
//   `vdpa dev add` and bound to vhost_vdpa; then this machine's own libvirt, running in L1, starts
//   the sidecar's domain (`virsh create`), whose interface opens the device through the link.
// - L2 is that domain. A small kernel and initramfs stand in for the VMI's disk (test/datapath/
//   l2-init.sh); udev is stood in by that init too: it runs the sidecar's rule's program, as written,
//   with %k replaced by the interface's name, as udev would.
// Stood in, and said where: the VMI's disk, udev, the VNC and pod sockets (left out), KVM (TCG),
// and OVS-DPDK: the device answers ARP and ICMP echo for one address and moves nothing else. It is
// not a real NIC and not OVS-DPDK (docs/architecture.md, "How the datapath is proven").
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { cacheRoot } from '../cluster/build.ts';
import { readState } from '../cluster/cluster.ts';
import { createVm, json, launched, namespace, type Pod, type Vmi } from '../cluster/helpers.ts';
import { launch, type Launch, networkInfoFor } from '../cluster/launcher.ts';
import { describeRequiring } from '../helpers/requirements.ts';
import { qemuJsonArguments } from '../helpers/qemu-driver.ts';
import { type DeviceReport, PEER_IP, PINGS, type RigResult, runRig, type Scenario, type ScenarioResult } from './rig.ts';

const clusterStatus = inject('clusterStatus');
const datapathStatus = inject('datapathStatus');
const assets = inject('datapathAssets');

const NS = 'datapath';
const VM = 'dp-vm';
/** Refused by a virtio-net device without VIRTIO_NET_F_NOTF_COAL: usecs need it (drivers/net/virtio_net.c, virtnet_coal_params_supported). */
const COALESCE = 'rx-usecs=64';

const problem = clusterStatus !== 'ready' ? `the cluster: ${clusterStatus}` : datapathStatus !== 'ready' ? datapathStatus : undefined;

/** The domain's <memoryBacking>, or undefined. */
const memoryBackingOf = (xml: string) => /<memoryBacking>[\s\S]*?<\/memoryBacking>/.exec(xml)?.[0];

/** The domain with this <memoryBacking>, or none. */
function withMemoryBacking(xml: string, backing: string | undefined): string {
  const without = xml.replace(/<memoryBacking>[\s\S]*?<\/memoryBacking>\s*/, '');
  return backing === undefined ? without : without.replace(/(<memory [^>]*>[^<]*<\/memory>)/, `$1${backing}`);
}

/** QEMU's guest RAM backends, from the command line libvirt built. */
const ramBackends = (qemuLog: string) => qemuJsonArguments(qemuLog, 'object').filter((object) => String(object['qom-type']).startsWith('memory-backend-'));

/** ethtool -g's four ring figures: pre-set maximums RX and TX, then current RX and TX. */
function rings(result: ScenarioResult): { max: [number, number]; current: [number, number] } {
  const lines = result.report.ring ?? [];
  const figure = (from: number, name: string) => Number(/\s(\d+)$/.exec(lines.slice(from).find((line) => line.startsWith(`${name}:`)) ?? '')?.[1]);
  const current = lines.findIndex((line) => line.startsWith('Current hardware settings'));
  return { max: [figure(0, 'RX'), figure(0, 'TX')], current: [figure(current, 'RX'), figure(current, 'TX')] };
}

/** busybox ping's summary: transmitted and received. */
function pings(result: ScenarioResult): { transmitted: number; received: number } {
  const summary = (result.report.ping ?? []).map((line) => /(\d+) packets transmitted, (\d+) packets received/.exec(line)).find(Boolean);
  return { transmitted: Number(summary?.[1]), received: Number(summary?.[2]) };
}

const frames = (device: DeviceReport, role: 'rx' | 'tx') => device.queues.filter((queue) => queue.role === role).reduce((sum, queue) => sum + queue.frames, 0);
/** The device reached DRIVER_OK at some point (the guest's driver was up; L2's power-off resets it after). */
const reachedDriverOk = (device: DeviceReport) => device.statusHistory.some((status) => (status & 4) !== 0);

describeRequiring('packets through a real VDUSE device: the whole chain, in a nested VM with VDUSE', 'the nested datapath rig', problem, () => {
  let vmi: Vmi;
  let pod: Pod;
  const launches: Launch[] = [];
  /** Each scenario's domain, device and L2 settings, and the sidecar's outputs it came from. */
  const scenarios: (Scenario & { link: string })[] = [];
  let rig: RigResult;
  let sidecarDomain: string;
  let converterDomain: string;
  let coalesceRule: { mac: string; program: string };

  beforeAll(async () => {
    namespace(NS, { 'vduse.kubevirt.io/policy': 'enabled' });
    // The example VM, small enough for TCG inside TCG: one vCPU and 256Mi (no memory hotplug below 1Gi).
    /* eslint-disable @typescript-eslint/no-unsafe-member-access -- Loose on purpose: the API servers check the VM. */
    createVm(NS, (vm) => {
      vm.metadata.name = VM;
      vm.metadata.annotations = { 'vduse.kubevirt.io/coalesce': COALESCE };
      vm.spec.template.spec.domain.cpu = { cores: 1 };
      vm.spec.template.spec.domain.memory = { guest: '256Mi' };
    });
    /* eslint-enable @typescript-eslint/no-unsafe-member-access */
    ({ pod } = await launched(NS, VM));
    vmi = json<Vmi>(['get', 'vmi', VM, '-n', NS]);
    const kubevirt = json<object>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']);

    // One run of the chain per scenario: scenario N's network-info names /dev/vhost-vdpa-N, the
    // device L1 makes Nth, so each domain opens its own device through the sidecar's own link.
    const chainFor = async (index: number) => {
      const networkInfo = networkInfoFor(vmi);
      for (const iface of networkInfo.interfaces) iface.deviceInfo!.vdpa!.path = `/dev/vhost-vdpa-${String(index)}`;
      const started = await launch({ vmi, pod, kubevirt, kubevirtBin: readState()!.bins.kubevirt, networkInfo });
      launches.push(started);
      const { result } = started;
      if (result.error ?? result.panic) throw new Error(`the chain failed at ${String(result.step)}: ${String(result.error ?? result.panic)}\n${started.logs().slice(-3000)}`);
      const link = /<interface type="vdpa">[\s\S]*?<source dev="([^"]+)"/.exec(result.domain!)![1]!;
      return { result, domain: started.onThisMachine(result.domain!), link: started.onThisMachine(link) };
    };
    const chain = await chainFor(0);
    sidecarDomain = chain.result.domain!;
    converterDomain = chain.result.converted!;
    const userData = parseYaml(chain.result.cloudInit!.UserData) as { write_files: { content: string }[] };
    const mac = networkInfoFor(vmi).interfaces[0]!.mac!;
    const rule = userData.write_files.map((file) => file.content).join('\n').split('\n').find((line) => line.includes(`ATTR{address}=="${mac}"`))!;
    coalesceRule = { mac, program: /RUN\+="(.*)"$/.exec(rule)![1]! };
    const device = { mac, maxQueueSize: 1024 };

    scenarios.push({ name: 'chain', domainXml: chain.domain, link: chain.link, device, coalesceRule, migrationProbe: true });
    // The control: the same VM with the memory backing KubeVirt's converter gives (private, for a VM without hugepages).
    const control = await chainFor(scenarios.length);
    scenarios.push({ name: 'private', domainXml: withMemoryBacking(control.domain, memoryBackingOf(converterDomain)), link: control.link, device, coalesceRule });
    // A device whose maximum virtqueue size is 256, under the 1024-descriptor rings the annotations ask for.
    const small = await chainFor(scenarios.length);
    scenarios.push({ name: 'max256', domainXml: small.domain, link: small.link, device: { mac, maxQueueSize: 256 }, coalesceRule });

    process.stderr.write(`datapath: booting L1 (about 10 s), then libvirt in it, then ${String(scenarios.length)} L2 VMs one after the other, TCG inside TCG (each about 60-90 s to its init on an idle machine); L1's console follows\n`);
    rig = await runRig({
      kernel: assets!.kernel,
      images: assets!.images,
      deviceBin: assets!.deviceBin,
      scenarios,
      probes: [
        { name: 'ctrl-vq', features: ['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU', 'CTRL_VQ'] },
        { name: 'no-version-1', features: ['ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU'] },
        { name: 'no-access-platform', features: ['VERSION_1', 'MAC', 'STATUS', 'MTU'] },
        { name: 'allowed', features: ['VERSION_1', 'ACCESS_PLATFORM', 'MAC', 'STATUS', 'MTU'] },
      ],
      timeoutMs: 15 * 60_000,
      capabilitiesCache: join(cacheRoot(), 'datapath', 'libvirt-capabilities'),
    });
    process.stderr.write(`datapath: L1 ran ${rig.l1.seconds.toFixed(0)} s; libvirtd answered at ${String(rig.libvirtReadyAt)} s; ${scenarios.map((scenario) => `${scenario.name} created at ${String(rig.scenarios[scenario.name]!.create.at)} s`).join(', ')}\n`);
  }, 30 * 60_000);

  afterAll(async () => {
    for (const started of launches) await started.stop();
  });

  const scenario = (name: string) => {
    const result = rig.scenarios[name];
    if (!result) throw new Error(`no scenario ${name}`);
    return result;
  };

  it('L1 ran every step: the devices, libvirtd, and each domain to its end', () => {
    for (const { name } of scenarios) for (const fault of scenario(name).retries) console.warn(`datapath: ${name}: L2's kernel fell over before its init (TCG inside TCG) and was started again: ${fault}`);
    expect(rig.l1.timedOut, rig.l1.console.slice(-3000)).toBe(false);
    expect(rig.l1.console).toContain('L1 ');
    for (const { name } of scenarios) {
      expect(scenario(name).create, `virsh create of ${name}`).toMatchObject({ status: 0 });
      expect(scenario(name).report.done, `${name}: L2 did not finish:\n${scenario(name).console.slice(-3000)}`).toHaveLength(1);
    }
  });

  it("the kernel's rules for VDUSE net devices: VERSION_1 and ACCESS_PLATFORM required, the control queue refused", () => {
    expect(rig.probes.allowed).toMatchObject({ status: 0, report: { created: true } });
    for (const refused of ['ctrl-vq', 'no-version-1', 'no-access-platform']) {
      expect(rig.probes[refused], refused).toMatchObject({ status: 1, report: { created: false } });
      expect(rig.probes[refused]!.report!.createError, refused).toContain('invalid argument');
    }
  });

  it("each scenario's domain opens its own device through the sidecar's link, with the rings and MAC of the annotations", () => {
    for (const [index, { name, link, device }] of scenarios.entries()) {
      // The link the sidecar made, on the host's filesystem, which L1 sees at the same path.
      expect(readlinkSync(link), name).toBe(`/dev/vhost-vdpa-${String(index)}`);
      expect(scenario(name).liveXml.replaceAll("'", '"'), name).toContain(`<source dev="${link}"/>`);
      const log = scenario(name).qemuLog;
      const netdev = qemuJsonArguments(log, 'netdev').find((candidate) => candidate.type === 'vhost-vdpa');
      expect(netdev?.vhostdev, name).toMatch(/^\/dev\/fdset\/\d+$/);
      const nic = qemuJsonArguments(log, 'device').find((candidate) => candidate.netdev === netdev?.id);
      expect(nic, name).toMatchObject({ driver: 'virtio-net-pci', mac: device.mac, rx_queue_size: 1024, tx_queue_size: 1024 });
      expect(rig.vdpaDevices[`dp${String(index)}`], name).toMatchObject({ max_vq_size: device.maxQueueSize, max_vqs: 2 });
    }
  });

  it("the whole chain: the sidecar's domain, on shared file-backed memory, boots on the VDUSE device with its rings and its coalescing step refused, and its ping is answered; the device's report agrees", () => {
    const chain = scenario('chain');
    expect(memoryBackingOf(sidecarDomain)).toBeDefined();
    const backends = ramBackends(chain.qemuLog);
    expect(backends.length).toBeGreaterThan(0);
    for (const backend of backends) expect(backend).toMatchObject({ 'qom-type': 'memory-backend-memfd', share: true });
    expect(chain.report.driver).toEqual(['virtio_net']);
    expect(chain.report.mac).toEqual([coalesceRule.mac]);
    expect(rings(chain)).toEqual({ max: [1024, 1024], current: [1024, 1024] });
    // The coalescing step, as the sidecar wrote it, refused by a device without NOTF_COAL; the guest goes on.
    expect(chain.report['coalesce-program']).toEqual([coalesceRule.program.replaceAll('%k', chain.report.nic![0]!)]);
    expect(chain.report['coalesce-exit']).toEqual(['0']);
    expect(chain.report['coalesce-output']?.join('\n')).toContain('Operation not supported');
    // adaptive-rx alone, by contrast, is taken and ignored (docs/requirements.md).
    expect(chain.report['adaptive-exit']).toEqual(['0']);
    expect(chain.report['adaptive-after']?.join('\n')).toContain('Adaptive RX: off');
    expect(pings(chain)).toEqual({ transmitted: PINGS, received: PINGS });

    const device = chain.device!;
    expect(device.address).toBe(PEER_IP);
    expect(reachedDriverOk(device)).toBe(true);
    expect(device.negotiatedFeatures).toEqual(expect.arrayContaining(['VERSION_1', 'ACCESS_PLATFORM']));
    expect(device.negotiatedFeatures).not.toContain('CTRL_VQ');
    expect(device.queues.map((queue) => [queue.role, queue.maxSize, queue.size])).toEqual([
      ['rx', 1024, 1024],
      ['tx', 1024, 1024],
    ]);
    // Every echo the guest sent was answered, every answer delivered, nothing out of reach.
    expect(device.framesByKind['icmp-echo']).toBe(PINGS);
    expect(device.echoReplies).toBe(PINGS);
    expect(device.arpReplies).toBeGreaterThanOrEqual(1);
    expect(frames(device, 'rx')).toBe(device.arpReplies + device.echoReplies);
    expect(frames(device, 'tx')).toBeGreaterThanOrEqual(device.arpReplies + PINGS);
    expect(device.unreachable).toEqual([]);
    expect(device.errors).toEqual([]);
  });

  // QEMU's reasons, read in its source (docs/migration.md, "What can stop a migration"): before 8.0,
  // vhost-vdpa offers VHOST_F_LOG_ALL only with x-svq=on, which libvirt never sets, so
  // hw/virtio/vhost.c vhost_dev_init blocks migration for every vhost-vdpa NIC. From 8.0 QEMU moves
  // the NIC to shadow virtqueues for the migration, and blocks it only for device features those
  // cannot serve (net/vhost-vdpa.c vhost_vdpa_net_valid_svq_features), of which vduse-net offers none.
  it("live migration: QEMU's own verdict on the chain's running VM, its migration blockers, and libvirt's refusal of a save with them; the VM runs on and its ping is answered", () => {
    const { migration, report } = scenario('chain');
    const version = /QEMU emulator version (\d+)\.(\d+)/.exec(execFileSync('qemu-system-x86_64', ['--version'], { encoding: 'utf8' }));
    const major = Number(version?.[1]);
    console.info(`datapath: QEMU ${version?.[1] ?? '?'}.${version?.[2] ?? '?'}: blocked-reasons ${JSON.stringify(migration?.blockedReasons)}; virsh save: ${migration?.save.output.trim() ?? ''}`);
    expect(migration?.blockedReasons, 'query-migrate answered').toBeDefined();
    if (major < 8) {
      expect(migration!.blockedReasons).toContain('Migration disabled: vhost lacks VHOST_F_LOG_ALL feature.');
      expect(migration!.save.status).toBe(1);
      expect(migration!.save.output).toMatch(/cannot migrate domain: .*Migration disabled: vhost lacks VHOST_F_LOG_ALL feature\./);
    } else {
      expect(migration!.blockedReasons).toEqual([]);
      expect(migration!.save.status).toBe(0);
    }
    // Refused or saved and restored, the VM went on: its NIC still answers.
    expect(pings(scenario('chain'))).toEqual({ transmitted: PINGS, received: PINGS });
    expect(report.done).toHaveLength(1);
  });

  it("the control, with the private memory KubeVirt's converter gives: the guest boots and its NIC comes up, but no packet gets through, and the device cannot reach a descriptor", () => {
    const result = scenario('private');
    expect(memoryBackingOf(converterDomain)).toBeUndefined();
    expect(ramBackends(result.qemuLog).some((backend) => backend.share === true)).toBe(false);
    expect(result.report.driver).toEqual(['virtio_net']);
    expect(pings(result)).toEqual({ transmitted: PINGS, received: 0 });
    const device = result.device!;
    expect(reachedDriverOk(device)).toBe(true);
    expect(device.echoReplies).toBe(0);
    expect(frames(device, 'rx') + frames(device, 'tx')).toBe(0);
    // vhost_vdpa_va_map handed VDUSE none of the guest's RAM: VDUSE_IOTLB_GET_FD finds no file there.
    const unreachable = device.unreachable.filter((entry) => entry.what === 'descriptor table');
    expect(unreachable.map((entry) => entry.queue).sort()).toEqual([0, 1]);
    for (const entry of unreachable) expect(entry.error).toContain('invalid argument');
  });

  it('a device whose maximum virtqueue size is 256, with 1024-descriptor rings asked: libvirt and QEMU start it, the guest gets 1024, and the device is handed rings four times its maximum', () => {
    const result = scenario('max256');
    expect(result.create.status).toBe(0);
    expect(rig.vdpaDevices.dp2?.max_vq_size).toBe(256);
    for (const backend of ramBackends(result.qemuLog)) expect(backend).toMatchObject({ share: true });
    expect(rings(result)).toEqual({ max: [1024, 1024], current: [1024, 1024] });
    const device = result.device!;
    expect(device.queues.map((queue) => [queue.maxSize, queue.size])).toEqual([
      [256, 1024],
      [256, 1024],
    ]);
    // This device serves what it is handed; one that trusts its maximum would not.
    expect(pings(result)).toEqual({ transmitted: PINGS, received: PINGS });
  });
});
