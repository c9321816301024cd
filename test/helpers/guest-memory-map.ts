// QEMU's own memory map, read the way vhost-vdpa reads it. A VDUSE device is in VA mode, and
// vhost_vdpa_va_map (Linux drivers/vhost/vdpa.c) hands it only the parts of QEMU's address space
// whose VMA has a file and is shared (`vma->vm_file && (vma->vm_flags & VM_SHARED)`); the rest is
// skipped without an error. /proc/PID/smaps shows both: a pathname for a VMA with a file (a memfd
// shows as /memfd:..., a shared anonymous mapping as /dev/zero) and `sh` in VmFlags for VM_SHARED.
//
// Which VMAs hold guest RAM: QEMU's memory backends (QMP query-memdev: the main RAM, each NUMA
// cell, each memory device) are each mapped as one VMA of exactly the backend's size
// (util/mmap-alloc.c qemu_ram_mmap maps the region, then a guard page beside it). QEMU 7.2's
// `info ramblock` gives no host address, and every memfd backend has the same name
// (memory-backend-memfd), so a backend is found by its size.
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CONNECTION = 'qemu:///system';

export interface Vma {
  start: bigint;
  end: bigint;
  /** The pathname column: empty for anonymous private memory. */
  path: string;
  /** smaps' VmFlags, two letters each (`sh`: VM_SHARED). */
  flags: string[];
}

export interface Memdev {
  id: string;
  size: number;
  share: boolean;
}

/** Every VMA of a process, from /proc/PID/smaps. */
export function parseSmaps(text: string): Vma[] {
  const vmas: Vma[] = [];
  for (const line of text.split('\n')) {
    const header = /^([0-9a-f]+)-([0-9a-f]+) \S{4} \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (header) {
      vmas.push({ start: BigInt(`0x${header[1]!}`), end: BigInt(`0x${header[2]!}`), path: header[3]!.trim(), flags: [] });
      continue;
    }
    const flags = /^VmFlags:\s*(.*)$/.exec(line);
    if (flags && vmas.length > 0) vmas.at(-1)!.flags = flags[1]!.trim().split(/\s+/);
  }
  return vmas;
}

/** vhost_vdpa_va_map's test: the VMA has a file (pseudo-paths like [heap] are not files) and is shared. */
export const reachableByVduse = (vma: Vma): boolean => vma.path.startsWith('/') && vma.flags.includes('sh');

export interface GuestRamMapping {
  memdev: Memdev;
  /** The VMA holding it; undefined when no VMA has its size. */
  vma: Vma | undefined;
}

/** Each memory backend's VMA: a VMA of its exact size, each VMA used once. */
export function guestRamMappings(vmas: readonly Vma[], memdevs: readonly Memdev[]): GuestRamMapping[] {
  const unused = [...vmas];
  return memdevs.map((memdev) => {
    const index = unused.findIndex((vma) => vma.end - vma.start === BigInt(memdev.size));
    const [vma] = index === -1 ? [undefined] : unused.splice(index, 1);
    return { memdev, vma };
  });
}

/** What keeps guest RAM from a VDUSE device, one line per backend; empty when all of it is reachable. */
export function unreachableGuestRam(mappings: readonly GuestRamMapping[]): string[] {
  return mappings.flatMap(({ memdev, vma }) => {
    if (vma === undefined) return [`${memdev.id}: no VMA of its ${memdev.size} bytes`];
    if (reachableByVduse(vma)) return [];
    const what = vma.path === '' ? 'anonymous' : vma.path;
    return [`${memdev.id}: ${what}, ${vma.flags.includes('sh') ? 'shared' : 'private'} (VmFlags ${vma.flags.join(' ')})`];
  });
}

/** QEMU's memory backends, by QMP through libvirt. */
export async function queryMemdevs(domain: string): Promise<Memdev[]> {
  const { stdout } = await run('virsh', ['-c', CONNECTION, 'qemu-monitor-command', domain, '{"execute":"query-memdev"}'], { timeout: 30_000 });
  return (JSON.parse(stdout) as { return: Memdev[] }).return.map(({ id, size, share }) => ({ id, size, share }));
}

/** QEMU's pid for a running domain started by libvirt. */
export function qemuPid(domain: string): number {
  const pid = Number(readFileSync(`/run/libvirt/qemu/${domain}.pid`, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no QEMU pid for domain ${domain}`);
  return pid;
}

/** The guest RAM of a running domain, as vhost-vdpa would see it. */
export async function guestMemoryMap(domain: string): Promise<GuestRamMapping[]> {
  const vmas = parseSmaps(readFileSync(`/proc/${qemuPid(domain)}/smaps`, 'utf8'));
  return guestRamMappings(vmas, await queryMemdevs(domain));
}

const TWO_MEGABYTES_KIB = 2048;
const PAGES_2M = '/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages';

/**
 * A hugepages domain as QEMU can start it here, with its pages reserved while `work` runs. A
 * hugetlbfs or memfd-hugetlb mapping reserves its pages when QEMU maps it, paused or not, and this
 * machine cannot reserve four 1Gi pages (measured: two at most), so 1Gi pages become 2Mi pages of
 * the same total: the mapping's kind (a hugetlb file, shared or not) does not depend on the size.
 * Only the main memory (<memory>) is reserved; the caller starts no hotplug on such a domain.
 */
export async function withHugepagesFor<T>(xml: string, work: (xml: string) => Promise<T>): Promise<T> {
  if (!/<hugepages\b/.test(xml)) return work(xml);
  // One reservation at a time: each reads the pool's size, grows it and puts it back.
  const turn = hugepagesQueue.then(() => reserveAndRun(xml, work));
  hugepagesQueue = turn.then(
    () => undefined,
    () => undefined,
  );
  return turn;
}

let hugepagesQueue: Promise<void> = Promise.resolve();

async function reserveAndRun<T>(xml: string, work: (xml: string) => Promise<T>): Promise<T> {
  const memoryBytes = BigInt(/<memory unit="b">(\d+)<\/memory>/.exec(xml)?.[1] ?? '0');
  const pages = Number(memoryBytes / BigInt(TWO_MEGABYTES_KIB * 1024));
  const before = Number(readFileSync(PAGES_2M, 'utf8'));
  writeFileSync(PAGES_2M, String(before + pages));
  try {
    const reserved = Number(readFileSync(PAGES_2M, 'utf8'));
    if (reserved < before + pages) throw new Error(`could reserve only ${reserved - before} of ${pages} 2Mi hugepages for a paused start`);
    return await work(xml.replace(/<page size="\d+" unit="KiB"/g, `<page size="${TWO_MEGABYTES_KIB}" unit="KiB"`));
  } finally {
    writeFileSync(PAGES_2M, String(before));
  }
}
