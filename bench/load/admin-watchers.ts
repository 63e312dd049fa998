/**
 * @module What watches a balancer through its admin listener while the observability
 * section loads it: a Prometheus-like scraper of /metrics at a fixed interval, and one
 * dashboard-like reader of the /events stream. Both run in the bench process, so that
 * only the balancer's side of each is counted in the balancer's CPU.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { scrapeMetrics } from './metrics-exactness.ts';

export interface WatcherFigures {
  /** Scrapes answered, or events received. */
  readonly count: number;
  readonly bytes: number;
  readonly failures: number;
}

export interface Watcher {
  /** Stops watching (waits for a scrape under way); what was seen. */
  stop(): Promise<WatcherFigures>;
}

/** GET /metrics every `everyMs`, one at a time (a slow scrape delays the next, as Prometheus does). */
export function scrapeEvery(port: number, everyMs: number): Watcher {
  let count = 0;
  let bytes = 0;
  let failures = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    scrapeMetrics(port)
      .then(
        (text) => {
          count++;
          bytes += Buffer.byteLength(text);
        },
        () => failures++,
      )
      .finally(() => (busy = false));
  }, everyMs);
  return {
    async stop() {
      clearInterval(timer);
      while (busy) await sleep(5);
      return { count, bytes, failures };
    },
  };
}

/** Opens GET /events and reads it as the dashboard does, counting the readings (`data:` lines). */
export async function readEvents(port: number): Promise<Watcher> {
  const controller = new AbortController();
  const res = await request(`http://127.0.0.1:${port}/events`, { signal: controller.signal });
  if (res.statusCode !== 200) {
    const text = await res.body.text();
    throw new Error(`GET /events answered ${res.statusCode}: ${text.split('\n', 1)[0]}`);
  }
  let count = 0;
  let bytes = 0;
  let failures = 0;
  let partial = '';
  res.body.setEncoding('utf8');
  res.body.on('data', (chunk: string) => {
    bytes += Buffer.byteLength(chunk);
    const lines = (partial + chunk).split('\n');
    partial = lines.pop() ?? '';
    for (const line of lines) if (line.startsWith('data: ')) count++;
  });
  // Our own abort at the end is not a failure; a stream that ends or fails before it is.
  let stopping = false;
  const ended = (): void => {
    if (!stopping) failures++;
  };
  res.body.on('error', ended);
  res.body.on('end', ended);
  return {
    async stop() {
      stopping = true;
      controller.abort();
      return { count, bytes, failures };
    },
  };
}
