// Suites that need a part of the machine (libvirt, kubectl, a cgroup). Under CI=true a missing part
// fails the run; elsewhere the suite is skipped, and the run ends with one line per missing part
// (test/helpers/missing-parts.ts reads the skipped suites' one test, named after the part).
import { spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';

/** The name of the one skipped test that stands for a suite skipped for want of a part. */
export const NEEDS = 'needs ';

/** problem: undefined when the part is usable, else why not, naming what installs it. */
export function describeRequiring(title: string, part: string, problem: string | undefined, body: () => void): void {
  if (problem === undefined) {
    describe(title, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(title, () => {
      it(`has ${part}`, () => {
        throw new Error(`${part} is required under CI=true: ${problem}`);
      });
    });
    return;
  }
  // The body is not collected: it may read what the missing part would have provided.
  describe.skip(title, () => {
    it(`${NEEDS}${part}: ${problem}`, () => undefined);
  });
}

/** Undefined when `command args` runs and exits 0; else what went wrong, and, when it is not there, what installs it. */
export function commandProblem(command: string, args: string[], install?: string): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error && (result.error as NodeJS.ErrnoException).code === 'ENOENT') return `${command} is not installed${install ? ` (${install})` : ''}`;
  if (result.error) return result.error.message;
  return result.status === 0 ? undefined : `${command} exited ${String(result.status)}: ${result.stderr.trim()}`;
}
