/**
 * @module Config reload, on the main thread (SIGHUP, POST /reload, --watch-config): the
 * file is read and validated whole, with the same flags laid over it as at start, before
 * anything changes; an invalid file changes nothing and is reported with every problem.
 * A valid one is compared with the config in effect setting by setting (the schema says
 * which a reload may change): changes of the others (port, host, threads, admin
 * listener ...) are reported as ignored, and the rest is put into effect by the balancer
 * (supervisor.ts `applyConfig`). One reload at a time; a trigger during one runs after it.
 */
import { closeSync, openSync } from 'node:fs';
import { loadConfig, UsageError, type ConfigSource } from '../config/cli.ts';
import { runsDemoBackends, type Config } from '../config/config.ts';
import { SETTINGS } from '../config/schema.ts';
import type { SyncResult } from '../control/backend-sources.ts';

export type ReloadResult =
  | {
      readonly ok: true;
      /** Keys (as the file names them) whose change is in effect now. */
      readonly changed: readonly string[];
      /** Keys whose change needs a restart, left as they were. */
      readonly ignored: readonly string[];
      readonly backends: SyncResult;
      readonly warnings: readonly string[];
    }
  | { readonly ok: false; readonly problems: readonly string[] };

export interface ReloaderOptions {
  readonly log: (line: string) => void;
  readonly env?: NodeJS.ProcessEnv;
  /** The demo backends started for a config without backends, kept while it still has none. */
  readonly demoOrigins?: readonly string[];
}

/** What a reload acts on: the balancer (supervisor.ts). */
export interface ReloadTarget {
  readonly config: Config;
  applyConfig(next: Config): Promise<SyncResult>;
}

export class ConfigReloader {
  readonly #source: ConfigSource;
  readonly #balancer: ReloadTarget;
  readonly #options: ReloaderOptions;
  /** The config as built from file and flags (demo backends not filled in), compared with the next. */
  #built: Config;
  #queue: Promise<unknown> = Promise.resolve();

  constructor(source: ConfigSource, built: Config, balancer: ReloadTarget, options: ReloaderOptions) {
    this.#source = source;
    this.#built = built;
    this.#balancer = balancer;
    this.#options = options;
  }

  /** Reads, validates and applies the file; `why` names the trigger in the log. */
  reload(why: string): Promise<ReloadResult> {
    const next = this.#queue.then(() => this.#reload(why));
    this.#queue = next.catch(() => {});
    return next;
  }

  async #reload(why: string): Promise<ReloadResult> {
    const { log } = this.#options;
    let loaded;
    try {
      loaded = loadConfig(this.#source, this.#options.env ?? process.env, this.#built);
      checkAccessLog(loaded.config);
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      log(`config reload (${why}) failed, nothing changed: ${error.problems.length} problem${error.problems.length === 1 ? '' : 's'}`);
      for (const problem of error.problems) log(`  ${problem}`);
      return { ok: false, problems: error.problems };
    }
    const before = this.#built;
    const fresh = loaded.config;
    const changed: string[] = [];
    const ignored: string[] = [];
    for (const setting of SETTINGS) {
      if (setting.key === null || setting.flag === 'tls-key') continue;
      if (JSON.stringify(setting.read(before)) === JSON.stringify(setting.read(fresh))) continue;
      const tlsSwitched = setting.flag === 'tls-cert' && (before.tls === null) !== (fresh.tls === null);
      (setting.reload && !tlsSwitched ? changed : ignored).push(setting.key);
    }
    const applied = this.#effective(fresh);
    this.#built = { ...applied, backends: fresh.backends, spawnBackends: before.spawnBackends };
    const backends = await this.#balancer.applyConfig(applied);
    for (const warning of loaded.warnings) log(`warning: ${warning}`);
    log(
      `config reloaded (${why}): ${changed.length === 0 ? 'no setting changed' : `changed ${changed.join(', ')}`}` +
        `; backends: ${backends.added.length} added, ${backends.kept.length} kept, ${backends.reweighted.length} reweighted, ${backends.removing.length} removing` +
        (backends.refused.length > 0 ? `, ${backends.refused.length} refused (${backends.refused.map(({ origin, reason }) => `${origin}: ${reason}`).join('; ')})` : '') +
        (ignored.length > 0 ? `; ignored until a restart: ${ignored.join(', ')}` : ''),
    );
    return { ok: true, changed, ignored, backends, warnings: loaded.warnings };
  }

  /** The new config with what only a restart can change kept as it is. */
  #effective(fresh: Config): Config {
    const running = this.#balancer.config;
    const demo = this.#options.demoOrigins ?? [];
    // Still no backends listed: the demo backends started with the balancer stay.
    const backends = runsDemoBackends(fresh) && demo.length > 0 ? demo.map((origin) => ({ origin, weight: 1 })) : fresh.backends;
    const tls = running.tls === null || fresh.tls === null ? running.tls : { ...fresh.tls, redirectHttpPort: running.tls.redirectHttpPort };
    return {
      ...fresh,
      host: running.host,
      port: running.port,
      threads: running.threads,
      maxBackends: running.maxBackends,
      spawnBackends: running.spawnBackends,
      admin: running.admin,
      backends,
      tls,
    };
  }
}

/** A new access log file must be writable before anything changes: the listener threads
 * open it, and could only keep the old one and log why. */
function checkAccessLog(config: Config): void {
  if (config.accessLog?.to !== 'file') return;
  try {
    closeSync(openSync(config.accessLog.path, 'a'));
  } catch (error) {
    throw new UsageError(`access-log ${JSON.stringify(config.accessLog.path)} is not allowed: it cannot be opened for appending (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}
