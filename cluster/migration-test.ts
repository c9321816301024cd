// kubevirt-vduse migration-test: one live migration of a VDUSE VM, end to end, checked. Reads the
// VMI, captures the source virt-launcher's domain and device links over the exec API, creates a
// VirtualMachineInstanceMigration, follows status.migrationState to the end, captures the target
// the same way, and checks what must survive. KubeVirt's shapes: kubevirt.io/v1 VMI status
// (migrationState, conditions LiveMigratable, interfaces), VirtualMachineInstanceMigration, and
// virt-launcher pods labelled kubevirt.io/created-by=<VMI uid>.
import type { CoreV1Api, CustomObjectsApi, Exec, V1Pod, V1Status } from '@kubernetes/client-node';
import { Writable } from 'node:stream';
import { PreconditionError } from '../api/errors.ts';
import { isObject } from '../api/json.ts';
import { DEFAULT_HOOK_SOCKET_DIR, pluginBindingNames, DEFAULT_NETWORK_INFO_PATH, DEVICE_LINK_DIR_NAME } from '../api/names.ts';
import { podInterfaceName } from '../api/pod-interface.ts';
import { compareForMigration } from '../sidecar/migration-check.ts';
import type { ClusterClients } from './clients.ts';
import { describeError } from './errors.ts';
import { KUBEVIRT_GROUP, KUBEVIRT_VERSION, MIGRATION_PLURAL, VMI_PLURAL } from './resources.ts';

const VDPA_DEVICE = /^\/dev\/vhost-vdpa-\d+$/;

export interface MigrationTestOptions {
  namespace: string;
  name: string;
  timeoutMs: number;
  pollMs: number;
  bindingName: string;
  /** Called on every poll while a migration runs. */
  onProgress: (progress: Progress) => void;
  /** Aborted by Ctrl-C: the migration this started is deleted. */
  signal: AbortSignal;
}

export interface Progress {
  run: number;
  phase: string;
  elapsedMs: number;
  sourceNode: string | undefined;
  targetNode: string | undefined;
}

export interface Check {
  check: string;
  ok: boolean;
  detail: string;
}

export interface RunReport {
  run: number;
  migration: string;
  sourceNode: string | undefined;
  targetNode: string | undefined;
  mode: string | undefined;
  startTimestamp: string | undefined;
  endTimestamp: string | undefined;
  durationSeconds: number | undefined;
  passed: boolean;
  /** Why the migration itself failed or timed out, in KubeVirt's words. */
  failure?: string;
  checks: Check[];
}

export class InterruptedError extends Error {}

/** Non-root virt-launchers run libvirt in session mode, reached through virtqemud's socket. */
export const SESSION_LIBVIRT_URI = 'qemu+unix:///session?socket=/var/run/libvirt/virtqemud-sock';
const NON_ROOT_ANNOTATION = 'kubevirt.io/nonroot';

/**
 * virsh dumpxml in the compute container, as KubeVirt's own tests run it (tests/libdomain/domain.go):
 * with the session URI when the VMI is non-root (pkg/vmitrait IsNonRoot: the deprecated annotation,
 * or a non-zero status.runtimeUser), with virsh's default connection for a root VMI.
 */
export function dumpxmlCommand(vmi: Pick<Vmi, 'metadata' | 'status'>): string[] {
  const nonRoot = NON_ROOT_ANNOTATION in (vmi.metadata.annotations ?? {}) || (vmi.status?.runtimeUser ?? 0) !== 0;
  return ['virsh', ...(nonRoot ? ['-c', SESSION_LIBVIRT_URI] : []), 'dumpxml', `${vmi.metadata.namespace}_${vmi.metadata.name}`];
}

interface Vmi {
  metadata: { name: string; namespace: string; uid: string; annotations?: Record<string, string> };
  spec: { domain: { devices: { interfaces?: { name: string; binding?: { name: string } }[] } } };
  status?: {
    phase?: string;
    /** The UID virt-launcher runs as: 107 for non-root VMIs (KubeVirt's default), 0 for root. */
    runtimeUser?: number;
    nodeName?: string;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
    interfaces?: { name?: string; mac?: string }[];
    migrationState?: {
      migrationUid?: string;
      completed?: boolean;
      failed?: boolean;
      failureReason?: string;
      sourceNode?: string;
      targetNode?: string;
      targetPod?: string;
      mode?: string;
      startTimestamp?: string;
      endTimestamp?: string;
    };
  };
}

