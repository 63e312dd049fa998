/**
 * @module A real `node src/main.ts` and the processes that take over from it, for the
 * takeover bench and test: starts the first one, reads its port and admin port from its
 * lines, asks for takeovers over the admin listener, and waits for each old process to
 * be gone. Only the first is this process's child (each successor is its predecessor's
 * child, then an orphan), so "gone" is read from /proc: no such PID, or a zombie.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';

const MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));

export interface TakeoverAnswer {
  readonly successor: number;
  readonly predecessor: number;
}

export class SwitchyardTree {
  readonly first: ChildProcess;
  /** Exit code (or signal) of the first process. */
  readonly firstExited: Promise<number | string>;
  /** Every line any process of the tree wrote (they share the first one's stdout and stderr). */
  output = '';
  port = 0;
  adminPort = 0;
  /** The process serving now. */
  pid: number;

  private constructor(first: ChildProcess) {
    this.first = first;
    this.pid = first.pid as number;
    this.firstExited = once(first, 'exit').then(([code, signal]) => (code as number | null) ?? (signal as string));
    first.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    first.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
  }

  /** Starts `node src/main.ts --port 0 --admin-port 0 ...args` and waits until it serves. */
  static async start(args: readonly string[]): Promise<SwitchyardTree> {
    const child = spawn(process.execPath, [MAIN, '--port', '0', '--admin-port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    const tree = new SwitchyardTree(child);
    const listening = await tree.waitForLine(/listening on http:\/\/[^:]+:(\d+) /);
    tree.port = Number(/:(\d+) \(/.exec(listening)?.[1]);
    tree.adminPort = Number(/admin on http:\/\/[^:]+:(\d+)/.exec(tree.output)?.[1]);
    return tree;
  }

  /** The flags a successor needs to keep the same listeners, before its own. */
  keepListeners(args: readonly string[]): string[] {
    return ['--port', String(this.port), '--admin-port', String(this.adminPort), ...args];
  }

  waitForLine(pattern: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const check = async (): Promise<string> => {
      for (;;) {
        const line = this.output.split('\n').find((candidate) => pattern.test(candidate));
        if (line !== undefined) return line;
        if (Date.now() > deadline || (this.first.exitCode !== null && this.pid === this.first.pid)) {
          throw new Error(`no line matching ${pattern} in:\n${this.output}`);
        }
        await sleep(20);
      }
    };
    return check();
  }

  /** POST /takeover; resolves with the answer once the successor serves, rejects with the refusal. */
  async takeover(args: readonly string[] | null, sockets: 'inherit' | 'rebind' = 'inherit'): Promise<TakeoverAnswer> {
    const body = args === null && sockets === 'inherit' ? '' : JSON.stringify({ ...(args === null ? {} : { args }), sockets });
    const res = await fetch(`http://127.0.0.1:${this.adminPort}/takeover`, { method: 'POST', body });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`POST /takeover answered ${res.status}: ${text.trim()}`);
    const answer = JSON.parse(text) as TakeoverAnswer;
    this.pid = answer.successor;
    return answer;
  }

  /** Stops the serving process (SIGTERM) and waits until every process of the tree is gone. */
  async stop(pids: readonly number[] = []): Promise<void> {
    for (const pid of new Set([this.pid, ...pids])) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // Gone already.
      }
    }
    for (const pid of new Set([this.pid, ...pids])) {
      if (!(await waitUntilGone(pid, 20_000))) process.kill(pid, 'SIGKILL');
    }
  }
}

/** True once `pid` has no live process (gone, or a zombie nobody reaped yet); false at the deadline. */
export async function waitUntilGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!(await isAlive(pid))) return true;
    await sleep(25);
  }
  return false;
}

async function isAlive(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}
