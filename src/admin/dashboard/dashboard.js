/**
 * @module The dashboard's entry: listens to /events (Server-Sent Events), keeps the last
 * minute of readings and redraws the page on each one. EventSource reconnects by itself
 * when the stream ends (the server's `retry:` hint sets how soon); this file also
 * reopens it when EventSource gives up, or when readings stop coming on a connection
 * that looks open, and shows "reconnecting…" meanwhile.
 */
import { addReading, chartColumns, createModel, eventsBetween, labelOf } from './dashboard-model.js';
import { addToFeed, colorOf, renderBackends, renderListeners, renderStory, renderTiles, setConnection } from './dashboard-view.js';
import { createChart } from './dashboard-chart.js';

/** Readings come a few times a second: none for this long means the stream is dead. */
const STALE_MS = 3_000;
/** After EventSource gave up (an answer that was not a stream), open it again this much later. */
const REOPEN_MS = 2_000;

const model = createModel();
const chart = createChart(document.getElementById('chart'), document.getElementById('legend'));
let source = null;
let lastReadingAt = 0;
let reopenTimer = null;
let seenInstance = null;

function connect() {
  clearTimeout(reopenTimer);
  source?.close();
  const stream = new EventSource('/events');
  source = stream;
  lastReadingAt = Date.now();
  stream.onmessage = (event) => {
    lastReadingAt = Date.now();
    setConnection('live');
    show(JSON.parse(event.data));
  };
  stream.onerror = () => {
    if (stream !== source) return;
    setConnection('reconnecting');
    if (stream.readyState === EventSource.CLOSED) reopenTimer = setTimeout(connect, REOPEN_MS);
  };
}

function show(reading) {
  if (seenInstance !== null && seenInstance !== reading.instance) {
    addToFeed([{ kind: 'info', text: 'the balancer restarted: its counters start again from zero' }], reading.time);
  }
  seenInstance = reading.instance;
  const previous = addReading(model, reading);
  addToFeed(eventsBetween(previous, reading), reading.time);
  const clientRate = reading.listenerRates.size === 0 ? null : [...reading.listenerRates.values()].reduce((sum, n) => sum + n, 0);
  renderTiles(reading, clientRate);
  renderStory(reading);
  renderBackends(reading, reading.rates);
  renderListeners(reading, reading.listenerRates);
  const origins = reading.backends.map((b) => b.origin);
  chart.update(
    chartColumns(model),
    reading.backends.map((b) => ({ label: labelOf(b.origin, origins), color: colorOf(b.id) })),
  );
}

setInterval(() => {
  if (Date.now() - lastReadingAt <= STALE_MS) return;
  setConnection('reconnecting');
  connect();
}, 1_000);

connect();