interface Migration {
  metadata: { name: string; namespace: string; uid: string };
  status?: { phase?: string; conditions?: { type: string; status: string; reason?: string; message?: string }[] };
}

/** What one virt-launcher pod shows: the domain, and per network its link's target and its device-info path. */
interface Capture {
  pod: string;
  xml: string;
  links: Map<string, string>;
  devices: Map<string, string>;
}

export class MigrationTester {
  private readonly custom: CustomObjectsApi;
  private readonly core: CoreV1Api;
  private readonly exec: Exec;
  private readonly options: MigrationTestOptions;
  private readonly subject: string;

  constructor(clients: ClusterClients, options: MigrationTestOptions) {
    this.custom = clients.custom;
    this.core = clients.core;
    this.exec = clients.exec;
    this.options = options;
    this.subject = `VirtualMachineInstance ${options.namespace}/${options.name}`;
  }

  private async vmi(): Promise<Vmi> {
    try {
      return (await this.custom.getNamespacedCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace: this.options.namespace, plural: VMI_PLURAL, name: this.options.name })) as Vmi;
    } catch (error) {
      throw new PreconditionError(`${this.subject}: cannot read it (${describeError(error)}); is the VM running?`);
    }
  }

  /** The VDUSE networks, or why the VMI cannot be tested. */
  private preconditions(vmi: Vmi): string[] {
    if (vmi.status?.phase !== 'Running') throw new PreconditionError(`${this.subject}: status.phase is ${JSON.stringify(vmi.status?.phase ?? null)}; expected "Running"`);
    const migratable = vmi.status.conditions?.find((condition) => condition.type === 'LiveMigratable');
    if (migratable?.status !== 'True') {
      const why = migratable ? `${migratable.reason ?? ''}${migratable.message ? `: ${migratable.message}` : ''}` : 'the condition is absent';
      throw new PreconditionError(`${this.subject}: condition LiveMigratable is not True (${why})`);
    }
    const bindings = new Set(pluginBindingNames(this.options.bindingName));
    const networks = (vmi.spec.domain.devices.interfaces ?? []).filter((iface) => iface.binding && bindings.has(iface.binding.name)).map((iface) => iface.name);
    if (networks.length === 0) throw new PreconditionError(`${this.subject}: spec.domain.devices.interfaces has no interface on binding ${[...bindings].join(' or ')}`);
    return networks;
  }

  private async launcherPod(vmi: Vmi, name?: string): Promise<V1Pod> {
    if (name !== undefined) return this.core.readNamespacedPod({ namespace: this.options.namespace, name });
    const pods = await this.core.listNamespacedPod({ namespace: this.options.namespace, labelSelector: `kubevirt.io/created-by=${vmi.metadata.uid}` });
    const pod = pods.items.find((candidate) => candidate.status?.phase === 'Running' && candidate.spec?.nodeName === vmi.status?.nodeName);
    if (!pod) throw new PreconditionError(`${this.subject}: no Running virt-launcher pod (kubevirt.io/created-by=${vmi.metadata.uid}) on node ${vmi.status?.nodeName ?? '?'}`);
    return pod;
  }

  /** Runs a command in a container; its stdout, or an error with its stderr. */
  private run(pod: string, container: string, command: string[]): Promise<string> {
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      const sink = (append: (text: string) => void) =>
        new Writable({
          write(chunk: Buffer, _encoding, done) {
            append(chunk.toString());
            done();
          },
        });
      this.exec
        .exec(this.options.namespace, pod, container, command, sink((text) => (stdout += text)), sink((text) => (stderr += text)), null, false, (status: V1Status) => {
          if (status.status === 'Success') resolve(stdout);
          else reject(new Error(`${command.join(' ')} in ${pod}/${container}: ${status.message ?? 'failed'}${stderr ? `: ${stderr.trim()}` : ''}`));
        })
        .catch((error: unknown) => reject(new Error(`exec in ${pod}/${container}: ${describeError(error)}`)));
    });
  }

  private async capture(pod: V1Pod, networks: string[], vmi: Vmi): Promise<Capture> {
    const name = pod.metadata?.name ?? '?';
    const xml = await this.run(name, 'compute', dumpxmlCommand(vmi));
    const links = new Map<string, string>();
    const devices = new Map<string, string>();
    const bindingOf = new Map((vmi.spec.domain.devices.interfaces ?? []).map((iface) => [iface.name, iface.binding?.name]));
    // One sidecar container per binding; KubeVirt tells each its binding in NETWORK_BINDING_PLUGIN_NAME.
    for (const container of pod.spec?.containers ?? []) {
      const binding = container.env?.find((variable) => variable.name === 'NETWORK_BINDING_PLUGIN_NAME')?.value;
      const served = networks.filter((network) => binding !== undefined && bindingOf.get(network) === binding);
      if (served.length === 0) continue;
      const paths = served.map((network) => `${DEFAULT_HOOK_SOCKET_DIR}/${DEVICE_LINK_DIR_NAME}/${podInterfaceName(network)}`);
      const targets = (await this.run(name, container.name, ['readlink', ...paths])).trim().split('\n');
      served.forEach((network, index) => links.set(network, targets[index] ?? ''));
      const info = JSON.parse(await this.run(name, container.name, ['cat', DEFAULT_NETWORK_INFO_PATH])) as unknown;
      for (const entry of isObject(info) && Array.isArray(info.interfaces) ? info.interfaces : []) {
        if (isObject(entry) && typeof entry.network === 'string' && isObject(entry.deviceInfo) && isObject(entry.deviceInfo.vdpa) && typeof entry.deviceInfo.vdpa.path === 'string') {
          devices.set(entry.network, entry.deviceInfo.vdpa.path);
        }
      }
    }
    return { pod: name, xml, links, devices };
  }

  private async createMigration(run: number): Promise<Migration> {
    const body = {
      apiVersion: `${KUBEVIRT_GROUP}/${KUBEVIRT_VERSION}`,
      kind: 'VirtualMachineInstanceMigration',
      metadata: { generateName: `${this.options.name}-vduse-test-`, namespace: this.options.namespace, labels: { 'vduse.kubevirt.io/migration-test': String(run) } },
      spec: { vmiName: this.options.name },
    };
    return (await this.custom.createNamespacedCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace: this.options.namespace, plural: MIGRATION_PLURAL, body })) as Migration;
  }

  private async deleteMigration(migration: Migration): Promise<void> {
    await this.custom.deleteNamespacedCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace: this.options.namespace, plural: MIGRATION_PLURAL, name: migration.metadata.name }).catch(() => undefined);
  }

  /** Follows the migration to its end; the VMI's final migrationState, or a failure in KubeVirt's words. */
  private async follow(run: number, migration: Migration): Promise<{ vmi: Vmi; failure?: string }> {
    const started = Date.now();
    for (;;) {
      if (this.options.signal.aborted) {
        await this.deleteMigration(migration);
        throw new InterruptedError(`interrupted: deleted VirtualMachineInstanceMigration ${this.options.namespace}/${migration.metadata.name}, which cancels the migration if it had not finished`);
      }
      const [vmi, current] = await Promise.all([
        this.vmi(),
        this.custom
          .getNamespacedCustomObject({ group: KUBEVIRT_GROUP, version: KUBEVIRT_VERSION, namespace: this.options.namespace, plural: MIGRATION_PLURAL, name: migration.metadata.name })
          .then((object) => object as Migration, () => migration),
      ]);
      const state = vmi.status?.migrationState?.migrationUid === migration.metadata.uid ? vmi.status.migrationState : undefined;
      const phase = current.status?.phase ?? 'Pending';
      this.options.onProgress({ run, phase, elapsedMs: Date.now() - started, sourceNode: state?.sourceNode ?? vmi.status?.nodeName, targetNode: state?.targetNode });
      const failedCondition = current.status?.conditions?.find((condition) => condition.status === 'True' && /fail/i.test(`${condition.type}${condition.reason ?? ''}`));
      if (state?.failed || phase === 'Failed') {
        return { vmi, failure: state?.failureReason ?? (failedCondition ? `${failedCondition.reason ?? failedCondition.type}: ${failedCondition.message ?? ''}` : `migration phase ${phase}`) };
      }
      if (state?.completed) return { vmi };
      if (Date.now() - started > this.options.timeoutMs) {
        await this.deleteMigration(migration);
        return { vmi, failure: `timed out after ${Math.round(this.options.timeoutMs / 1000)} s in phase ${phase}${failedCondition?.message ? ` (${failedCondition.message})` : ''}; deleted VirtualMachineInstanceMigration ${migration.metadata.name}` };
      }
      await new Promise((resolve) => setTimeout(resolve, this.options.pollMs));
    }
  }

  async runOnce(run: number): Promise<RunReport> {
    const before = await this.vmi();
    const networks = this.preconditions(before);
    const source = await this.capture(await this.launcherPod(before), networks, before);
    const migration = await this.createMigration(run);
    const { vmi: after, failure } = await this.follow(run, migration);
    // Only this migration's state: the VMI may still show an earlier one's.
    const state = after.status?.migrationState?.migrationUid === migration.metadata.uid ? after.status.migrationState : undefined;
    const start = state?.startTimestamp;
    const end = state?.endTimestamp;
    const report: RunReport = {
      run,
      migration: `${this.options.namespace}/${migration.metadata.name}`,
      sourceNode: state?.sourceNode ?? before.status?.nodeName,
      targetNode: state?.targetNode,
      mode: state?.mode,
      startTimestamp: start,
      endTimestamp: end,
      durationSeconds: start && end ? (Date.parse(end) - Date.parse(start)) / 1000 : undefined,
      passed: false,
      checks: [],
    };
    if (failure !== undefined) return { ...report, failure };
    const target = await this.capture(await this.launcherPod(after, state?.targetPod), networks, after);
    report.checks = checkMigration(source, target, before, after, networks, state?.targetNode);
    report.passed = report.checks.every((check) => check.ok);
    return report;
  }

}

