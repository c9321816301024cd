// A Linux kernel with VDUSE for the nested VMs: Debian's bookworm-backports 6.12 package
// (linux-image-6.12.*+deb12-amd64-unsigned), which builds vdpa, vduse, vhost_vdpa and the 9p
// client as modules; bookworm's own 6.1 has none of the vDPA ones. It is fetched with apt-get
// download from the Debian mirror this machine's apt already uses (read from /etc/apt at run
// time), with bookworm-backports added in a temporary source list, and extracted without
// installing. The kernel and the modules the rig loads are kept in the cache
// (~/.cache/kubevirt-vduse/datapath/kernel/VERSION-KEY, the key a hash of the modules taken); nothing downloaded is committed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot } from '../cluster/build.ts';

/** The modules the nested VMs load, by name; their dependencies come along. */
// tun: libvirt opens a tap device for the pod network's interface (type="ethernet"), which KubeVirt's converter keeps.
export const L1_MODULES = ['9p', '9pnet_virtio', 'overlay', 'tun', 'vduse', 'vhost_vdpa'];
export const L2_MODULES = ['virtio_net'];

export interface Kernel {
  /** The package version, such as 6.12.95-1~bpo12+1. */
  version: string;
  vmlinuz: string;
  /** Decompressed modules, NAME.ko, with modules.json: each module's dependencies. */
  modulesDir: string;
}

const say = (text: string) => process.stderr.write(`datapath: ${text}\n`);
const kernelsDir = () => join(cacheRoot(), 'datapath', 'kernel');

