// The webhook's Prometheus metrics, in a registry of its own (served on the health port).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export function createWebhookMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const metrics = {
    registry,
    admissions: new Counter({
      name: 'vduse_webhook_admissions_total',
      help: 'Admission reviews answered, by kind, operation and outcome (mutated, unchanged, skipped, denied, malformed).',
      labelNames: ['kind', 'operation', 'outcome'] as const,
      registers: [registry],
    }),
    admissionSeconds: new Histogram({
      name: 'vduse_webhook_admission_duration_seconds',
      help: 'Time from a review arriving to its answer.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 2.5],
      registers: [registry],
    }),
    lookups: new Counter({
      name: 'vduse_webhook_lookups_total',
      help: 'Lookups of Namespaces, NetworkAttachmentDefinitions, the KubeVirt CR, instancetypes and preferences, by resource, source (cache, api) and result.',
      labelNames: ['resource', 'source', 'result'] as const,
      registers: [registry],
    }),
    informerRestarts: new Counter({
      name: 'vduse_webhook_informer_restarts_total',
      help: 'Informer restarts after a failed list or watch.',
      labelNames: ['resource'] as const,
      registers: [registry],
    }),
    configReloads: new Counter({
      name: 'vduse_webhook_config_reloads_total',
      help: 'Config file reloads, by result (applied, rejected).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    certificateReloads: new Counter({
      name: 'vduse_webhook_certificate_reloads_total',
      help: 'Serving certificate reloads, by result (applied, rejected).',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    certificateExpiry: new Gauge({
      name: 'vduse_webhook_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate in use expires (notAfter), in seconds since the epoch.',
      registers: [registry],
    }),
    ready: new Gauge({ name: 'vduse_webhook_ready', help: '1 when the certificate is loaded and the caches have synced.', registers: [registry] }),
  };
  return metrics;
}

export type WebhookMetrics = ReturnType<typeof createWebhookMetrics>;
