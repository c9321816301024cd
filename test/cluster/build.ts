// Builds the real control plane's binaries from their Go modules (test/cluster/go/), into a cache
// keyed on each module's go.mod, go.sum and sources and on the Go version: a warm machine only
// computes the key. `node test/cluster/build.ts [kube|kubevirt-v1.8.4|kubevirt-v1.9.0|vdpa-network-binding-plugin ...]`
// prints the directory of each module's binaries; with no module named, those the tests need.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cacheRoot, missingSource, PEER_REF, sourceExport, VIRT_TEMPLATE_REF } from './sources.ts';

export { cacheRoot };

const GO_DIR = fileURLToPath(new URL('go/', import.meta.url));

export interface GoModule {
  /** Binary name to its Go package. */
  binaries: Record<string, string>;
  /** -ldflags per binary, such as the version a release build stamps in. */
  ldflags?: Record<string, string>;
  /** Build tags: which version's files of our own Go programs (the launcher harness) apply. */
  tags?: string[];
  /** A cold build's time on a 2-core machine, for the progress line. */
  coldMinutes: number;
  /** Other module directories whose sources are part of the key (a replace to a local path). */
  localReplaces: string[];
  /**
   * Modules the proxy refuses, replaced with their export in the build cache (test/cluster/sources.ts)
   * through a generated go.work when the cache holds it; without it, the build asks the proxy.
   */
  refused?: { source: string; ref: string; modules: Record<string, string> };
  /**
   * A module that is itself a source the proxy refuses: built inside its export (with its own
   * vendor/, offline) instead of a directory under go/; without the export it cannot build.
   */
  exported?: { source: string; ref: string; goflags: string };
}

/** A build that cannot run here: what is missing, in one line with the command that provides it. */
export class MissingSource extends Error {}

// The module proxy serves these without the checksum database knowing them (its lookups answer
// 404): go.sum, committed, pins their hashes instead.
const NO_SUMDB = ['kubevirt.io/virt-template-api', 'kubevirt.io/virt-template-client-go', 'kubevirt.io/virt-template-engine', 'github.com/rhobs/operator-observability-toolkit'];

/**
 * What KubeVirt's release build stamps in (hack/version.sh kubevirt::version::ldflags): without it,
 * `virtctl version` says $Format:%h$, and virtctl's commands that compare versions refuse it.
 */
const KUBEVIRT_TAGS: Record<string, { commit: string; date: string }> = {
  'v1.8.4': { commit: 'dfaa398f086692d19e01be21d83a01036e07815f', date: '2026-06-15T03:44:27Z' },
  'v1.9.0': { commit: '79d34c1762169e5b0370ec491cef5ca12e6b504c', date: '2026-07-27T15:21:17Z' },
};
const kubevirtVersionLdflags = (version: string) =>
  Object.entries({ gitVersion: version, gitCommit: KUBEVIRT_TAGS[version]!.commit, gitTreeState: 'clean', buildDate: KUBEVIRT_TAGS[version]!.date })
    .map(([key, value]) => `-X kubevirt.io/client-go/version.${key}=${value}`)
    .join(' ');

const kubevirt = (version: string, coldMinutes: number, extra: Pick<GoModule, 'tags' | 'refused'> = {}): GoModule => ({
  ldflags: Object.fromEntries(['virt-api', 'virt-controller', 'virtctl'].map((binary) => [binary, kubevirtVersionLdflags(version)])),
  binaries: {
    'virt-api': 'kubevirt.io/kubevirt/cmd/virt-api',
    'virt-controller': 'kubevirt.io/kubevirt/cmd/virt-controller',
    virtctl: 'kubevirt.io/kubevirt/cmd/virtctl',
    installgen: 'kubevirt-vduse/test/cluster/go/installgen',
    launcher: 'kubevirt-vduse/test/cluster/go/launcher',
    // KubeVirt's own binding plugin with a sidecar, beside ours in a VMI with two of them.
    'network-slirp-binding': 'kubevirt.io/kubevirt/cmd/sidecars/network-slirp-binding',
  },
  coldMinutes,
  localReplaces: ['installgen', 'launcher'],
  ...extra,
});

const KUBERNETES_VERSION_LDFLAGS = ['gitVersion=v1.34.2', 'gitMajor=1', 'gitMinor=34', 'gitTreeState=clean']
  .flatMap((setting) => [`-X k8s.io/component-base/version.${setting}`, `-X k8s.io/client-go/pkg/version.${setting}`])
  .join(' ');

