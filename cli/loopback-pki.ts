// A throwaway CA and certificates made by openssl, for the demo and the tests: by default leaf
// serving certificates for 127.0.0.1 and localhost, so clients verify the webhook for real; the
// test cluster (test/cluster/) also issues client certificates and other names from it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface IssueOptions {
  days?: number;
  /** The subject, "/CN=name" by default; "/O=system:masters/CN=admin" for a client. */
  subject?: string;
  /** subjectAltName entries; loopback by default. */
  altNames?: string[];
  usage?: 'server' | 'client';
}

export interface LoopbackPki {
  ca: Buffer;
  /** The CA's certificate file. */
  caPath: string;
  dir: string;
  /** A fresh key and certificate, signed by the CA: a loopback server's unless the options say otherwise. */
  issue(name: string, options?: IssueOptions | number): { certPath: string; keyPath: string; cert: Buffer; key: Buffer };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'openssl is not installed' : String((error as { stderr?: Buffer }).stderr ?? error);
    throw new Error(`cannot make a loopback certificate: ${reason}`, { cause: error });
  }
}

/** A new CA in dir (a temp dir by default), valid for caDays. */
export function createLoopbackPki(options: { dir?: string; caName?: string; caDays?: number } = {}): LoopbackPki {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'vduse-pki-'));
  mkdirSync(dir, { recursive: true });
  const caName = options.caName ?? 'vduse-test-ca';
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${caName}.key`, '-out', `${caName}.crt`, '-days', String(options.caDays ?? 2), '-subj', `/CN=${caName}`], dir);
  return openLoopbackPki({ dir, caName });
}

/** The CA that createLoopbackPki made in dir, to issue more certificates from. */
export function openLoopbackPki(options: { dir: string; caName: string }): LoopbackPki {
  const { dir, caName } = options;
  return {
    ca: readFileSync(join(dir, `${caName}.crt`)),
    caPath: join(dir, `${caName}.crt`),
    dir,
    issue(name, given = {}) {
      const { days = 1, subject = `/CN=${name}`, altNames = ['IP:127.0.0.1', 'DNS:localhost'], usage = 'server' } = typeof given === 'number' ? { days: given } : given;
      const keyPath = join(dir, `${name}.key`);
      const certPath = join(dir, `${name}.crt`);
      const extensions = [
        ...(altNames.length > 0 ? [`subjectAltName=${altNames.join(',')}`] : []),
        'basicConstraints=CA:FALSE',
        'keyUsage=digitalSignature',
        `extendedKeyUsage=${usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
      ];
      writeFileSync(join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', `${name}.csr`, '-subj', subject], dir);
      // A random serial: certificates issued by separate openings of one CA must not share one.
      const serial = `0x${randomBytes(8).toString('hex')}`;
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', `${caName}.crt`, '-CAkey', `${caName}.key`, '-set_serial', serial, '-days', String(days), '-extfile', `${name}.ext`, '-out', certPath], dir);
      return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
    },
  };
}
