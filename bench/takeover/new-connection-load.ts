/**
 * @module Load that opens a new TCP connection for every request (the case a takeover
 * must not fail: each request needs the listening sockets), from a few concurrent loops
 * with node:http and no agent. Counts every outcome: answered (by status and by which
 * process, told apart by the name of the sticky cookie each generation sets), or failed
 * (by error code: ECONNRESET, ECONNREFUSED, ...).
 */
import { request } from 'node:http';

export interface LoadCounts {
  sent: number;
  ok: number;
  /** Answered requests by the generation that answered: the Set-Cookie name, or `none`. */
  byGeneration: Record<string, number>;
  /** Failures by error code or by `status NNN`. */
  failures: Record<string, number>;
}

export interface NewConnectionLoad {
  readonly counts: LoadCounts;
  /** Stops the loops and resolves once every request under way has ended. */
  stop(): Promise<LoadCounts>;
}

function once(port: number, counts: LoadCounts): Promise<void> {
  return new Promise((resolve) => {
    counts.sent++;
    const fail = (why: string): void => {
      counts.failures[why] = (counts.failures[why] ?? 0) + 1;
      resolve();
    };
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, headers: { connection: 'close' }, timeout: 10_000 }, (res) => {
      const cookie = res.headers['set-cookie']?.[0];
      const generation = cookie === undefined ? 'none' : (cookie.split('=')[0] ?? 'none');
      res.resume();
      res.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
      res.once('end', () => {
        if (res.statusCode !== 200) return fail(`status ${res.statusCode}`);
        counts.ok++;
        counts.byGeneration[generation] = (counts.byGeneration[generation] ?? 0) + 1;
        resolve();
      });
    });
    req.once('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.once('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.message));
    req.end();
  });
}

export function startNewConnectionLoad(port: number, concurrency: number): NewConnectionLoad {
  const counts: LoadCounts = { sent: 0, ok: 0, byGeneration: {}, failures: {} };
  let running = true;
  const loops = Array.from({ length: concurrency }, async () => {
    while (running) await once(port, counts);
  });
  return {
    counts,
    stop: async () => {
      running = false;
      await Promise.all(loops);
      return counts;
    },
  };
}

export function failed(counts: LoadCounts): number {
  return Object.values(counts.failures).reduce((sum, n) => sum + n, 0);
}
