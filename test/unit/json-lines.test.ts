// The sidecar's and the CLI's log lines: KubeVirt's shape (level, timestamp, component, fields,
// msg), one JSON object per line, as pino wrote them before.
import { mkdtempSync, openSync, readFileSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { jsonLineLogger } from '../../cli/json-lines.ts';

function linesOf(write: (log: ReturnType<typeof jsonLineLogger>) => void, base?: Record<string, string>): Record<string, unknown>[] {
  const file = join(mkdtempSync(join(tmpdir(), 'vduse-log-')), 'log');
  const fd = openSync(file, 'w');
  write(jsonLineLogger(base, fd));
  closeSync(fd);
  return readFileSync(file, 'utf8').trimEnd().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('JSON log lines', () => {
  it("writes KubeVirt's fields in KubeVirt's order, one object per line", () => {
    const [serving, warned] = linesOf((log) => {
      log.info({ socket: '/var/run/kubevirt-hooks/vduse.sock', hookPoints: ['OnDefineDomain'] }, 'serving');
      log.warn('CONTAINER_NAME is not set');
    }, { component: 'sidecar' });
    expect(Object.keys(serving!)).toEqual(['level', 'timestamp', 'component', 'socket', 'hookPoints', 'msg']);
    expect(serving).toMatchObject({ level: 'info', component: 'sidecar', hookPoints: ['OnDefineDomain'], msg: 'serving' });
    expect(new Date(String(serving!.timestamp)).toISOString()).toBe(serving!.timestamp);
    expect(warned).toMatchObject({ level: 'warn', component: 'sidecar', msg: 'CONTAINER_NAME is not set' });
  });

  it('writes what JSON has no form for: a bigint as its digits, an Error as its name and message', () => {
    const [line] = linesOf((log) => log.error({ bytes: 2n ** 64n, cause: new RangeError('too big') }, 'failed'));
    expect(line).toMatchObject({ level: 'error', bytes: '18446744073709551616', cause: { name: 'RangeError', message: 'too big' }, msg: 'failed' });
  });

  it('survives a closed file descriptor', () => {
    const fd = openSync(join(mkdtempSync(join(tmpdir(), 'vduse-log-')), 'log'), 'w');
    closeSync(fd);
    expect(() => jsonLineLogger({}, fd).info('nobody listens')).not.toThrow();
  });
});