export const MODULES: Record<string, GoModule> = {
  kube: {
    binaries: {
      etcd: 'go.etcd.io/etcd/server/v3',
      'kube-apiserver': 'k8s.io/kubernetes/cmd/kube-apiserver',
      'kube-controller-manager': 'k8s.io/kubernetes/cmd/kube-controller-manager',
      'kube-scheduler': 'k8s.io/kubernetes/cmd/kube-scheduler',
      kubectl: 'k8s.io/kubernetes/cmd/kubectl',
    },
    // What Kubernetes' release build stamps in (hack/lib/version.sh); /version reports it.
    ldflags: Object.fromEntries(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'kubectl'].map((binary) => [binary, KUBERNETES_VERSION_LDFLAGS])),
    coldMinutes: 9,
    localReplaces: [],
  },
  'kubevirt-v1.8.4': kubevirt('v1.8.4', 4),
  // v1.9.0 requires kubevirt.io/virt-template-api, -client-go and -engine v0.2.0, which the proxy
  // refuses (403, "This module version is not available"; v0.1.7, which it serves, lacks the
  // core/v1beta1 packages v1.9.0 imports): built from kubevirt/virt-template's tag where the cache has it.
  'kubevirt-v1.9.0': kubevirt('v1.9.0', 4, {
    tags: ['kubevirt_v1_9'],
    refused: {
      source: 'virt-template',
      ref: VIRT_TEMPLATE_REF,
      modules: {
        'kubevirt.io/virt-template-api': 'api',
        'kubevirt.io/virt-template-client-go': 'staging/src/kubevirt.io/virt-template-client-go',
        'kubevirt.io/virt-template-engine': 'staging/src/kubevirt.io/virt-template-engine',
      },
    },
  }),
  // The peer in the bench: KubeVirt's vDPA network binding plugin, its sidecar and webhook.
  'vdpa-network-binding-plugin': {
    binaries: { sidecar: './sidecar', webhook: './webhook' },
    coldMinutes: 1,
    localReplaces: [],
    exported: { source: 'vdpa-network-binding-plugin', ref: PEER_REF, goflags: '-mod=vendor' },
  },
};

/** Where the module's go.mod is: under go/, or in its export (undefined when the cache has none). */
function moduleDir(name: string): string | undefined {
  const exported = MODULES[name]!.exported;
  return exported ? sourceExport(exported.source, exported.ref)?.dir : join(GO_DIR, name);
}

/**
 * The go.work that replaces the refused modules with their export, when the cache holds it (and
 * the export's commit, for the key); undefined when the module has none or the cache has none.
 */
function workspaceOf(name: string): { goWork: string; commit: string } | undefined {
  const refused = MODULES[name]!.refused;
  const exported = refused && sourceExport(refused.source, refused.ref);
  if (!refused || !exported) return undefined;
  const replaces = Object.entries(refused.modules).map(([module, path]) => `\t${module} => ${join(exported.dir, path)}`);
  return { goWork: `go 1.26.0\n\nuse ${join(GO_DIR, name)}\n\nreplace (\n${replaces.join('\n')}\n)\n`, commit: exported.record.commit };
}

/** The cache key: the Go version and every file that decides what the module builds. */
function moduleKey(name: string): string {
  const hash = createHash('sha256');
  hash.update(spawnSync('go', ['version'], { encoding: 'utf8' }).stdout);
  hash.update(JSON.stringify([MODULES[name]!.ldflags ?? {}, MODULES[name]!.tags ?? []]));
  // Which source the refused modules come from (the proxy's copy, or an export at a commit).
  hash.update(workspaceOf(name)?.commit ?? 'proxy');
  const exported = MODULES[name]!.exported;
  // An exported module is what its commit is.
  if (exported) return hash.update(sourceExport(exported.source, exported.ref)!.record.commit).digest('hex').slice(0, 16);
  for (const dir of [name, ...MODULES[name]!.localReplaces]) {
    for (const file of readdirSync(join(GO_DIR, dir)).sort()) {
      if (/\.(go|mod|sum)$/.test(file)) hash.update(`${dir}/${file}\0`).update(readFileSync(join(GO_DIR, dir, file)));
    }
  }
  return hash.digest('hex').slice(0, 16);
}

const say = (text: string) => process.stderr.write(`cluster build: ${text}\n`);

