// The HTTPS admission endpoint and the plain-HTTP health port. TLS 1.2 at least, an 8 MiB body
// limit, timeouts against slow clients, the serving certificate reloaded in place.
import express, { type NextFunction, type Request, type Response } from 'express';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContextOptions } from 'node:tls';
import type { Logger } from 'pino';
import { admissionResponse, MalformedReviewError, parseAdmissionReview } from './admission-review.ts';
import { admit, type ClusterView } from './admit.ts';
import type { WebhookConfig } from './config.ts';
import type { WebhookMetrics } from './metrics.ts';
import { denyDecision } from './mutation.ts';

export const MUTATE_PATH = '/mutate';
export const DEFAULT_WEBHOOK_PORT = 8443;
export const DEFAULT_HEALTH_PORT = 8080;
export const MAX_BODY_BYTES = 8 * 1024 * 1024;
/** The API server gives a webhook at most 30 s (5 s in our configuration); nothing needs longer. */
const DEFAULT_TIMEOUTS = { headersMs: 10_000, requestMs: 30_000 };

export interface TlsFiles {
  cert: Buffer;
  key: Buffer;
}

export interface WebhookServerOptions {
  port: number;
  healthPort: number;
  /** Loopback in tests; all interfaces in a pod. */
  host?: string;
  tls: TlsFiles;
  cluster: ClusterView & { readonly synced: boolean };
  config: () => WebhookConfig;
  log: Logger;
  metrics: WebhookMetrics;
  /** Against slow clients; the defaults suit the API server's 5 s webhook timeout. */
  timeouts?: { headersMs: number; requestMs: number };
}

export interface WebhookServer {
  port: number;
  healthPort: number;
  /** Replaces the serving certificate for new handshakes; throws, keeping the old one, if it is unusable. */
  setCertificate(tls: TlsFiles): void;
  ready(): boolean;
  /** Stops accepting, lets in-flight reviews finish, then closes. */
  close(): Promise<void>;
}

const TLS_MIN_VERSION = 'TLSv1.2';

function secureContextOptions(tls: TlsFiles): SecureContextOptions {
  return { cert: tls.cert, key: tls.key, minVersion: TLS_MIN_VERSION };
}

function reviewApp(options: WebhookServerOptions): express.Express {
  const { log, metrics } = options;
  const app = express();
  /** Anything that is not a well-formed AdmissionReview: HTTP 400, the reason logged and counted. */
  const refuse = (response: Response, message: string) => {
    metrics.admissions.inc({ kind: 'unknown', operation: 'unknown', outcome: 'malformed' });
    log.warn({ decision: 'malformed', error: message }, 'review refused');
    response.status(400).json({ error: message });
  };
  app.disable('x-powered-by');
  // An ETag is a hash of every response body; the API server never revalidates a review.
  app.set('etag', false);
  app.post(
    MUTATE_PATH,
    (request: Request, response: Response, next: NextFunction) => {
      if (!request.is('application/json')) {
        refuse(response, `AdmissionReview: Content-Type: got ${JSON.stringify(request.headers['content-type'] ?? null)}; expected application/json`);
        return;
      }
      next();
    },
    express.json({ limit: MAX_BODY_BYTES, strict: true, type: 'application/json' }),
    (request: Request, response: Response) => {
      const started = performance.now();
      let review;
      try {
        review = parseAdmissionReview(request.body);
      } catch (error) {
        refuse(response, error instanceof MalformedReviewError ? error.message : String(error));
        return;
      }
      void admit(review, options.cluster, options.config())
        .then((decision) => {
          const answer = admissionResponse(review.uid, decision);
          const ms = performance.now() - started;
          metrics.admissions.inc({ kind: review.kind.kind, operation: review.operation, outcome: decision.outcome });
          metrics.admissionSeconds.observe(ms / 1000);
          log.info(
            {
              uid: review.uid,
              kind: review.kind.kind,
              object: `${review.namespace}/${review.name}`,
              operation: review.operation,
              dryRun: review.dryRun,
              decision: decision.outcome,
              operations: decision.patch.length,
              ms: Math.round(ms * 10) / 10,
            },
            decision.allowed ? 'admitted' : `denied: ${decision.reason}`,
          );
          response.status(200).json(answer);
        })
        .catch((error: unknown) => {
          // A bug, not the user's input: deny (failurePolicy is Fail anyway) and say where to look.
          log.error({ uid: review.uid, error: error instanceof Error ? error.stack : String(error) }, 'review failed');
          metrics.admissions.inc({ kind: review.kind.kind, operation: review.operation, outcome: 'error' });
          response.status(200).json(
            admissionResponse(
              review.uid,
              denyDecision(`kubevirt-vduse webhook internal error (see its log for uid ${review.uid}): ${error instanceof Error ? error.message : String(error)}`),
            ),
          );
        });
    },
  );
  app.use((request: Request, response: Response) => {
    response.status(404).json({ error: `no ${request.method} ${request.path} here; the webhook serves POST ${MUTATE_PATH}` });
  });
  // Body errors from express.json: too large, not JSON, wrong charset.
  app.use((error: Error & { type?: string; status?: number }, _request: Request, response: Response, next: NextFunction) => {
    if (response.headersSent) return next(error);
    const message =
      error.type === 'entity.too.large'
        ? `AdmissionReview: body: larger than the ${MAX_BODY_BYTES / 1024 / 1024} MiB limit`
        : error.type === 'entity.parse.failed'
          ? `AdmissionReview: body: not JSON (${error.message})`
          : `AdmissionReview: body: ${error.message}`;
    refuse(response, message);
  });
  return app;
}