/** What must have survived: the domain, each link, the VMI's interfaces. */
export function checkMigration(source: Capture, target: Capture, before: Vmi, after: Vmi, networks: string[], targetNode: string | undefined): Check[] {
  const checks: Check[] = [];
  const differences = compareForMigration(source.xml, target.xml);
  checks.push({
    check: 'domain',
    ok: differences.length === 0,
    detail:
      differences.length === 0
        ? 'the converted interfaces match (check-migration)'
        : differences.map((difference) => `${difference.interface}: ${difference.what}: source ${difference.source ?? '(none)'}, target ${difference.target ?? '(none)'}`).join('; '),
  });
  for (const network of networks) {
    const link = target.links.get(network);
    const device = target.devices.get(network);
    const sourceDevice = source.links.get(network);
    const problem =
      link === undefined || link === ''
        ? 'no link on the target'
        : !VDPA_DEVICE.test(link)
          ? `resolves to ${link}, not a vhost-vdpa device`
          : device !== undefined && link !== device
            ? `resolves to ${link}, but the target's device-info gives ${device}`
            : link === sourceDevice
              ? `resolves to ${link}, the source's device path`
              : undefined;
    checks.push({ check: `link ${network}`, ok: problem === undefined, detail: problem ?? `${link!} on ${targetNode ?? 'the target'} (device-info), not the source's ${sourceDevice ?? '?'}` });
  }
  const macs = (vmi: Vmi) => new Map((vmi.status?.interfaces ?? []).filter((iface) => iface.name !== undefined && networks.includes(iface.name)).map((iface) => [iface.name!, iface.mac ?? '']));
  const [was, now] = [macs(before), macs(after)];
  const changed = networks.filter((network) => was.get(network) !== now.get(network));
  checks.push({
    check: 'VMI interfaces',
    ok: changed.length === 0,
    detail: changed.length === 0 ? networks.map((network) => `${network} ${now.get(network) ?? '?'}`).join(', ') + ', unchanged' : changed.map((network) => `${network}: ${was.get(network) ?? '(none)'} -> ${now.get(network) ?? '(none)'}`).join('; '),
  });
  return checks;
}

/** min, median and max of the runs' durations. */
export function durationSummary(reports: RunReport[]): { min: number; median: number; max: number } | undefined {
  const durations = reports.flatMap((report) => (report.durationSeconds === undefined ? [] : [report.durationSeconds])).sort((a, b) => a - b);
  if (durations.length === 0) return undefined;
  const middle = Math.floor(durations.length / 2);
  const median = durations.length % 2 ? durations[middle]! : (durations[middle - 1]! + durations[middle]!) / 2;
  return { min: durations[0]!, median, max: durations.at(-1)! };
}
