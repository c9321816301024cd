// KubeVirt's own files that the tests and the demo read: its converter's example domains, its API
// round-trip objects, its OpenAPI document and its example VMs. None is copied into this
// repository: they are read from the KubeVirt Go modules the cluster rig pins
// (test/cluster/go/kubevirt-v1.8.4/go.mod), whose directory in Go's module cache
// `go mod download -json` prints, downloading the module first when the cache lacks it (two
// modules, about 50 MB, a few seconds). `node cli/kubevirt-files.ts NAME` prints a file's path.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { projectRoot } from './project-files.ts';

/** The Go module of the cluster rig whose KubeVirt version these files come from, in the checkout. */
const KUBEVIRT_RIG_MODULE = join('test', 'cluster', 'go', 'kubevirt-v1.8.4');

type KubevirtModule = 'kubevirt.io/kubevirt' | 'kubevirt.io/api';

interface Source {
  module: KubevirtModule;
  /** The file's path inside the module. */
  path: string;
  /** For a file the module holds as a template: how KubeVirt's own test fills it in. */
  fill?: (template: string) => string;
}

/**
 * The domain KubeVirt's converter makes for the VMI of its converter test
 * (pkg/virt-launcher/virtwrap/converter/converter_test.go, "should be converted to a libvirt Domain
 * with vmi defaults set", amd64): the test fills the template's one %s with the memory balloon at
 * the converter context's stats period of 10 (memBalloonWithModelAndPeriod), then compares the
 * converter's output with it byte for byte.
 */
function converterTestDomain(template: string): string {
  const balloon = '<memballoon model="virtio-non-transitional" freePageReporting="on">\n      <stats period="10"></stats>\n    </memballoon>';
  const parts = template.trim().split('%s');
  if (parts.length !== 2) throw new Error(`KubeVirt's converter test domain template has ${parts.length - 1} %s placeholders; expected 1`);
  return `${parts.join(balloon)}\n`;
}

const EXAMPLES = ['vm-cirros.yaml', 'vm-cirros-clarge.yaml', 'vm-cirros-with-sidecar-hook-configmap.yaml', 'vmi-fedora.yaml', 'vmi-masquerade.yaml', 'vmi-multus-multiple-net.yaml', 'vmi-multus-ptp.yaml', 'vmi-sriov.yaml'] as const;

export const KUBEVIRT_FILES = {
  /** Domain XML from KubeVirt's converter (its converter test's expected output). */
  'domain_x86_64.xml': { module: 'kubevirt.io/kubevirt', path: 'pkg/virt-launcher/virtwrap/converter/testdata/domain_x86_64.xml.tmpl', fill: converterTestDomain },
  /** The domain KubeVirt's hook manager tests send through OnDefineDomain. */
  'hooks_domain.xml': { module: 'kubevirt.io/kubevirt', path: 'pkg/hooks/testdata/domain.xml' },
  /** KubeVirt's OpenAPI document. */
  'swagger.json': { module: 'kubevirt.io/kubevirt', path: 'api/openapi-spec/swagger.json' },
  /** Fully populated objects from kubevirt.io/api's round-trip tests (their fuzzer's fixed fill). */
  'apitesting-VirtualMachine.json': { module: 'kubevirt.io/api', path: 'apitesting/testdata/HEAD/kubevirt.io.v1.VirtualMachine.json' },
  'apitesting-VirtualMachineInstance.json': { module: 'kubevirt.io/api', path: 'apitesting/testdata/HEAD/kubevirt.io.v1.VirtualMachineInstance.json' },
  ...(Object.fromEntries(EXAMPLES.map((name) => [`examples/${name}`, { module: 'kubevirt.io/kubevirt', path: `examples/${name}` }])) as Record<`examples/${(typeof EXAMPLES)[number]}`, Source>),
} satisfies Record<string, Source>;

export type KubevirtFileName = keyof typeof KUBEVIRT_FILES;
/** One of KubeVirt's example VMs and VMIs (examples/ in kubevirt.io/kubevirt). */
export type KubevirtExample = (typeof EXAMPLES)[number];

/** Why KubeVirt's files cannot be had here: one line, naming what installs the missing part. */
export class KubevirtFilesUnavailableError extends Error {}

