/**
 * @module The balancers the peers section compares, in front of the same two nginx
 * backends, each on its own loopback port: nginx (1 worker), HAProxy (2 threads),
 * switchyard with 2 and with 1 listener threads. Each is started from its real binary
 * (switchyard as `node src/main.ts`, the path a user runs) and stopped by the caller.
 */
import { writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Cleanup } from '../cleanup.ts';
import { haproxyConfig, nginxBalancerConfig } from './configs.ts';
import { executable, freePort, Spawned } from './spawned.ts';

const START_TIMEOUT_MS = 15_000;
const SWITCHYARD_MAIN = fileURLToPath(new URL('../../src/main.ts', import.meta.url));
/** Where Debian and others install daemons; not always on a non-root PATH. */
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

export const CONTENDER_KEYS = ['nginx', 'haproxy', 'switchyard-2', 'switchyard-2-capped', 'switchyard-1'] as const;
export type ContenderKey = (typeof CONTENDER_KEYS)[number];

export const CONTENDER_NAMES: Readonly<Record<ContenderKey, string>> = {
  nginx: 'nginx, 1 worker',
  haproxy: 'HAProxy, 2 threads',
  'switchyard-2': 'switchyard --threads 2',
  'switchyard-2-capped': 'switchyard --threads 2 --upstream-connections 32',
  'switchyard-1': 'switchyard --threads 1',
};

/** The one the ratios are taken against. */
export const REFERENCE: ContenderKey = 'nginx';

export interface RunningContender {
  readonly key: ContenderKey;
  readonly name: string;
  readonly port: number;
  /** The process whose tree's CPU time is the contender's. */
  readonly pid: number;
  readonly stop: () => Promise<void>;
}

export interface ContenderStart {
  /** Directory for config files, pids and logs. */
  readonly dir: string;
  readonly backendPorts: readonly number[];
  readonly cleanup: Cleanup;
}

/** A program by name: on PATH, or in one of the sbin directories. */
export function findBinary(name: string): string | null {
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SBIN];
  for (const dir of dirs) {
    const file = join(dir, name);
    if (executable(file)) return file;
  }
  return null;
}

/** The binary each contender needs; a contender whose binary is missing is skipped. */
export function contenderBinary(key: ContenderKey): { readonly program: string; readonly file: string | null } {
  if (key === 'nginx' || key === 'haproxy') return { program: key, file: findBinary(key) };
  return { program: 'node', file: process.execPath };
}

export async function startContender(key: ContenderKey, binary: string, options: ContenderStart): Promise<RunningContender> {
  const name = CONTENDER_NAMES[key];
  switch (key) {
    case 'nginx': {
      const port = await freePort();
      const started = await startNginx(binary, options.dir, 'balancer-nginx', nginxBalancerConfig(options.dir, port, options.backendPorts), port, options.cleanup);
      return { key, name, port, ...started };
    }
    case 'haproxy': {
      const port = await freePort();
      const file = join(options.dir, 'haproxy.cfg');
      writeFileSync(file, haproxyConfig(port, options.backendPorts));
      // -db: stay in the foreground, one process (its threads inside it).
      const { spawned, stop } = Spawned.start({ label: name, file: binary, args: ['-f', file, '-db'], cwd: options.dir }, options.cleanup);
      await ready(spawned.waitForPort(port, START_TIMEOUT_MS), stop);
      return { key, name, port, pid: spawned.pid, stop };
    }
    case 'switchyard-2':
    case 'switchyard-2-capped':
    case 'switchyard-1': {
      const threads = key === 'switchyard-1' ? 1 : 2;
      const args = [SWITCHYARD_MAIN, '--host', '127.0.0.1', '--port', '0', '--admin-port', 'off', '--threads', String(threads)];
      // Bounded upstream pools: the 1,000-connection tail follows the number of upstream
      // connections (bench/README.md, "Levers measured for #9").
      if (key === 'switchyard-2-capped') args.push('--upstream-connections', '32');
      for (const port of options.backendPorts) args.push('--backend', `http://127.0.0.1:${port}`);
      const { spawned, stop } = Spawned.start({ label: name, file: binary, args }, options.cleanup);
      // It prints this line once every listener thread accepts connections.
      const match = await ready(spawned.waitForOutput(/listening on http:\/\/127\.0\.0\.1:(\d+)/, START_TIMEOUT_MS), stop);
      return { key, name, port: Number(match[1]), pid: spawned.pid, stop };
    }
  }
}

/** Starts an nginx from `config` (written to `dir`), in the foreground, with its error
 * log in `dir` from the start (`-e`: before the config is read, nginx would otherwise
 * open the system's log), and waits until it accepts connections on `port`. */
export async function startNginx(
  binary: string,
  dir: string,
  name: string,
  config: string,
  port: number,
  cleanup: Cleanup,
): Promise<{ readonly pid: number; readonly stop: () => Promise<void> }> {
  const file = join(dir, `${name}.conf`);
  writeFileSync(file, config);
  const args = ['-e', join(dir, `${name}.error.log`), '-c', file, '-p', dir, '-g', 'daemon off;'];
  const { spawned, stop } = Spawned.start({ label: `nginx (${name})`, file: binary, args, cwd: dir }, cleanup);
  await ready(spawned.waitForPort(port, START_TIMEOUT_MS), stop);
  return { pid: spawned.pid, stop };
}

/** `waiting`'s result; if it fails, the program is stopped before the error goes on. */
async function ready<T>(waiting: Promise<T>, stop: () => Promise<void>): Promise<T> {
  try {
    return await waiting;
  } catch (error) {
    await stop();
    throw error;
  }
}
