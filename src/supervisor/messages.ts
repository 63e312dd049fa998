/**
 * @module Every message that crosses between the main thread and its worker threads.
 * Payloads are plain data; errors travel as `{code, message}`.
 */
import type { ServedCertificate } from '../tls/certificates.ts';
import type { Config } from '../config/config.ts';

/** Sent once by a listener (or demo backend) thread when its server accepts connections. */
export interface ListeningMessage {
  readonly type: 'listening';
  readonly port: number;
  /** A listener's listening sockets (a takeover hands them over); none from a demo backend. */
  readonly fds?: readonly number[];
}

/** Sent by a listener thread as soon as its listening socket is closed on shutdown. */
export interface StoppedAcceptingMessage {
  readonly type: 'stopped-accepting';
  /** Requests it still has running, which it now lets finish. */
  readonly inFlight: number;
}

/** Sent by a listener thread when it has finished draining and is about to exit. */
export interface DrainedMessage {
  readonly type: 'drained';
  /** Requests still running at the deadline, which were aborted. */
  readonly aborted: number;
}

/** Sent by the main thread: stop accepting, finish in-flight requests, then exit. */
export interface ShutdownMessage {
  readonly type: 'shutdown';
  readonly timeoutMs: number;
  /** A takeover: the listening sockets live on in the new process, which serves the
   * connections queued on them; connections accepted here that have not sent a request
   * yet are served when it comes (instead of closed at once). */
  readonly handover?: boolean;
}

/** Sent by the main thread after a reload: serve these certificates to new handshakes. */
export interface CertificatesMessage {
  readonly type: 'certificates';
  readonly certificates: readonly ServedCertificate[];
}

/** Sent by the main thread after a config reload: new requests and connections use these
 * settings (timeouts, limits, routing, ejection, access log); what is in flight goes on. */
export interface ConfigMessage {
  readonly type: 'config';
  readonly config: Config;
}

/** Sent by the main thread: report this thread's own CPU time and heap (bench, soak, tests). */
export interface UsageRequestMessage {
  readonly type: 'usage-request';
  /** Collect garbage first, when the process runs with --expose-gc, so the heap figure is live data only. */
  readonly collectGarbage?: boolean;
}

/** A thread's answer about itself alone. */
export interface UsageMessage {
  readonly type: 'usage';
  readonly userMicros: number;
  readonly systemMicros: number;
  readonly heapUsedBytes: number;
}

export type ThreadMessage = ListeningMessage | StoppedAcceptingMessage | DrainedMessage | UsageMessage;
export type SupervisorMessage = ShutdownMessage | UsageRequestMessage | CertificatesMessage | ConfigMessage;

/** What a listener thread needs to start. */
export interface ListenerThreadData {
  readonly config: Config;
  readonly buffer: SharedArrayBuffer;
  /** This listener's slot in shared state (stable across restarts). */
  readonly listener: number;
  /** The port to bind: the configured one, or the one the first listener got for port 0. */
  readonly port: number;
  /** Listening sockets inherited from the process this one took over from, adopted by this
   * thread at its first start (never at a restart: they closed when it died). */
  readonly inheritedFds: readonly number[];
}
