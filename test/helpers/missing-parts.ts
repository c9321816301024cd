// On a machine without a part the tests need (Go for KubeVirt's files, libvirt, kubectl, root), a
// run leaves out what needs it and ends with one line per missing part, naming what installs it,
// instead of a stack trace per test file. Under CI=true nothing is left out: what needs a missing
// part fails.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import type { Reporter, TestModule } from 'vitest/node';
import { kubevirtFilesProblem } from '../../cli/kubevirt-files.ts';
import { PROJECT_ROOT } from './fixtures.ts';
import { NEEDS } from './requirements.ts';

const KUBEVIRT_FILES_MODULE = resolve(PROJECT_ROOT, 'cli', 'kubevirt-files.ts');
const RELATIVE_IMPORT = /(?:\bfrom\s+|\bimport\s*\(\s*)'(\.{1,2}\/[^']+\.ts)'/g;

/** Whether a module reaches cli/kubevirt-files.ts through the project's own imports. */
function reachesKubevirtFiles(file: string, seen = new Set<string>()): boolean {
  if (file === KUBEVIRT_FILES_MODULE) return true;
  if (seen.has(file)) return false;
  seen.add(file);
  const source = readFileSync(file, 'utf8');
  return [...source.matchAll(RELATIVE_IMPORT)].some(([, path]) => reachesKubevirtFiles(resolve(dirname(file), path!), seen));
}

function testFiles(dir: string, skip: string[]): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (skip.includes(path)) return [];
    if (entry.isDirectory()) return testFiles(path, skip);
    return entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

export interface KubevirtFilesGate {
  /** The test files to leave out of the run, relative to the project. */
  exclude: string[];
  /** Why, in one line; undefined when nothing is left out. */
  problem?: string;
}

/**
 * The test files under dir (less the skipped directories, which another run takes) that read
 * KubeVirt's own files (they import cli/kubevirt-files.ts, directly or through a helper): left
 * out where those files cannot be had (no Go), except under CI=true.
 */
export function kubevirtFilesGate(dir: string, skip: string[] = []): KubevirtFilesGate {
  const problem = kubevirtFilesProblem();
  if (problem === undefined || process.env.CI === 'true') return { exclude: [] };
  const exclude = testFiles(join(PROJECT_ROOT, dir), skip.map((path) => join(PROJECT_ROOT, path)))
    .filter((file) => reachesKubevirtFiles(file))
    .map((file) => relative(PROJECT_ROOT, file));
  return { exclude, problem };
}

/** The closing lines: one per missing part, with how many test files or suites it left out. */
export class MissingPartsReporter implements Reporter {
  private readonly gate: KubevirtFilesGate;

  constructor(gate: KubevirtFilesGate) {
    this.gate = gate;
  }

  onTestRunEnd(testModules: readonly TestModule[]): void {
    const lines: string[] = [];
    const excluded = this.gate.exclude.length;
    if (excluded > 0) lines.push(`${String(excluded)} test file${excluded === 1 ? '' : 's'} left out (reading KubeVirt's own files): ${this.gate.problem ?? ''}`);
    const skippedSuites = new Map<string, number>();
    for (const module of testModules) {
      for (const test of module.children.allTests('skipped')) {
        if (test.name.startsWith(NEEDS)) skippedSuites.set(test.name, (skippedSuites.get(test.name) ?? 0) + 1);
      }
    }
    for (const [need, count] of skippedSuites) lines.push(`${String(count)} suite${count === 1 ? '' : 's'} skipped for want of ${need.slice(NEEDS.length)}`);
    if (lines.length > 0) process.stdout.write(`\nMissing on this machine (CI=true fails instead):\n${lines.map((line) => `  ${line}\n`).join('')}`);
  }
}
