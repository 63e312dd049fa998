/**
 * @module The kernel's TCP counters that show an accept queue overflowing
 * (`TcpExtListenOverflows`: a connection completed while the listen queue was full, so
 * the kernel dropped it) and clients retrying their SYN (`TcpExtTCPSynRetrans`: each
 * retry costs the client one to three seconds), read with `nstat` (iproute2). They
 * count for the whole network namespace: whatever else runs on the machine is in them.
 */
import { execFileSync } from 'node:child_process';

export const KERNEL_COUNTERS = ['TcpExtListenOverflows', 'TcpExtTCPSynRetrans'] as const;
export type KernelCounter = (typeof KERNEL_COUNTERS)[number];
export type KernelCounts = Readonly<Record<KernelCounter, number>>;

/** The counters now, or null when nstat is not installed or fails. */
export function readKernelCounters(nstat: string | null): KernelCounts | null {
  if (nstat === null) return null;
  let text: string;
  try {
    // -a: absolute values; -s: leave nstat's own history file alone (other users of
    // nstat on this machine keep their deltas); -z: print counters that are 0.
    text = execFileSync(nstat, ['-asz', ...KERNEL_COUNTERS], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return null;
  }
  const value = (name: KernelCounter): number => Number(new RegExp(`^${name}\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  const counts = { TcpExtListenOverflows: value('TcpExtListenOverflows'), TcpExtTCPSynRetrans: value('TcpExtTCPSynRetrans') };
  return Object.values(counts).every(Number.isFinite) ? counts : null;
}

export function counterDelta(before: KernelCounts | null, after: KernelCounts | null): KernelCounts | null {
  if (!before || !after) return null;
  return {
    TcpExtListenOverflows: after.TcpExtListenOverflows - before.TcpExtListenOverflows,
    TcpExtTCPSynRetrans: after.TcpExtTCPSynRetrans - before.TcpExtTCPSynRetrans,
  };
}
