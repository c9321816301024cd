// Diagnostics go to stderr: readable text on a terminal, JSON lines (pino) otherwise, so that logs
// collected from containers stay machine-readable.
import { pino } from 'pino';

const jsonLogger = () => pino({ base: undefined }, pino.destination({ fd: 2, sync: true }));
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
