// The baseline for the webhook benchmark: a bare node:https server on the same certificate that
// parses each JSON body and answers an AdmissionReview allowing it, with no other work.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';

const [certPath, keyPath] = process.argv.slice(2);
const server = createServer({ cert: readFileSync(certPath!), key: readFileSync(keyPath!), minVersion: 'TLSv1.2' }, (request, response) => {
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const review = JSON.parse(Buffer.concat(chunks).toString()) as { request: { uid: string } };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: review.request.uid, allowed: true } }));
  });
});
server.keepAliveTimeout = 65_000;
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ msg: 'serving', port: (server.address() as { port: number }).port })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
