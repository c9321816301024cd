// KubeVirt's own virt-launcher code drives the sidecar, on the VMIs and Pods the real control plane
// made: its converter turns the VMI into the domain, its hook manager collects the sidecars the
// Pod names and calls them, and its memlock formula gives QEMU's limit (test/cluster/launcher.ts,
// test/cluster/go/launcher). libvirt's qemu driver then defines the domain the sidecars returned,
// and `virsh create` shows the QEMU command line and libvirt's own locked-memory figure
// (test/helpers/qemu-driver.ts). The TypeScript replay of the hook manager
// (test/helpers/virt-launcher-replay.ts), which the fast suites use, is held to the same inputs.
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { defineWithQemuDriver } from '../../cli/libvirt.ts';
import { ANNOTATION_RX_QUEUE_SIZE, ANNOTATION_TX_QUEUE_SIZE } from '../../api/names.ts';
import { projectFile } from '../helpers/fixtures.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { attachLive, createWithQemuDriver, destroy, forAPausedStart, forThisLibvirt, qemuJsonArguments, startPaused, withHotpluggedMemory, withoutPodFiles } from '../helpers/qemu-driver.ts';
import { guestMemoryMap, unreachableGuestRam, withHugepagesFor } from '../helpers/guest-memory-map.ts';
import { rebuiltByKubevirt, VirtLauncher } from '../helpers/virt-launcher-replay.ts';
import { KUBECONFIG, readState } from './cluster.ts';
import { clusterUnavailable, createExampleVm, createVm, createWithVirtctl, json, kubectl, launched, type LooseVm, memoryBytes, namespace, playRunning, type Pod, renderMigrationTarget, sidecars, until, type Vmi, withMoreDataplanes, withoutCloudInit } from './helpers.ts';
import { type HarnessResult, launch, type Launch, networkInfoFor, vduseInterfaces } from './launcher.ts';

const status = inject('clusterStatus');
const doctor = () => spawnSync(process.execPath, [projectFile('cli', 'main.ts'), 'doctor', '--kubeconfig', KUBECONFIG, '--output', 'json'], { encoding: 'utf8' });

/* eslint-disable @typescript-eslint/no-unsafe-member-access --
   Loose on purpose: the tests change the example VM in place; the API servers check it. */

interface Flow {
  title: string;
  /** Creates the VM; returns its Namespace and name. */
  create: () => { ns: string; name: string };
  /** What else the flow checks, on KubeVirt's result. */
  check?: (result: HarnessResult, vmi: Vmi) => void;
}

const addedOverheadBytes = (vmi: Vmi) => {
  const added = vmi.spec.domain.memory?.reservedOverhead?.addedOverhead;
  return added === undefined ? 0n : memoryBytes(added);
};

const virtctlCreate = (ns: string, name: string, extra: string[]) => {
  createWithVirtctl(ns, name, extra);
  return { ns, name };
};

const vdpaInterfaces = (xml: string) => [...xml.matchAll(/<interface type="vdpa">[\s\S]*?<\/interface>/g)].map((match) => match[0]);
/** An interface's <driver> attributes, sorted: KubeVirt's marshalling and ours order and close it differently. */
const driverAttributes = (iface: string) => [.../<driver\b([^>]*?)\/?>/.exec(iface)![1]!.matchAll(/(\w+)="([^"]*)"/g)].map((match) => `${match[1]!}=${match[2]!}`).sort();

/** A domain name of this run's own: libvirtd is the machine's, and another run may use it at the same time. */
const domainName = (what: string) => `vduse-${what}-${process.pid}`;

/** The domain as this machine's libvirt takes it, under this name. */
const onThisMachine = (started: Launch, domain: string, name: string) => forThisLibvirt(withoutPodFiles(started.onThisMachine(domain), name));

