/**
 * @module How a listener thread connects to a backend, and to an https:// one: the name it asks for
 * (SNI) and checks the certificate against is the backend's host, the authorities are
 * --backend-ca's or else Node's bundled ones plus the system's, and only TLS 1.2 and 1.3
 * are spoken. --backend-insecure turns verification off (the main thread logs it).
 *
 * One secure context per thread: built from hundreds of authorities, it is far too
 * costly to make per connection, which is what passing `ca` to `tls.connect` would do.
 */
import { connect, isIP, type Socket } from 'node:net';
import { connect as connectTls, createSecureContext, getCACertificates, type ConnectionOptions, type SecureContext } from 'node:tls';
import type { BackendTlsConfig } from '../config/config.ts';

/** Where a connection goes and how long each of its waits may last. */
export interface ConnectionSettings {
  readonly host: string;
  readonly port: number;
  /** For an https:// backend: verification and SNI (tlsOptions); null for http://. */
  readonly tls: ConnectionOptions | null;
  readonly connectMs: number;
  readonly headersMs: number;
  readonly bodyIdleMs: number;
  /** Longest idle keep-alive time (shortened by a backend's `Keep-Alive: timeout=`). */
  readonly idleMs: number;
  readonly maxHeaderBytes: number;
}

const contexts = new WeakMap<BackendTlsConfig, SecureContext>();

export function secureContext(config: BackendTlsConfig): SecureContext {
  let context = contexts.get(config);
  if (context === undefined) {
    // Node's bundled authorities (and NODE_EXTRA_CA_CERTS) with the system's.
    const ca = config.ca === null ? [...new Set([...getCACertificates('default'), ...getCACertificates('system')])] : [...config.ca];
    context = createSecureContext({ ca, minVersion: 'TLSv1.2' });
    contexts.set(config, context);
  }
  return context;
}

/** A new connection to a backend, plain or TLS, and the event that says it is ready to
 * carry a request: for TLS, the end of the handshake, so that the connect timeout covers it. */
export function connectBackend(host: string, port: number, tls: ConnectionOptions | null): { socket: Socket; ready: 'connect' | 'secureConnect' } {
  if (tls === null) return { socket: connect({ host, port, noDelay: true }), ready: 'connect' };
  return { socket: connectTls({ ...tls, host, port }).setNoDelay(true), ready: 'secureConnect' };
}

export function tlsOptions(host: string, config: BackendTlsConfig): ConnectionOptions {
  return {
    // SNI carries a name, never an address (RFC 6066 section 3); the certificate is
    // checked against the address then.
    ...(isIP(host) === 0 ? { servername: host } : {}),
    secureContext: secureContext(config),
    rejectUnauthorized: !config.insecure,
    ALPNProtocols: ['http/1.1'],
  };
}