/** The apt source this machine uses for Debian itself: its URI, the release's codename and the key it is signed with. */
export function debianMirror(aptDir = '/etc/apt'): { uri: string; codename: string; signedBy?: string } {
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  const codename = /^VERSION_CODENAME=(\S+)/m.exec(osRelease)?.[1];
  if (!codename) throw new Error('/etc/os-release has no VERSION_CODENAME: not a Debian release apt can fetch a backports kernel for');
  const sources: { uris: string[]; suites: string[]; signedBy?: string }[] = [];
  const listDir = join(aptDir, 'sources.list.d');
  for (const file of [join(aptDir, 'sources.list'), ...(existsSync(listDir) ? readdirSync(listDir).map((name) => join(listDir, name)) : [])]) {
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    if (file.endsWith('.sources')) {
      // deb822 stanzas, separated by blank lines.
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (name: string) => new RegExp(`^${name}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim();
        if (!/^deb$/i.test(field('Types') ?? '') || /^Enabled:\s*no/im.test(stanza)) continue;
        sources.push({ uris: (field('URIs') ?? '').split(/\s+/), suites: (field('Suites') ?? '').split(/\s+/), signedBy: field('Signed-By') });
      }
    } else if (file.endsWith('.list')) {
      for (const line of text.split('\n')) {
        const match = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (match) sources.push({ uris: [match[2]!], suites: [match[3]!], signedBy: /signed-by=(\S+)/.exec(match[1] ?? '')?.[1] });
      }
    }
  }
  const debian = sources.find((source) => source.suites.includes(codename) && source.uris.some((uri) => !/security/.test(uri)));
  if (!debian) throw new Error(`no apt source in ${aptDir} serves Debian ${codename} itself: nowhere to fetch ${codename}-backports from`);
  return { uri: debian.uris.find((uri) => !/security/.test(uri))!, codename, ...(debian.signedBy ? { signedBy: debian.signedBy } : {}) };
}

const aptOptions = (root: string) => [
    '-o', `Dir::Etc::SourceList=${join(root, 'sources.list')}`,
    '-o', 'Dir::Etc::SourceParts=/dev/null',
    '-o', `Dir::State::Lists=${join(root, 'lists')}`,
    '-o', `Dir::Cache=${join(root, 'cache')}`,
    '-o', 'APT::Sandbox::User=root',
];

function apt(command: string, args: string[], root: string, cwd = root): string {
  const result = spawnSync(command, [...aptOptions(root), ...args], { cwd, encoding: 'utf8', timeout: 600_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${String(result.status)}: ${(result.stderr || result.error?.message || '').trim().split('\n').slice(-5).join('\n')}`);
  return result.stdout;
}

/** Each module's dependencies, from the `depends=` entry of its .modinfo section. */
const dependsOf = (module: Buffer) => /\0depends=([^\0]*)\0/.exec(module.toString('latin1'))?.[1]?.split(',').filter(Boolean) ?? [];

/** Fetches and extracts the newest bookworm-backports 6.12 kernel, or returns the cached one. */
export function debianKernel(): Kernel {
  // The cache is keyed on the modules taken out of the package too.
  const modulesKey = createHash('sha256').update([...L1_MODULES, ...L2_MODULES].join(',')).digest('hex').slice(0, 8);
  const cached = existsSync(kernelsDir()) ? readdirSync(kernelsDir()).filter((name) => name.endsWith(`-${modulesKey}`) && existsSync(join(kernelsDir(), name, 'complete'))).sort() : [];
  if (cached.length > 0) {
    const dir = join(kernelsDir(), cached.at(-1)!);
    return { version: cached.at(-1)!.slice(0, -modulesKey.length - 1), vmlinuz: join(dir, 'vmlinuz'), modulesDir: join(dir, 'modules') };
  }
  const { uri, codename, signedBy } = debianMirror();
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(join(cacheRoot(), 'datapath-kernel-'));
  try {
    mkdirSync(join(work, 'lists', 'partial'), { recursive: true });
    mkdirSync(join(work, 'cache', 'archives', 'partial'), { recursive: true });
    writeFileSync(join(work, 'sources.list'), `deb ${signedBy ? `[signed-by=${signedBy}] ` : ''}${uri} ${codename}-backports main\n`);
    say(`fetching the package list of ${codename}-backports from ${uri} (the kernel for the nested VMs; once, then cached)`);
    // apt-get update exits 0 when it could fetch nothing; its errors say why.
    const update = spawnSync('apt-get', [...aptOptions(work), 'update'], { encoding: 'utf8', timeout: 600_000 });
    const failed = `${update.stdout}\n${update.stderr}`.split('\n').filter((line) => /^(Err:|W: Failed|E: )/.test(line));
    if (update.status !== 0 || failed.length > 0) throw new Error(`apt-get update of ${codename}-backports from ${uri} failed (no network here? inside a private network namespace, fetch it first: node test/datapath/kernel.ts):\n${failed.join('\n')}`);
    const names = apt('apt-cache', ['search', '--names-only', '^linux-image-6\\.12\\.[0-9]+\\+deb12-amd64-unsigned$'], work)
      .split('\n')
      .map((line) => line.split(' ')[0]!)
      .filter(Boolean);
    const name = names.sort((a, b) => Number(/6\.12\.(\d+)/.exec(a)![1]) - Number(/6\.12\.(\d+)/.exec(b)![1])).at(-1);
    if (!name) throw new Error(`${codename}-backports at ${uri} has no linux-image-6.12.*+deb12-amd64-unsigned`);
    say(`downloading ${name} (about 105 MB; extracted without installing)`);
    apt('apt-get', ['download', name], work, work);
    const deb = readdirSync(work).find((file) => file.endsWith('.deb'))!;
    const version = /_([^_]+)_amd64\.deb$/.exec(deb)![1]!.replaceAll('%7e', '~');
    const tree = join(work, 'tree');
    execFileSync('dpkg-deb', ['-x', join(work, deb), tree]);
    const release = readdirSync(join(tree, 'lib', 'modules'))[0]!;
    const out = join(work, 'out');
    mkdirSync(join(out, 'modules'), { recursive: true });
    renameSync(join(tree, 'boot', `vmlinuz-${release}`), join(out, 'vmlinuz'));
    // Every module of the package by name, then the ones asked for and their dependencies, decompressed.
    const files = new Map<string, string>();
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) walk(join(dir, entry.name));
        else if (entry.name.endsWith('.ko.xz')) files.set(entry.name.slice(0, -'.ko.xz'.length).replaceAll('-', '_'), join(dir, entry.name));
      }
    };
    walk(join(tree, 'lib', 'modules', release));
    const depends: Record<string, string[]> = {};
    const take = (module: string) => {
      if (depends[module]) return;
      const file = files.get(module);
      if (!file) throw new Error(`${name} has no module ${module}`);
      const data = execFileSync('xz', ['-dc', file], { maxBuffer: 64 << 20 });
      depends[module] = dependsOf(data);
      writeFileSync(join(out, 'modules', `${module}.ko`), data);
      for (const dependency of depends[module]) take(dependency);
    };
    for (const module of [...L1_MODULES, ...L2_MODULES]) take(module);
    writeFileSync(join(out, 'modules', 'modules.json'), JSON.stringify(depends, null, 2));
    writeFileSync(join(out, 'complete'), `${name} ${version} ${release}\n`);
    const dir = join(kernelsDir(), `${version}-${modulesKey}`);
    mkdirSync(kernelsDir(), { recursive: true });
    // Other extractions are stale now.
    for (const entry of readdirSync(kernelsDir())) rmSync(join(kernelsDir(), entry), { recursive: true, force: true });
    renameSync(out, dir);
    say(`${name} ${version} cached in ${dir}`);
    return { version, vmlinuz: join(dir, 'vmlinuz'), modulesDir: join(dir, 'modules') };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The modules to load, dependencies first. */
export function loadOrder(modulesDir: string, wanted: string[]): string[] {
  const depends = JSON.parse(readFileSync(join(modulesDir, 'modules.json'), 'utf8')) as Record<string, string[]>;
  const order: string[] = [];
  const visit = (module: string) => {
    if (order.includes(module)) return;
    for (const dependency of depends[module] ?? []) visit(dependency);
    order.push(module);
  };
  for (const module of wanted) visit(module);
  return order;
}

// `node test/datapath/kernel.ts`: fetches the kernel into the cache (CI does, before the tests) and prints its path.
if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(debianKernel().vmlinuz);
