/**
 * @module GET /events: the dashboard's live feed as Server-Sent Events. Every TICK_MS one
 * reading of shared memory (live-reading.ts) goes to every open stream: one reading per
 * tick however many dashboards are open, and no timer at all while none is.
 *
 * A reading every TICK_MS is also the heartbeat: the page reconnects when none has come
 * for a few ticks (a half-open connection), and the `retry:` hint makes EventSource
 * come back by itself after the stream ends (the balancer restarted).
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { LiveReadings } from './live-reading.ts';
import { refuseMethod } from './respond.ts';

export const EVENTS_PATH = '/events';
/** How often a reading is sent: a few times a second. */
export const TICK_MS = 250;
/** How long EventSource waits before reconnecting, ms. */
export const RETRY_MS = 1_000;

/** The streams of one admin listener and the one timer that feeds them. */
class EventStreams {
  readonly #context: AdminContext;
  /** Tells a page that reconnected whether it reached the same balancer or a restarted one. */
  readonly #instance = randomUUID();
  /** A fresh one whenever the timer starts: a window must not reach back past a pause. */
  #readings: LiveReadings;
  readonly #open = new Set<ServerResponse>();
  #timer: NodeJS.Timeout | null = null;
  /** The latest reading, as sent: a stream that joins between ticks starts with it. */
  #latest: string | null = null;

  constructor(context: AdminContext) {
    this.#context = context;
    this.#readings = new LiveReadings(context, this.#instance);
  }

  get open(): number {
    return this.#open.size;
  }

  get ticking(): boolean {
    return this.#timer !== null;
  }

  join(req: IncomingMessage, res: ServerResponse): void {
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      // Proxies in front of the admin port must not hold events back.
      'x-accel-buffering': 'no',
    });
    req.socket.setNoDelay(true);
    res.write(`retry: ${RETRY_MS}\n\n`);
    this.#open.add(res);
    res.once('close', () => this.#leave(res));
    if (this.#timer === null) {
      this.#readings = new LiveReadings(this.#context, this.#instance);
      this.#timer = setInterval(() => this.#tick(), TICK_MS);
      this.#tick();
    } else if (this.#latest !== null) {
      res.write(this.#latest);
    }
  }

  #leave(res: ServerResponse): void {
    this.#open.delete(res);
    if (this.#open.size > 0 || this.#timer === null) return;
    clearInterval(this.#timer);
    this.#timer = null;
    this.#latest = null;
  }

  #tick(): void {
    let event: string;
    try {
      event = `data: ${JSON.stringify(this.#readings.next())}\n\n`;
    } catch (error) {
      // A timer's exception would end the balancer: end the streams instead (the pages
      // reconnect a moment later) and say why, once per attempt rather than per tick.
      this.#context.logEvent(`admin: the event stream failed: ${error instanceof Error ? error.message : String(error)}`);
      for (const res of this.#open) res.destroy();
      return;
    }
    this.#latest = event;
    // A client that cannot keep up skips readings rather than have them pile up here:
    // each reading is whole, so the next one it does get says everything.
    for (const res of this.#open) if (!res.writableNeedDrain) res.write(event);
  }
}

/** One set of streams per admin listener (the context is created once per balancer). */
const streamsByContext = new WeakMap<AdminContext, EventStreams>();

function streamsOf(context: AdminContext): EventStreams {
  let streams = streamsByContext.get(context);
  if (streams === undefined) {
    streams = new EventStreams(context);
    streamsByContext.set(context, streams);
  }
  return streams;
}

/** How many event streams are open on this admin listener, and whether their timer runs. */
export function eventStreamsOf(context: AdminContext): { readonly open: number; readonly ticking: boolean } {
  const streams = streamsByContext.get(context);
  return { open: streams?.open ?? 0, ticking: streams?.ticking ?? false };
}

export const eventsRoute: AdminRoute = (req, res, url, context) => {
  if (url.pathname !== EVENTS_PATH) return false;
  if (req.method !== 'GET') {
    refuseMethod(res, req.method, url.pathname, ['GET']);
    return true;
  }
  streamsOf(context).join(req, res);
  return true;
};
