// A throwaway CA and loopback serving certificates made by openssl, for the demo and the tests:
// leaf certificates for 127.0.0.1 and localhost, so clients verify the webhook for real.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface LoopbackPki {
  ca: Buffer;
  dir: string;
  /** A fresh key and certificate for the loopback server, signed by the CA. */
  issue(name: string, days?: number): { certPath: string; keyPath: string; cert: Buffer; key: Buffer };
}

function openssl(args: string[], cwd: string): void {
  try {
    execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'openssl is not installed' : String((error as { stderr?: Buffer }).stderr ?? error);
    throw new Error(`cannot make a loopback certificate: ${reason}`, { cause: error });
  }
}

export function createLoopbackPki(): LoopbackPki {
  const dir = mkdtempSync(join(tmpdir(), 'vduse-pki-'));
  openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=vduse-test-ca'], dir);
  writeFileSync(join(dir, 'leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n');
  let serial = 1;
  return {
    ca: readFileSync(join(dir, 'ca.crt')),
    dir,
    issue(name, days = 1) {
      const keyPath = join(dir, `${name}.key`);
      const certPath = join(dir, `${name}.crt`);
      openssl(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-out', `${name}.csr`, '-subj', `/CN=${name}`], dir);
      openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-set_serial', String(serial++), '-days', String(days), '-extfile', 'leaf.ext', '-out', certPath], dir);
      return { certPath, keyPath, cert: readFileSync(certPath), key: readFileSync(keyPath) };
    },
  };
}
