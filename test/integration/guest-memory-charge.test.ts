// What the shared guest memory changes for the pod's memory cgroup, measured rather than assumed:
// QEMU started by libvirt with the guest RAM the sidecar gives a VDUSE domain (a shared memfd), and
// with KubeVirt's default (private anonymous), each preallocated so that every page exists, and the
// cgroup libvirt put QEMU in read. In virt-launcher QEMU runs in the pod's cgroup, and a page is
// charged to the cgroup of the process that faults it in, guest access or preallocation alike.
//
// Stood in: the domain is a minimal q35 one of ours (no disks), converted by the sidecar's rewrite
// for one VDUSE interface, which is then taken out (this kernel has no vhost-vdpa); TCG runs it.
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { rewriteDomain } from '../../sidecar/domain/rewrite.ts';
import { describeWithLibvirt } from '../helpers/libvirt.ts';
import { qemuPid } from '../helpers/guest-memory-map.ts';
import { destroy, forAPausedStart, startPaused } from '../helpers/qemu-driver.ts';
import { requestFor } from '../helpers/rewrite-cases.ts';
import { macFor, vduseInterface } from '../helpers/vmis.ts';

const GUEST_MIB = 256;
const MIB = 1024 * 1024;

const minimalDomain = (name: string) => `<domain type="qemu">
  <name>${name}</name>
  <memory unit="MiB">${GUEST_MIB}</memory>
  <vcpu>1</vcpu>
  <os><type arch="x86_64" machine="q35">hvm</type></os>
  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices>
</domain>`;

/** Every page preallocated at start, as KubeVirt asks for dedicated-CPU NUMA guests (<allocation mode="immediate"/>). */
const preallocated = (xml: string) =>
  xml.includes('<memoryBacking>') ? xml.replace('</memoryBacking>', '<allocation mode="immediate"/></memoryBacking>') : xml.replace('</memory>', '</memory><memoryBacking><allocation mode="immediate"/></memoryBacking>');

interface Charge {
  usageBytes: number;
  anonBytes: number;
  shmemBytes: number;
}

/** The memory cgroup a process is charged to, v1 or v2, and what its stat says. */
function chargeOf(pid: number): Charge {
  const lines = readFileSync(`/proc/${pid}/cgroup`, 'utf8').trim().split('\n');
  const v1 = lines.find((line) => line.split(':')[1]?.split(',').includes('memory'));
  const dir = v1 ? `/sys/fs/cgroup/memory${v1.split(':')[2]!}` : `/sys/fs/cgroup${lines.find((line) => line.startsWith('0::'))!.slice(3)}`;
  const stat = new Map(readFileSync(`${dir}/memory.stat`, 'utf8').trim().split('\n').map((line) => line.split(' ') as [string, string]));
  const value = (...names: string[]) => Number(names.map((name) => stat.get(name)).find((found) => found !== undefined) ?? Number.NaN);
  return {
    usageBytes: Number(readFileSync(`${dir}/${v1 ? 'memory.usage_in_bytes' : 'memory.current'}`, 'utf8')),
    anonBytes: value('anon', 'rss'),
    shmemBytes: value('shmem'),
  };
}

async function chargeFor(xml: string, name: string): Promise<Charge> {
  await startPaused(forAPausedStart(preallocated(xml)), name);
  try {
    return chargeOf(qemuPid(name));
  } finally {
    await destroy(name);
  }
}

describeWithLibvirt("the pod's memory cgroup pays for shared guest memory as it paid for private", () => {
  it(`charges a ${GUEST_MIB} MiB guest to QEMU's own cgroup either way: as shmem with the sidecar's memfd, as anon without`, async () => {
    const name = `vduse-charge-${process.pid}`;
    const shared = rewriteDomain(requestFor(minimalDomain(`${name}-shared`), [vduseInterface('net1', { macAddress: macFor(0) })]));
    expect(shared).toContain('<source type="memfd"/>');
    const memfd = await chargeFor(shared, `${name}-shared`);
    const anonymous = await chargeFor(minimalDomain(`${name}-private`), `${name}-private`);
    console.info(
      `guest ${GUEST_MIB} MiB preallocated: shared memfd charges ${(memfd.usageBytes / MIB).toFixed(0)} MiB (shmem ${(memfd.shmemBytes / MIB).toFixed(0)}, anon ${(memfd.anonBytes / MIB).toFixed(0)}); ` +
        `private anonymous ${(anonymous.usageBytes / MIB).toFixed(0)} MiB (shmem ${(anonymous.shmemBytes / MIB).toFixed(0)}, anon ${(anonymous.anonBytes / MIB).toFixed(0)})`,
    );
    const guest = GUEST_MIB * MIB;
    expect(memfd.usageBytes).toBeGreaterThanOrEqual(guest);
    expect(memfd.shmemBytes).toBeGreaterThanOrEqual(guest);
    expect(anonymous.usageBytes).toBeGreaterThanOrEqual(guest);
    expect(anonymous.anonBytes).toBeGreaterThanOrEqual(guest);
    expect(anonymous.shmemBytes).toBeLessThan(guest / 4);
    // Same order of cost: the memfd is no more than QEMU's own memory over the private guest.
    expect(Math.abs(memfd.usageBytes - anonymous.usageBytes)).toBeLessThan(64 * MIB);
  }, 120_000);
});
