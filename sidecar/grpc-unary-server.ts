// Unary gRPC over node:http2 on a unix socket: all KubeVirt's hook manager (grpc-go) asks of a
// sidecar. The sidecar used grpc-js for this; grpc-js and the node:http/tls modules it pulls in were
// most of the sidecar's start-up CPU and memory at cpu 200m (test/bench/ pod envelope), and start-up
// is VM start-up. What is implemented, from the gRPC over HTTP/2 protocol
// (PROTOCOL-HTTP2.md in grpc/grpc): POST with an application/grpc content type; one
// length-prefixed, uncompressed message each way; the status in trailers, or trailers-only for an
// error; grpc-message percent-encoded. Anything else is answered with UNIMPLEMENTED, or refused
// without a crash. Clients (grpc-go in virt-launcher, grpc-js in the tests) are tested against it:
// test/integration/sidecar-server.test.ts, hostile-network.test.ts, and KubeVirt's own hook
// manager in test/cluster/virt-launcher.test.ts.
import { createServer, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';

/** The gRPC status codes the sidecar answers with (grpc/include/grpcpp/impl/codegen/status_code_enum.h). */
export const GRPC_STATUS = { OK: 0, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, FAILED_PRECONDITION: 9, UNIMPLEMENTED: 12, INTERNAL: 13 } as const;
export type GrpcStatusName = keyof typeof GRPC_STATUS;

/** A call's failure, with the status the client gets. */
export class GrpcError extends Error {
  readonly code: GrpcStatusName;
  constructor(code: GrpcStatusName, message: string) {
    super(message);
    this.code = code;
  }
}

export interface UnaryMethod {
  /** "/kubevirt.hooks.info.Info/Info". */
  path: string;
  decode(bytes: Buffer): unknown;
  encode(value: unknown): Buffer;
  /** The answer, or a GrpcError (any other error is INTERNAL). */
  handle(request: unknown): Promise<unknown>;
}

export interface UnaryServer {
  /** Stops accepting, lets the calls in progress finish for up to graceMs, then drops the connections. */
  close(graceMs: number): Promise<void>;
}

/** gRPC's default largest message (grpc-go and grpc-js alike); KubeVirt's domain XML and VMI are tens of kB. */
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;
const FRAME_HEADER_BYTES = 5;

/** grpc-message: percent-encoded UTF-8, every byte outside printable ASCII and "%" itself. */
export function encodeGrpcMessage(message: string): string {
  let encoded = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    encoded += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return encoded;
}

function frame(message: Buffer): Buffer {
  const header = Buffer.alloc(FRAME_HEADER_BYTES);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
}

/** An error answered as trailers only: status 200, the gRPC status in the headers, no body. */
function answerError(stream: ServerHttp2Stream, code: GrpcStatusName, message: string): void {
  if (stream.destroyed || stream.closed || stream.headersSent) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(GRPC_STATUS[code]), 'grpc-message': encodeGrpcMessage(message) }, { endStream: true });
}

function answer(stream: ServerHttp2Stream, message: Buffer): void {
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
  stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': String(GRPC_STATUS.OK) }));
  stream.end(frame(message));
}

/** The one message of a unary request body, or why it is not one. */
function requestMessage(body: Buffer): Buffer | GrpcError {
  if (body.length < FRAME_HEADER_BYTES) return new GrpcError('INTERNAL', `request body of ${body.length} bytes: expected a gRPC message frame`);
  if (body[0] !== 0) return new GrpcError('UNIMPLEMENTED', 'compressed messages are not supported: send them uncompressed');
  const length = body.readUInt32BE(1);
  if (body.length !== FRAME_HEADER_BYTES + length) return new GrpcError('INTERNAL', `request frame says ${length} bytes, the body has ${body.length - FRAME_HEADER_BYTES}: expected exactly one message`);
  return body.subarray(FRAME_HEADER_BYTES);
}

function serveStream(methods: ReadonlyMap<string, UnaryMethod>, stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  // A client that goes away mid-call is not an error of the server's.
  stream.on('error', () => undefined);
  const path = headers[':path'] ?? '';
  const contentType = headers['content-type'] ?? '';
  if (headers[':method'] !== 'POST' || !contentType.startsWith('application/grpc')) {
    if (!stream.destroyed) stream.respond({ ':status': 415 }, { endStream: true });
    stream.resume();
    return;
  }
  const method = methods.get(path);
  if (!method) {
    answerError(stream, 'UNIMPLEMENTED', `unknown method ${path}`);
    stream.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  stream.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_REQUEST_BYTES + FRAME_HEADER_BYTES) {
      answerError(stream, 'RESOURCE_EXHAUSTED', `request larger than ${MAX_REQUEST_BYTES} bytes`);
      stream.close();
      return;
    }
    chunks.push(chunk);
  });
  stream.on('end', () => {
    if (stream.headersSent) return;
    const message = requestMessage(Buffer.concat(chunks));
    if (message instanceof GrpcError) {
      answerError(stream, message.code, message.message);
      return;
    }
    let request: unknown;
    try {
      request = method.decode(message);
    } catch (error) {
      answerError(stream, 'INTERNAL', `cannot decode the request: ${(error as Error).message}`);
      return;
    }
    method.handle(request).then(
      (response) => answer(stream, method.encode(response)),
      (error: unknown) => (error instanceof GrpcError ? answerError(stream, error.code, error.message) : answerError(stream, 'INTERNAL', error instanceof Error ? error.message : String(error))),
    );
  });
}

/** Listens on the unix socket, which must not exist. */
export async function listenUnary(socketPath: string, methods: readonly UnaryMethod[]): Promise<UnaryServer> {
  const byPath = new Map(methods.map((method) => [method.path, method]));
  const sessions = new Set<Http2Session>();
  const server = createServer();
  server.on('session', (session) => {
    sessions.add(session);
    // Garbage on the socket ends that connection, never the process.
    session.on('error', () => undefined);
    session.on('close', () => sessions.delete(session));
  });
  server.on('stream', (stream, headers) => serveStream(byPath, stream, headers));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    close(graceMs) {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const session of sessions) session.close();
        // A client that never finishes must not hold the process past KubeVirt's grace period.
        setTimeout(() => {
          for (const session of sessions) session.destroy();
          resolve();
        }, graceMs).unref();
      });
      return closing;
    },
  };
}
