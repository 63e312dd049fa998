/**
 * @module A listener thread's event-loop delay, published to its row in shared memory
 * once per window: how long a ready socket waited before this thread could serve it.
 * The main thread reads it for /metrics and the dashboard; nothing crosses threads but
 * two int32 stores a second.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LOOP_DELAY_WINDOW_MS } from '../shared/layout.ts';
import type { SharedState } from '../shared/shared-state.ts';

/** Fine enough to see a 1 ms stall, coarse enough to cost nothing measurable. */
const RESOLUTION_MS = 10;
const MAX_MICROS = 2 ** 31 - 1;

export function watchEventLoopDelay(state: SharedState, listener: number): void {
  const histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  const publish = (): void => {
    // The histogram reports nanoseconds and includes the sampling interval itself.
    const micros = (nanos: number): number => Math.min(MAX_MICROS, Math.max(0, Math.round(nanos / 1000 - RESOLUTION_MS * 1000)));
    state.listenerStore(listener, 'loopDelayP99Micros', histogram.count > 0 ? micros(histogram.percentile(99)) : 0);
    state.listenerStore(listener, 'loopDelayMaxMicros', histogram.count > 0 ? micros(histogram.max) : 0);
    histogram.reset();
  };
  setInterval(publish, LOOP_DELAY_WINDOW_MS).unref();
}
