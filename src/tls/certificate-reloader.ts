/**
 * @module Certificate reload, on the main thread: on SIGHUP (main.ts) and whenever a
 * certificate or key file changes, every pair is read and checked again
 * (certificates.ts); only when all of them are good do the listener threads get them, and
 * new handshakes use them while connections already made go on. A bad file keeps the
 * certificates in use, and says why in the log.
 */
import type { TlsConfig } from '../config/config.ts';
import { watchFiles, type FileWatcher } from '../shared/file-watcher.ts';
import { CertificateError, loadCertificates, type ServedCertificate } from './certificates.ts';

export interface ReloaderOptions {
  readonly log: (line: string) => void;
  /** Hands the new certificates to every listener thread. */
  readonly publish: (certificates: readonly ServedCertificate[]) => void;
}

export class CertificateReloader {
  readonly #options: ReloaderOptions;
  #watcher: FileWatcher | null = null;
  #current: readonly ServedCertificate[];

  constructor(config: TlsConfig, options: ReloaderOptions) {
    this.#options = options;
    this.#current = config.certificates;
    this.#watch(config.certificates);
  }

  #watch(certificates: readonly ServedCertificate[]): void {
    this.#watcher?.close();
    const files = certificates.flatMap(({ certFile, keyFile }) => [certFile, keyFile]);
    // A file that cannot be watched is still reloaded on SIGHUP.
    this.#watcher = watchFiles(files, () => this.reload('a certificate file changed'), () => {});
  }

  /** What listener threads (re)started now must serve. */
  get current(): readonly ServedCertificate[] {
    return this.#current;
  }

  /** Reads every pair again; returns the line it logged. */
  reload(why: string): string {
    let line: string;
    try {
      const { certificates, warnings } = loadCertificates(this.#current);
      for (const warning of warnings) this.#options.log(`warning: ${warning}`);
      this.#current = certificates;
      this.#options.publish(certificates);
      line = `certificates reloaded (${why}): ${describe(certificates)}`;
    } catch (error) {
      if (!(error instanceof CertificateError)) throw error;
      line = `certificate reload (${why}) failed, the certificates in use are kept: ${error.message}`;
    }
    this.#options.log(line);
    return line;
  }

  /** Serves `certificates`, already read and checked (a config reload, whose pairs may name
   * other files: those are watched from now on). */
  adopt(certificates: readonly ServedCertificate[], why: string): void {
    this.#current = certificates;
    this.#watch(certificates);
    this.#options.publish(certificates);
    this.#options.log(`certificates reloaded (${why}): ${describe(certificates)}`);
  }

  close(): void {
    this.#watcher?.close();
  }
}

function describe(certificates: readonly ServedCertificate[]): string {
  return certificates.map(({ names, notAfter }) => `${names.join(', ') || '(no name)'} until ${notAfter}`).join('; ');
}
