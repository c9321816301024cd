// kubevirt-vduse: one binary, one subcommand per job.
import { basename } from 'node:path';
import { type Command, commandHelp, EXIT_ERROR, parseInvocation } from './command.ts';
import { reportError } from './diagnostics.ts';

const BINARY = 'kubevirt-vduse';

/**
 * Each command's module is loaded only when it runs: the sidecar must fit its memory limit (api/sidecar-resources.ts)
 * sidecar limit and answer Info fast, so it must not load the webhook's libraries, nor they its.
 */
const COMMAND_LOADERS: Record<string, () => Promise<Command>> = {
  webhook: async () => (await import('./webhook.ts')).webhookCommand,
  mutate: async () => (await import('./mutate.ts')).mutateCommand,
  doctor: async () => (await import('./doctor.ts')).doctorCommand,
  'migration-test': async () => (await import('./migration-test.ts')).migrationTestCommand,
  sidecar: async () => (await import('./sidecar.ts')).sidecarCommand,
  render: async () => (await import('./render.ts')).renderCommand,
  onDefineDomain: async () => (await import('./sidecar.ts')).onDefineDomainCommand,
  preCloudInitIso: async () => (await import('./sidecar.ts')).preCloudInitIsoCommand,
  'check-migration': async () => (await import('./check-migration.ts')).checkMigrationCommand,
  demo: async () => (await import('./demo.ts')).demoCommand,
};

async function loadCommand(name: string | undefined): Promise<Command | undefined> {
  return name !== undefined && Object.hasOwn(COMMAND_LOADERS, name) ? COMMAND_LOADERS[name]!() : undefined;
}

async function overview(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMAND_LOADERS).map((load) => load()));
  const width = Math.max(...commands.map((command) => command.name.length)) + 2;
  return [
    `Usage: ${BINARY} <command> [flags]`,
    '',
    'VDUSE / vhost-vDPA networking for KubeVirt virtual machines.',
    '',
    'Commands:',
    ...commands.map((command) => `  ${command.name.padEnd(width)}${command.summary}`),
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
  return Object.hasOwn(COMMAND_LOADERS, invokedAs) ? [invokedAs, ...args] : args;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const command = await loadCommand(rest[0]);
    process.stdout.write(command ? commandHelp(BINARY, command) : await overview());
    return name === undefined ? EXIT_ERROR : 0;
  }
  const command = await loadCommand(name);
  if (!command) {
    process.stderr.write(`${BINARY}: unknown command ${JSON.stringify(name)}\n\n${await overview()}`);
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