interface ModuleInfo {
  Path: string;
  Version: string;
  Dir?: string;
  Error?: string;
}

let modules: Map<string, ModuleInfo> | undefined;

/** Each KubeVirt module's directory and version, from `go mod download -json` in the rig's module (once per process). */
function kubevirtModules(): Map<string, ModuleInfo> {
  if (modules) return modules;
  const moduleDir = join(projectRoot(), KUBEVIRT_RIG_MODULE);
  const download = spawnSync('go', ['mod', 'download', '-json', 'kubevirt.io/kubevirt', 'kubevirt.io/api'], {
    cwd: moduleDir,
    encoding: 'utf8',
    env: { ...process.env, GOFLAGS: '-mod=readonly' },
    timeout: 300_000,
  });
  if (download.error) {
    const cause = (download.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'Go is not installed' : download.error.message;
    throw new KubevirtFilesUnavailableError(`${cause}: KubeVirt's own files come from its Go modules (${KUBEVIRT_RIG_MODULE}/go.mod); install Go 1.26 or later (the go command)`);
  }
  // One JSON object per module, one after the other; an error is in the object, or on stderr.
  const found = new Map<string, ModuleInfo>();
  for (const text of download.stdout.split(/\n(?=\{)/).filter((part) => part.trim() !== '')) {
    const info = JSON.parse(text) as ModuleInfo;
    found.set(info.Path, info);
  }
  for (const module of ['kubevirt.io/kubevirt', 'kubevirt.io/api']) {
    const info = found.get(module);
    if (!info?.Dir) {
      const cause = info?.Error ?? (download.stderr.trim().split('\n').at(-1) || `go exited ${String(download.status)}`);
      throw new KubevirtFilesUnavailableError(`go mod download ${module} (in ${KUBEVIRT_RIG_MODULE}) failed: ${cause}`);
    }
  }
  modules = found;
  return found;
}

/** Undefined when KubeVirt's files can be read here; else why not, in one line. */
export function kubevirtFilesProblem(): string | undefined {
  try {
    kubevirtModules();
    return undefined;
  } catch (error) {
    if (error instanceof KubevirtFilesUnavailableError) return error.message;
    throw error;
  }
}

/**
 * The path of one of KubeVirt's files: in the module cache, or, for a template, the file KubeVirt's
 * test fills from it, written once into the project's cache (~/.cache/kubevirt-vduse, or
 * $KUBEVIRT_VDUSE_CACHE) under the module's version.
 */
export function kubevirtFile(name: KubevirtFileName): string {
  const source: Source = KUBEVIRT_FILES[name];
  const info = kubevirtModules().get(source.module)!;
  const inModule = join(info.Dir!, source.path);
  if (!source.fill) return inModule;
  const filled = join(process.env.KUBEVIRT_VDUSE_CACHE ?? join(homedir(), '.cache', 'kubevirt-vduse'), 'kubevirt-files', `${source.module.replaceAll('/', '_')}@${info.Version}`, basename(name));
  if (!existsSync(filled)) {
    mkdirSync(join(filled, '..'), { recursive: true });
    // Written aside and renamed: test workers may fill it at the same time.
    const partial = `${filled}.${String(process.pid)}.partial`;
    writeFileSync(partial, source.fill(readFileSync(inModule, 'utf8')));
    renameSync(partial, filled);
  }
  return filled;
}

export const readKubevirtFile = (name: KubevirtFileName): string => readFileSync(kubevirtFile(name), 'utf8');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const name = process.argv[2];
  if (name === undefined || !Object.hasOwn(KUBEVIRT_FILES, name)) {
    process.stderr.write(`usage: npm run kubevirt-file NAME (node cli/kubevirt-files.ts NAME), with NAME one of: ${Object.keys(KUBEVIRT_FILES).join(', ')}\n`);
    process.exit(2);
  }
  try {
    process.stdout.write(`${kubevirtFile(name as KubevirtFileName)}\n`);
  } catch (error) {
    if (!(error instanceof KubevirtFilesUnavailableError)) throw error;
    process.stderr.write(`kubevirt-files: ${error.message}\n`);
    process.exit(1);
  }
}
