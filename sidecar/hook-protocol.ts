// KubeVirt's hook protocol, loaded from sidecar/proto with keepCase so field names stay as KubeVirt
// spells them (domainXML, hookPoints).
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';

export const HOOK_VERSIONS = ['v1alpha3', 'v1alpha2', 'v1alpha1'] as const;
export type HookVersion = (typeof HOOK_VERSIONS)[number];
export const HOOK_POINTS = ['OnDefineDomain', 'PreCloudInitIso', 'Shutdown'] as const;

const PROTO_DIR = fileURLToPath(new URL('./proto/', import.meta.url));

export interface HookServices {
  info: ServiceDefinition;
  callbacks: Record<HookVersion, ServiceDefinition>;
}

/** package -> service name -> client constructor with its service definition. */
export type Loaded = Record<string, Record<string, { service: ServiceDefinition } & (new (address: string, credentials: unknown) => unknown)>>;

/** The loaded package, for the server and for clients (tests, benchmarks) to build stubs from. */
export function loadHookPackage(): Loaded {
  const definition = loadSync(['info.proto', ...HOOK_VERSIONS.map((version) => `${version}.proto`)], {
    keepCase: true,
    includeDirs: [PROTO_DIR],
  });
  return (loadPackageDefinition(definition).kubevirt as unknown as { hooks: Loaded }).hooks;
}

export function loadHookServices(): HookServices {
  const hooks = loadHookPackage();
  return {
    info: hooks.info!.Info!.service,
    callbacks: Object.fromEntries(HOOK_VERSIONS.map((version) => [version, hooks[version]!.Callbacks!.service])) as Record<HookVersion, ServiceDefinition>,
  };
}
