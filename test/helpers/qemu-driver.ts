// `virsh create` of a domain, to read what libvirt's qemu driver makes of it: the QEMU command line
// and libvirt's locked-memory figure, both from libvirt's log of the domain,
// /var/log/libvirt/qemu/<name>.log. QEMU does not run here: the sandbox refuses to raise the
// locked-memory limit, and libvirt logs its own figure when it tries. Where QEMU does start (a
// host that allows it), the limit is read from its process, and the domain is destroyed.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { forThisHost, withFreshUuid } from '../../cli/libvirt.ts';

const run = promisify(execFile);

export interface Started {
  /** libvirt's log of the domain: the QEMU command line, and why QEMU did not start. */
  log: string;
  /** libvirt's locked-memory figure for QEMU, from the log or, if QEMU did start, from its limits. */
  memlockBytes: bigint | undefined;
  /** virsh's error, when the domain did not start. */
  error: string;
}

/**
 * The domain for this machine: its name, no disks and no unix-socket character devices (their
 * files are virt-launcher's, not this machine's), and an EFI variable store in libvirt's own
 * directory instead of the pod's. Everything else stays as given.
 */
export function withoutPodFiles(xml: string, name: string): string {
  return xml
    .replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`)
    .replace(/(<nvram[^>]*>)[^<]*(<\/nvram>)/, `$1/var/lib/libvirt/qemu/nvram/${name}_VARS.fd$2`)
    .replace(/<disk[\s\S]*?<\/disk>\s*/g, '')
    .replace(/<(serial|console|channel) type="unix">[\s\S]*?<\/\1>\s*/g, '');
}

/** `virsh create` of the domain (type="qemu" where there is no KVM), as named in it. */
export async function createWithQemuDriver(xml: string, name: string): Promise<Started> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-qemu-'));
  const file = join(dir, 'domain.xml');
  const logPath = `/var/log/libvirt/qemu/${name}.log`;
  if (existsSync(logPath)) unlinkSync(logPath);
  writeFileSync(file, withFreshUuid(await forThisHost(xml)));
  let error = '';
  let memlockBytes: bigint | undefined;
  try {
    await run('virsh', ['-c', 'qemu:///system', 'create', file], { timeout: 180_000 });
    const { stdout } = await run('pgrep', ['-f', `guest=${name},`]);
    const limits = readFileSync(`/proc/${stdout.trim().split('\n')[0]}/limits`, 'utf8');
    memlockBytes = BigInt(/^Max locked memory\s+(\d+)/m.exec(limits)![1]!);
    await run('virsh', ['-c', 'qemu:///system', 'destroy', name]);
  } catch (failure) {
    error = (failure as { stderr?: string }).stderr ?? (failure as Error).message;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const log = existsSync(logPath) ? readFileSync(logPath, 'utf8') : '';
  const figure = /cannot limit locked memory of process \d+ to (\d+)/.exec(log)?.[1];
  return { log, memlockBytes: memlockBytes ?? (figure !== undefined ? BigInt(figure) : undefined), error };
}

/** QEMU's JSON arguments of one kind (-netdev, -device), parsed from libvirt's log. */
export function qemuJsonArguments(log: string, option: string): Record<string, unknown>[] {
  return [...log.matchAll(new RegExp(`^-${option} '(\\{.*\\})' \\\\$`, 'gm'))].map((match) => JSON.parse(match[1]!) as Record<string, unknown>);
}

/**
 * A memory-hotplug domain as this machine's libvirt (9.0, Debian 12) takes it. KubeVirt writes
 * `<maxMemory slots="0">` and no guest NUMA cell, for virtio-mem hotplug; the newer libvirt in
 * virt-launcher takes that, but 9.0 refuses it ("both maximum memory size and memory slot count
 * must be specified", then "At least one numa node has to be configured when enabling memory
 * hotplug"). So: one slot, and one NUMA cell with every vCPU and the initial memory. Neither
 * changes libvirt's locked-memory figure, which counts the domain's total memory (<memory>), and
 * a domain without maxMemory is left as it is. KubeVirt 1.9's plugin pipeline writes the domain
 * with libvirtxml, which leaves out slots="0" (omitempty): the same zero slots.
 */
export function forThisLibvirt(domainXml: string): string {
  const xml = domainXml.replace(/<maxMemory((?:(?!slots=)[^>])*)>/, '<maxMemory$1 slots="0">');
  if (!/<maxMemory [^>]*slots="0"/.test(xml)) return xml;
  const vcpus = Number(/<vcpu[^>]*>(\d+)<\/vcpu>/.exec(xml)?.[1] ?? '1');
  const memory = /<memory unit="b">(\d+)<\/memory>/.exec(xml)?.[1];
  if (memory === undefined) throw new Error('a hotplug domain without <memory unit="b">');
  const devices = [...xml.matchAll(/<memory model="virtio-mem">[\s\S]*?<size unit="b">(\d+)<\/size>/g)].reduce((sum, match) => sum + BigInt(match[1]!), 0n);
  const cell = `<numa><cell id="0" cpus="0-${String(vcpus - 1)}" memory="${String(BigInt(memory) - devices)}" unit="b"/></numa>`;
  return xml
    .replace(/(<maxMemory [^>]*)slots="0"/, '$1slots="1"')
    .replace(/<cpu([^>]*)\/>/, '<cpu$1></cpu>')
    .replace(/<\/cpu>/, `${cell}</cpu>`);
}

/**
 * The domain after a memory hotplug up to maxGuest: virt-launcher attaches the virtio-mem device,
 * and libvirt's total memory (<memory>) grows by its size.
 */
export function withHotpluggedMemory(xml: string, device: string): string {
  const size = BigInt(/<size unit="b">(\d+)<\/size>/.exec(device)![1]!);
  return xml
    .replace(/<memory unit="b">(\d+)<\/memory>/, (_whole, bytes: string) => `<memory unit="b">${String(BigInt(bytes) + size)}</memory>`)
    .replace('</devices>', `${device}</devices>`);
}

/**
 * The domain as QEMU can run it paused on this machine, for reading its memory map: what needs the
 * pod goes, which does not touch guest memory. This kernel has no vhost-vdpa, so the vdpa
 * interfaces go (a stand-in file would make QEMU fail on its first vhost ioctl); so do the pod's
 * tap interfaces (type="ethernet", created by virt-launcher's network set-up), the VNC socket
 * in the pod's private folder, and the vCPU and emulator pinning (<cputune>) to the pod's
 * dedicated CPUs, which this 2-core machine may not have. Memory, NUMA, memory devices and
 * everything else stay.
 */
export function forAPausedStart(xml: string): string {
  return xml
    .replace(/<interface type="(vdpa|ethernet)">[\s\S]*?<\/interface>\s*/g, '')
    .replace(/<cputune>[\s\S]*?<\/cputune>\s*/g, '')
    .replace(/<graphics[\s\S]*?<\/graphics>\s*/g, '')
    .replace(/<graphics [^>]*\/>\s*/g, '');
}

/**
 * `virsh create --paused`: QEMU has mapped guest memory and runs no guest code. Always under TCG
 * (type="qemu"): where /dev/kvm exists here it is a nested PVM host, which ordinary guests cannot
 * run under (QEMU dies setting an MSR), and TCG maps guest memory the same way.
 */
export async function startPaused(xml: string, name: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-qemu-'));
  const file = join(dir, 'domain.xml');
  writeFileSync(file, withFreshUuid(xml).replace(/<domain type=(["'])kvm\1/, '<domain type=$1qemu$1'));
  try {
    await run('virsh', ['-c', 'qemu:///system', 'create', '--paused', file], { timeout: 180_000 });
  } catch (failure) {
    const log = existsSync(`/var/log/libvirt/qemu/${name}.log`) ? readFileSync(`/var/log/libvirt/qemu/${name}.log`, 'utf8').slice(-1500) : '';
    throw new Error(`virsh create --paused ${name}: ${(failure as { stderr?: string }).stderr ?? (failure as Error).message}\n${log}`, { cause: failure });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A device attached to the running domain, as virt-launcher attaches a memory hotplug's virtio-mem device. */
export async function attachLive(name: string, deviceXml: string): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-device-'));
  writeFileSync(join(dir, 'device.xml'), deviceXml);
  try {
    await run('virsh', ['-c', 'qemu:///system', 'attach-device', name, join(dir, 'device.xml'), '--live'], { timeout: 60_000 });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function destroy(name: string): Promise<void> {
  await run('virsh', ['-c', 'qemu:///system', 'destroy', name], { timeout: 60_000 }).catch(() => undefined);
}
