// The hand-written hook protocol against sidecar/proto/ as protobufjs reads it: same services, same
// paths, same fields, and bytes that each side decodes from the other.
import type { MethodDefinition } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { HOOK_MESSAGES, HOOK_SERVICES, HOOK_VERSIONS } from '../../sidecar/hook-protocol.ts';
import { decodeMessage, encodeMessage, type MessageSchema, WireFormatError } from '../../sidecar/protobuf-wire.ts';
import { loadProtoDefinition } from '../helpers/hook-protos.ts';

const protos = loadProtoDefinition();
type ProtoMethod = MethodDefinition<object, object> & { requestType: { type: { name: string } }; responseType: { type: { name: string } } };
interface ProtoMessageType {
  type: { field: { name: string; number: number; label: string; type: string; typeName: string }[] };
}

const protoServices: Record<string, string> = { info: 'kubevirt.hooks.info.Info', ...Object.fromEntries(HOOK_VERSIONS.map((v) => [v, `kubevirt.hooks.${v}.Callbacks`])) };
const ourServices = { info: HOOK_SERVICES.info, ...HOOK_SERVICES.callbacks };

/** A protobufjs method definition, either direction. */
function protoMethod(service: string, name: string): ProtoMethod {
  return (protos[protoServices[service]!] as Record<string, ProtoMethod>)[name]!;
}

const SAMPLES: Record<keyof typeof HOOK_MESSAGES, Record<string, unknown>> = {
  InfoParams: {},
  InfoResult: { name: 'vduse', hookPoints: [{ name: 'OnDefineDomain', priority: 0 }, { name: 'Shutdown', priority: -7 }, { name: 'PreCloudInitIso', priority: 2_147_483_647 }], versions: ['v1alpha3', 'v1alpha2', 'v1alpha1'] },
  HookPoint: { name: 'ünïcode ✓', priority: -2_147_483_648 },
  OnDefineDomainParams: { domainXML: Buffer.from('<domain type="kvm">' + 'x'.repeat(70_000) + '</domain>'), vmi: Buffer.from('{"kind":"VirtualMachineInstance"}') },
  OnDefineDomainResult: { domainXML: Buffer.from([0, 1, 2, 255]) },
  PreCloudInitIsoParams: { cloudInitNoCloudSource: Buffer.from('{}'), vmi: Buffer.from('{}'), cloudInitData: Buffer.from('{"UserData":"#cloud-config\\n"}') },
  PreCloudInitIsoResult: { cloudInitNoCloudSource: Buffer.alloc(0), cloudInitData: Buffer.from('{"UserData":""}') },
  ShutdownParams: {},
  ShutdownResult: {},
};

describe('hook protocol definitions', () => {
  it('have exactly the services and rpcs of the .proto files, with the same paths', () => {
    for (const [service, ours] of Object.entries(ourServices)) {
      const theirs = protos[protoServices[service]!] as Record<string, ProtoMethod>;
      expect(Object.keys(ours).sort(), service).toEqual(Object.keys(theirs).sort());
      for (const [name, method] of Object.entries(ours)) {
        expect(method.path).toBe(theirs[name]!.path);
        expect([method.requestStream, method.responseStream]).toEqual([false, false]);
      }
    }
  });

  it('give every message the fields of the .proto files: names, numbers, types, repetition', () => {
    const protoType = (name: string) => Object.entries(protos).find(([fullName]) => fullName.endsWith(`.${name}`))![1] as unknown as ProtoMessageType;
    for (const [name, schema] of Object.entries(HOOK_MESSAGES) as [string, MessageSchema][]) {
      const fields = protoType(name).type.field.map((field) => ({
        name: field.name,
        number: field.number,
        repeated: field.label === 'LABEL_REPEATED',
        type: field.type === 'TYPE_MESSAGE' ? field.typeName.split('.').pop() : field.type.replace('TYPE_', '').toLowerCase(),
      }));
      const ours = Object.entries(schema).map(([fieldName, spec]) => ({
        name: fieldName,
        number: spec.number,
        repeated: spec.repeated === true,
        type: typeof spec.kind === 'string' ? spec.kind : Object.entries(HOOK_MESSAGES).find(([, candidate]) => candidate === spec.kind)![0],
      }));
      expect(ours, name).toEqual(fields);
    }
  });
});

