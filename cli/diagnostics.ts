// Diagnostics go to stderr: readable text on a terminal, JSON lines otherwise (cli/json-lines.ts),
// so that logs collected from containers stay machine-readable.
import type { LoggerOptions } from 'pino';
import { jsonLineLogger, type LineLogger } from './json-lines.ts';

/**
 * pino's options for JSON log lines as KubeVirt's components write them, for the webhook: a string
 * level ("info", "error") and an RFC 3339 timestamp under "timestamp" (kubevirt.io/client-go/log), so
 * one log pipeline reads both; cli/json-lines.ts writes the same shape without pino.
 */
export function kubevirtStyleLog(base: Record<string, string> | undefined): LoggerOptions {
  return {
    base: base ?? null,
    messageKey: 'msg',
    formatters: { level: (label) => ({ level: label }) },
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
  };
}

let logger: LineLogger | undefined;

export function reportError(command: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (process.stderr.isTTY) {
    process.stderr.write(`kubevirt-vduse ${command}: error: ${message}\n`);
    return;
  }
  logger ??= jsonLineLogger();
  logger.error({ command, error: error instanceof Error ? error.name : 'Error' }, message);
}

export function reportInfo(command: string, message: string): void {
  if (process.stderr.isTTY) {
    process.stderr.write(`kubevirt-vduse ${command}: ${message}\n`);
    return;
  }
  logger ??= jsonLineLogger();
  logger.info({ command }, message);
}
