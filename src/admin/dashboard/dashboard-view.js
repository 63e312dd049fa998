/**
 * @module Puts a reading on the page: the tiles, the two column groups (connections per
 * listener thread next to requests per backend), the tables and the event feed. Rows
 * and columns are kept and updated in place, so that 30 backends cost no more than 2.
 *
 * Test hooks: backend rows carry `data-backend-id`, listener rows `data-listener`; their
 * cells `data-field` (requests and connections hold the exact integer in `data-value`),
 * the state cell `data-state`.
 */
import { keyOf, labelOf } from './dashboard-model.js';

/** Ten distinct colours (Tableau 10), then hues spaced by the golden angle. */
const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
export const colorOf = (id) => PALETTE[id] ?? `hsl(${(id * 137.508) % 360}deg 55% 52%)`;

const count = (n) => n.toLocaleString('en-US');
const rate = (n) => (n === undefined || n === null ? '–' : n < 10 ? n.toFixed(1) : count(Math.round(n)));
const percent = (part, whole) => (whole > 0 ? `${((part * 100) / whole).toFixed(1)}%` : '–');
const ms = (n) => (n === null ? '–' : n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(0)} ms` : `${(n / 1000).toFixed(2)} s`);
const field = (name) => `[data-field="${name}"]`;

function set(element, text, value) {
  if (element.textContent !== text) element.textContent = text;
  if (value !== undefined && element.dataset.value !== String(value)) element.dataset.value = String(value);
}

export function setConnection(state) {
  const badge = document.getElementById('connection');
  badge.dataset.connection = state;
  badge.textContent = { live: 'live', reconnecting: 'reconnecting…', connecting: 'connecting…' }[state];
}

export function renderTiles(reading, clientRate) {
  const tiles = document.querySelector('.tiles');
  const ejections = reading.backends.reduce((sum, b) => sum + b.ejections, 0);
  const answered = reading.answered.reduce((sum, a) => sum + a.count, 0);
  set(tiles.querySelector(field('rate')), rate(clientRate));
  set(tiles.querySelector(field('in-flight')), count(reading.requestsInFlight), reading.requestsInFlight);
  set(tiles.querySelector(field('ticket')), count(reading.ticket), reading.ticket);
  set(tiles.querySelector(field('generation')), String(reading.generation), reading.generation);
  set(tiles.querySelector(field('retries')), `${count(reading.retries.inFlight)} · ${count(reading.retries.refused)}`);
  set(tiles.querySelector(field('ejections')), `${reading.ejected} · ${count(ejections)}`);
  const answeredTile = tiles.querySelector(field('answered'));
  set(answeredTile, count(answered), answered);
  answeredTile.title = reading.answered.map((a) => `${a.status} ${a.code}: ${count(a.count)}`).join('\n') || 'none';
  document.getElementById('since').textContent = `balancer started ${new Date(reading.bootedAt).toLocaleTimeString([], { hour12: false })}`;
  const windowMs = reading.latencyWindowMs;
  set(document.getElementById('latency-window'), windowMs === null ? 'since the balancer started (the last 10 s once the event stream has run that long)' : `over the last ${windowMs / 1000} s`);
}

/**
 * One group of columns, heights relative to its largest; `items`: {key, label, value,
 * color}. Values are printed over the columns only when they are wide enough to hold them.
 */
function renderColumns(container, items, unit) {
  const total = items.reduce((sum, item) => sum + item.value, 0);
  const largest = Math.max(1, ...items.map((item) => item.value));
  const narrow = items.length > 8;
  container.classList.toggle('narrow', narrow);
  syncChildren(container, items, (item) => String(item.key), () => {
    const column = document.createElement('div');
    column.className = 'column';
    column.innerHTML = '<span class="amount"></span><div class="bar"><div class="fill"></div></div><span class="name"></span>';
    return column;
  }, (column, item) => {
    set(column.querySelector('.amount'), narrow ? '' : count(item.value));
    set(column.querySelector('.name'), item.label);
    const fill = column.querySelector('.fill');
    fill.style.height = `${(item.value * 100) / largest}%`;
    fill.style.background = item.color;
    column.title = `${item.label}: ${count(item.value)} ${unit} (${percent(item.value, total)})`;
  });
}

/** Largest ÷ smallest of the non-zero values, or null with fewer than two. */
function spread(values) {
  const counted = values.filter((value) => value > 0);
  return counted.length < 2 ? null : (Math.max(...counted) / Math.min(...counted)).toFixed(3);
}

const STATUS_TEXT = { up: 'up', trial: 'trial', down: 'down', draining: 'draining', disabled: 'disabled' };

const BACKEND_CELLS = [
  ['swatch', (b) => ['']],
  ['id', (b) => [String(b.id)]],
  ['origin', (b) => [b.origin]],
  ['state', (b) => [b.status === 'ejected' ? `ejected · ${(b.ejectedForMs / 1000).toFixed(1)} s left` : STATUS_TEXT[b.status]]],
  ['weight', (b) => [b.effectiveWeight === b.weight ? String(b.weight) : `${b.effectiveWeight} / ${b.weight}`]],
  ['rate', (b, c) => [rate(c.rates.get(keyOf(b)))]],
  ['share', (b, c) => [percent(b.started, c.started)]],
  ['in-flight', (b) => [count(b.inFlight), b.inFlight]],
  ['requests', (b) => [count(b.started), b.started]],
  ['2xx', (b) => [count(b.responses['2xx']), b.responses['2xx']]],
  ['4xx', (b) => [count(b.responses['4xx']), b.responses['4xx']]],
  ['5xx', (b) => [count(b.responses['5xx']), b.responses['5xx']]],
  ['failures', (b) => [count(b.failures), b.failures]],
  ['retries', (b) => [count(b.retries), b.retries]],
  ['ejections', (b) => [count(b.ejections), b.ejections]],
  ['p50', (b) => [ms(b.p50Ms)]],
  ['p99', (b) => [ms(b.p99Ms)]],
];

export function renderBackends(reading, rates) {
  const started = reading.backends.reduce((sum, b) => sum + b.started, 0);
  const body = document.querySelector('#backends tbody');
  syncChildren(body, reading.backends, keyOf, (b) => newRow(BACKEND_CELLS, { backendId: String(b.id) }), (row, b) => {
    row.dataset.backendId = String(b.id);
    row.dataset.status = b.status;
    for (const [name, text] of BACKEND_CELLS) {
      const cell = row.querySelector(field(name));
      set(cell, ...text(b, { rates, started }));
      if (name === 'state') cell.dataset.state = b.status;
    }
    row.querySelector(field('swatch')).style.setProperty('--swatch', colorOf(b.id));
  });
}

const LISTENER_CELLS = [
  ['index', (l) => [String(l.index)]],
  ['accepting', (l) => [l.accepting ? 'yes' : 'no']],
  ['connections', (l) => [count(l.connections), l.connections]],
  ['share', (l, c) => [percent(l.connections, c.connections)]],
  ['connections-open', (l) => [count(l.connectionsOpen), l.connectionsOpen]],
  ['requests', (l) => [count(l.requests), l.requests]],
  ['rate', (l, c) => [rate(c.rates.get(l.index))]],
  ['loop-delay', (l) => [ms(l.loopDelayP99Ms)]],
  ['restarts', (l) => [String(l.restarts), l.restarts]],
];

export function renderListeners(reading, rates) {
  const connections = reading.listeners.reduce((sum, l) => sum + l.connections, 0);
  const body = document.querySelector('#listeners tbody');
  syncChildren(body, reading.listeners, (l) => String(l.index), (l) => newRow(LISTENER_CELLS, { listener: String(l.index) }), (row, l) => {
    row.dataset.accepting = String(l.accepting);
    for (const [name, text] of LISTENER_CELLS) set(row.querySelector(field(name)), ...text(l, { rates, connections }));
  });
}

export function renderStory(reading) {
  const { listeners, backends } = reading;
  const origins = backends.map((b) => b.origin);
  const threads = listeners.map((l) => ({ key: l.index, label: `thread ${l.index}`, value: l.connections, color: '#6b7a90' }));
  renderColumns(document.getElementById('listener-columns'), threads, 'connections');
  const connections = spread(listeners.map((l) => l.connections));
  const requests = spread(listeners.map((l) => l.requests));
  document.getElementById('listener-spread').textContent =
    connections === null ? '' : `largest ÷ smallest: connections ${connections}×, requests ${requests ?? '–'}×`;

  const many = backends.length > 8;
  const columns = backends.map((b) => ({ key: keyOf(b), label: many ? String(b.id) : labelOf(b.origin, origins), value: b.started, color: colorOf(b.id) }));
  renderColumns(document.getElementById('backend-columns'), columns, 'requests');
  // A backend that was ever out of rotation rightly has fewer: the claim is about the others.
  const perWeight = spread(backends.filter((b) => b.status === 'up' && b.ejections === 0).map((b) => b.started / b.weight));
  document.getElementById('backend-spread').textContent =
    perWeight === null ? '' : `largest ÷ smallest per unit of weight (backends never ejected): ${perWeight}×`;
}

const FEED_LENGTH = 80;

/** Adds events (oldest first) at the top of the feed, newest first. */
export function addToFeed(events, time) {
  if (events.length === 0) return;
  const feed = document.getElementById('feed');
  feed.querySelector('.empty')?.remove();
  const clock = new Date(time).toLocaleTimeString([], { hour12: false });
  for (const { kind, text } of events) {
    const item = document.createElement('li');
    item.dataset.kind = kind;
    item.innerHTML = '<time></time><span></span>';
    item.firstChild.textContent = clock;
    item.lastChild.textContent = text;
    feed.prepend(item);
  }
  while (feed.children.length > FEED_LENGTH) feed.lastElementChild.remove();
}

function newRow(cells, data) {
  const row = document.createElement('tr');
  Object.assign(row.dataset, data);
  for (const [name] of cells) {
    const cell = document.createElement('td');
    cell.dataset.field = name;
    row.append(cell);
  }
  return row;
}

/** Makes `parent`'s children match `items` (by key, in order), creating and updating in place. */
function syncChildren(parent, items, key, create, update) {
  const existing = new Map([...parent.children].map((child) => [child.dataset.key, child]));
  let previous = null;
  for (const item of items) {
    const k = key(item);
    let child = existing.get(k);
    if (child === undefined) {
      child = create(item);
      child.dataset.key = k;
    }
    existing.delete(k);
    update(child, item);
    const expected = previous === null ? parent.firstElementChild : previous.nextElementSibling;
    if (child !== expected) parent.insertBefore(child, expected);
    previous = child;
  }
  for (const child of existing.values()) child.remove();
}
