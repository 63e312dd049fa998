/**
 * @module Starts the process that takes over: this program again (the same Node.js
 * executable and entry script, working directory and environment), with the given flags,
 * the listening sockets in its stdio array and an IPC channel on which it says when it
 * serves (or why it could not). This is nginx's binary upgrade: the old master starts
 * the new one as its child with the listening sockets inherited; Node offers handle
 * passing only from parent to child, so the new process has to be our child too.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { encodeInheritedSockets, INHERITED_SOCKETS_ENV, type InheritedSockets } from './inherited-sockets.ts';
import type { SuccessorMessage } from './takeover-handler.ts';

/** stdio slots: 0-2 as ours (stdin ignored), 3 the IPC channel, then the sockets. */
const FIRST_SOCKET_SLOT = 4;
/** A start that takes longer is given up (the new process is killed; this one keeps serving). */
export const SUCCESSOR_START_TIMEOUT_MS = 60_000;

export interface Successor {
  readonly child: ChildProcess;
  readonly command: readonly string[];
}

/** The command line this process was started with, with `args` in place of its flags. */
export function successorCommand(args: readonly string[]): string[] {
  const script = process.argv[1];
  if (script === undefined) throw new Error('this process has no entry script to start again');
  return [process.execPath, ...process.execArgv, script, ...args];
}

/**
 * Resolves once the new process serves on the sockets; rejects with the reason it did
 * not (it is stopped then), so that the caller keeps serving and says why.
 */
export function startSuccessor(args: readonly string[], sockets: InheritedSockets, timeoutMs = SUCCESSOR_START_TIMEOUT_MS): Promise<Successor> {
  const passed = [...sockets.listeners, ...(sockets.admin === null ? [] : [sockets.admin]), ...(sockets.redirect === null ? [] : [sockets.redirect])];
  // The numbers they get in the new process, where stdio slot i is descriptor i.
  let slot = FIRST_SOCKET_SLOT;
  const renumbered: InheritedSockets = {
    listeners: sockets.listeners.map(() => slot++),
    admin: sockets.admin === null ? null : slot++,
    redirect: sockets.redirect === null ? null : slot++,
  };
  const [executable, ...rest] = successorCommand(args) as [string, ...string[]];
  const child = spawn(executable, rest, {
    cwd: process.cwd(),
    env: { ...process.env, [INHERITED_SOCKETS_ENV]: encodeInheritedSockets(renumbered) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc', ...passed],
  });
  const command = [executable, ...rest];
  return new Promise<Successor>((resolve, reject) => {
    let failure: string | null = null;
    const fail = (reason: string): void => {
      cleanup();
      reject(new Error(reason));
    };
    const onMessage = (message: SuccessorMessage): void => {
      if (message.type === 'switchyard-failed') failure = message.message;
      if (message.type !== 'switchyard-serving') return;
      cleanup();
      // It lives on without us: no channel to keep open, nothing to wait for.
      if (child.connected) child.disconnect();
      child.unref();
      resolve({ child, command });
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
      fail(`the new process (pid ${child.pid}) ${failure === null ? `exited with ${code ?? signal} before serving; its own lines above say why` : `could not start: ${failure}`}`);
    const onError = (error: Error): void => fail(`the new process could not be started: ${error.message}`);
    const timer = setTimeout(() => {
      fail(`the new process (pid ${child.pid}) was not serving after ${timeoutMs / 1000}s; it was stopped`);
      child.kill('SIGKILL');
    }, timeoutMs);
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
