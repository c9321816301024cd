// libvirt's own verdict on a domain: `virsh -c qemu:///system define` runs the qemu driver's
// validation (not only the RNG schema), then the domain is undefined again.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const CONNECTION = 'qemu:///system';
/** The first define after libvirtd starts probes QEMU's capabilities, which can take a minute. */
const DEFINE_TIMEOUT_MS = 180_000;

export interface LibvirtVerdict {
  accepted: boolean;
  /** virsh's message: libvirt's error when refused. */
  message: string;
  /** With readBack, libvirt's own XML of the accepted domain (virsh dumpxml). */
  definedXml?: string;
}

export async function libvirtAvailable(): Promise<boolean> {
  try {
    await run('virsh', ['-c', CONNECTION, 'version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

let checks = 0;
let kvm: Promise<boolean> | undefined;

/**
 * Whether this host's QEMU can run KVM guests. Where it cannot (no /dev/kvm, as on nested
 * sandboxes), KubeVirt's type="kvm" domains are checked as type="qemu": the qemu driver runs the
 * same checks on them, except that the accelerator is TCG.
 */
export function hostHasKvm(): Promise<boolean> {
  kvm ??= run('virsh', ['-c', CONNECTION, 'domcapabilities', '--virttype', 'kvm'], { timeout: DEFINE_TIMEOUT_MS }).then(
    () => true,
    () => false,
  );
  return kvm;
}

/** The domain as this host can take it: under TCG where there is no KVM. */
export async function forThisHost(domainXml: string): Promise<string> {
  return (await hostHasKvm()) ? domainXml : domainXml.replace(/<domain type=(["'])kvm\1/, '<domain type=$1qemu$1');
}

/**
 * The domain under a UUID of its own, wherever it names its UUID (<uuid> and the SMBIOS system
 * entry, which libvirt requires to agree): libvirt refuses a second domain with the same UUID,
 * and domains made from one VMI share it.
 */
export function withFreshUuid(domainXml: string): string {
  const uuid = /<uuid>([^<]+)<\/uuid>/.exec(domainXml)?.[1]?.trim();
  return uuid === undefined ? domainXml : domainXml.replaceAll(uuid, randomUUID());
}

/**
 * Defines the domain under a unique name and UUID, so that checks may run in parallel, and undefines it.
 * readBack also returns libvirt's XML of it, as virt-launcher reads it back before a second define.
 */
export async function defineWithQemuDriver(domainXml: string, options: { readBack?: boolean } = {}): Promise<LibvirtVerdict> {
  const name = `vduse-check-${process.pid}-${++checks}`;
  const renamed = withFreshUuid(await forThisHost(domainXml)).replace(/<name>[^<]*<\/name>/, `<name>${name}</name>`);
  const dir = await mkdtemp(join(tmpdir(), 'vduse-libvirt-'));
  const file = join(dir, 'domain.xml');
  try {
    await writeFile(file, renamed);
    try {
      const { stdout } = await run('virsh', ['-c', CONNECTION, 'define', file], { timeout: DEFINE_TIMEOUT_MS });
      const definedXml = options.readBack ? (await run('virsh', ['-c', CONNECTION, 'dumpxml', name], { timeout: 30_000 })).stdout : undefined;
      return { accepted: true, message: stdout.trim(), ...(definedXml !== undefined ? { definedXml } : {}) };
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr ?? (error as Error).message;
      return { accepted: false, message: stderr.trim().replace(/^error: Failed to define domain from \S+\nerror: /, '') };
    } finally {
      // --nvram: an EFI domain's variable store goes too; without it libvirt refuses to undefine one.
      await run('virsh', ['-c', CONNECTION, 'undefine', '--nvram', name], { timeout: 30_000 }).catch(() => undefined);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
