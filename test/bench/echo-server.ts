// The baseline for the sidecar benchmark: a bare grpc-js server on the same .proto files and a unix
// socket, whose OnDefineDomain echoes the domain back without any work.
import { Server, ServerCredentials } from '@grpc/grpc-js';
import { protoClients } from '../helpers/hook-protos.ts';

const socketPath = process.argv[2]!;
const services = protoClients();
const server = new Server();
server.addService(services.info.service, { Info: (_call: unknown, respond: (e: null, r: object) => void) => respond(null, { name: 'echo', hookPoints: [], versions: ['v1alpha3'] }) });
server.addService(services.v1alpha3.service, {
  OnDefineDomain: (call: { request: { domainXML: Buffer } }, respond: (e: null, r: object) => void) => respond(null, { domainXML: call.request.domainXML }),
});
server.bindAsync(`unix:${socketPath}`, ServerCredentials.createInsecure(), () => console.error('"msg":"serving"'));
process.on('SIGTERM', () => server.forceShutdown());
