// A protobuf wire codec for the hook protocol's few small proto3 messages. Parsing .proto files at
// run time (proto-loader, protobufjs) cost the sidecar about 11 MiB of its 64M (61.0 MiB) budget and a
// good part of its start-up CPU; these messages need only varints and length-delimited fields.
// test/unit/hook-protocol.test.ts checks every message against protobufjs and sidecar/proto/.

export type ScalarKind = 'bytes' | 'string' | 'int32';

export interface FieldSpec {
  number: number;
  kind: ScalarKind | MessageSchema;
  repeated?: true;
}

export type MessageSchema = Readonly<Record<string, FieldSpec>>;

type ScalarValue<Kind> = Kind extends 'bytes' ? Buffer : Kind extends 'string' ? string : Kind extends 'int32' ? number : never;
type FieldValue<Spec extends FieldSpec> = Spec['kind'] extends MessageSchema ? MessageOf<Spec['kind']> : ScalarValue<Spec['kind']>;

/** The decoded shape of a message: proto3 gives every field its default, so none is optional. */
export type MessageOf<Schema extends MessageSchema> = {
  -readonly [Name in keyof Schema]: Schema[Name]['repeated'] extends true ? FieldValue<Schema[Name]>[] : FieldValue<Schema[Name]>;
};

/** What an encoder accepts: any field may be left out and gets proto3's default. */
export type MessageInput<Schema extends MessageSchema> = Partial<MessageOf<Schema>>;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

export class WireFormatError extends Error {
  override name = 'WireFormatError';
}

function varint(value: number, out: number[]): void {
  // int32 negatives are sign-extended to 64 bits on the wire: ten bytes.
  let low = value >>> 0;
  let high = value < 0 ? 0xffffffff : 0;
  while (high !== 0 || low > 0x7f) {
    out.push((low & 0x7f) | 0x80);
    low = ((low >>> 7) | (high << 25)) >>> 0;
    high >>>= 7;
  }
  out.push(low);
}

const wireTypeOf = (spec: FieldSpec): number => (spec.kind === 'int32' ? WIRE_VARINT : WIRE_LENGTH_DELIMITED);

function encodeField(spec: FieldSpec, value: unknown, chunks: Buffer[]): void {
  const header: number[] = [];
  varint((spec.number << 3) | wireTypeOf(spec), header);
  if (spec.kind === 'int32') {
    varint(Number(value), header);
    chunks.push(Buffer.from(header));
    return;
  }
  const body =
    spec.kind === 'bytes' ? (value as Buffer) : spec.kind === 'string' ? Buffer.from(String(value), 'utf8') : encodeMessage(spec.kind, value as MessageInput<MessageSchema>);
  varint(body.length, header);
  chunks.push(Buffer.from(header), body);
}

function isDefault(spec: FieldSpec, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (spec.kind === 'int32') return value === 0;
  if (spec.kind === 'string' || spec.kind === 'bytes') return (value as { length: number }).length === 0;
  return false;
}

export function encodeMessage<Schema extends MessageSchema>(schema: Schema, message: MessageInput<Schema>): Buffer {
  const chunks: Buffer[] = [];
  for (const [name, spec] of Object.entries(schema)) {
    const value: unknown = (message as Record<string, unknown>)[name];
    if (spec.repeated) {
      for (const item of (value as unknown[] | undefined) ?? []) encodeField(spec, item, chunks);
    } else if (!isDefault(spec, value)) {
      encodeField(spec, value, chunks);
    }
  }
  return Buffer.concat(chunks);
}

class Reader {
  offset = 0;
  readonly bytes: Buffer;

  constructor(bytes: Buffer) {
    this.bytes = bytes;
  }

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  /** The low 32 bits of a varint of up to ten bytes, as protobuf reads an int32. */
  varint(): number {
    let low = 0;
    for (let shift = 0; shift < 70; shift += 7) {
      if (this.done) throw new WireFormatError('truncated varint');
      const byte = this.bytes[this.offset++]!;
      if (shift < 32) low |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return low;
    }
    throw new WireFormatError('varint longer than ten bytes');
  }

  take(length: number): Buffer {
    if (length < 0 || this.offset + length > this.bytes.length) throw new WireFormatError(`field of ${length} bytes runs past the end of the message`);
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  skip(wireType: number, fieldNumber: number): void {
    if (wireType === WIRE_VARINT) this.varint();
    else if (wireType === WIRE_FIXED64) this.take(8);
    else if (wireType === WIRE_LENGTH_DELIMITED) this.take(this.varint() >>> 0);
    else if (wireType === WIRE_FIXED32) this.take(4);
    else throw new WireFormatError(`field ${fieldNumber} has wire type ${wireType}, which proto3 does not use`);
  }
}

function defaultOf(spec: FieldSpec): unknown {
  if (spec.repeated) return [];
  if (spec.kind === 'bytes') return Buffer.alloc(0);
  if (spec.kind === 'string') return '';
  if (spec.kind === 'int32') return 0;
  return decodeMessage(spec.kind, Buffer.alloc(0));
}

/** Each schema's fields by number, built once: decoding is on every call's path. */
const fieldIndexes = new WeakMap<MessageSchema, Map<number, { name: string; spec: FieldSpec }>>();

function fieldIndex(schema: MessageSchema): Map<number, { name: string; spec: FieldSpec }> {
  let index = fieldIndexes.get(schema);
  if (!index) {
    index = new Map(Object.entries(schema).map(([name, spec]) => [spec.number, { name, spec }]));
    fieldIndexes.set(schema, index);
  }
  return index;
}

export function decodeMessage<Schema extends MessageSchema>(schema: Schema, bytes: Buffer): MessageOf<Schema> {
  const byNumber = fieldIndex(schema);
  const message: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(schema)) message[name] = defaultOf(spec);
  const reader = new Reader(bytes);
  while (!reader.done) {
    const tag = reader.varint() >>> 0;
    const fieldNumber = tag >>> 3;
    const wireType = tag & 7;
    const field = byNumber.get(fieldNumber);
    if (!field) {
      reader.skip(wireType, fieldNumber);
      continue;
    }
    const { name, spec } = field;
    const expectedWireType = wireTypeOf(spec);
    if (wireType !== expectedWireType) throw new WireFormatError(`field ${name} (${fieldNumber}) has wire type ${wireType}; expected ${expectedWireType}`);
    let value: unknown;
    if (spec.kind === 'int32') {
      value = reader.varint();
    } else {
      const body = reader.take(reader.varint() >>> 0);
      value = spec.kind === 'bytes' ? body : spec.kind === 'string' ? body.toString('utf8') : decodeMessage(spec.kind, body);
    }
    if (spec.repeated) (message[name] as unknown[]).push(value);
    else message[name] = value;
  }
  return message as MessageOf<Schema>;
}
