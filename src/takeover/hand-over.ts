/**
 * @module The running process's side of a takeover (`switchyard --takeover`, POST
 * /takeover, SIGUSR2): checks that the request can be carried out, starts the new process
 * with every listening socket inherited (successor.ts), and once it serves, hands back
 * the drain that ends this process. Until the new process serves, nothing here has
 * changed: a failed start leaves this process serving, and the answer says why.
 */
import { parseCli, UsageError } from '../config/cli.ts';
import { runsDemoBackends, type Config } from '../config/config.ts';
import type { Balancer } from '../supervisor/supervisor.ts';
import type { InheritedSockets } from './inherited-sockets.ts';
import { startSuccessor } from './successor.ts';
import type { TakeoverHandler, TakeoverOutcome, TakeoverRequest } from './takeover-handler.ts';

export interface HandOverOptions {
  /** The running configuration, as started. */
  readonly config: () => Config;
  /** This process's own flags: what the new process gets when the request names none. */
  readonly args: readonly string[];
  readonly balancer: () => Balancer | null;
  /** Why this process cannot be taken over at all, or null (demo backends, PID 1). */
  readonly refusal: () => string | null;
  /** True once this process is stopping (a signal, or a takeover already done). */
  readonly stopping: () => boolean;
  readonly log: (line: string) => void;
  /** Drains this process and exits; `successorPid` serves on the sockets already. */
  readonly drain: (successorPid: number) => void;
}

export function createTakeoverHandler(options: HandOverOptions): TakeoverHandler {
  let underway = false;
  return async (request) => {
    if (underway) return refuse(409, 'a takeover is already under way');
    underway = true;
    try {
      const outcome = await handOver(options, request);
      if (!outcome.ok) options.log(`takeover (${request.from}) refused or failed: ${outcome.reason}; this process (pid ${process.pid}) keeps serving`);
      return outcome;
    } finally {
      underway = false;
    }
  };
}

async function handOver(options: HandOverOptions, request: TakeoverRequest): Promise<TakeoverOutcome> {
  const balancer = options.balancer();
  const refusal = options.refusal();
  if (refusal !== null) return refuse(409, refusal);
  const running = options.config();
  if (balancer === null || options.stopping()) return refuse(409, 'this process is starting or stopping');
  const args = request.args ?? options.args;
  let next: Config;
  try {
    const parsed = parseCli(args);
    if (parsed.kind !== 'run') return refuse(400, 'the new process would only print its usage (--help)');
    if (parsed.takeover) return refuse(400, 'the new flags must not contain --takeover: it is the request, not a setting');
    next = parsed.config;
  } catch (error) {
    if (error instanceof UsageError) return refuse(400, `the new flags are refused: ${error.message}`);
    throw error;
  }
  const sameListener = checkSameListener(running, balancer, next);
  if (sameListener !== null) return refuse(400, sameListener);
  if (runsDemoBackends(next)) return refuse(400, 'the new flags name no --backend (nor --backend-dns, --backend-srv): demo backends (--spawn-backends) cannot run beside this process\'s');
  const sockets = balancer.listeningSockets();
  if (sockets === null) return refuse(409, 'a listener thread is restarting; try again in a moment');
  const passed: InheritedSockets = {
    listeners: request.sockets === 'inherit' ? sockets.listeners : [],
    admin: keepsPort(next.admin, balancer.admin, running.admin?.host) ? sockets.admin : null,
    redirect: keepsPort(next.tls?.redirectHttpPort == null ? null : { port: next.tls.redirectHttpPort, host: next.host }, balancer.redirect, running.host) ? sockets.redirect : null,
  };
  options.log(
    `takeover (${request.from}): starting the new process with ${passed.listeners.length} listening sockets` +
      `${passed.admin === null ? '' : ', the admin socket'}${passed.redirect === null ? '' : ', the redirect socket'}`,
  );
  try {
    const successor = await startSuccessor(args, passed);
    const successorPid = successor.child.pid as number;
    return { ok: true, successorPid, command: successor.command, drain: () => options.drain(successorPid) };
  } catch (error) {
    return refuse(500, error instanceof Error ? error.message : String(error));
  }
}

/** The new process must serve the same address: the sockets are bound to it. */
function checkSameListener(running: Config, balancer: Balancer, next: Config): string | null {
  if (next.host !== running.host) return `the new --host ${next.host} is not this process's (${running.host}): the sockets handed over are bound to it`;
  if (next.port !== 0 && next.port !== balancer.port) return `the new --port ${next.port} is not this process's (${balancer.port}): the sockets handed over are bound to it (or give --port 0)`;
  return null;
}

/** Whether a listener (admin, redirect) keeps its address, so its socket is handed over too. */
function keepsPort(wanted: { readonly host: string; readonly port: number } | null, running: { readonly port: number } | null, runningHost: string | undefined): boolean {
  if (wanted === null || running === null) return false;
  return wanted.host === runningHost && (wanted.port === 0 || wanted.port === running.port);
}

function refuse(status: 400 | 409 | 500, reason: string): TakeoverOutcome {
  return { ok: false, status, reason };
}
