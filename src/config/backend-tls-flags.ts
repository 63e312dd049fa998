/**
 * @module The flags of HTTPS backends: --backend-ca FILE (the certificate authorities that
 * sign the backends' certificates, instead of the default ones) and --backend-insecure
 * (no verification at all, an explicit choice the balancer logs at start). Certificates
 * are read and checked here, once, so that a bad file stops the start with one line.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { pemCertificates } from '../tls/certificates.ts';
import type { BackendTlsConfig } from './config.ts';
import { UsageError } from './flag-values.ts';
import type { SettingValues } from './setting-values.ts';

export function backendTlsConfig(values: SettingValues): BackendTlsConfig {
  const file = values.text('backend-ca');
  const insecure = values.on('backend-insecure');
  if (file !== undefined && insecure) {
    throw new UsageError(`${values.name('backend-ca')} ${JSON.stringify(file)} cannot be combined with ${values.name('backend-insecure')}: certificates are either verified against it or not at all`);
  }
  return { ca: file === undefined ? null : readAuthorities(values.name('backend-ca'), file), insecure };
}

function readAuthorities(name: string, file: string): string[] {
  const refuse = (why: string): never => {
    throw new UsageError(`${name} ${JSON.stringify(file)} is not allowed: ${why}`);
  };
  let text = '';
  try {
    text = readFileSync(file, 'latin1');
  } catch (error) {
    refuse(`it cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const certificates = pemCertificates(text);
  if (certificates.length === 0) refuse('expected PEM certificates (-----BEGIN CERTIFICATE-----), found none');
  certificates.forEach((pem, i) => {
    try {
      new X509Certificate(pem);
    } catch (error) {
      refuse(`certificate ${i + 1} of ${certificates.length} does not parse (${(error as Error).message})`);
    }
  });
  return certificates;
}