describe('hook protocol wire format against protobufjs', () => {
  const methods = Object.entries(ourServices).flatMap(([service, definition]) =>
    Object.entries(definition).map(([name, method]) => ({ service, name, ours: method, theirs: protoMethod(service, name) })),
  );
  const messageOf = (protoName: string) => SAMPLES[protoName as keyof typeof SAMPLES];

  it.each(methods.map((m) => [`${m.service}/${m.name}`, m] as const))('%s: requests and responses decode on the other side', (_label, { ours, theirs }) => {
    for (const direction of ['request', 'response'] as const) {
      const sample = messageOf(theirs[`${direction}Type`].type.name);
      const serialize = direction === 'request' ? 'requestSerialize' : 'responseSerialize';
      const deserialize = direction === 'request' ? 'requestDeserialize' : 'responseDeserialize';
      expect(theirs[deserialize](ours[serialize](sample)), `ours -> protobufjs, ${direction}`).toEqual(sample);
      expect(ours[deserialize](theirs[serialize](sample)), `protobufjs -> ours, ${direction}`).toEqual(sample);
    }
  });

  it('gives proto3 defaults for fields left out, and leaves defaults off the wire', () => {
    expect(encodeMessage(HOOK_MESSAGES.InfoResult, { name: '', hookPoints: [], versions: [] })).toHaveLength(0);
    expect(decodeMessage(HOOK_MESSAGES.PreCloudInitIsoParams, Buffer.alloc(0))).toEqual({
      cloudInitNoCloudSource: Buffer.alloc(0),
      vmi: Buffer.alloc(0),
      cloudInitData: Buffer.alloc(0),
    });
  });

  it('skips fields it does not know, of every wire type, as a newer virt-launcher may send them', () => {
    const known = encodeMessage(HOOK_MESSAGES.OnDefineDomainParams, { domainXML: Buffer.from('<domain/>'), vmi: Buffer.from('{}') });
    const unknown = Buffer.from([
      (9 << 3) | 0, 0x96, 0x01, // varint 150
      (10 << 3) | 1, 1, 2, 3, 4, 5, 6, 7, 8, // fixed64
      (11 << 3) | 2, 3, 0x61, 0x62, 0x63, // length-delimited "abc"
      (12 << 3) | 5, 1, 2, 3, 4, // fixed32
    ]);
    expect(decodeMessage(HOOK_MESSAGES.OnDefineDomainParams, Buffer.concat([unknown, known]))).toEqual({ domainXML: Buffer.from('<domain/>'), vmi: Buffer.from('{}') });
  });

  it.each([
    ['a truncated length', Buffer.from([(1 << 3) | 2, 10, 0x61]), /runs past the end/],
    ['a truncated varint', Buffer.from([(1 << 3) | 2, 0x80]), /truncated varint/],
    ['an eleven-byte varint', Buffer.from([(1 << 3) | 2, ...Array<number>(10).fill(0xff), 1]), /longer than ten bytes/],
    ['a known field with the wrong wire type', Buffer.from([(1 << 3) | 0, 1]), /domainXML \(1\) has wire type 0; expected 2/],
    ['a group wire type', Buffer.from([(7 << 3) | 3]), /wire type 3/],
  ])('refuses %s with a WireFormatError', (_label, bytes, message) => {
    expect(() => decodeMessage(HOOK_MESSAGES.OnDefineDomainParams, bytes)).toThrow(WireFormatError);
    expect(() => decodeMessage(HOOK_MESSAGES.OnDefineDomainParams, bytes)).toThrow(message);
  });
});
