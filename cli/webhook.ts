// kubevirt-vduse webhook: the admission server.
import { accessSync, constants } from 'node:fs';
import { pino } from 'pino';
import { InvalidInputError } from '../api/errors.ts';
import { ClusterClients } from '../cluster/clients.ts';
import { kubeConfigFrom } from '../cluster/kubeconfig.ts';
import { InformerClusterView } from '../webhook/cluster-cache.ts';
import { DEFAULT_CONFIG, parseWebhookConfig, type WebhookConfig } from '../webhook/config.ts';
import { createWebhookMetrics } from '../webhook/metrics.ts';
import { DEFAULT_HEALTH_PORT, DEFAULT_WEBHOOK_PORT, MUTATE_PATH, startWebhookServer } from '../webhook/server.ts';
import { DEFAULT_POLL_INTERVAL_MS, readFiles, watchFiles } from '../webhook/watched-file.ts';
import { kubevirtStyleLog } from './diagnostics.ts';
import { type Command, durationOption, EXIT_OK, type OptionValues, stringOption } from './command.ts';

/** How long in-flight reviews get after SIGTERM; the pod's grace period is longer. */
const DRAIN_TIMEOUT_MS = 20_000;

function portOption(values: OptionValues, name: string): number {
  const text = stringOption(values, name);
  const port = Number(text);
  if (!/^\d+$/.test(text) || port < 0 || port > 65535) throw new InvalidInputError('arguments', `--${name}`, text, 'a TCP port from 0 to 65535');
  return port;
}

/** readFiles, with the flag named when a file cannot be read. */
function readFlagFiles(flags: Record<string, string>): ReturnType<typeof readFiles> {
  for (const [flag, path] of Object.entries(flags)) {
    try {
      accessSync(path, constants.R_OK);
    } catch (error) {
      throw new InvalidInputError('arguments', `--${flag}`, path, `a readable file (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
    }
  }
  return readFiles(Object.values(flags));
}

function readConfigFile(path: string): { config: WebhookConfig; digest: string } {
  const { contents, digest } = readFlagFiles({ config: path });
  return { config: parseWebhookConfig(contents[0]!.toString('utf8'), path), digest };
}

export const webhookCommand: Command = {
  name: 'webhook',
  description:
    `HTTPS (TLS 1.2 or later) on --port serves POST ${MUTATE_PATH} for AdmissionReview admission.k8s.io/v1.\n` +
    'Plain HTTP on --health-port serves /healthz, /readyz (ready once the Namespace and\n' +
    'NetworkAttachmentDefinition caches have synced) and /metrics. The certificate, the key and the\n' +
    'config file are re-read when their content changes; an invalid new config is logged and the old one kept.\n' +
    'SIGTERM stops accepting, finishes the reviews in flight and exits 0.',
  options: {
    'tls-cert': { type: 'string', placeholder: 'FILE', required: true, description: 'the serving certificate (PEM), with its chain' },
    'tls-key': { type: 'string', placeholder: 'FILE', required: true, description: 'the private key (PEM)' },
    port: { type: 'string', placeholder: 'PORT', default: String(DEFAULT_WEBHOOK_PORT), description: 'the HTTPS port' },
    'health-port': { type: 'string', placeholder: 'PORT', default: String(DEFAULT_HEALTH_PORT), description: 'the plain-HTTP port for probes and metrics' },
    config: { type: 'string', placeholder: 'FILE', description: 'the config file (YAML, see webhook/README.md); built-in defaults without it' },
    kubeconfig: { type: 'string', placeholder: 'FILE', description: 'a kubeconfig; the in-cluster service account without it' },
    'reload-interval': {
      type: 'string',
      placeholder: 'DURATION',
      default: String(DEFAULT_POLL_INTERVAL_MS / 1000),
      description: 'how often the certificate, key and config are checked for changes (seconds)',
    },
  },
  async run(values) {
    // Asynchronous: a review does not wait for its log line to reach the pipe. Flushed on exit.
    const log = pino(kubevirtStyleLog({ component: 'webhook' }), pino.destination({ sync: false }));
    const reloadMs = durationOption(values, 'reload-interval');
    const configPath = typeof values.config === 'string' ? values.config : undefined;
    // Bad config or certificate at start-up: exit with the error, before anything listens.
    const initialConfig = configPath ? readConfigFile(configPath) : { config: DEFAULT_CONFIG, digest: '' };
    let config = initialConfig.config;
    const tlsPaths = [stringOption(values, 'tls-cert'), stringOption(values, 'tls-key')];
    const tls = readFlagFiles({ 'tls-cert': tlsPaths[0]!, 'tls-key': tlsPaths[1]! });

    const metrics = createWebhookMetrics();
    const cluster = new InformerClusterView(new ClusterClients(kubeConfigFrom(typeof values.kubeconfig === 'string' ? values.kubeconfig : undefined)), log, metrics);
    cluster.start();
    const server = await startWebhookServer({
      port: portOption(values, 'port'),
      healthPort: portOption(values, 'health-port'),
      tls: { cert: tls.contents[0]!, key: tls.contents[1]! },
      cluster,
      config: () => config,
      log,
      metrics,
    });

    const watchers = [
      watchFiles(
        tlsPaths,
        tls.digest,
        reloadMs,
        ([cert, key]) => {
          server.setCertificate({ cert: cert!, key: key! });
          metrics.certificateReloads.inc({ result: 'applied' });
          log.info('serving certificate reloaded');
        },
        (error, stage) => {
          if (stage === 'apply') metrics.certificateReloads.inc({ result: 'rejected' });
          log.warn({ error: (error as Error).message, stage }, 'certificate not reloaded; still serving the previous one');
        },
      ),
    ];
    if (configPath) {
      watchers.push(
        watchFiles(
          [configPath],
          initialConfig.digest,
          reloadMs,
          ([text]) => {
            config = parseWebhookConfig(text!.toString('utf8'), configPath);
            metrics.configReloads.inc({ result: 'applied' });
            log.info({ pluginName: config.pluginName, resourceName: config.resourceName }, 'config reloaded');
          },
          (error, stage) => {
            if (stage === 'apply') metrics.configReloads.inc({ result: 'rejected' });
            log.error({ error: (error as Error).message, stage }, 'config not reloaded; keeping the previous one');
          },
        ),
      );
    }
    log.info({ port: server.port, healthPort: server.healthPort, path: MUTATE_PATH }, 'serving');

    await new Promise<void>((resolve) => {
      const stop = (signal: string) => {
        log.info({ signal }, 'draining');
        for (const watcher of watchers) watcher.stop();
        cluster.stop();
        setTimeout(() => {
          log.warn('in-flight reviews did not finish in time; exiting');
          resolve();
        }, DRAIN_TIMEOUT_MS).unref();
        void server.close().then(resolve);
      };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    log.info('stopped');
    log.flush();
    return EXIT_OK;
  },
};
