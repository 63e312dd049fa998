/**
 * @module The main thread's job: create the shared state and fill its slot table, start
 * the listener threads on one port, run the control plane (active health checks, the
 * event log of passive health), keep every thread alive, and run the graceful shutdown.
 * `startBalancer` is what `src/main.ts`, the tests and the bench use.
 */
import { startAdminServer, type AdminServer } from '../admin/admin-server.ts';
import { ADMIN_ROUTES } from '../admin/routes.ts';
import { readStats } from '../admin/stats.ts';
import type { Config } from '../config/config.ts';
import { BackendSources } from '../control/backend-sources.ts';
import { BackendTable } from '../control/backend-table.ts';
import { EventLog } from '../control/event-log.ts';
import { ActiveHealth } from '../control/active-health.ts';
import { releaseListener } from '../control/listener-repair.ts';
import { Discovery } from '../discovery/discovery.ts';
import { SharedState } from '../shared/shared-state.ts';
import { CertificateReloader } from '../tls/certificate-reloader.ts';
import { startRedirectServer, type RedirectServer } from '../tls/redirect-server.ts';
import type { ConfigSource } from '../config/cli.ts';
import type { SyncResult } from '../control/backend-sources.ts';
import { ConfigReloader } from '../reload/config-reloader.ts';
import { watchFiles, type FileWatcher } from '../shared/file-watcher.ts';
import { socketsOfListener, type InheritedSockets } from '../takeover/inherited-sockets.ts';
import type { TakeoverHandler } from '../takeover/takeover-handler.ts';
import type { CertificatesMessage, ConfigMessage, ListenerThreadData } from './messages.ts';
import { assertPortFree } from './listen-address.ts';
import { SupervisedThread } from './supervised-thread.ts';

/** The source name of the backends given by --backend (and, later, the config file). */
export const CONFIG_SOURCE = 'config';

const LISTENER_ENTRY = new URL('../listener/listener-thread.ts', import.meta.url);
/**
 * A listener allocates a little short-lived garbage per request at a high rate, and V8
 * keeps enlarging the young generation of such a thread under sustained load: with the
 * default limit `npm run bench` saw RSS grow 25-28% after warm-up (64 and 128 MB: the
 * same). Capped at 32 MB it reaches its size during warm-up and RSS stays flat (+3%,
 * +5.5%), at no measurable CPU cost (49-52 µs per request either way).
 */
const LISTENER_LIMITS = { maxYoungGenerationSizeMb: 32 } as const;

export interface Balancer {
  readonly host: string;
  /** The port every listener thread is bound to. */
  readonly port: number;
  readonly state: SharedState;
  /** Add, drain, disable, enable, remove backends and set weights, under load. */
  readonly table: BackendTable;
  /** The backend set by source: `config` (flags or config file), DNS names; a sync keeps,
   * adds and drains through `table`. */
  readonly sources: BackendSources;
  /** The DNS names followed (--backend-dns, --backend-srv); their answers go through `sources`. */
  readonly discovery: Discovery;
  readonly listeners: readonly SupervisedThread[];
  /** The admin listener (/metrics, /status, dashboard, runtime API); null with --admin-port off. */
  readonly admin: AdminServer | null;
  /** --redirect-http's listener; null without it. */
  readonly redirect: RedirectServer | null;
  /** Reloads the config file (SIGHUP, POST /reload, --watch-config); null without --config. */
  readonly reloader: ConfigReloader | null;
  /** Reads the --tls-cert/--tls-key files again (SIGHUP); returns the line it logged, or
   * null without TLS. */
  reloadCertificates(): string | null;
  /** The config in effect: the one started with, or the last one applied. */
  readonly config: Config;
  /**
   * Puts a validated config into effect (a reload: reload/config-reloader.ts decides what
   * may change): the backend list is synced (kept, added, drained then removed), the
   * health checker follows its settings, certificates and the listener threads get the
   * rest for their new requests and connections, and threads restarted later start with it.
   */
  applyConfig(next: Config): Promise<SyncResult>;
  /** The descriptors of every listening socket, for a takeover to hand over; null while a
   * listener thread is not running (restarting), so that none would be missed. */
  listeningSockets(): InheritedSockets | null;
  /**
   * Drains and stops every thread; resolves with the number of requests aborted at the
   * deadline. `handover`: a takeover's drain, after the new process serves on the same
   * sockets (the admin and redirect listeners stop accepting first; see ShutdownMessage).
   */
  stop(timeoutMs?: number, options?: { readonly handover?: boolean }): Promise<number>;
}

