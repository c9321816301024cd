// The hook protocol loaded from sidecar/proto/ by proto-loader (protobufjs), with keepCase as
// KubeVirt's field names need, and proto3 defaults filled in as Go's zero values are: an implementation independent of sidecar/hook-protocol.ts, for
// clients that play virt-launcher and for checking the hand-written definitions against.
import { loadPackageDefinition, type ServiceClientConstructor } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { HOOK_VERSIONS } from '../../sidecar/hook-protocol.ts';
import { projectFile } from './fixtures.ts';

export const PROTO_FILES = ['info.proto', ...HOOK_VERSIONS.map((version) => `${version}.proto`)];

export function loadProtoDefinition() {
  return loadSync(PROTO_FILES, { keepCase: true, defaults: true, includeDirs: [projectFile('sidecar', 'proto')] });
}

/** Client constructors by service: 'info', 'v1alpha1', 'v1alpha2', 'v1alpha3'. */
export function protoClients(): Record<'info' | (typeof HOOK_VERSIONS)[number], ServiceClientConstructor> {
  const hooks = (loadPackageDefinition(loadProtoDefinition()).kubevirt as unknown as { hooks: Record<string, Record<string, ServiceClientConstructor>> }).hooks;
  return {
    info: hooks.info!.Info!,
    ...(Object.fromEntries(HOOK_VERSIONS.map((version) => [version, hooks[version]!.Callbacks!])) as Record<(typeof HOOK_VERSIONS)[number], ServiceClientConstructor>),
  };
}