/** What libvirt makes of a domain: `virsh define` by the qemu driver, then `virsh create` for QEMU's command line and libvirt's figure. */
async function libvirtOf(started: Launch, domain: string, name: string) {
  const xml = onThisMachine(started, domain, name);
  const defined = await defineWithQemuDriver(xml, { readBack: true });
  const created = await createWithQemuDriver(xml, name);
  return { defined, created };
}

/** QEMU's memory backends on its command line, as libvirt wrote it. */
const memoryBackends = (log: string) => qemuJsonArguments(log, 'object').filter((object) => String(object['qom-type']).startsWith('memory-backend-'));

/**
 * What keeps guest RAM from a VDUSE device, read on QEMU's own memory map
 * (test/helpers/guest-memory-map.ts): the domain started paused through libvirt, with what only the
 * pod has taken out (forAPausedStart: the vdpa interfaces, since this kernel has no vhost-vdpa), and
 * after the memory hotplug virt-launcher would attach, when there is one to attach here.
 */
async function unreachableOnQemusMap(started: Launch, domain: string, name: string, hotplugDevice: string | undefined) {
  return withHugepagesFor(forAPausedStart(onThisMachine(started, domain, name)), async (xml) => {
    await startPaused(xml, name);
    try {
      const atBoot = unreachableGuestRam(await guestMemoryMap(name));
      if (hotplugDevice === undefined) return { atBoot, afterHotplug: undefined };
      // virt-launcher attaches it as KubeVirt marshals it, in lower case (manager.go UpdateGuestMemory).
      await attachLive(name, hotplugDevice.toLowerCase());
      const mappings = await guestMemoryMap(name);
      return { atBoot, afterHotplug: { unreachable: unreachableGuestRam(mappings), backends: mappings.length } };
    } finally {
      await destroy(name);
    }
  });
}

