/**
 * @module The bench's handle on one balancer child process (balancer-process.ts): starts
 * it with switchyard's own flags, asks it for snapshots, stops it, and kills it if it
 * does not stop by itself.
 */
import { fork, type ChildProcess } from 'node:child_process';
import type { BalancerSnapshot, ChildReport, ListeningReport, ParentRequest, SlotEventReport } from './balancer-messages.ts';

const ENTRY = new URL('./balancer-process.ts', import.meta.url);
const START_TIMEOUT_MS = 15_000;
const STOP_GRACE_MS = 5_000;

export interface BalancerChildOptions {
  /** switchyard flags, e.g. `--port 0 --threads 2 --backend http://...`. */
  readonly args: readonly string[];
  /** Extra node flags for the child, e.g. `--cpu-prof`. */
  readonly execArgv?: readonly string[];
}

export class BalancerChild {
  readonly port: number;
  readonly threads: number;
  /** The admin listener's port; null when the balancer runs with --admin-port off. */
  readonly adminPort: number | null;
  readonly pid: number;
  readonly #child: ChildProcess;
  readonly #exited: Promise<number | null>;
  /** Every change of a backend's passive health the child reported, in order. */
  readonly events: SlotEventReport[] = [];
  readonly #waiters = new Set<() => void>();
  #nextId = 0;

  private constructor(child: ChildProcess, listening: ListeningReport, exited: Promise<number | null>) {
    this.#child = child;
    this.port = listening.port;
    this.threads = listening.threads;
    this.adminPort = listening.adminPort;
    this.pid = child.pid ?? 0;
    this.#exited = exited;
    child.on('message', (report: ChildReport) => {
      if (report.type !== 'slot-event') return;
      this.events.push(report);
      for (const waiter of [...this.#waiters]) waiter();
    });
  }

  /** The first event from `from` on (an index into `events`) that `matches`, or null
   * when none came within `timeoutMs`. */
  async waitForEvent(from: number, matches: (event: SlotEventReport) => boolean, timeoutMs: number): Promise<SlotEventReport | null> {
    const find = (): SlotEventReport | null => this.events.slice(from).find(matches) ?? null;
    const found = find();
    if (found || timeoutMs <= 0) return found;
    return new Promise((resolve) => {
      const done = (event: SlotEventReport | null): void => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve(event);
      };
      const timer = setTimeout(() => done(find()), timeoutMs);
      const waiter = (): void => {
        const event = find();
        if (event) done(event);
      };
      this.#waiters.add(waiter);
    });
  }

  static async start({ args, execArgv = [] }: BalancerChildOptions): Promise<BalancerChild> {
    const child = fork(ENTRY, [...args], { execArgv: [...execArgv], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-4_000);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const listening = await new Promise<ListeningReport>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        reject(new Error(`the balancer did not start within ${START_TIMEOUT_MS / 1000}s`));
      }, START_TIMEOUT_MS);
      child.on('message', (report: ChildReport) => {
        if (report.type !== 'listening') return;
        clearTimeout(timer);
        resolve(report);
      });
      void exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`the balancer exited with code ${code} before listening: ${lastLine(stderr)}`));
      });
    });
    return new BalancerChild(child, listening, exited);
  }

  snapshot(): Promise<BalancerSnapshot> {
    const id = ++this.#nextId;
    return new Promise((resolve, reject) => {
      const onReport = (report: ChildReport): void => {
        if (report.type !== 'snapshot' || report.id !== id) return;
        this.#child.off('message', onReport);
        resolve(report);
      };
      this.#child.on('message', onReport);
      void this.#exited.then(() => reject(new Error('the balancer exited while the bench asked it for figures')));
      this.#send({ type: 'snapshot', id });
    });
  }

  /** Drains and stops the balancer; kills it if it has not exited after a grace period. */
  async stop(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    this.#send({ type: 'stop' });
    const kill = setTimeout(() => this.#child.kill('SIGKILL'), STOP_GRACE_MS);
    await this.#exited;
    clearTimeout(kill);
  }

  #send(request: ParentRequest): void {
    if (this.#child.connected) this.#child.send(request);
  }
}

function lastLine(text: string): string {
  return text.trim().split('\n').at(-1) ?? '(no output)';
}
