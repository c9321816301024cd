// The floor of the pod-envelope benchmark: the least a Node process can be and still be a hook
// sidecar. node:http2 alone, no gRPC library, no project module: Info answers with a fixed
// message, every callback echoes its request (the result messages reuse the request's field
// numbers for domainXML and cloudInitData, and the client skips the VMI field it does not know),
// Shutdown exits. Runs under the copied node binary: node <this file> SOCKET. Plain JavaScript:
// Node strips TypeScript with a WebAssembly module, which --jitless turns off.
import { Buffer } from 'node:buffer';
import { createServer } from 'node:http2';
import process from 'node:process';
/* global console */

const socketPath = process.argv[2];

/** Length-delimited protobuf field (all lengths here are under 128, one varint byte). */
const field = (number, bytes) => Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);
const text = (value) => Buffer.from(value);
const hookPoint = (name) => field(3, field(1, text(name)));
const INFO = Buffer.concat([
  field(1, text('echo')),
  hookPoint('OnDefineDomain'),
  hookPoint('PreCloudInitIso'),
  hookPoint('Shutdown'),
  field(4, text('v1alpha3')),
]);

/** A gRPC message frame: no compression, 4-byte big-endian length. */
const frame = (message) => {
  const header = Buffer.alloc(5);
  header.writeUInt32BE(message.length, 1);
  return Buffer.concat([header, message]);
};

const server = createServer();
server.on('stream', (stream, headers) => {
  const path = String(headers[':path']);
  const chunks = [];
  stream.on('data', (chunk) => chunks.push(chunk));
  stream.on('end', () => {
    const request = Buffer.concat(chunks).subarray(5);
    const answer = path.endsWith('/Info') ? INFO : path.endsWith('/Shutdown') ? Buffer.alloc(0) : request;
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(frame(answer));
    if (path.endsWith('/Shutdown')) stream.on('close', () => server.close(() => process.exit(0)));
  });
});
server.listen(socketPath, () => console.error('{"msg":"serving"}'));
process.on('SIGTERM', () => process.exit(0));
