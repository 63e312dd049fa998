/**
 * @module What the page knows between readings: the readings of the last minute (for
 * rates and the chart) and the events told by the difference between two readings
 * (an ejection, a rejoin, retries...). Plain functions over plain objects; no DOM here.
 */

/** How much history the chart shows, ms. */
export const HISTORY_MS = 60_000;
/** Rates are taken over this much time, so that one tick's jitter does not show. */
const RATE_SPAN_MS = 1_000;

/** A backend's identity across readings: a slot refilled with another origin is another backend. */
export const keyOf = (backend) => `${backend.id} ${backend.origin}`;

/** A short name: the port when every backend is on one host, else host:port. */
export function labelOf(origin, origins) {
  const url = new URL(origin);
  const oneHost = origins.every((other) => new URL(other).hostname === url.hostname);
  return oneHost ? `:${url.port}` : url.host;
}

export function createModel() {
  return { instance: null, readings: [] };
}

/**
 * Adds a reading, with its rates (`rates`: requests/s by backend key, `listenerRates`:
 * by listener index); returns the reading it follows (null after a restart or at the
 * start). A new `instance` means a restarted balancer: its counters start from zero.
 */
export function addReading(model, reading) {
  if (model.instance !== reading.instance) {
    model.instance = reading.instance;
    model.readings = [];
  }
  const { readings } = model;
  const previous = readings.at(-1) ?? null;
  readings.push(reading);
  reading.rates = ratesOver(readings, (r) => r.backends, (b) => b.started, keyOf);
  reading.listenerRates = ratesOver(readings, (r) => r.listeners, (l) => l.requests, (l) => l.index);
  while (readings.length > 2 && readings[0].at < reading.at - HISTORY_MS - RATE_SPAN_MS) readings.shift();
  return previous;
}

/** The oldest reading within RATE_SPAN_MS before the latest one (or the one just before). */
function baseOf(readings) {
  const latest = readings.at(-1);
  let base = readings.length > 1 ? readings.at(-2) : null;
  for (let i = readings.length - 2; i >= 0 && readings[i].at >= latest.at - RATE_SPAN_MS; i--) base = readings[i];
  return base;
}

/** Per second: how fast `count(item)` grew up to the latest reading, by item key. */
function ratesOver(readings, items, count, key) {
  const latest = readings.at(-1);
  const base = baseOf(readings);
  const rates = new Map();
  if (base === null || latest.at === base.at) return rates;
  const before = new Map(items(base).map((item) => [key(item), count(item)]));
  for (const item of items(latest)) {
    const then = before.get(key(item));
    if (then !== undefined) rates.set(key(item), ((count(item) - then) * 1000) / (latest.at - base.at));
  }
  return rates;
}

/** The chart's columns: times (s) and one series of requests/s per backend of the latest reading. */
export function chartColumns(model) {
  const { readings } = model;
  const latest = readings.at(-1);
  const keys = latest ? latest.backends.map(keyOf) : [];
  const shown = readings.filter((reading) => latest.at - reading.at <= HISTORY_MS);
  return {
    keys,
    data: [shown.map((reading) => reading.time / 1000), ...keys.map((key) => shown.map((reading) => reading.rates.get(key) ?? null))],
  };
}

const STATUS_PHRASES = {
  up: { from: { trial: 'rejoined after its trial request', down: 'passes health checks again', draining: 'enabled', disabled: 'enabled', ejected: 'rejoined' }, other: 'up' },
  ejected: { from: {}, other: 'ejected' },
  trial: { from: {}, other: 'ejection ran out: one trial request decides' },
  down: { from: {}, other: 'marked down by active health checks' },
  draining: { from: {}, other: 'draining: no new requests' },
  disabled: { from: {}, other: 'disabled' },
};
const KIND_OF_STATUS = { up: 'good', ejected: 'bad', trial: 'warn', down: 'bad', draining: 'info', disabled: 'info' };

/** An ejection's length as read a moment after it began: whole seconds, or ms when shorter. */
const duration = (ms) => (ms >= 950 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms)} ms`);
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** What happened between two readings, as feed entries `{kind, text}` (oldest first). */
export function eventsBetween(before, after) {
  if (before === null) return [];
  const events = [];
  const origins = after.backends.map((b) => b.origin);
  const name = (backend) => `backend ${labelOf(backend.origin, origins)}`;
  const then = new Map(before.backends.map((b) => [keyOf(b), b]));
  const now = new Set(after.backends.map(keyOf));
  for (const backend of before.backends) if (!now.has(keyOf(backend))) events.push({ kind: 'info', text: `${name(backend)} removed` });
  const retriedAt = [];
  for (const backend of after.backends) {
    const old = then.get(keyOf(backend));
    if (old === undefined) {
      events.push({ kind: 'info', text: `${name(backend)} added (weight ${backend.weight})` });
      continue;
    }
    const ejectedAgain = backend.ejections > old.ejections;
    if (backend.status === 'ejected' && (old.status !== 'ejected' || ejectedAgain)) {
      // Ejected again while it was out: its trial request failed (perhaps between two readings).
      const why = old.status === 'trial' || old.status === 'ejected' ? 'failed its trial request: ' : '';
      events.push({ kind: 'bad', text: `${name(backend)} ${why}ejected for ${duration(backend.ejectedForMs)}` });
    } else if (backend.status !== old.status) {
      const phrase = STATUS_PHRASES[backend.status];
      events.push({ kind: KIND_OF_STATUS[backend.status], text: `${name(backend)} ${phrase.from[old.status] ?? phrase.other}` });
    }
    if (backend.weight !== old.weight) events.push({ kind: 'info', text: `${name(backend)} weight ${old.weight} → ${backend.weight}` });
    const retries = backend.retries - old.retries;
    if (retries > 0) retriedAt.push(`${labelOf(backend.origin, origins)} ×${retries}`);
  }
  if (retriedAt.length > 0) events.push({ kind: 'warn', text: `retries sent to ${retriedAt.join(', ')}` });
  const refused = after.retries.refused - before.retries.refused;
  if (refused > 0) events.push({ kind: 'bad', text: `${plural(refused, 'retry')} refused: the retry budget was spent` });
  const answeredBefore = new Map(before.answered.map((a) => [a.code, a.count]));
  for (const { code, status, count } of after.answered) {
    const more = count - (answeredBefore.get(code) ?? 0);
    if (more > 0) events.push({ kind: status >= 500 ? 'bad' : 'warn', text: `balancer answered ${plural(more, 'request')} itself: ${status} ${code}` });
  }
  const listenersBefore = new Map(before.listeners.map((l) => [l.index, l]));
  for (const listener of after.listeners) {
    const old = listenersBefore.get(listener.index);
    if (old === undefined) continue;
    if (listener.restarts > old.restarts) events.push({ kind: 'bad', text: `listener thread ${listener.index} died and was restarted` });
    else if (old.accepting !== listener.accepting) {
      events.push({ kind: listener.accepting ? 'good' : 'warn', text: `listener thread ${listener.index} ${listener.accepting ? 'accepts connections again' : 'stopped accepting'}` });
    }
  }
  if (after.generation !== before.generation) events.push({ kind: 'info', text: `membership generation ${before.generation} → ${after.generation}` });
  return events;
}
