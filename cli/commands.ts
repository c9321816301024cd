// kubevirt-vduse: one binary, one subcommand per job.
import { basename } from 'node:path';
import { type Command, commandHelp, EXIT_ERROR, parseInvocation } from './command.ts';
import { reportError } from './diagnostics.ts';

const BINARY = 'kubevirt-vduse';

/**
 * The command table: each command's one-line summary, and how to load its module. A module is
 * loaded only when its command runs (or shows its --help), so the overview loads none: the sidecar
 * must fit its memory limit (api/sidecar-resources.ts) and answer Info fast, so it must not load
 * the webhook's libraries, nor they its.
 */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  webhook: { summary: 'Serve the mutating admission webhook that gives VMs VDUSE networking.', load: async () => (await import('./webhook.ts')).webhookCommand },
  mutate: { summary: 'Print what the webhook does to a VirtualMachine or VirtualMachineInstance, offline.', load: async () => (await import('./mutate.ts')).mutateCommand },
  doctor: { summary: 'Check a cluster for what VDUSE VMs need, and print the fix for each check that fails.', load: async () => (await import('./doctor.ts')).doctorCommand },
  'migration-test': { summary: 'Live-migrate a VDUSE VM and check that its datapath configuration survived.', load: async () => (await import('./migration-test.ts')).migrationTestCommand },
  sidecar: { summary: "Serve KubeVirt's hook protocol in virt-launcher: the network binding sidecar.", load: async () => (await import('./sidecar.ts')).sidecarCommand },
  render: { summary: 'Print the domain XML the sidecar would give libvirt for a VMI.', load: async () => (await import('./render.ts')).renderCommand },
  onDefineDomain: { summary: 'Sidecar-shim entry point: print the rewritten domain for --vmi JSON and --domain XML.', load: async () => (await import('./sidecar.ts')).onDefineDomainCommand },
  preCloudInitIso: {
    summary: 'Sidecar-shim entry point: print the cloud-init data with guest coalescing for --vmi JSON and --cloud-init JSON.',
    load: async () => (await import('./sidecar.ts')).preCloudInitIsoCommand,
  },
  'check-migration': { summary: 'Compare the source and target domain XML of a live migration for the converted interfaces.', load: async () => (await import('./check-migration.ts')).checkMigrationCommand },
  demo: { summary: 'Run the end-to-end demo on built-in example inputs.', load: async () => (await import('./demo.ts')).demoCommand },
};

const isCommand = (name: string | undefined): name is string => name !== undefined && Object.hasOwn(COMMANDS, name);

function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length)) + 2;
  return [
    `Usage: ${BINARY} <command> [flags]`,
    '',
    'VDUSE / vhost-vDPA networking for KubeVirt virtual machines.',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, { summary }]) => `  ${name.padEnd(width)}${summary}`),
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
  return isCommand(invokedAs) ? [invokedAs, ...args] : args;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const [topic] = rest;
    process.stdout.write(isCommand(topic) ? commandHelp(BINARY, await COMMANDS[topic]!.load(), COMMANDS[topic]!.summary) : overview());
    return name === undefined ? EXIT_ERROR : 0;
  }
  if (!isCommand(name)) {
    process.stderr.write(`${BINARY}: unknown command ${JSON.stringify(name)}\n\n${overview()}`);
    return EXIT_ERROR;
  }
  const { summary, load } = COMMANDS[name]!;
  const command = await load();
  try {
    const invocation = parseInvocation(command, rest);
    if (invocation.help) {
      process.stdout.write(commandHelp(BINARY, command, summary));
      return 0;
    }
    return await command.run(invocation.values, invocation.positionals);
  } catch (error) {
    reportError(command.name, error);
    return EXIT_ERROR;
  }
}

process.exitCode = await main(invocation());
