/**
 * @module The balancer's memory over a load run: its process RSS and its listener threads'
 * V8 heaps, sampled every second, and the figures the memory target needs. RSS right
 * after a short warm-up is often still climbing while V8 sizes its heaps, so the figures
 * also say whether RSS was still growing in the second half of the load, and how low the
 * heaps came (the live data is at most that low point).
 */
import { performance } from 'node:perf_hooks';
import type { BalancerSnapshot } from './balancer-messages.ts';

const SAMPLE_EVERY_MS = 1_000;

export interface MemorySample {
  /** Seconds since sampling started (the balancer's first load). */
  readonly atSeconds: number;
  readonly rssBytes: number;
  readonly listenerHeapBytes: number;
}

export interface Memory {
  readonly rssAfterWarmupBytes: number;
  readonly rssAfterLoadBytes: number;
  /** RSS after the load over RSS after warm-up, minus 1: what the target is about. */
  readonly growth: number;
  /** RSS in the middle of the measured window, and the growth from there to the end:
   * near zero once RSS has settled, positive while it still grows. */
  readonly rssMidLoadBytes: number;
  readonly secondHalfGrowth: number;
  readonly listenerHeapAfterWarmupBytes: number;
  readonly listenerHeapAfterLoadBytes: number;
  /** Lowest heap in use (all listeners) seen in each half of the measured window. */
  readonly listenerHeapLowFirstHalfBytes: number;
  readonly listenerHeapLowSecondHalfBytes: number;
  readonly timeline: readonly MemorySample[];
}

export class MemorySampler {
  readonly #snapshot: () => Promise<BalancerSnapshot>;
  readonly #samples: Array<MemorySample & { readonly at: number }> = [];
  readonly #started = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(snapshot: () => Promise<BalancerSnapshot>) {
    this.#snapshot = snapshot;
    this.#timer = setInterval(() => this.#sample(), SAMPLE_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** The figures, given the snapshots at the end of warm-up and after the load, and the
   * measured window (`performance.now()` at its ends). */
  figures(afterWarmup: BalancerSnapshot, final: BalancerSnapshot, window: { start: number; end: number }): Memory {
    const middle = (window.start + window.end) / 2;
    const distance = (sample: { at: number }): number => Math.abs(sample.at - middle);
    const mid = [...this.#samples].sort((a, b) => distance(a) - distance(b))[0];
    const rssMidLoadBytes = mid?.rssBytes ?? afterWarmup.rssBytes;
    const low = (from: number, to: number): number =>
      Math.min(...this.#samples.filter((s) => s.at >= from && s.at <= to).map((s) => s.listenerHeapBytes), Number.MAX_SAFE_INTEGER);
    const orNaN = (bytes: number): number => (bytes === Number.MAX_SAFE_INTEGER ? Number.NaN : bytes);
    return {
      rssAfterWarmupBytes: afterWarmup.rssBytes,
      rssAfterLoadBytes: final.rssBytes,
      growth: final.rssBytes / Math.max(1, afterWarmup.rssBytes) - 1,
      rssMidLoadBytes,
      secondHalfGrowth: final.rssBytes / Math.max(1, rssMidLoadBytes) - 1,
      listenerHeapAfterWarmupBytes: afterWarmup.listenerHeapBytes,
      listenerHeapAfterLoadBytes: final.listenerHeapBytes,
      listenerHeapLowFirstHalfBytes: orNaN(low(window.start, middle)),
      listenerHeapLowSecondHalfBytes: orNaN(low(middle, window.end)),
      timeline: this.#samples.map(({ atSeconds, rssBytes, listenerHeapBytes }) => ({ atSeconds, rssBytes, listenerHeapBytes })),
    };
  }

  #sample(): void {
    this.#snapshot().then(
      (snapshot) => {
        const at = performance.now();
        this.#samples.push({ at, atSeconds: (at - this.#started) / 1000, rssBytes: snapshot.rssBytes, listenerHeapBytes: snapshot.listenerHeapBytes });
      },
      // The balancer is stopping; the run's own snapshots report real failures.
      () => {},
    );
  }
}