function listen(server: HttpServer | HttpsServer, port: number, host: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: HttpServer | HttpsServer): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Keep-alive connections with no request in flight would hold close() open.
    server.closeIdleConnections();
  });
}

/** The serving certificate's notAfter (the first certificate of the chain), for the expiry alert. */
function certificateExpirySeconds(cert: Buffer): number {
  return Date.parse(new X509Certificate(cert).validTo) / 1000;
}

export async function startWebhookServer(options: WebhookServerOptions): Promise<WebhookServer> {
  const { log, metrics } = options;
  // Fails here, at start-up, on an unusable certificate or key.
  createSecureContext(secureContextOptions(options.tls));
  metrics.certificateExpiry.set(certificateExpirySeconds(options.tls.cert));
  const timeouts = options.timeouts ?? DEFAULT_TIMEOUTS;
  // Node checks the header and request timeouts only every connectionsCheckingInterval.
  const checking = { connectionsCheckingInterval: Math.min(1000, timeouts.headersMs / 3) };
  const https = createHttpsServer({ ...secureContextOptions(options.tls), ...checking }, reviewApp(options));
  https.headersTimeout = timeouts.headersMs;
  https.requestTimeout = timeouts.requestMs;
  https.keepAliveTimeout = 65_000;
  https.on('tlsClientError', (error) => log.debug({ error: error.message }, 'TLS handshake refused'));

  const ready = () => options.cluster.synced;
  const health = createHttpServer(checking, (request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path === '/healthz') {
      response.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    } else if (path === '/readyz') {
      const isReady = ready();
      metrics.ready.set(isReady ? 1 : 0);
      response.writeHead(isReady ? 200 : 503, { 'content-type': 'text/plain' }).end(isReady ? 'ready\n' : 'not ready: caches not synced\n');
    } else if (path === '/metrics') {
      metrics.ready.set(ready() ? 1 : 0);
      void metrics.registry.metrics().then((text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text));
    } else {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz, /readyz or /metrics\n');
    }
  });
  health.headersTimeout = timeouts.headersMs;
  health.requestTimeout = timeouts.headersMs;

  const port = await listen(https, options.port, options.host);
  const healthPort = await listen(health, options.healthPort, options.host);
  let closing: Promise<void> | undefined;
  return {
    port,
    healthPort,
    setCertificate(tls) {
      https.setSecureContext(secureContextOptions(tls));
      metrics.certificateExpiry.set(certificateExpirySeconds(tls.cert));
    },
    ready,
    close() {
      closing ??= Promise.all([closeServer(https), closeServer(health)]).then(() => undefined);
      return closing;
    },
  };
}
