// Plays virt-launcher's hook manager against real sidecar processes, as the compute container sees
// the hooks dir. Modelled, as facts and not as code, on KubeVirt's pkg/hooks/manager.go
// (collectSideCarSockets, processSideCarSocket, OnDefineDomain, PreCloudInitIso, Shutdown),
// pkg/util/net/grpc/grpc.go (DialSocketWithTimeout), pkg/cloud-init/cloud-init.go
// (IsValidCloudInitData) and pkg/virt-launcher/virtwrap/{manager.go preStartHook,
// live-migration-target.go}:
// - sockets are the non-directory entries one level down, <hooks>/<container>/<socket>; nested
//   directories are skipped; the dir is scanned every 300 ms until every sidecar answered Info;
// - each call dials anew and blocks until connected (2 s); a socket that cannot be dialled is
//   "not ready yet" and retried on the next scan;
// - Info has a 1 s deadline, and an error there fails the VMI; the version is the newest of
//   v1alpha3, v1alpha2, v1alpha1 that the sidecar lists;
// - PreCloudInitIso is called only on subscribers (v1alpha2 and up), and only the first one runs.
//   With no cloud-init volume the data is nil, and building the request panics;
// - OnDefineDomain is called on every subscriber in turn, each with a 1 min deadline; Shutdown on
//   v1alpha3 subscribers.
import { type Client, credentials, type ServiceClientConstructor } from '@grpc/grpc-js';
import { readdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { unaryCall } from './hook-client.ts';
import { protoClients } from './hook-protos.ts';

const SCAN_INTERVAL_MS = 300;
const CONNECT_TIMEOUT_MS = 2_000;
const INFO_DEADLINE_MS = 1_000;
const CALLBACK_DEADLINE_MS = 60_000;
const VERSION_PREFERENCE = ['v1alpha3', 'v1alpha2', 'v1alpha1'] as const;
type Version = (typeof VERSION_PREFERENCE)[number];

/** cloudinit.CloudInitData as Go marshals it: a struct without JSON tags. */
export interface CloudInitData {
  DataSource: string;
  NoCloudMetaData: Record<string, unknown> | null;
  ConfigDriveMetaData: Record<string, unknown> | null;
  UserData: string;
  NetworkData: string;
  DevicesData: unknown;
  VolumeName: string;
}

/**
 * What ReadCloudInitVolumeDataSource gives for a cloudInitNoCloud volume with this user data: the
 * instance-id is the VMI's spec.domain.firmware.uuid, which virt-api sets (a random UUID without one).
 */
export function noCloudData(userData: string, vmiName = 'testvmi', firmwareUuid = '5d307ca9-b3ef-428c-8861-06e72d69f223'): CloudInitData {
  return {
    DataSource: 'noCloud',
    NoCloudMetaData: { 'instance-id': firmwareUuid, 'local-hostname': vmiName },
    ConfigDriveMetaData: null,
    UserData: userData,
    NetworkData: '',
    DevicesData: null,
    VolumeName: 'cloudinitdisk',
  };
}

/** virt-launcher would have crashed here: the VMI fails. */
export class VirtLauncherPanic extends Error {}
/** virt-launcher would have failed the VMI with this error. */
export class VirtLauncherFailure extends Error {}

export interface CollectedSidecar {
  socketPath: string;
  name: string;
  version: Version;
  hookPoints: string[];
}

export interface ReplayStep {
  step: string;
  socket?: string;
  ms: number;
}

export interface LauncherOptions {
  /** The hooks dir as the compute container sees it: one subdirectory per sidecar container. */
  hooksDir: string;
  /** How many sidecars the VMI has (virt-launcher's numberOfRequestedHookSidecars). */
  sidecars: number;
  /** How long virt-launcher waits for all of them; KubeVirt's default is 4 minutes. */
  collectTimeoutMs?: number;
}

const dial = async (constructor: ServiceClientConstructor, socketPath: string): Promise<Client | undefined> => {
  const client = new constructor(`unix:${socketPath}`, credentials.createInsecure());
  const connected = await new Promise<boolean>((resolve) => client.waitForReady(Date.now() + CONNECT_TIMEOUT_MS, (error) => resolve(!error)));
  if (connected) return client;
  client.close();
  return undefined;
};

export class VirtLauncher {
  readonly steps: ReplayStep[] = [];
  private readonly clients = protoClients();
  private sidecars: CollectedSidecar[] = [];
  private readonly options: LauncherOptions;

  constructor(options: LauncherOptions) {
    this.options = options;
  }

  private async timed<T>(step: string, socket: string | undefined, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    const result = await work();
    this.steps.push({ step, ...(socket ? { socket } : {}), ms: Math.round(performance.now() - started) });
    return result;
  }

  /** The sockets the compute container would try now: files one level down, never in nested dirs. */
  private candidateSockets(): string[] {
    const found: string[] = [];
    for (const entry of readdirSync(this.options.hooksDir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const sub = join(this.options.hooksDir, entry.name);
      for (const subEntry of readdirSync(sub, { withFileTypes: true })) if (!subEntry.isDirectory()) found.push(join(sub, subEntry.name));
    }
    return found;
  }

  /**
   * Collect: poll every 300 ms until every sidecar answered Info. Sockets are tracked by file name,
   * as processedSockets is in manager.go: a second socket with a name already processed, in another
   * sidecar's folder, is never called, and the count waits for a sidecar that never comes.
   */
  async collect(): Promise<CollectedSidecar[]> {
    const deadline = Date.now() + (this.options.collectTimeoutMs ?? 240_000);
    const processed = new Map<string, CollectedSidecar>();
    return this.timed('collect', undefined, async () => {
      while (processed.size < this.options.sidecars) {
        for (const socketPath of this.candidateSockets()) {
          if (processed.has(basename(socketPath))) continue;
          const collected = await this.info(socketPath);
          if (collected) processed.set(basename(socketPath), collected);
        }
        if (processed.size >= this.options.sidecars) break;
        if (Date.now() > deadline) throw new VirtLauncherFailure('Failed to collect all expected sidecar hook sockets within given timeout');
        await sleep(SCAN_INTERVAL_MS);
      }
      this.sidecars = [...processed.values()];
      return this.sidecars;
    });
  }

  private async info(socketPath: string): Promise<CollectedSidecar | undefined> {
    const client = await dial(this.clients.info, socketPath);
    if (!client) return undefined; // "Sidecar server might not be ready yet"
    try {
      const info = await unaryCall(client, 'Info', {}, INFO_DEADLINE_MS).catch((error: unknown) => {
        throw new VirtLauncherFailure(`Info on ${socketPath} failed, which fails the VMI: ${(error as Error).message}`);
      });
      const versions = info.versions as unknown as string[];
      const version = VERSION_PREFERENCE.find((candidate) => versions.includes(candidate));
      if (!version) throw new VirtLauncherFailure(`Hook sidecar does not expose a supported version. Exposed versions: ${versions.join(', ')}`);
      const hookPoints = (info.hookPoints as unknown as { name: string }[]).map((point) => point.name);
      return { socketPath, name: String(info.name), version, hookPoints };
    } finally {
      client.close();
    }
  }

  private subscribers(hookPoint: string): CollectedSidecar[] {
    return this.sidecars.filter((sidecar) => sidecar.hookPoints.includes(hookPoint));
  }

  private async callback(sidecar: CollectedSidecar, method: string, request: object): Promise<Record<string, Buffer>> {
    const client = await dial(this.clients[sidecar.version], sidecar.socketPath);
    if (!client) throw new VirtLauncherFailure(`failed to dial ${sidecar.socketPath} for ${method}`);
    try {
      return await this.timed(method, sidecar.socketPath, () =>
        unaryCall(client, method, request, CALLBACK_DEADLINE_MS).catch((error: unknown) => {
          throw new VirtLauncherFailure(`${method} on ${sidecar.socketPath} failed, which fails the VMI: ${(error as Error).message}`);
        }),
      );
    } finally {
      client.close();
    }
  }

  /**
   * preStartHook: cloudInit is null when the VMI has no cloudInitNoCloud or cloudInitConfigDrive
   * volume. Returns the data virt-launcher would write into the ISO.
   */
  async preCloudInitIso(vmi: object, cloudInit: CloudInitData | null): Promise<CloudInitData | null> {
    const subscribers = this.subscribers('PreCloudInitIso');
    if (subscribers.length === 0) return cloudInit;
    if (cloudInit === null) {
      throw new VirtLauncherPanic(
        `virt-launcher panics: ${subscribers.map((sidecar) => sidecar.name).join(', ')} subscribed to PreCloudInitIso, and this VMI has no cloud-init volume, so preCloudInitIsoDataToJSON reads UserData on a nil CloudInitData`,
      );
    }
    for (const sidecar of subscribers) {
      if (sidecar.version === 'v1alpha1') continue; // no PreCloudInitIso before v1alpha2
      const result = await this.callback(sidecar, 'PreCloudInitIso', {
        cloudInitData: Buffer.from(JSON.stringify(cloudInit)),
        cloudInitNoCloudSource: Buffer.from(JSON.stringify({ userData: cloudInit.UserData, networkData: cloudInit.NetworkData })),
        vmi: Buffer.from(JSON.stringify(vmi)),
      });
      const data = JSON.parse(result.cloudInitData!.toString()) as CloudInitData | null;
      if (data && data.UserData !== '' && (data.NoCloudMetaData !== null || data.ConfigDriveMetaData !== null)) return data;
      // Not valid CloudInitData: virt-launcher falls back to the CloudInitNoCloudSource answer.
      const source = JSON.parse(result.cloudInitNoCloudSource!.toString()) as { userData?: string; networkData?: string };
      return { ...cloudInit, UserData: source.userData ?? '', NetworkData: source.networkData ?? '' };
    }
    return cloudInit;
  }

  /** One OnDefineDomain round over every subscriber, in order; returns the final XML. */
  async onDefineDomain(domainXml: string, vmi: object): Promise<string> {
    let xml: Buffer = Buffer.from(domainXml);
    for (const sidecar of this.subscribers('OnDefineDomain')) {
      xml = (await this.callback(sidecar, 'OnDefineDomain', { domainXML: xml, vmi: Buffer.from(JSON.stringify(vmi)) })).domainXML!;
    }
    return xml.toString();
  }

  async shutdown(): Promise<void> {
    for (const sidecar of this.subscribers('Shutdown')) {
      if (sidecar.version === 'v1alpha3') await this.callback(sidecar, 'Shutdown', {});
    }
  }
}

/**
 * What KubeVirt hands over on the later OnDefineDomain of a boot: libvirt's XML of the defined
 * domain read back into KubeVirt's own domain model (pkg/virt-launcher/virtwrap/api schema.go), which
 * keeps an interface's type, source, MAC, model, alias, ROM and ACPI index, but of its <driver>
 * only name and queues: the ring sizes are gone. The cluster suite holds this to KubeVirt's code
 * on libvirt's real XML (test/cluster/virt-launcher.test.ts).
 */
export function rebuiltByKubevirt(xml: string): string {
  return xml.replace(/<driver ([^>]*?)\/>/g, (whole, attributes: string) => {
    if (!attributes.includes('queue_size')) return whole;
    const name = /\bname="[^"]*"/.exec(attributes)?.[0] ?? 'name=""';
    const rest = [...attributes.matchAll(/\b(queues|iommu)="[^"]*"/g)].map((match) => match[0]);
    return `<driver ${[name, ...rest].join(' ')}/>`;
  });
}

export interface BootScenario {
  launcher: LauncherOptions;
  vmi: object;
  /** null: the VMI has no cloud-init volume. */
  cloudInit: CloudInitData | null;
  /** The converter's domain XML. */
  domainXml: string;
  /** 2 or 3, as virt-launcher does per boot. */
  defineCalls?: number;
}

export interface BootResult {
  sidecars: CollectedSidecar[];
  cloudInit: CloudInitData | null;
  /** Each OnDefineDomain round's output. */
  domains: string[];
  steps: ReplayStep[];
}

/** A VMI's start, as virt-launcher runs it: collect, PreCloudInitIso, OnDefineDomain 2-3 times, Shutdown. */
export async function replayBoot(scenario: BootScenario): Promise<BootResult> {
  const launcher = new VirtLauncher(scenario.launcher);
  const sidecars = await launcher.collect();
  const cloudInit = await launcher.preCloudInitIso(scenario.vmi, scenario.cloudInit);
  const domains: string[] = [];
  let input = scenario.domainXml;
  for (let call = 0; call < (scenario.defineCalls ?? 3); call++) {
    const output = await launcher.onDefineDomain(input, scenario.vmi);
    domains.push(output);
    input = rebuiltByKubevirt(output);
  }
  await launcher.shutdown();
  return { sidecars, cloudInit, domains, steps: launcher.steps };
}

/**
 * A migration target (live-migration-target.go): the same preStartHook with its PreCloudInitIso,
 * then one OnDefineDomain with the source's domain, whose result is ignored, for the sidecar's own
 * set-up (the device links). The VM then runs on the target, so the sidecar keeps serving.
 */
export async function replayMigrationTarget(scenario: Omit<BootScenario, 'defineCalls'> & { sourceDomainXml: string }): Promise<BootResult> {
  const launcher = new VirtLauncher(scenario.launcher);
  const sidecars = await launcher.collect();
  const cloudInit = await launcher.preCloudInitIso(scenario.vmi, scenario.cloudInit);
  const answer = await launcher.onDefineDomain(scenario.sourceDomainXml, scenario.vmi);
  // No Shutdown here: it comes when the VM stops on its new node.
  return { sidecars, cloudInit, domains: [answer], steps: launcher.steps };
}
