// Suites that need a tool from the machine (libvirt, kubectl). Under CI=true a missing tool fails
// the run; elsewhere the suite is skipped with a loud message.
import { spawnSync } from 'node:child_process';
import { describe, it } from 'vitest';

/** problem: undefined when the tool is usable, else why not. */
export function describeRequiring(title: string, tool: string, problem: string | undefined, body: () => void): void {
  if (problem === undefined) {
    describe(title, body);
    return;
  }
  if (process.env.CI === 'true') {
    describe(title, () => {
      it(`has ${tool}`, () => {
        throw new Error(`${tool} is required under CI=true: ${problem}`);
      });
    });
    return;
  }
  console.warn(`\n*** SKIPPING "${title}": ${tool} is not usable here (${problem}) ***\n`);
  describe.skip(title, body);
}

/** Undefined when `command args` runs and exits 0; else what went wrong. */
export function commandProblem(command: string, args: string[]): string | undefined {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.error) return result.error.message;
  return result.status === 0 ? undefined : `${command} exited ${String(result.status)}: ${result.stderr.trim()}`;
}
