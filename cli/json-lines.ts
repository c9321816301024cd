// JSON log lines as KubeVirt's components write them (kubevirt.io/client-go/log): a string level
// ("info", "error"), an RFC 3339 "timestamp", the component, the fields, then "msg". Written
// synchronously to stderr, one object per line. The sidecar and the CLI's error reports use this
// rather than pino: pino and its worker-thread transport were a tenth of the sidecar's start-up CPU,
// and start-up is VM start-up. The webhook keeps pino (cli/webhook.ts), with the same fields.
import { writeSync } from 'node:fs';

export type LogFields = Record<string, unknown>;

export interface LineLogger {
  info(fields: LogFields | string, message?: string): void;
  warn(fields: LogFields | string, message?: string): void;
  error(fields: LogFields | string, message?: string): void;
}

/** Lines to a file descriptor (stderr by default), with these fields on every line. */
export function jsonLineLogger(base: LogFields = {}, fd = 2): LineLogger {
  const write = (level: string) => (fields: LogFields | string, message?: string) => {
    const [own, msg] = typeof fields === 'string' ? [{}, fields] : [fields, message];
    const line = JSON.stringify({ level, timestamp: new Date().toISOString(), ...base, ...own, ...(msg !== undefined ? { msg } : {}) }, (_key, value: unknown) =>
      typeof value === 'bigint' ? value.toString() : value instanceof Error ? { name: value.name, message: value.message } : value,
    );
    try {
      writeSync(fd, `${line}\n`);
    } catch {
      // stderr is gone (the container is being torn down): nothing to report to.
    }
  };
  return { info: write('info'), warn: write('warn'), error: write('error') };
}
