/**
 * @module One external program the peers section runs (an nginx, an haproxy, a
 * switchyard, wrk): started with its output kept (the tail, for error messages), waited
 * for, and stopped together with every process it forked, also when the bench fails or
 * is interrupted (registered with the bench's Cleanup).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cleanup } from '../cleanup.ts';
import { processTree, stillRunning } from './process-tree.ts';

/** How much of a program's output is kept for an error message. */
const OUTPUT_TAIL_CHARS = 4_000;
/** After SIGTERM, how long a program has to exit before it and its children are killed. */
const STOP_GRACE_MS = 3_000;

export interface SpawnOptions {
  readonly label: string;
  readonly file: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

export class Spawned {
  readonly label: string;
  readonly pid: number;
  readonly exited: Promise<number | null>;
  readonly #child: ChildProcess;
  #output = '';
  #exitCode: number | null | undefined = undefined;
  readonly #lineWaiters = new Set<(text: string) => void>();

  private constructor(label: string, child: ChildProcess) {
    this.label = label;
    this.#child = child;
    this.pid = child.pid ?? 0;
    const keep = (chunk: string): void => {
      this.#output = (this.#output + chunk).slice(-OUTPUT_TAIL_CHARS);
      for (const waiter of [...this.#lineWaiters]) waiter(this.#output);
    };
    child.stdout?.setEncoding('utf8').on('data', keep);
    child.stderr?.setEncoding('utf8').on('data', keep);
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': the output is complete only once both pipes have ended.
      child.once('close', (code, signal) => {
        this.#exitCode = code ?? (signal ? null : 0);
        resolve(this.#exitCode);
      });
    });
  }

  /** Starts `file`; `cleanup` stops it (and whatever it forked) if the bench ends first. */
  static start(options: SpawnOptions, cleanup: Cleanup): { spawned: Spawned; stop: () => Promise<void> } {
    const child = spawn(options.file, [...options.args], { cwd: options.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const spawned = new Spawned(options.label, child);
    child.once('error', (error) => {
      spawned.#output += `\n${error.message}`;
    });
    return { spawned, stop: cleanup.defer(options.label, () => spawned.stop()) };
  }

  get running(): boolean {
    return this.#exitCode === undefined && this.pid !== 0;
  }

  /** The last few kilobytes the program printed, for an error message. */
  get output(): string {
    return this.#output.trim();
  }

  /** Resolves with the first match of `pattern` in the output; rejects if the program
   * exits or nothing matches within `timeoutMs`. */
  async waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    const found = pattern.exec(this.#output);
    if (found) return found;
    return new Promise((resolve, reject) => {
      const done = (error: Error | null, match?: RegExpExecArray): void => {
        clearTimeout(timer);
        this.#lineWaiters.delete(waiter);
        if (error) reject(error);
        else if (match) resolve(match);
      };
      const waiter = (text: string): void => {
        const match = pattern.exec(text);
        if (match) done(null, match);
      };
      const timer = setTimeout(() => done(this.#failure(`printed nothing matching ${pattern} within ${timeoutMs / 1000}s`)), timeoutMs);
      this.#lineWaiters.add(waiter);
      void this.exited.then((code) => done(this.#failure(`exited (code ${code}) before it was ready`)));
    });
  }

  /** Resolves once 127.0.0.1:`port` accepts connections; rejects if the program exits
   * first or the port stays closed for `timeoutMs`. */
  async waitForPort(port: number, timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      if (!this.running) throw this.#failure(`exited (code ${this.#exitCode}) before it listened on port ${port}`);
      if (await accepts(port)) return;
      await sleep(50);
    }
    throw this.#failure(`did not listen on port ${port} within ${timeoutMs / 1000}s`);
  }

  /** SIGTERM to the program, then SIGKILL to it and to every process it forked that is
   * still there (an nginx worker outlives a master killed hard). */
  async stop(): Promise<void> {
    if (!this.running) return;
    const forked = processTree(this.pid).filter((entry) => entry.pid !== this.pid);
    this.#child.kill('SIGTERM');
    const timer = sleep(STOP_GRACE_MS).then(() => 'late' as const);
    if ((await Promise.race([this.exited, timer])) === 'late') this.#child.kill('SIGKILL');
    await this.exited;
    for (const entry of forked) {
      // Only a process that is still the one read above: a pid may have been reused.
      if (!stillRunning(entry)) continue;
      try {
        process.kill(entry.pid, 'SIGKILL');
      } catch {
        // Gone in the meantime, as it should be.
      }
    }
  }

  #failure(what: string): Error {
    return new Error(`${this.label} ${what}${this.#output ? `; its output:\n${this.output}` : ''}`);
  }
}

/** Whether `file` exists and may be executed. */
export function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A loopback port nothing listens on right now. nginx and HAProxy take their ports
 * from a config file, so the port is chosen here (briefly bound, then released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
