/**
 * @module One backend as the runtime API shows it (GET /backends, and the answer to
 * every change): its slot's figures from stats.ts, with the latency histogram summed up
 * as p50/p99 instead of its raw cells (those are on /metrics).
 */
import { histogramQuantile, type BackendStats } from './stats.ts';

export interface BackendView extends Omit<BackendStats, 'latency' | 'ewmaMicros'> {
  /** Time to response headers, from the shared histogram; null before any response. */
  readonly latency: { readonly count: number; readonly p50Ms: number | null; readonly p99Ms: number | null };
  /** The peak-EWMA latency picks see now; 0 before any sample. */
  readonly ewmaMs: number;
}

export function backendView({ latency, ewmaMicros, ...figures }: BackendStats): BackendView {
  const ms = (micros: number | null): number | null => (micros === null ? null : Math.round(micros) / 1000);
  return {
    ...figures,
    latency: { count: latency.count, p50Ms: ms(histogramQuantile(latency.cells, 0.5)), p99Ms: ms(histogramQuantile(latency.cells, 0.99)) },
    ewmaMs: Math.round(ewmaMicros) / 1000,
  };
}
