/**
 * @module A listener thread's secure contexts, one per served certificate, and the choice
 * among them for each handshake (SNI): the certificate that names the host exactly, else
 * one whose wildcard (`*.example.com`) covers it by one label, else the first. Replaced
 * whole when the main thread reloads the certificates: handshakes after that get the new
 * ones, connections already made keep theirs.
 */
import { createSecureContext, type SecureContext } from 'node:tls';
import type { ServedCertificate } from './certificates.ts';

/** TLS 1.2 and 1.3 only; Node's default (modern) cipher list. */
const MIN_VERSION = 'TLSv1.2';

export class SniContexts {
  #exact = new Map<string, SecureContext>();
  #wildcard = new Map<string, SecureContext>();
  #default!: SecureContext;

  constructor(certificates: readonly ServedCertificate[]) {
    this.replace(certificates);
  }

  replace(certificates: readonly ServedCertificate[]): void {
    const exact = new Map<string, SecureContext>();
    const wildcard = new Map<string, SecureContext>();
    let first: SecureContext | null = null;
    for (const { cert, key, names } of certificates) {
      const context = createSecureContext({ cert, key, minVersion: MIN_VERSION });
      first ??= context;
      for (const name of names) {
        // The first certificate that names a host serves it.
        if (name.startsWith('*.')) {
          if (!wildcard.has(name.slice(2))) wildcard.set(name.slice(2), context);
        } else if (!exact.has(name)) exact.set(name, context);
      }
    }
    if (first === null) throw new RangeError('no certificate to serve');
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = first;
  }

  /** The context for a handshake that asked for `servername` (empty: it asked for none). */
  contextFor(servername: string): SecureContext {
    const name = servername.toLowerCase();
    const exact = this.#exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    return (dot > 0 ? this.#wildcard.get(name.slice(dot + 1)) : undefined) ?? this.#default;
  }

  get default(): SecureContext {
    return this.#default;
  }
}
