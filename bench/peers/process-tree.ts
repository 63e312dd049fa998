/**
 * @module CPU time of a whole process tree from /proc (Linux): a contender's own
 * process and every process it forked (nginx's master and worker; haproxy and node are
 * one process each, their threads included in the process's own figures).
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export interface ProcessEntry {
  readonly pid: number;
  readonly ppid: number;
  /** When it started, in ticks since boot: tells a process from a later one given the same pid. */
  readonly startTicks: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  readonly ticks: number;
}

/** Clock ticks per second of /proc/<pid>/stat's times (`getconf CLK_TCK`, 100 on Linux). */
export const CLOCK_TICKS_PER_SECOND: number = (() => {
  try {
    const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return Number.isInteger(value) && value > 0 ? value : 100;
  } catch {
    return 100;
  }
})();

/** Whether this system has /proc to read CPU times from. */
export function procAvailable(): boolean {
  return readStat(process.pid) !== null;
}

/** `root` and every process below it, root first. */
export function processTree(root: number): ProcessEntry[] {
  const all: ProcessEntry[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const entry = readStat(Number(name));
    if (entry) all.push(entry);
  }
  const tree = all.filter((entry) => entry.pid === root);
  for (let i = 0; i < tree.length; i++) {
    const parent = tree[i];
    if (parent) tree.push(...all.filter((entry) => entry.ppid === parent.pid));
  }
  return tree;
}

/** CPU time of the tree under `root` so far, in microseconds. A child's time moves
 * into its parent's cutime/cstime when the parent reaps it, so the sum stays
 * continuous if a worker is replaced between two readings. */
export function treeCpuMicros(root: number): number {
  const ticks = processTree(root).reduce((sum, entry) => sum + entry.ticks, 0);
  return (ticks * 1e6) / CLOCK_TICKS_PER_SECOND;
}

/** Whether `entry`'s process is still the one that was read (not gone, pid not reused). */
export function stillRunning(entry: ProcessEntry): boolean {
  return readStat(entry.pid)?.startTicks === entry.startTicks;
}

function readStat(pid: number): ProcessEntry | null {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name, in parentheses, may itself hold spaces and parentheses.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // fields[0] is the state (the 3rd field of proc(5)): utime is the 14th, starttime the 22nd.
  const at = (field: number): number => Number(fields[field - 3] ?? NaN);
  const ticks = at(14) + at(15) + at(16) + at(17);
  if (!Number.isFinite(ticks)) return null;
  return { pid, ppid: at(4), startTicks: at(22), ticks };
}
