// Sources the Go module proxy refuses, exported from a git directory into the build cache
// (`npm run cluster -- sources add NAME GIT_DIR REF`), never into the repository. The build uses an
// export where it is there (a replace in a generated go.work, or a build inside the export), and a
// part that needs one that is missing is skipped with one line naming it and the command that
// provides it (missingSource). A machine whose proxy serves the modules needs none of this.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface SourceSpec {
  /** The public repository, owner/name: what to clone or fetch for GIT_DIR. */
  repository: string;
  /** The paths of the tree to export: what the builds use, nothing else. */
  paths: string[];
  /** Why the rig needs it, for messages. */
  why: string;
}

/**
 * Each source the rig knows, by the name `sources add` takes. Another (HCO, say) is one more entry:
 * its consumers ask sourceDir(name, ref) for the refs they need.
 */
export const SOURCES: Record<string, SourceSpec> = {
  'virt-template': {
    repository: 'kubevirt/virt-template',
    // api/ is kubevirt.io/virt-template-api; the staging folders are its client-go and engine.
    paths: ['LICENSE', 'api', 'staging/src/kubevirt.io/virt-template-client-go', 'staging/src/kubevirt.io/virt-template-engine'],
    why: 'KubeVirt v1.9.0 requires kubevirt.io/virt-template-api, -client-go and -engine v0.2.0, which the module proxy refuses',
  },
  'vdpa-network-binding-plugin': {
    repository: 'kubevirt/vdpa-network-binding-plugin',
    // It commits vendor/, so it builds offline (GOFLAGS=-mod=vendor).
    paths: ['LICENSE', 'go.mod', 'go.sum', 'vendor', 'sidecar', 'webhook'],
    why: "the peer in the bench (KubeVirt's vDPA binding plugin: its sidecar and webhook), whose module the proxy refuses",
  },
};

/** The refs the rig's parts use. */
export const VIRT_TEMPLATE_REF = 'v0.2.0';
export const PEER_REF = 'main';

/** What an export records about itself, in its .source.json. */
export interface ExportRecord {
  name: string;
  repository: string;
  ref: string;
  commit: string;
  paths: string[];
  exportedAt: string;
}

export const cacheRoot = (): string => process.env.KUBEVIRT_VDUSE_CACHE ?? join(homedir(), '.cache', 'kubevirt-vduse');
const refDir = (ref: string) => ref.replaceAll('/', '%2F');
const exportDir = (name: string, ref: string) => join(cacheRoot(), 'sources', name, refDir(ref));
const RECORD = '.source.json';

function specOf(name: string): SourceSpec {
  const spec = SOURCES[name];
  if (!spec) throw new Error(`no source ${JSON.stringify(name)}; expected one of ${Object.keys(SOURCES).join(', ')}`);
  return spec;
}

/** The export's directory and record, or undefined when the cache does not hold it. */
export function sourceExport(name: string, ref: string): { dir: string; record: ExportRecord } | undefined {
  const dir = exportDir(name, ref);
  if (!existsSync(join(dir, RECORD))) return undefined;
  return { dir, record: JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as ExportRecord };
}

/** The exact command that provides the export. */
export const addCommand = (name: string, ref: string): string => `npm run cluster -- sources add ${name} GIT_DIR ${ref}`;

/** One line: what is missing, why, and the command that provides it. */
export function missingSource(name: string, ref: string): string {
  const spec = specOf(name);
  return `${spec.repository} at ${ref} is not in the build cache (${exportDir(name, ref)}): ${spec.why}; provide it with \`${addCommand(name, ref)}\`, GIT_DIR a clone of ${spec.repository} (bare or not)`;
}

function git(gitDir: string, args: string[]): string {
  const result = spawnSync('git', ['-C', gitDir, ...args], { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 });
  if (result.status !== 0) throw new Error(`git -C ${gitDir} ${args.join(' ')}: ${(result.stderr || result.error?.message || `exit ${String(result.status)}`).trim()}`);
  return result.stdout;
}

/**
 * Exports the source's paths at ref from the git directory into the cache with `git archive`,
 * whole or not at all (a partial directory, renamed at the end). Returns the export's record.
 */
export function addSource(name: string, gitDir: string, ref: string): ExportRecord {
  const spec = specOf(name);
  if (!existsSync(gitDir)) throw new Error(`sources add ${name}: GIT_DIR ${gitDir} does not exist; expected a clone of ${spec.repository}`);
  try {
    git(gitDir, ['rev-parse', '--git-dir']);
  } catch {
    throw new Error(`sources add ${name}: ${gitDir} is not a git directory; expected a clone of ${spec.repository}`);
  }
  let commit: string;
  try {
    commit = git(gitDir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]).trim();
  } catch {
    throw new Error(`sources add ${name}: ${gitDir} has no commit for ref ${JSON.stringify(ref)}; expected a tag, branch or commit of ${spec.repository} (git -C ${gitDir} tag, or branch -a)`);
  }
  const present = new Set(git(gitDir, ['ls-tree', '--name-only', commit, '--', ...spec.paths]).split('\n').filter(Boolean));
  const absent = spec.paths.filter((path) => !present.has(path));
  if (absent.length > 0) throw new Error(`sources add ${name}: ${ref} (${commit.slice(0, 12)}) in ${gitDir} has no ${absent.join(', ')}; is it a clone of ${spec.repository}?`);
  const dir = exportDir(name, ref);
  const partial = `${dir}.partial-${process.pid}`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  try {
    const archive = spawnSync('git', ['-C', gitDir, 'archive', '--format=tar', commit, '--', ...spec.paths], { maxBuffer: 2 * 1024 * 1024 * 1024 });
    if (archive.status !== 0) throw new Error(`git archive ${commit} in ${gitDir}: ${archive.stderr.toString().trim()}`);
    execFileSync('tar', ['-x', '-C', partial], { input: archive.stdout });
    const record: ExportRecord = { name, repository: spec.repository, ref, commit, paths: spec.paths, exportedAt: new Date().toISOString() };
    writeFileSync(join(partial, RECORD), `${JSON.stringify(record, null, 2)}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(partial, dir);
    return record;
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
}

/** Every export in the cache. */
export function listSources(): ExportRecord[] {
  const root = join(cacheRoot(), 'sources');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((name) =>
    readdirSync(join(root, name))
      .filter((entry) => !entry.includes('.partial-') && existsSync(join(root, name, entry, RECORD)))
      .map((entry) => JSON.parse(readFileSync(join(root, name, entry, RECORD), 'utf8')) as ExportRecord),
  );
}

/** `npm run cluster -- sources add NAME GIT_DIR REF | list`: what it prints. */
export function sourcesCommand(args: string[]): string {
  const [verb, ...rest] = args;
  if (verb === 'add' && rest.length === 3) {
    const [name, gitDir, ref] = rest as [string, string, string];
    const record = addSource(name, gitDir, ref);
    return `exported ${record.repository} ${record.ref} (${record.commit.slice(0, 12)}): ${record.paths.join(', ')} -> ${exportDir(name, ref)}`;
  }
  if (verb === 'list' && rest.length === 0) {
    const records = listSources();
    if (records.length === 0) return `no sources in ${join(cacheRoot(), 'sources')}`;
    return records.map((record) => `${record.name.padEnd(28)} ${record.ref.padEnd(14)} ${record.commit.slice(0, 12)}  ${exportDir(record.name, record.ref)}`).join('\n');
  }
  throw new Error(`usage: sources add NAME GIT_DIR REF | sources list; NAME one of ${Object.keys(SOURCES).join(', ')}`);
}
