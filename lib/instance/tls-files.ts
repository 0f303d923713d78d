// The PEM files config.toml names: [server] tls_cert and tls_key (the HTTPS listener) and [fleet] ca_file (what
// other members' certificates are verified against). Each is read and parsed before anything listens, so a
// missing, unreadable or wrong file is one sentence naming it and the fix, never a stack trace from the listener.

import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { SplError } from '../kernel/errors.js';

export interface TlsMaterial {
  cert: Buffer;
  key: Buffer;
  /** The first certificate of tls_cert (the server's own). */
  x509: X509Certificate;
}

function readPem(file: string, what: string, configFile: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    const fix = code === 'EACCES'
      ? `let the instance's user read it (ls -l ${file}; e.g. chown it to that user, mode 0600)`
      : `put the PEM file there, or point ${what} in ${configFile} at it`;
    throw new SplError('START_FAILED', `cannot read ${what} ${file} (${code})`, { fix, field: what });
  }
}

/** Every certificate in a PEM bundle; refused when it holds none. */
export function parseCertificates(pem: Buffer, file: string, what: string, configFile: string): X509Certificate[] {
  const blocks = pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no -----BEGIN CERTIFICATE----- block');
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    throw new SplError('START_FAILED', `${what} ${file} is not a PEM certificate (${(err as Error).message})`, {
      fix: `point ${what} in ${configFile} at a PEM certificate file; openssl x509 -in ${file} -noout -subject shows what it holds`,
      field: what,
    });
  }
}

/** [server] tls_cert and tls_key, read and checked to be a certificate and its own private key. */
export function loadTls(tls: { cert: string; key: string }, configFile: string): TlsMaterial {
  const cert = readPem(tls.cert, '[server] tls_cert', configFile);
  const key = readPem(tls.key, '[server] tls_key', configFile);
  const x509 = parseCertificates(cert, tls.cert, '[server] tls_cert', configFile)[0]!;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    const mismatch = code === 'ERR_OSSL_X509_KEY_VALUES_MISMATCH';
    throw new SplError('START_FAILED', mismatch
      ? `[server] tls_key ${tls.key} is not the private key of the certificate ${tls.cert}`
      : `[server] tls_key ${tls.key} is not a PEM private key (${(err as Error).message})`, {
      fix: mismatch
        ? `point tls_key in ${configFile} at the key the certificate was issued for: openssl x509 -in ${tls.cert} -noout -pubkey and openssl pkey -in ${tls.key} -pubout must print the same key`
        : `point tls_key in ${configFile} at an unencrypted PEM private key; openssl pkey -in ${tls.key} -noout checks it`,
      field: '[server] tls_key',
    });
  }
  return { cert, key, x509 };
}

/** [fleet] ca_file: its PEM bytes, checked to hold at least one certificate. */
export function loadCaFile(file: string, configFile: string): Buffer {
  const pem = readPem(file, '[fleet] ca_file', configFile);
  parseCertificates(pem, file, '[fleet] ca_file', configFile);
  return pem;
}
