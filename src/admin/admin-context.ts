/**
 * @module What every admin route is given: the configuration, the shared state to read,
 * the backend table to steer, the listener threads (their restarts), and the event log.
 * Routes run on the main thread, never in a listener thread's event loop.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Config } from '../config/config.ts';
import type { BackendTable } from '../control/backend-table.ts';
import type { ReloadResult } from '../reload/config-reloader.ts';
import type { NameStatus } from '../discovery/name-follower.ts';
import type { SharedState } from '../shared/shared-state.ts';
import type { Stats } from './stats.ts';
import type { TakeoverHandler } from '../takeover/takeover-handler.ts';

export interface ListenerThreadInfo {
  readonly label: string;
  /** Times it was restarted after dying. */
  readonly restarts: number;
}

export interface AdminContext {
  readonly config: Config;
  readonly state: SharedState;
  readonly table: BackendTable;
  readonly listeners: readonly ListenerThreadInfo[];
  /** When the process started, ms since the Unix epoch. */
  readonly startedAt: number;
  /** The event log on stderr: admin actions are reported here, one line each. */
  readonly logEvent: (line: string) => void;
  /** A fresh reading of shared memory (stats.ts). */
  readonly stats: () => Stats;
  /** Reloads the config file (POST /reload); absent or null without --config. */
  readonly reload?: ((why: string) => Promise<ReloadResult>) | null;
  /** Each DNS name followed: its last resolution, answers and failures. */
  readonly discovery: () => readonly NameStatus[];
  /** POST /takeover: hands this process's sockets to a new one; null when the process was
   * not started by src/main.ts (tests, bench), which alone can exit after it. */
  readonly takeover: TakeoverHandler | null;
}

/**
 * One route, or a family of them: answers and returns true when the request is its own
 * (by path), false to let the next route look. A route answers a wrong method itself
 * (405 naming the allowed ones).
 */
export type AdminRoute = (req: IncomingMessage, res: ServerResponse, url: URL, context: AdminContext) => boolean | Promise<boolean>;
