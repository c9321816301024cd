// kubevirt-vduse migration-test: live-migrate a VDUSE VM and check that its datapath configuration
// survived, once or back and forth N times.
import { InvalidInputError } from '../api/errors.ts';
import { DEFAULT_BINDING_PLUGIN_NAME } from '../api/names.ts';
import { ClusterClients } from '../cluster/clients.ts';
import { kubeConfigFrom } from '../cluster/kubeconfig.ts';
import { durationSummary, InterruptedError, MigrationTester, type Progress, type RunReport } from '../cluster/migration-test.ts';
import { type Command, durationOption, EXIT_ERROR, EXIT_OK, stringOption } from './command.ts';

/** 128 + SIGINT, as a shell reports a command that Ctrl-C stopped. */
export const EXIT_INTERRUPTED = 130;
const SPINNER = ['|', '/', '-', '\\'];

const seconds = (value: number | undefined) => (value === undefined ? '?' : `${value.toFixed(1)} s`);

function textReport(report: RunReport, count: number): string {
  const lines = [`run ${report.run}/${count}: VirtualMachineInstanceMigration ${report.migration}: ${report.sourceNode ?? '?'} -> ${report.targetNode ?? '?'}, mode ${report.mode ?? '?'}`];
  lines.push(`  started ${report.startTimestamp ?? '?'}, ended ${report.endTimestamp ?? '?'}, ${seconds(report.durationSeconds)}`);
  if (report.failure !== undefined) lines.push(`  FAIL  migration: ${report.failure}`);
  for (const check of report.checks) lines.push(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.check}: ${check.detail}`);
  lines.push(`  verdict: ${report.passed ? 'PASS' : 'FAIL'}`);
  return lines.join('\n') + '\n';
}

function summaryLine(reports: RunReport[]): string {
  const failed = reports.filter((report) => !report.passed).length;
  const durations = durationSummary(reports);
  return `summary: ${reports.length} run(s), ${failed} failed; duration ${durations ? `min ${seconds(durations.min)}, median ${seconds(durations.median)}, max ${seconds(durations.max)}` : 'unknown'}\n`;
}

export const migrationTestCommand: Command = {
  name: 'migration-test',
  positionals: 'NAMESPACE/VM',
  description:
    'Checks that the VMI is Running, LiveMigratable and has interfaces on the vduse binding. Captures the source\n' +
    "virt-launcher's domain (virsh dumpxml) and device links over the exec API, creates a VirtualMachineInstanceMigration,\n" +
    "follows status.migrationState, captures the target, then checks: the domains match (check-migration), each target\n" +
    "link resolves to the target's vhost-vdpa device and not the source's, and the VMI keeps its interfaces and MACs.\n" +
    'A failed or timed-out migration is reported with KubeVirt\'s reason; a timed-out one is deleted. Ctrl-C deletes the\n' +
    'migration it started. Exit 0 when every run passes, 1 otherwise, 130 when interrupted.\n' +
    'Needs: get on virtualmachineinstances, pods and virtualmachineinstancemigrations; create and delete on\n' +
    'virtualmachineinstancemigrations; create on pods/exec.',
  options: {
    kubeconfig: { type: 'string', placeholder: 'FILE', description: 'a kubeconfig; the in-cluster service account without it' },
    count: { type: 'string', placeholder: 'N', default: '1', description: 'migrations to run, back and forth' },
    timeout: { type: 'string', placeholder: 'DURATION', default: '600', description: 'how long each migration may take (seconds; "s" or "ms" suffix accepted)' },
    'poll-interval': { type: 'string', placeholder: 'DURATION', default: '1', description: 'how often the VMI is read while a migration runs' },
    'binding-name': { type: 'string', placeholder: 'NAME', default: DEFAULT_BINDING_PLUGIN_NAME, description: 'the binding plugin name (and NAME-cloudinit)' },
    output: { type: 'string', placeholder: 'FORMAT', default: 'text', description: 'text, or json for CI pipelines' },
  },
  async run(values, positionals) {
    const target = positionals[0] ?? '';
    const match = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(target);
    if (positionals.length !== 1 || !match) throw new InvalidInputError('migration-test arguments', 'NAMESPACE/VM', target, 'one argument, a namespace and a VM name such as telco/vm-dpdk');
    const count = Number(stringOption(values, 'count'));
    if (!Number.isInteger(count) || count < 1 || count > 1000) throw new InvalidInputError('arguments', '--count', stringOption(values, 'count'), 'a whole number from 1 to 1000');
    const output = stringOption(values, 'output');
    if (output !== 'text' && output !== 'json') throw new InvalidInputError('arguments', '--output', output, 'text or json');

    const abort = new AbortController();
    const onSigint = () => abort.abort();
    process.once('SIGINT', onSigint);
    const terminal = process.stderr.isTTY && output === 'text';
    let lastPhase = '';
    let tick = 0;
    const onProgress = (progress: Progress) => {
      const line = `run ${progress.run}/${count}: ${progress.phase}, ${(progress.elapsedMs / 1000).toFixed(0)} s, ${progress.sourceNode ?? '?'} -> ${progress.targetNode ?? '?'}`;
      if (terminal) process.stderr.write(`\r${SPINNER[tick++ % SPINNER.length]!} ${line}\u001b[K`);
      else if (progress.phase !== lastPhase) process.stderr.write(`${line}\n`);
      lastPhase = progress.phase;
    };
    const tester = new MigrationTester(new ClusterClients(kubeConfigFrom(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined)), {
      namespace: match[1]!,
      name: match[3]!,
      timeoutMs: durationOption(values, 'timeout'),
      pollMs: durationOption(values, 'poll-interval'),
      bindingName: stringOption(values, 'binding-name'),
      onProgress,
      signal: abort.signal,
    });
    const reports: RunReport[] = [];
    try {
      for (let run = 1; run <= count; run++) {
        const report = await tester.runOnce(run);
        if (terminal) process.stderr.write('\r\u001b[K');
        reports.push(report);
        if (output === 'text') process.stdout.write(textReport(report, count));
      }
    } catch (error) {
      if (terminal) process.stderr.write('\r\u001b[K');
      if (!(error instanceof InterruptedError)) throw error;
      process.stderr.write(`${error.message}\n`);
      if (output === 'json') process.stdout.write(`${JSON.stringify({ vm: target, interrupted: true, runs: reports }, null, 2)}\n`);
      return EXIT_INTERRUPTED;
    } finally {
      process.off('SIGINT', onSigint);
    }
    const passed = reports.every((report) => report.passed);
    if (output === 'json') {
      process.stdout.write(`${JSON.stringify({ vm: target, passed, runs: reports, summary: { runs: reports.length, failed: reports.filter((report) => !report.passed).length, durationSeconds: durationSummary(reports) ?? null } }, null, 2)}\n`);
    } else if (count > 1) {
      process.stdout.write(summaryLine(reports));
    }
    return passed ? EXIT_OK : EXIT_ERROR;
  },
};
