// The QEMU command line libvirt builds from the domains the sidecar renders. The real sidecar runs
// with its socket dir in /var/run/kubevirt-hooks/<container>, as in virt-launcher, so the links
// it makes are the paths the domain names; network-info points them at /dev/null, a character
// device libvirt can open. `virsh create` then opens each link, hands it to QEMU as an fd set and
// logs the whole command line (test/helpers/qemu-driver.ts).
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { libvirtMemlockLimitBytes } from '../../api/memlock.ts';
import { DEFAULT_HOOK_SOCKET_DIR } from '../../api/names.ts';
import { podInterfaceName } from '../../api/pod-interface.ts';
import { readKubevirtFile } from '../helpers/kubevirt-files.ts';
import { startSidecar, type SidecarProcess } from '../helpers/hook-client.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { createWithQemuDriver, qemuJsonArguments, type Started, withoutPodFiles } from '../helpers/qemu-driver.ts';
import { replayBoot } from '../helpers/virt-launcher-replay.ts';
import { macFor, masqueradeDefault, vduseInterface, vmiWith } from '../helpers/vmis.ts';

const run = promisify(execFile);
const CONTAINER = `vduse-qemu-test-${process.pid}`;
const NAME = `vduse-qemu-${process.pid}`;
const GUEST_BYTES = 256n * 1024n * 1024n;

const vmi = vmiWith(
  [
    masqueradeDefault,
    vduseInterface('net1', { macAddress: macFor(0), acpiIndex: 2, bootOrder: 1 }),
    vduseInterface('net2', { macAddress: macFor(1), acpiIndex: 3 }),
  ],
  { annotations: { 'vduse.kubevirt.io/tx-queue-size': '512', 'vduse.kubevirt.io/queues': '2' } },
);
vmi.spec.domain.memory = { guest: '256Mi' };

/** The domain for this machine: a small guest, and none of the pod's files. */
const forThisMachine = (xml: string, name: string) => withoutPodFiles(xml, name).replace(/<memory unit="b">\d+<\/memory>/, `<memory unit="b">${GUEST_BYTES}</memory>`);