function run(command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'inherit', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${command} ${args.join(' ')} (in ${cwd}) exited ${String(code)}:\n${stderr.trim().split('\n').slice(-20).join('\n')}`))));
  });
}

const STALE_MS = 14 * 24 * 3600 * 1000;

/** The build failed because the proxy refused a module the cache has no export of: that, in one line. */
function refusedByProxy(name: string, error: unknown): MissingSource | undefined {
  const refused = MODULES[name]!.refused;
  const text = error instanceof Error ? error.message : String(error);
  if (!refused || !Object.keys(refused.modules).some((module) => text.includes(module)) || !/403|not available|Forbidden|404|410/.test(text)) return undefined;
  return new MissingSource(`${name}: ${missingSource(refused.source, refused.ref)}`);
}

/** The directory holding the module's binaries, built when the cache does not have them. */
export async function buildModule(name: string): Promise<string> {
  const module = MODULES[name];
  if (!module) throw new Error(`no Go module ${JSON.stringify(name)}; expected one of ${Object.keys(MODULES).join(', ')}`);
  const dir = moduleDir(name);
  if (dir === undefined) throw new MissingSource(`${name}: ${missingSource(module.exported!.source, module.exported!.ref)}`);
  const out = join(cacheRoot(), 'bin', `${name}-${moduleKey(name)}`);
  if (Object.keys(module.binaries).every((binary) => existsSync(join(out, binary)))) {
    say(`${name}: cached in ${out}`);
    const now = new Date();
    utimesSync(out, now, now);
    return out;
  }
  const started = Date.now();
  say(`${name}: building ${Object.keys(module.binaries).join(', ')} (a cold build, modules downloaded and compiled, takes about ${module.coldMinutes} min on 2 cores; a warm Go cache, seconds)`);
  const heartbeat = setInterval(() => say(`${name}: still building, ${Math.round((Date.now() - started) / 1000)} s so far`), 30_000);
  // Of this process: another worktree may be building the same module into the same cache.
  const partial = `${out}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, CGO_ENABLED: '0', GONOSUMDB: NO_SUMDB.join(','), GOFLAGS: `${module.exported?.goflags ?? '-mod=readonly'} -trimpath`, GOWORK: 'off' };
  const workspace = workspaceOf(name);
  if (workspace) {
    // Its go.work.sum lands beside it: in the cache, never in the repository.
    writeFileSync(join(partial, 'go.work'), workspace.goWork);
    env.GOWORK = join(partial, 'go.work');
    say(`${name}: ${module.refused!.source} ${module.refused!.ref} from the build cache (${workspace.commit.slice(0, 12)})`);
  }
  try {
    for (const [binary, goPackage] of Object.entries(module.binaries)) {
      const ldflags = module.ldflags?.[binary];
      await run('go', ['build', ...(module.tags ? ['-tags', module.tags.join(',')] : []), ...(ldflags ? ['-ldflags', ldflags] : []), '-o', join(partial, binary), goPackage], dir, env).catch((error: unknown) => {
        throw refusedByProxy(name, error) ?? error;
      });
      say(`${name}: ${binary} built, ${Math.round((Date.now() - started) / 1000)} s so far`);
    }
  } catch (error) {
    rmSync(partial, { recursive: true, force: true });
    throw error;
  } finally {
    clearInterval(heartbeat);
  }
  rmSync(out, { recursive: true, force: true });
  renameSync(partial, out);
  // Builds of this module under other keys, unused for two weeks, are stale. Recent ones stay:
  // other worktrees on this machine may have other versions of the module.
  for (const entry of readdirSync(join(cacheRoot(), 'bin'))) {
    const path = join(cacheRoot(), 'bin', entry);
    if (entry.startsWith(`${name}-`) && path !== out && Date.now() - statSync(path).mtimeMs > STALE_MS) rmSync(path, { recursive: true, force: true });
  }
  say(`${name}: built in ${Math.round((Date.now() - started) / 1000)} s, cached in ${out}`);
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const names = process.argv.slice(2);
  // With none named, what the tests need: the peer is the bench's alone (npm run bench builds it).
  for (const name of names.length > 0 ? names : Object.keys(MODULES).filter((module) => !MODULES[module]!.exported)) {
    try {
      console.log(await buildModule(name));
    } catch (error) {
      if (!(error instanceof MissingSource)) throw error;
      // One line: with no module named (CI's warm-up) it is skipped; named, it fails.
      say(`${names.length > 0 ? 'cannot build' : 'skipped'} ${error.message}`);
      if (names.length > 0) process.exitCode = 1;
    }
  }
}
