/**
 * @module The flags of TLS termination: --tls-cert FILE --tls-key FILE (repeatable, the
 * n-th key with the n-th certificate; the first pair is the default for clients that name
 * no known host) and --redirect-http PORT. The files are read and checked here, at start.
 */
import { CertificateError, loadCertificates } from '../tls/certificates.ts';
import type { TlsConfig } from './config.ts';
import { integer, UsageError } from './flag-values.ts';
import type { SettingValues } from './setting-values.ts';

/** null: plain HTTP. `warn` receives a line for each certificate served despite a problem (expired). */
export function tlsConfig(values: SettingValues, balancerPort: number, warn: (line: string) => void): TlsConfig | null {
  const certs = values.list('tls-cert');
  const keys = values.list('tls-key');
  if (certs.length !== keys.length) {
    throw new UsageError(`--tls-cert is given ${certs.length} time${certs.length === 1 ? '' : 's'} and --tls-key ${keys.length}: each certificate needs its key, in the same order`);
  }
  const redirect = values.text('redirect-http');
  if (certs.length === 0) {
    if (redirect !== undefined) throw new UsageError(`${values.name('redirect-http')} ${redirect} needs ${values.name('tls-cert')} and --tls-key: there is no https:// to redirect to`);
    return null;
  }
  let loaded;
  try {
    loaded = loadCertificates(certs.map((certFile, i) => ({ certFile, keyFile: keys[i] as string })));
  } catch (error) {
    if (error instanceof CertificateError) throw new UsageError(`${error.message}`);
    throw error;
  }
  for (const warning of loaded.warnings) warn(warning);
  const redirectHttpPort = redirect === undefined ? null : integer(values.name('redirect-http'), redirect, 0, 0, 65535);
  if (redirectHttpPort !== null && redirectHttpPort !== 0 && redirectHttpPort === balancerPort) {
    throw new UsageError(`${values.name('redirect-http')} ${redirectHttpPort} is not allowed: it is the balancer's ${values.name('port')}`);
  }
  return { certificates: loaded.certificates, redirectHttpPort };
}