describeWithLibvirt('the QEMU command line libvirt builds from the sidecar\'s domain', () => {
  const socketDir = join(DEFAULT_HOOK_SOCKET_DIR, CONTAINER);
  let sidecar: SidecarProcess;
  let domain = '';
  let started: Started;

  beforeAll(async () => {
    const infoDir = mkdtempSync(join(tmpdir(), 'vduse-qemu-info-'));
    const infoPath = join(infoDir, 'network-info');
    const entry = (network: string, index: number) => ({ network, deviceInfo: { type: 'vdpa', version: '1.1.0', vdpa: { driver: 'vhost', path: '/dev/null' } }, mac: macFor(index) });
    writeFileSync(infoPath, JSON.stringify({ interfaces: [entry('net1', 0), entry('net2', 1)] }));
    sidecar = await startSidecar(socketDir, ['--network-info', infoPath], { CONTAINER_NAME: CONTAINER });
    const boot = await replayBoot({
      launcher: { hooksDir: DEFAULT_HOOK_SOCKET_DIR, sidecars: 1 },
      vmi,
      cloudInit: null,
      domainXml: readKubevirtFile('domain_x86_64.xml'),
      defineCalls: 2,
    }).catch(async (error: unknown) => {
      await sidecar.stop();
      throw error;
    });
    domain = boot.domains.at(-1)!;
    started = await createWithQemuDriver(forThisMachine(domain, NAME), NAME);
  }, 240_000);

  afterAll(async () => {
    await sidecar.stop();
    rmSync(socketDir, { recursive: true, force: true });
  });

  it('the sidecar pointed each interface at its stable link, which resolves to the device', () => {
    for (const network of ['net1', 'net2']) {
      const link = join(socketDir, 'vduse', podInterfaceName(network));
      expect(domain).toContain(`<source dev="${link}"/>`);
      expect(existsSync(link)).toBe(true);
    }
  });

  it('each converted interface is a vhost-vdpa netdev on an fd set that libvirt opened for it', () => {
    expect(started.log, started.error).toContain('/usr/bin/qemu-system-x86_64');
    const netdevs = qemuJsonArguments(started.log, 'netdev').filter((netdev) => netdev.type === 'vhost-vdpa');
    expect(netdevs.map((netdev) => netdev.id)).toEqual(['hostua-net1', 'hostua-net2']);
    for (const [index, netdev] of netdevs.entries()) {
      expect(netdev.vhostdev).toMatch(/^\/dev\/fdset\/\d+$/);
      const set = /\d+$/.exec(String(netdev.vhostdev))![0];
      expect(started.log).toMatch(new RegExp(`^-add-fd set=${set},fd=\\d+,opaque=ua-net${index + 1}-vdpa \\\\$`, 'm'));
      expect(netdev.queues).toBe(2);
    }
  });

  it('each carries its MAC, ring sizes, queues, ACPI index and boot index', () => {
    const devices: Record<string, Record<string, unknown>> = Object.fromEntries(qemuJsonArguments(started.log, 'device').filter((device) => device.netdev !== undefined).map((device) => [String(device.id), device] as const));
    expect(devices['ua-net1']).toMatchObject({ driver: 'virtio-net-pci', netdev: 'hostua-net1', mac: macFor(0), rx_queue_size: 1024, tx_queue_size: 512, mq: true, 'acpi-index': 2, bootindex: 1 });
    expect(devices['ua-net2']).toMatchObject({ driver: 'virtio-net-pci', netdev: 'hostua-net2', mac: macFor(1), rx_queue_size: 1024, tx_queue_size: 512, mq: true, 'acpi-index': 3, romfile: '' });
    expect(devices['ua-net2']).not.toHaveProperty('bootindex');
    // The pod network stays KubeVirt's own tap interface.
    expect(devices['ua-default']).toMatchObject({ driver: 'virtio-net-pci-non-transitional', netdev: 'hostua-default' });
  });

  it("libvirt's locked-memory figure is what the webhook's memlock overhead budgets for", () => {
    expect(started.memlockBytes, started.log.slice(-500)).toBeDefined();
    expect(started.memlockBytes).toBe(libvirtMemlockLimitBytes(2, GUEST_BYTES));
  });

  // Accepted by define, refused when the domain starts; <target> and <bandwidth> name or shape a
  // host tap device, which a vdpa interface does not have, and libvirt 9.0 lets them pass.
  it.each([
    ['a <vlan>', '<vlan><tag id="42"/></vlan>', 'vlan tag not supported for this connection type'],
    ['a <backend tap>', '<backend tap="/dev/net/tun"/>', 'custom tap device path is not supported for network interfaces of type vdpa'],
  ])('libvirt refuses to start a vdpa interface with %s', async (title, element, message) => {
    const name = `${NAME}-${title.replace(/\W+/g, '')}`;
    const withElement = domain.replace(/(<interface type="vdpa">[\s\S]*?<model type="virtio"\/>)/, `$1${element}`);
    expect(withElement).not.toBe(domain);
    const refused = await createWithQemuDriver(forThisMachine(withElement, name), name);
    expect(refused.error).toContain(message);
    expect(refused.memlockBytes).toBeUndefined();
  });

  it('libvirt opens the link path itself: without the link, it names it and refuses', async () => {
    const link = join(socketDir, 'vduse', podInterfaceName('net2'));
    unlinkSync(link);
    try {
      const missing = await createWithQemuDriver(forThisMachine(domain, `${NAME}-nolink`), `${NAME}-nolink`);
      expect(missing.error).toContain(link);
      expect(missing.memlockBytes).toBeUndefined();
    } finally {
      await run('ln', ['-s', '/dev/null', link]);
    }
  });
});