if (status === 'ready') {
  const version = readState()!.kubevirt;

  describeWithLibvirt(`KubeVirt v${version}'s converter and hook manager drive the sidecar, on the VMIs the real control plane made`, () => {
    const enabled = 'launch-enabled';
    const podNetwork = 'launch-pod-network';
    let kubevirt: object;
    beforeAll(() => {
      namespace(enabled, { 'vduse.kubevirt.io/policy': 'enabled' });
      namespace(podNetwork, { 'vduse.kubevirt.io/policy': 'enabled' }, { 'vduse.kubevirt.io/pod-network': 'vduse' });
      kubevirt = json<object>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']);
    });

    const vm = (name: string, change: (vm: LooseVm) => void = () => undefined) => () => {
      createVm(enabled, (created) => {
        created.metadata.name = name;
        change(created);
      });
      return { ns: enabled, name };
    };
    const coalescing = (created: LooseVm) => (created.metadata.annotations = { 'vduse.kubevirt.io/coalesce': 'adaptive-rx' });

    const flows: Flow[] = [
      { title: 'a VM on a VDUSE Multus network (guest 4Gi; KubeVirt gives it maxGuest 16Gi for memory hotplug)', create: vm('l-multus') },
      {
        title: 'cloud-init with coalescing: the vduse-cloudinit sidecar adds the ethtool step to the user data',
        create: vm('l-coalesced', coalescing),
        check: (result) => {
          expect(result.cloudInit?.UserData).toContain('ethtool -C');
          expect(result.cloudInit?.UserData).toContain(result.cloudInitBefore!.UserData.trim().split('\n').at(-1));
          expect(result.cloudInit?.NoCloudMetaData).toEqual(result.cloudInitBefore?.NoCloudMetaData);
        },
      },
      {
        title: 'no cloud-init, coalescing asked: nothing subscribes to PreCloudInitIso, so nothing panics',
        create: vm('l-no-cloud-init', (created) => {
          coalescing(created);
          withoutCloudInit(created);
        }),
        check: (result) => {
          expect(result.cloudInitBefore ?? null).toBeNull();
          expect(result.cloudInit ?? null).toBeNull();
        },
      },
      { title: 'Guaranteed QoS from limits alone', create: vm('l-limits', (created) => (created.spec.template.spec.domain.resources = { limits: { cpu: '2', memory: '3Gi' } })) },
      { title: 'virtctl create vm, in a Namespace whose pod network is VDUSE', create: () => virtctlCreate(podNetwork, 'l-virtctl', []) },
      {
        title: 'n1.medium with fedora: the guest in 1Gi hugepages, maxGuest 16Gi, the overhead in ordinary memory',
        create: () => virtctlCreate(podNetwork, 'l-n1', ['--instancetype', 'n1.medium', '--preference', 'fedora']),
        check: (_result, vmi) => expect(vmi.spec.domain.memory?.hugepages?.pageSize).toBe('1Gi'),
      },
      {
        title: 'hugepages with kubevirt.io/memfd "false": KubeVirt maps hugetlbfs files privately, the sidecar makes them shared',
        create: vm('l-hugetlbfs', (created) => {
          created.spec.template.spec.domain.memory = { guest: '2Gi', hugepages: { pageSize: '2Mi' } };
          created.spec.template.metadata = { annotations: { 'kubevirt.io/memfd': 'false' } };
        }),
        check: (result) => {
          expect(result.converted).not.toContain('memfd');
          expect(result.domain).toMatch(/<memoryBacking>\s*<hugepages\/?>[\s\S]*<access mode="shared"\/>\s*<\/memoryBacking>/);
        },
      },
      {
        title: 'dedicated CPUs with guest NUMA passthrough (2Mi hugepages): each guest cell, preallocated, shared',
        create: vm('l-numa', (created) => {
          created.spec.template.spec.domain.cpu = { cores: 2, dedicatedCpuPlacement: true, numa: { guestMappingPassthrough: {} } };
          created.spec.template.spec.domain.memory = { guest: '2Gi', hugepages: { pageSize: '2Mi' } };
        }),
        check: (result) => {
          expect(result.converted).toMatch(/<numa>\s*<cell /);
          const backing = /<memoryBacking>[\s\S]*?<\/memoryBacking>/.exec(result.domain!)?.[0];
          expect(backing).toContain('<allocation mode="immediate"/>');
          expect(backing).toContain('<access mode="shared"/>');
        },
      },
      { title: 'a VM that opts out: no sidecar, no vdpa interface', create: vm('l-opted-out', (created) => (created.metadata.labels = { 'vduse.kubevirt.io/enabled': 'false' })) },
      {
        title: 'requests below the guest memory (guest under 1Gi: no memory hotplug)',
        create: vm('l-overcommitted', (created) => {
          created.spec.template.spec.domain.memory = { guest: '1000Mi' };
          created.spec.template.spec.domain.resources = { requests: { memory: '256Mi' } };
        }),
        check: (_result, vmi) => expect(vmi.spec.domain.memory?.maxGuest).toBeUndefined(),
      },
      {
        title: 'maxGuest set by the VM: memory hotplug from 2Gi to 4Gi',
        create: vm('l-max-guest', (created) => (created.spec.template.spec.domain.memory = { guest: '2Gi', maxGuest: '4Gi' })),
        check: (result) => expect(result.hotplugMemoryDevice).toContain('<size unit="b">2147483648</size>'),
      },
      {
        title: 'three VDUSE interfaces, memory-hotplug auto (the default): maxGuest is the guest memory, so no hotplug',
        create: vm('l-three', (created) => withMoreDataplanes(created, 3)),
        check: (result, vmi) => {
          expect(vmi.spec.domain.memory?.maxGuest).toBe(vmi.spec.domain.memory?.guest);
          expect(result.hotplugMemoryDevice).toBeUndefined();
        },
      },
      {
        title: 'three VDUSE interfaces, memory-hotplug keep: maxGuest 16Gi, and the hotplugged virtio-mem device shared too',
        create: vm('l-three-keep', (created) => {
          withMoreDataplanes(created, 3);
          created.metadata.annotations = { 'vduse.kubevirt.io/memory-hotplug': 'keep' };
        }),
        check: (result, vmi) => {
          expect(vmi.spec.domain.memory?.maxGuest).toBe('16Gi');
          expect(result.hotplugMemoryDevice).toContain('virtio-mem');
        },
      },
    ];

    // Two flows at a time (vitest.cluster.config.ts maxConcurrency): each has its own VM, sidecars,
    // hooks folder and libvirt domains, and most of a flow is waiting on libvirt and QEMU.
    it.concurrent.each(flows)('$title', async (flow) => {
      const { ns, name } = flow.create();
      const { pod } = await launched(ns, name);
      const vmi = json<Vmi>(['get', 'vmi', name, '-n', ns]);
      const started = await launch({ vmi, pod, kubevirt, kubevirtBin: readState()!.bins.kubevirt, networkInfo: networkInfoFor(vmi) });
      try {
        const { result } = started;
        expect(result.error ?? result.panic, started.logs().slice(-3000)).toBeUndefined();
        const vduse = vduseInterfaces(vmi);
        expect(sidecars(pod)).toHaveLength(vduse.length > 0 ? 1 : 0);

        // The converter leaves a binding plugin's interface out (no domainAttachmentType); the sidecar adds it.
        for (const iface of vduse) expect(result.converted).not.toContain(`<alias name="ua-${iface.name}">`);
        expect(result.domain!.match(/<interface type="vdpa">/g) ?? []).toHaveLength(vduse.length);

        // The replay the fast suites use gives the same answers to the same inputs.
        const replay = new VirtLauncher({ hooksDir: started.hooksDir, sidecars: sidecars(pod).length, collectTimeoutMs: 10_000 });
        await replay.collect();
        expect(await replay.preCloudInitIso(vmi, result.cloudInitBefore ?? null)).toEqual(result.cloudInit ?? null);
        expect(await replay.onDefineDomain(result.converted!, vmi)).toBe(result.domain);

        const boot = await libvirtOf(started, result.domain!, domainName(`launch-${name}`));
        expect(boot.defined.accepted, boot.defined.message).toBe(true);
        expect(`${boot.created.error}\n${boot.created.log}`).toContain('/usr/bin/qemu-system-x86_64');
        const netdevs = qemuJsonArguments(boot.created.log, 'netdev').filter((netdev) => netdev.type === 'vhost-vdpa');
        expect(netdevs.map((netdev) => netdev.id)).toEqual(vduse.map((iface) => `hostua-${iface.name}`));
        for (const netdev of netdevs) expect(netdev.vhostdev).toMatch(/^\/dev\/fdset\/\d+$/);
        const devices = new Map(qemuJsonArguments(boot.created.log, 'device').map((device) => [String(device.id), device]));
        for (const iface of vduse) {
          const device = devices.get(`ua-${iface.name}`);
          expect(device).toMatchObject({
            driver: 'virtio-net-pci',
            netdev: `hostua-${iface.name}`,
            rx_queue_size: Number(vmi.metadata.annotations![ANNOTATION_RX_QUEUE_SIZE]),
            tx_queue_size: Number(vmi.metadata.annotations![ANNOTATION_TX_QUEUE_SIZE]),
          });
          if (iface.macAddress) expect(device?.mac).toBe(iface.macAddress);
        }

        // Guest memory a VDUSE device can reach: on QEMU's command line every RAM backend is a
        // shared file; on its memory map every guest-RAM VMA passes vhost_vdpa_va_map's test, and so
        // does the virtio-mem device a hotplug attaches. KubeVirt's own domain without the sidecar is
        // the control: private anonymous RAM, unless KubeVirt already chose memfd (hugepages).
        if (vduse.length > 0) {
          const backends = memoryBackends(boot.created.log);
          expect(backends.length).toBeGreaterThan(0);
          for (const backend of backends) {
            expect(backend['qom-type']).toMatch(/^memory-backend-(memfd|file)$/);
            expect(backend.share).toBe(true);
          }
          // A hotplug of hugepages would reserve maxGuest in them here: only the boot is mapped.
          const hotplugHere = result.hotplugMemoryDevice !== undefined && !/<hugepages\b/.test(result.domain!);
          const withSidecar = await unreachableOnQemusMap(started, result.domain!, domainName(`map-${name}`), hotplugHere ? result.hotplugMemoryDevice : undefined);
          expect(withSidecar.atBoot).toEqual([]);
          if (hotplugHere) {
            expect(withSidecar.afterHotplug?.unreachable).toEqual([]);
            expect(withSidecar.afterHotplug?.backends).toBeGreaterThan(1);
          }
          const kubevirts = await unreachableOnQemusMap(started, result.converted!, domainName(`map-${name}-kubevirt`), undefined);
          // KubeVirt gives hugepages a memfd, which QEMU shares by default, unless kubevirt.io/memfd is "false".
          if (vmi.spec.domain.memory?.hugepages !== undefined && vmi.metadata.annotations?.['kubevirt.io/memfd'] !== 'false') {
            expect(kubevirts.atBoot).toEqual([]);
          } else {
            expect(kubevirts.atBoot.length).toBeGreaterThan(0);
            for (const problem of kubevirts.atBoot) expect(problem).toMatch(vmi.spec.domain.memory?.hugepages ? /: \/\S+hugepages\S+ \(deleted\), private / : /: anonymous, private /);
          }
        }

        // The libvirt-normalised define: libvirt's XML of the domain, read into KubeVirt's own model
        // (which drops the rings' sizes), through the hooks again. The sidecar writes them again,
        // and the replay's model of that round keeps and drops the same driver attributes.
        const again = await started.redefine(boot.defined.definedXml!, vmi);
        expect(again.error ?? again.panic, started.logs().slice(-2000)).toBeUndefined();
        // KubeVirt's model keeps <memoryBacking>'s source and access (api.MemoryBacking), so the
        // shared memory reaches the second define before the sidecar writes it again.
        if (vduse.length > 0) expect(again.converted).toMatch(/<memoryBacking>[\s\S]*<access mode="shared"><\/access>[\s\S]*<\/memoryBacking>/);
        expect(vdpaInterfaces(again.domain!)).toHaveLength(vduse.length);
        for (const iface of vdpaInterfaces(again.domain!)) expect(iface).toContain(`rx_queue_size="${vmi.metadata.annotations![ANNOTATION_RX_QUEUE_SIZE]!}"`);
        expect(vdpaInterfaces(again.converted!).map(driverAttributes)).toEqual(vdpaInterfaces(rebuiltByKubevirt(result.domain!)).map(driverAttributes));
        const redefined = await libvirtOf(started, again.domain!, domainName(`launch-${name}-normalised`));
        expect(redefined.defined.accepted, redefined.defined.message).toBe(true);

        // Locked memory: KubeVirt's limit covers what libvirt asks for, at boot and after a memory
        // hotplug up to maxGuest; and the webhook's addedOverhead is no more than that needs.
        const figures = [boot.created.memlockBytes];
        if (result.hotplugMemoryDevice) {
          const hotplugged = await libvirtOf(started, withHotpluggedMemory(result.domain!, result.hotplugMemoryDevice), domainName(`launch-${name}-hotplug`));
          figures.push(hotplugged.created.memlockBytes);
        }
        if (vduse.length > 0) {
          expect(figures.every((figure) => figure !== undefined), boot.created.log.slice(-500)).toBe(true);
          const need = figures.reduce((most, figure) => (figure! > most! ? figure : most), 0n)!;
          const limit = BigInt(result.memlockBytes);
          expect(limit).toBeGreaterThanOrEqual(need);
          // The limit is KubeVirt's overhead (addedOverhead included) plus its base, which it
          // rounds up to a whole kB; what the webhook added brings the base exactly to libvirt's need.
          const added = addedOverheadBytes(vmi);
          const base = limit - BigInt(result.overheadBytes);
          if (added > 0n) {
            expect(base + added - need).toBeGreaterThanOrEqual(0n);
            expect(base + added - need).toBeLessThan(1000n);
          } else {
            expect(base).toBeGreaterThanOrEqual(need);
          }
        } else {
          expect(figures.every((figure) => figure === undefined)).toBe(true);
        }
        flow.check?.(result, vmi);
      } finally {
        const stopped = await started.stop();
        expect(stopped?.error ?? stopped?.panic).toBeUndefined();
      }
    }, 240_000);

    // KubeVirt 1.9's plugin pipeline (the Alpha gate Plugins, and Plugin CRs): virt-launcher reads
    // the sidecars' domain into its own model, then the Plugins rebuild it, and libvirt gets that
    // (pkg/virt-launcher/virtwrap/util/libvirt_helper.go SetDomainSpecStrWithHooks,
    // pkg/virt-launcher/virtwrap/plugins/pipeline.go ApplyDomainHooks). doctor fails it.
    it.runIf(!version.startsWith('1.8'))("KubeVirt's plugin pipeline rebuilds the domain after the sidecar: a Plugin that does not even apply to the VM drops the rings' sizes, and doctor fails it", async () => {
      const plugins = [
        // Applies to another VM only: its hooks never run here.
        { apiVersion: 'plugin.kubevirt.io/v1alpha1', kind: 'Plugin', metadata: { name: 'another-vms-tuning' }, spec: { condition: 'vmi.Name == "another-vm"', domainHooks: [{ cel: { expression: 'Domain{Title: "not for this VM"}' } }] } },
        // Applies to every VM, and shows the pipeline ran: the title is its.
        { apiVersion: 'plugin.kubevirt.io/v1alpha1', kind: 'Plugin', metadata: { name: 'title' }, spec: { domainHooks: [{ cel: { expression: 'Domain{Title: "set by a plugin"}' } }] } },
      ];
      const before = kubectl(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '-o', 'json']);
      kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([{ op: 'add', path: '/spec/configuration/developerConfiguration/featureGates/-', value: 'Plugins' }])]);
      kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: plugins }));
      try {
        createVm(enabled, (created) => (created.metadata.name = 'l-plugins'));
        const { pod } = await launched(enabled, 'l-plugins');
        const vmi = json<Vmi>(['get', 'vmi', 'l-plugins', '-n', enabled]);
        // What virt-handler sends: the Plugins as the API server stored them.
        const stored = json<{ items: object[] }>(['get', 'plugins.plugin.kubevirt.io']).items;
        expect(stored).toHaveLength(2);
        const started = await launch({ vmi, pod, kubevirt: json<object>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']), kubevirtBin: readState()!.bins.kubevirt, networkInfo: networkInfoFor(vmi), plugins: stored });
        try {
          const { result } = started;
          expect(result.error ?? result.panic, started.logs().slice(-3000)).toBeUndefined();
          expect(result.pluginPipeline).toBe(true);
          const size = vmi.metadata.annotations![ANNOTATION_RX_QUEUE_SIZE]!;
          // The sidecar wrote the rings' sizes; what libvirt gets has the device but not them.
          expect(vdpaInterfaces(result.sidecarDomain!)[0]).toContain(`rx_queue_size="${size}"`);
          const [rebuilt, ...more] = [...result.domain!.matchAll(/<interface type=["']vdpa["']>[\s\S]*?<\/interface>/g)].map((match) => match[0]);
          expect(more).toEqual([]);
          expect(rebuilt).toMatch(/<source dev=["'][^"']+\/vduse\/pod[0-9a-f]{11}["']/);
          expect(rebuilt).not.toContain('queue_size');
          expect(result.domain).toContain('<title>set by a plugin</title>');
          expect(result.domain).not.toContain('not for this VM');
          // libvirt takes it, and QEMU's device gets its default rings.
          const boot = await libvirtOf(started, result.domain!, 'vduse-launch-l-plugins');
          expect(boot.defined.accepted, boot.defined.message).toBe(true);
          const device = qemuJsonArguments(boot.created.log, 'device').find((entry) => entry.id === 'ua-dataplane');
          expect(device).toMatchObject({ driver: 'virtio-net-pci', netdev: 'hostua-dataplane' });
          expect(device?.rx_queue_size).toBeUndefined();
        } finally {
          await started.stop();
        }
        const report = JSON.parse(doctor().stdout) as { checks: { check: string; status: string; detail: string }[] };
        expect(report.checks.find((check) => check.check === 'plugin pipeline')).toMatchObject({ status: 'fail', detail: expect.stringContaining('2 Plugin(s) (another-vms-tuning, title)') as unknown });
      } finally {
        kubectl(['delete', 'plugins.plugin.kubevirt.io', '--all']);
        kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([{ op: 'replace', path: '/spec', value: (JSON.parse(before) as { spec: unknown }).spec }])]);
      }
    }, 240_000);

    describe("beside KubeVirt's own slirp binding plugin, which has a sidecar too", () => {
      const slirp = { sidecarImage: `kubevirt/network-slirp-binding:v${version}` };
      beforeAll(() => kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'merge', '-p', JSON.stringify({ spec: { configuration: { network: { binding: { slirp } } } } })]));
      afterAll(() => kubectl(['patch', 'kubevirt', 'kubevirt', '-n', 'kubevirt', '--type', 'json', '-p', JSON.stringify([{ op: 'remove', path: '/spec/configuration/network/binding/slirp' }])]));

      /** Which binding each hook-sidecar-N serves, by its image: the order virt-controller rendered. */
      const order = (pod: Pod) => sidecars(pod).map((container) => (container.image.includes('network-slirp-binding') ? 'slirp' : 'vduse'));

      it('the domain a source Pod produced opens its devices on a target Pod only where both numbered the sidecars alike, which is why the webhook warns', async () => {
        kubevirt = json<object>(['get', 'kubevirt', 'kubevirt', '-n', 'kubevirt']);
        // The webhook learns of the new binding through its watch on the KubeVirt CR.
        const created = await until('the webhook to see the slirp binding', () => {
          const result = createExampleVm(enabled, (created) => {
            created.metadata.name = 'l-two-plugins';
            created.spec.template.spec.domain.devices.interfaces[0] = { name: 'default', binding: { name: 'slirp' } };
          });
          if (result.status === 0) return result;
          if (!result.stderr.includes('not found')) throw new Error(result.stderr);
          return undefined;
        });
        expect(created.stderr).toContain('vduse: live migration may fail: 2 binding plugins with sidecars');
        const source = await launched(enabled, 'l-two-plugins');
        const vmi = json<Vmi>(['get', 'vmi', 'l-two-plugins', '-n', enabled]);
        const sourceOrder = order(source.pod);
        expect([...sourceOrder].sort()).toEqual(['slirp', 'vduse']);
        const onSource = await launch({ vmi, pod: source.pod, kubevirt, kubevirtBin: readState()!.bins.kubevirt, networkInfo: networkInfoFor(vmi) });
        const sourceDomain = onSource.result.domain;
        await onSource.stop();
        expect(onSource.result.error ?? onSource.result.panic, onSource.logs().slice(-2000)).toBeUndefined();
        expect(sourceDomain).toContain('<interface type="vdpa">');
        // slirp's sidecar adds its user-mode netdev on QEMU's command line.
        expect(sourceDomain).toMatch(/<qemu:arg value="user,id=default/);
        // The hook manager calls the sidecars in the order they answered Info while it scanned the
        // folders. slirp's reads the domain into KubeVirt's model and writes it back: the vdpa
        // interface and its device stay, the rings' sizes go (KubeVirt's InterfaceDriver has no such
        // fields). So they survive only when ours is called last.
        const callOrder = onSource.result.onDefineDomainOrder!.map((socket) => (socket.endsWith('/slirp.sock') ? 'slirp' : 'vduse'));
        expect([...callOrder].sort()).toEqual(['slirp', 'vduse']);
        const [vdpa] = vdpaInterfaces(sourceDomain!);
        // The driver keeps the name the sidecar writes (name="vhost"): with none, KubeVirt's model
        // would write name="", which libvirt refuses, and the VM would not start at all.
        if (callOrder.at(-1) === 'slirp') {
          expect(vdpa).not.toContain('queue_size');
          expect(vdpa).toMatch(/<driver name="vhost"/);
        } else {
          expect(vdpa).toContain(`rx_queue_size="${vmi.metadata.annotations![ANNOTATION_RX_QUEUE_SIZE]!}"`);
        }
        expect(vdpa).toMatch(/<source dev="[^"]+\/vduse\/pod[0-9a-f]{11}"/);
        // Whichever sidecar is called last, the shared guest memory stays: slirp's model keeps it.
        expect(sourceDomain).toMatch(/<access mode="shared"/);

        // The target Pod of a migration, rendered by virt-controller: binding sidecars come from a
        // Go map, so their order may differ from the source's; it does not come out evenly (one order
        // came five times in a row here). Migrations are tried until it differs, up to eight; each
        // branch below is checked for what it is.
        await playRunning(enabled, 'l-two-plugins', source.pod, [{ name: 'dataplane', mac: '02:00:00:aa:bb:01' }]);
        let target = await renderMigrationTarget(enabled, 'l-two-plugins', 'two-plugins-1');
        for (let attempt = 2; attempt <= 8 && order(target).join() === sourceOrder.join(); attempt++) {
          kubectl(['delete', 'virtualmachineinstancemigration', `two-plugins-${String(attempt - 1)}`, '-n', enabled, '--wait=true']);
          await until('the migration to be gone', () => (json<{ items: unknown[] }>(['get', 'virtualmachineinstancemigrations', '-n', enabled]).items.length === 0 ? true : undefined));
          target = await renderMigrationTarget(enabled, 'l-two-plugins', `two-plugins-${String(attempt)}`);
        }
        console.info(`two binding sidecars: source Pod ${sourceOrder.join(', ')}, called ${callOrder.join(', ')}; target Pod ${order(target).join(', ')}`);
        const targetVmi = json<Vmi>(['get', 'vmi', 'l-two-plugins', '-n', enabled]);
        const onTarget = await launch({ vmi: targetVmi, pod: target, kubevirt, kubevirtBin: readState()!.bins.kubevirt, networkInfo: networkInfoFor(targetVmi) });
        try {
          expect(onTarget.result.error ?? onTarget.result.panic, onTarget.logs().slice(-2000)).toBeUndefined();
          const { created: started } = await libvirtOf(onTarget, sourceDomain!, domainName('launch-two-plugins'));
          const sourceLink = /<source dev="([^"]+)"/.exec(vdpa!)![1]!;
          if (order(target).join() === sourceOrder.join()) {
            expect(`${started.error}\n${started.log}`).toContain('/usr/bin/qemu-system-x86_64');
          } else {
            // The source's link is in the source's vduse sidecar's folder, which is slirp's here.
            expect(started.error).toContain(`Unable to open '${onTarget.onThisMachine(sourceLink)}' for vdpa device`);
          }
        } finally {
          await onTarget.stop();
        }
      }, 240_000);
    });
  });
} else {
  clusterUnavailable("KubeVirt's converter and hook manager drive the sidecar", status);
}
