// Diagnostics go to stderr: readable text on a terminal, JSON lines (pino) otherwise, so that logs
// collected from containers stay machine-readable.
import { type LoggerOptions, pino } from 'pino';

/**
 * JSON log lines as KubeVirt's components write them: a string level ("info", "error") and an
 * RFC 3339 timestamp under "timestamp" (kubevirt.io/client-go/log), so one log pipeline reads both.
 */
export function kubevirtStyleLog(base: Record<string, string> | undefined): LoggerOptions {
  return {
    base: base ?? null,
    messageKey: 'msg',
    formatters: { level: (label) => ({ level: label }) },
    timestamp: () => `,"timestamp":"${new Date().toISOString()}"`,
  };
}

const jsonLogger = () => pino(kubevirtStyleLog(undefined), pino.destination({ fd: 2, sync: true }));
let logger: ReturnType<typeof jsonLogger> | undefined;

export function reportError(command: string, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  if (process.stderr.isTTY) {
    process.stderr.write(`kubevirt-vduse ${command}: error: ${message}\n`);
    return;
  }
  logger ??= jsonLogger();
  logger.error({ command, error: error instanceof Error ? error.name : 'Error' }, message);
}

export function reportInfo(command: string, message: string): void {
  if (process.stderr.isTTY) {
    process.stderr.write(`kubevirt-vduse ${command}: ${message}\n`);
    return;
  }
  logger ??= jsonLogger();
  logger.info({ command }, message);
}
