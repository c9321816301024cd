// Plays the API server against the webhook: AdmissionReviews over HTTPS, verifying the serving
// certificate against the test CA.
import { Agent, request } from 'node:https';
import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { Writable } from 'node:stream';
import { ADMISSION_API_VERSION } from '../../webhook/admission-review.ts';

export interface HttpAnswer {
  status: number;
  body: Record<string, unknown>;
  /** The serial of the certificate the server presented. */
  certificateSerial: string;
}

export function postJson(port: number, ca: Buffer, body: string | Buffer, options: { contentType?: string; agent?: Agent; path?: string } = {}): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: options.path ?? '/mutate',
        ca,
        agent: options.agent,
        headers: { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (response) => {
        // Read now: the socket goes back to the agent (or away) once the body ends.
        const certificateSerial = (response.socket as unknown as { getPeerCertificate(): { serialNumber: string } }).getPeerCertificate().serialNumber;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => {
          try {
            resolve({ status: response.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString()) as Record<string, unknown>, certificateSerial });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

export function reviewOf(object: unknown, options: { operation?: string; kind?: string; namespace?: string; uid?: string; dryRun?: boolean } = {}) {
  const kind = options.kind ?? (object as { kind?: string }).kind ?? 'VirtualMachine';
  return {
    apiVersion: ADMISSION_API_VERSION,
    kind: 'AdmissionReview',
    request: {
      uid: options.uid ?? randomUUID(),
      kind: { group: 'kubevirt.io', version: 'v1', kind },
      resource: { group: 'kubevirt.io', version: 'v1', resource: kind === 'VirtualMachine' ? 'virtualmachines' : 'virtualmachineinstances' },
      operation: options.operation ?? 'CREATE',
      namespace: options.namespace ?? (object as { metadata?: { namespace?: string } }).metadata?.namespace ?? 'default',
      name: (object as { metadata?: { name?: string } }).metadata?.name ?? '',
      userInfo: { username: 'tester' },
      dryRun: options.dryRun ?? false,
      object,
    },
  };
}

export function admissionAnswer(answer: HttpAnswer): { uid: string; allowed: boolean; patch?: string; patchType?: string; warnings?: string[]; status?: { message: string }; auditAnnotations?: Record<string, string> } {
  return (answer.body as { response: ReturnType<typeof admissionAnswer> }).response;
}

export function decodedPatch(answer: HttpAnswer): { op: string; path: string }[] {
  const patch = admissionAnswer(answer).patch;
  return patch ? (JSON.parse(Buffer.from(patch, 'base64').toString()) as { op: string; path: string }[]) : [];
}

/** A kubeconfig object for a server, as the webhook loads one from a file. */
export function kubeConfigFor(file: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(file);
  return kubeConfig;
}

/** A pino logger whose lines the test can read. */
export function capturedLogger(): { log: Logger; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}
