// KubeVirt's hook protocol as grpc-js-shaped service definitions (type-only: the sidecar serves them
// with sidecar/grpc-unary-server.ts, the tests call them with grpc-js), written out from sidecar/proto/ with the
// field names as KubeVirt spells them (domainXML, hookPoints), which is what keepCase gives.
// test/unit/hook-protocol.test.ts holds these against the .proto files loaded by proto-loader.
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';
import { decodeMessage, encodeMessage, type MessageInput, type MessageOf, type MessageSchema } from './protobuf-wire.ts';

export const HOOK_VERSIONS = ['v1alpha3', 'v1alpha2', 'v1alpha1'] as const;
export type HookVersion = (typeof HOOK_VERSIONS)[number];
export const HOOK_POINTS = ['OnDefineDomain', 'PreCloudInitIso', 'Shutdown'] as const;
export type HookPointName = (typeof HOOK_POINTS)[number];

const EMPTY = {} as const satisfies MessageSchema;
const HOOK_POINT = { name: { number: 1, kind: 'string' }, priority: { number: 2, kind: 'int32' } } as const satisfies MessageSchema;

/** Every message, by the name the .proto files give it. */
export const HOOK_MESSAGES = {
  InfoParams: EMPTY,
  InfoResult: {
    name: { number: 1, kind: 'string' },
    hookPoints: { number: 3, kind: HOOK_POINT, repeated: true },
    versions: { number: 4, kind: 'string', repeated: true },
  },
  HookPoint: HOOK_POINT,
  OnDefineDomainParams: { domainXML: { number: 1, kind: 'bytes' }, vmi: { number: 2, kind: 'bytes' } },
  OnDefineDomainResult: { domainXML: { number: 1, kind: 'bytes' } },
  PreCloudInitIsoParams: {
    cloudInitNoCloudSource: { number: 1, kind: 'bytes' },
    vmi: { number: 2, kind: 'bytes' },
    cloudInitData: { number: 3, kind: 'bytes' },
  },
  PreCloudInitIsoResult: { cloudInitNoCloudSource: { number: 1, kind: 'bytes' }, cloudInitData: { number: 3, kind: 'bytes' } },
  ShutdownParams: EMPTY,
  ShutdownResult: EMPTY,
} as const satisfies Record<string, MessageSchema>;

type Messages = typeof HOOK_MESSAGES;
export type HookMessage<Name extends keyof Messages> = MessageOf<Messages[Name]>;
export type HookMessageInput<Name extends keyof Messages> = MessageInput<Messages[Name]>;

/** rpc name -> [request message, response message]. */
const INFO_METHODS = { Info: ['InfoParams', 'InfoResult'] } as const;
const CALLBACK_METHODS = {
  OnDefineDomain: ['OnDefineDomainParams', 'OnDefineDomainResult'],
  PreCloudInitIso: ['PreCloudInitIsoParams', 'PreCloudInitIsoResult'],
  Shutdown: ['ShutdownParams', 'ShutdownResult'],
} as const;

/** Which callbacks each version has: PreCloudInitIso came with v1alpha2, Shutdown with v1alpha3. */
export const CALLBACKS_BY_VERSION: Record<HookVersion, readonly (keyof typeof CALLBACK_METHODS)[]> = {
  v1alpha1: ['OnDefineDomain'],
  v1alpha2: ['OnDefineDomain', 'PreCloudInitIso'],
  v1alpha3: ['OnDefineDomain', 'PreCloudInitIso', 'Shutdown'],
};

function method(service: string, name: string, request: keyof Messages, response: keyof Messages): MethodDefinition<unknown, unknown> {
  return {
    path: `/${service}/${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (value) => encodeMessage(HOOK_MESSAGES[request], value as MessageInput<MessageSchema>),
    requestDeserialize: (bytes) => decodeMessage(HOOK_MESSAGES[request], bytes),
    responseSerialize: (value) => encodeMessage(HOOK_MESSAGES[response], value as MessageInput<MessageSchema>),
    responseDeserialize: (bytes) => decodeMessage(HOOK_MESSAGES[response], bytes),
    originalName: name,
  };
}

export interface HookServices {
  info: ServiceDefinition;
  callbacks: Record<HookVersion, ServiceDefinition>;
}

export const HOOK_SERVICES: HookServices = {
  info: Object.fromEntries(Object.entries(INFO_METHODS).map(([name, [request, response]]) => [name, method('kubevirt.hooks.info.Info', name, request, response)])),
  callbacks: Object.fromEntries(
    HOOK_VERSIONS.map((version) => [
      version,
      Object.fromEntries(
        CALLBACKS_BY_VERSION[version].map((name) => {
          const [request, response] = CALLBACK_METHODS[name];
          return [name, method(`kubevirt.hooks.${version}.Callbacks`, name, request, response)];
        }),
      ),
    ]),
  ) as Record<HookVersion, ServiceDefinition>,
};
