// The nested VMs' initramfs images, built from the kernel's modules (kernel.ts), Debian's
// busybox-static and the machine's ethtool, and cached under a key of everything that goes in.
//
// L1 loads the 9p, overlay and vDPA modules, mounts this machine's root read-only over virtio-9p
// with a tmpfs over it (overlayfs), and the run directory read-write at the same path, then chroots
// there and runs the run directory's l1.sh: L1 runs this machine's own libvirt, QEMU, iproute2
// `vdpa` and the Go device, and sees the same paths as the host.
//
// L2 stands in for the VMI's disk: busybox, virtio_net and ethtool, and an init that reports what
// the datapath tests check on its console as `DATAPATH <key> <value>` lines (l2-init.sh).
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../cluster/build.ts';
import { cpioArchive, type CpioEntry } from './cpio.ts';
import { type Kernel, L1_MODULES, L2_MODULES, loadOrder } from './kernel.ts';

const BUSYBOX = '/bin/busybox';
const ETHTOOL = '/usr/sbin/ethtool';
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export interface Images {
  l1: string;
  l2: string;
}

/** What the rig needs from this machine that a package provides, with the package that does. */
export function missingTools(): string | undefined {
  const needed: [string, string][] = [
    [BUSYBOX, 'busybox-static'],
    [ETHTOOL, 'ethtool'],
    ['/usr/bin/qemu-system-x86_64', 'qemu-system-x86'],
    ['/usr/sbin/vdpa', 'iproute2'],
    ['/usr/bin/xz', 'xz-utils'],
  ];
  const missing = needed.filter(([path]) => !existsSync(path)).map(([path, pkg]) => `${path} (Debian: ${pkg})`);
  // ldd refuses a static program.
  if (existsSync(BUSYBOX) && spawnSync('ldd', [BUSYBOX]).status === 0) missing.push(`${BUSYBOX} is not static (Debian: busybox-static)`);
  return missing.length > 0 ? `missing ${missing.join(', ')}` : undefined;
}

const file = (path: string, source: string, mode = 0o644): CpioEntry => ({ path, data: readFileSync(source), mode });

/** The shared libraries a program loads, as ldd resolves them. */
function libraries(program: string): string[] {
  return [...execFileSync('ldd', [program], { encoding: 'utf8' }).matchAll(/(\/\S+) \(0x/g)].map((match) => match[1]!);
}

function modules(kernel: Kernel, wanted: string[]): CpioEntry[] {
  const order = loadOrder(kernel.modulesDir, wanted);
  return [...order.map((module) => file(`modules/${module}.ko`, join(kernel.modulesDir, `${module}.ko`))), { path: 'modules/order', data: Buffer.from(`${order.join('\n')}\n`) }];
}

const base = (kernel: Kernel, init: string, wanted: string[]): CpioEntry[] => [
  ...['dev', 'proc', 'sys', 'run', 'tmp', 'bin', 'sbin', 'usr/bin', 'usr/sbin'].map((path) => ({ path })),
  file('init', here(init), 0o755),
  file('bin/busybox', BUSYBOX, 0o755),
  ...modules(kernel, wanted),
];

const images: Record<keyof Images, (kernel: Kernel) => CpioEntry[]> = {
  l1: (kernel) => [...base(kernel, 'l1-init.sh', L1_MODULES), { path: 'host' }, { path: 'rw' }, { path: 'newroot' }],
  l2: (kernel) => [...base(kernel, 'l2-init.sh', L2_MODULES), file('sbin/ethtool', ETHTOOL, 0o755), ...libraries(ETHTOOL).map((library) => file(library, library, 0o755))],
};

/** Both images, from the cache when everything that goes into them is unchanged. */
export function buildImages(kernel: Kernel): Images {
  const built: Partial<Images> = {};
  for (const [name, entries] of Object.entries(images) as [keyof Images, (kernel: Kernel) => CpioEntry[]][]) {
    const content = entries(kernel);
    const key = createHash('sha256');
    for (const entry of content) key.update(`${entry.path}\0${String(entry.mode)}\0`).update(entry.data ?? '');
    const dir = join(cacheRoot(), 'datapath');
    const path = join(dir, `${name}-${key.digest('hex').slice(0, 16)}.cpio`);
    if (!existsSync(path)) {
      mkdirSync(dir, { recursive: true });
      writeFileSync(`${path}.partial`, cpioArchive(content));
      renameSync(`${path}.partial`, path);
      // Images of other keys are stale now.
      for (const entry of readdirSync(dir)) if (entry.startsWith(`${name}-`) && join(dir, entry) !== path) rmSync(join(dir, entry), { force: true });
    }
    built[name] = path;
  }
  return built as Images;
}
