/**
 * @module The certificates the balancer serves (--tls-cert / --tls-key pairs), read and
 * checked on the main thread: at start, where a bad file stops the start, and at each
 * reload, where it keeps the certificates in use. A pair must be PEM, its key must be
 * the certificate's, and the names it serves (SNI) are the certificate's DNS names (its
 * common name when it has none). An expired certificate is served, with a warning: the
 * operator may be replacing it.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface CertificateFiles {
  readonly certFile: string;
  readonly keyFile: string;
}

export interface ServedCertificate extends CertificateFiles {
  /** PEM: the certificate and any chain after it. */
  readonly cert: string;
  readonly key: string;
  /** The names it is served for, lower-case; `*.example.com` matches one label. */
  readonly names: readonly string[];
  readonly notAfter: string;
}

export class CertificateError extends Error {}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** The PEM certificates in `text`, in order (a chain, or a set of authorities). */
export function pemCertificates(text: string): string[] {
  return text.match(PEM_CERTIFICATE) ?? [];
}

function read(flag: string, file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch (error) {
    throw new CertificateError(`${flag} ${JSON.stringify(file)} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

/** The names a certificate serves: its DNS subject alternative names, else its CN. */
function namesOf(certificate: X509Certificate): string[] {
  const alternatives = (certificate.subjectAltName ?? '')
    .split(', ')
    .filter((entry) => entry.startsWith('DNS:'))
    .map((entry) => entry.slice(4).toLowerCase());
  if (alternatives.length > 0) return alternatives;
  const common = /(?:^|\n)CN=([^\n]+)/.exec(certificate.subject)?.[1];
  return common === undefined ? [] : [common.toLowerCase()];
}

/** Reads and checks one pair; throws a CertificateError whose message is one line. */
export function loadCertificate({ certFile, keyFile }: CertificateFiles, now = Date.now()): { certificate: ServedCertificate; warning: string | null } {
  const cert = read('--tls-cert', certFile);
  const key = read('--tls-key', keyFile);
  const pems = pemCertificates(cert);
  if (pems.length === 0) throw new CertificateError(`--tls-cert ${JSON.stringify(certFile)} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pems[0] as string);
  } catch (error) {
    throw new CertificateError(`--tls-cert ${JSON.stringify(certFile)} does not parse (${(error as Error).message})`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new CertificateError(`--tls-key ${JSON.stringify(keyFile)} is not a PEM private key (${(error as Error).message})`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertificateError(`--tls-key ${JSON.stringify(keyFile)} does not match the certificate in --tls-cert ${JSON.stringify(certFile)}`);
  }
  const names = namesOf(leaf);
  const expired = Date.parse(leaf.validTo) < now;
  return {
    certificate: { certFile, keyFile, cert, key, names, notAfter: leaf.validTo },
    warning: expired ? `--tls-cert ${JSON.stringify(certFile)} expired on ${leaf.validTo}; it is served anyway` : null,
  };
}

/** Reads every pair; the first error stops it (nothing is half-loaded). */
export function loadCertificates(pairs: readonly CertificateFiles[]): { certificates: ServedCertificate[]; warnings: string[] } {
  const certificates: ServedCertificate[] = [];
  const warnings: string[] = [];
  for (const pair of pairs) {
    const { certificate, warning } = loadCertificate(pair);
    certificates.push(certificate);
    if (warning !== null) warnings.push(warning);
  }
  return { certificates, warnings };
}
