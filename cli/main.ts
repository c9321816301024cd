#!/usr/bin/env node
// kubevirt-vduse: one binary, one subcommand per job.
import { basename } from 'node:path';
import { type Command, commandHelp, EXIT_ERROR, parseInvocation } from './command.ts';
import { checkMigrationCommand } from './check-migration.ts';
import { demoCommand } from './demo.ts';
import { reportError } from './diagnostics.ts';
import { renderCommand } from './render.ts';
import { onDefineDomainCommand, preCloudInitIsoCommand, sidecarCommand } from './sidecar.ts';

const BINARY = 'kubevirt-vduse';
const COMMANDS: Command[] = [sidecarCommand, renderCommand, onDefineDomainCommand, preCloudInitIsoCommand, checkMigrationCommand, demoCommand];

function overview(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length)) + 2;
  return [
    `Usage: ${BINARY} <command> [flags]`,
    '',
    'VDUSE / vhost-vDPA networking for KubeVirt virtual machines.',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}${command.summary}`),
    '',
    `Run "${BINARY} <command> --help" for a command's flags and defaults.`,
    'Exit codes: 0 success, 1 error (bad input, missing device), 2 admission denied.',
    '',
  ].join('\n');
}

/** Installed under the shim's names (onDefineDomain, preCloudInitIso), the binary is that command. */
function invocation(): string[] {
  const invokedAs = basename(process.argv[1] ?? '').replace(/\.(js|ts)$/, '');
  const args = process.argv.slice(2);
  return COMMANDS.some((command) => command.name === invokedAs) ? [invokedAs, ...args] : args;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const command = COMMANDS.find((candidate) => candidate.name === rest[0]);
    process.stdout.write(command ? commandHelp(BINARY, command) : overview());
    return name === undefined ? EXIT_ERROR : 0;
  }
  const command = COMMANDS.find((candidate) => candidate.name === name);
  if (!command) {
    process.stderr.write(`${BINARY}: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return EXIT_ERROR;
  }
  try {
    const invocation = parseInvocation(command, rest);
    if (invocation.help) {
      process.stdout.write(commandHelp(BINARY, command));
      return 0;
    }
    return await command.run(invocation.values, invocation.positionals);
  } catch (error) {
    reportError(command.name, error);
    return EXIT_ERROR;
  }
}

process.exitCode = await main(invocation());