export interface StartOptions {
  /** Where progress and thread failures are reported; silent by default. */
  readonly log?: (line: string) => void;
  /** Where backend state changes are reported, one line each; `log` by default. */
  readonly logEvent?: (line: string) => void;
  /** With --config: where the config came from, so that it can be reloaded (POST /reload,
   * `reloader`, --watch-config). */
  readonly reload?: ReloadSetup;
  /** Listening sockets inherited at a takeover (src/takeover/): adopted instead of bound,
   * and the port is known to be taken by them. */
  readonly inherited?: InheritedSockets | null;
  /** What the admin listener's POST /takeover runs; without it, it answers 409. */
  readonly takeover?: TakeoverHandler;
}

export interface ReloadSetup {
  readonly source: ConfigSource;
  /** The config as built from the file and flags, before demo backends were filled in. */
  readonly built: Config;
  /** The demo backends started because the config lists none. */
  readonly demoOrigins?: readonly string[];
}

export async function startBalancer(config: Config, { log = () => {}, logEvent = log, reload, inherited = null, takeover }: StartOptions = {}): Promise<Balancer> {
  const state = SharedState.create({ capacity: config.maxBackends, listenerCount: config.threads });
  /** The config in effect; a reload replaces it, and the control plane's options read it. */
  let current = config;
  const table = new BackendTable(state, {
    get slowStartMs() {
      return current.routing.slowStartMs;
    },
    log: logEvent,
  });
  const sources = new BackendSources(table, {
    get removalTimeoutMs() {
      return current.shutdownTimeoutMs;
    },
    log: logEvent,
  });
  sources.sync(CONFIG_SOURCE, config.backends, { initial: true });
  const discovery = new Discovery(config.discovery, { sources, log: logEvent });

  // An explicit choice, and one an operator must be able to see in the log.
  if (config.upstream.tls.insecure) log('--backend-insecure: the certificates of https backends are not verified');
  const events = new EventLog(state, {
    log: logEvent,
    get activeChecks() {
      return current.health !== null;
    },
    get ejectTimeMs() {
      return current.ejection.timeMs;
    },
    get slowStartMs() {
      return current.routing.slowStartMs;
    },
  });
  const health = new ActiveHealth(state, config, logEvent);
  const listeners: SupervisedThread[] = [];
  let admin: AdminServer | null = null;
  let redirect: RedirectServer | null = null;
  let reloader: ConfigReloader | null = null;
  let watcher: FileWatcher | null = null;
  const certificates =
    config.tls === null
      ? null
      : new CertificateReloader(config.tls, {
          log: logEvent,
          publish: (served) => {
            const message: CertificatesMessage = { type: 'certificates', certificates: served };
            for (const thread of listeners) thread.worker?.postMessage(message);
          },
        });
  /** The config a listener thread starts with: after a reload, the certificates in use now. */
  const listenerConfig = (): Config => (current.tls === null || certificates === null ? current : { ...current, tls: { ...current.tls, certificates: certificates.current } });
  const stopAll = async (timeoutMs: number, handover = false): Promise<number> => {
    // The new process accepts on the same admin and redirect sockets already.
    if (handover) {
      admin?.stopAccepting();
      redirect?.stopAccepting();
    }
    let waiting = listeners.filter((thread) => thread.worker !== null).length;
    let inFlight = 0;
    const onStoppedAccepting = (running: number): void => {
      inFlight += running;
      if (--waiting === 0) log(`stopped accepting new connections; ${inFlight} request${inFlight === 1 ? '' : 's'} in flight`);
    };
    // No membership change from DNS while the listeners drain.
    discovery.stop();
    const aborted = await Promise.all(listeners.map((thread) => thread.stop(timeoutMs, onStoppedAccepting, handover)));
    watcher?.close();
    await health.stop();
    await events.stop();
    certificates?.close();
    await redirect?.close();
    // Last: /healthz answers 503 while the listeners drain, for orchestrators to see.
    await admin?.close();
    return aborted.reduce((sum, n) => sum + n, 0);
  };

  try {
    // Inherited sockets hold the port: this process is taking over from the one that bound it.
    if (config.port !== 0 && inherited === null) await assertPortFree(config.host, config.port);
    // The first answers are in the table before the first client can arrive.
    await discovery.start();
    events.start();
    health.start();
    let port = config.port;
    for (let listener = 0; listener < config.threads; listener++) {
      let inheritedFds = socketsOfListener(inherited, listener, config.threads);
      listeners.push(
        new SupervisedThread({
          label: `listener ${listener}`,
          entry: LISTENER_ENTRY,
          resourceLimits: LISTENER_LIMITS,
          workerData: (): ListenerThreadData => {
            const data = { config: listenerConfig(), buffer: state.buffer, listener, port, inheritedFds };
            // Adopted once: a thread that died closed them with it.
            inheritedFds = [];
            return data;
          },
          log: logEvent,
          onDeath: () => {
            const released = releaseListener(state, listener);
            if (released > 0) logEvent(`listener ${listener} died with ${released} requests in flight; their in-flight counts were released`);
          },
        }),
      );
    }
    // The first listener learns the port (ephemeral when --port 0); the others join it.
    const [first, ...rest] = listeners;
    if (first) port = await first.start();
    await Promise.all(rest.map((thread) => thread.start()));
    if (config.tls?.redirectHttpPort != null) redirect = await startRedirectServer(config.host, config.tls.redirectHttpPort, port, inherited?.redirect ?? null);
    const applyConfig = async (next: Config): Promise<SyncResult> => {
      current = next;
      const backends = sources.sync(CONFIG_SOURCE, next.backends);
      await discovery.reconfigure(next.discovery);
      if (next.tls !== null) certificates?.adopt(next.tls.certificates, 'config reload');
      const message: ConfigMessage = { type: 'config', config: listenerConfig() };
      for (const thread of listeners) thread.worker?.postMessage(message);
      await health.follow(next);
      return backends;
    };
    if (reload) {
      const target = {
        get config() {
          return current;
        },
        applyConfig,
      };
      reloader = new ConfigReloader(reload.source, reload.built, target, { log: logEvent, demoOrigins: reload.demoOrigins ?? [] });
      const reloadOnChange = reloader;
      if (reload.source.watch && reload.source.file !== null) {
        watcher = watchFiles([reload.source.file], () => void reloadOnChange.reload('the config file changed'), (folder, error) =>
          logEvent(`--watch-config: cannot watch ${folder} (${error.message}); SIGHUP and POST /reload still reload`),
        );
      }
    }
    if (config.admin !== null) {
      const boundPort = port;
      const reloadFromAdmin = reloader;
      admin = await startAdminServer(config.admin, ADMIN_ROUTES, {
        // The port bound, also when --port 0 asked for an ephemeral one.
        get config() {
          return { ...current, port: boundPort };
        },
        state,
        table,
        listeners,
        startedAt: performance.timeOrigin,
        logEvent,
        stats: () => readStats(state, { slowStartMs: current.routing.slowStartMs }),
        reload: reloadFromAdmin === null ? null : (why) => reloadFromAdmin.reload(why),
        discovery: () => discovery.status(),
        takeover: takeover ?? null,
      }, inherited?.admin ?? null);
    }

    return {
      host: config.host,
      port,
      state,
      table,
      sources,
      discovery,
      listeners,
      admin,
      redirect,
      reloader,
      get config() {
        return current;
      },
      applyConfig,
      reloadCertificates: () => certificates?.reload('SIGHUP') ?? null,
      listeningSockets: () => {
        if (listeners.some((thread) => thread.worker === null || thread.listeningFds.length === 0)) return null;
        return { listeners: listeners.flatMap((thread) => thread.listeningFds), admin: admin?.fd ?? null, redirect: redirect?.fd ?? null };
      },
      stop: (timeoutMs = current.shutdownTimeoutMs, { handover = false } = {}) => stopAll(timeoutMs, handover),
    };
  } catch (error) {
    // With inherited sockets the old process still serves on them: what this one accepted
    // meanwhile is answered, not closed (a takeover's drain).
    await stopAll(1_000, inherited !== null);
    throw error;
  }
}

