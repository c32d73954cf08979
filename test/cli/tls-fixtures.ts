/**
 * Throw-away certificates for the REST API TLS tests, made with the `openssl` command in a
 * directory the caller owns: a CA, a server certificate signed by it for `127.0.0.1` (IP SAN) and
 * `localhost`, one signed for `elsewhere.invalid` only (a host name mismatch), a client certificate
 * (CN `ctl-client`) with its key (also encrypted with the password `pw`), and a self-signed server certificate no CA vouches for.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface TlsFiles {
  readonly ca: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly wrongNameCert: string;
  readonly wrongNameKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
  /** the client key encrypted with the password `pw` */
  readonly clientKeyEncrypted: string;
  readonly selfSignedCert: string;
  readonly selfSignedKey: string;
}

function openssl(args: readonly string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 });
}

/** Sign a key's CSR with the CA, with the given subjectAltName (or none). */
function signed(dir: string, name: string, cn: string, san: string | null): void {
  openssl(
    [
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.csr`,
      '-subj',
      `/CN=${cn}`,
    ],
    dir,
  );
  const ext = join(dir, `${name}.ext`);
  writeFileSync(ext, san ? `subjectAltName=${san}\n` : 'basicConstraints=CA:FALSE\n');
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      ext,
    ],
    dir,
  );
}

export function makeTlsFiles(dir: string): TlsFiles {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=raftdcs test CA',
    ],
    dir,
  );
  signed(dir, 'server', '127.0.0.1', 'IP:127.0.0.1,DNS:localhost');
  signed(dir, 'wrong', 'elsewhere.invalid', 'DNS:elsewhere.invalid');
  signed(dir, 'client', 'ctl-client', null);
  openssl(['pkey', '-in', 'client.key', '-aes256', '-passout', 'pass:pw', '-out', 'client-enc.key'], dir);
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      'self.key',
      '-out',
      'self.pem',
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ],
    dir,
  );
  const f = (n: string) => join(dir, n);
  return {
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server.key'),
    wrongNameCert: f('wrong.pem'),
    wrongNameKey: f('wrong.key'),
    clientCert: f('client.pem'),
    clientKey: f('client.key'),
    clientKeyEncrypted: f('client-enc.key'),
    selfSignedCert: f('self.pem'),
    selfSignedKey: f('self.key'),
  };
}
