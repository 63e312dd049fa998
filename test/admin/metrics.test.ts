import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatMetrics, type MetricsExtras } from '../../src/admin/metrics.ts';
import { readStats } from '../../src/admin/stats.ts';
import { BackendTable } from '../../src/control/backend-table.ts';
import { errorCodeIndex } from '../../src/errors.ts';
import { recordResponse } from '../../src/relay/outcome-counters.ts';
import { FAILURE_REASONS, LATENCY_BOUNDS_MICROS } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import { parseExposition, promtoolCheck, promtoolMissing, samplesOf, valueOf } from '../fixtures/prometheus-text.ts';

/** The families /metrics promises (the issue and the dashboard rely on these names). */
const FAMILIES: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  switchyard_backend_requests_total: 'counter',
  switchyard_backend_responses_total: 'counter',
  switchyard_backend_failures_total: 'counter',
  switchyard_backend_retries_total: 'counter',
  switchyard_backend_ejections_total: 'counter',
  switchyard_backend_trials_total: 'counter',
  switchyard_backend_in_flight: 'gauge',
  switchyard_backend_up: 'gauge',
  switchyard_backend_ejected: 'gauge',
  switchyard_backend_weight: 'gauge',
  switchyard_backend_effective_weight: 'gauge',
  switchyard_backend_tier: 'gauge',
  switchyard_backend_ewma_seconds: 'gauge',
  switchyard_backend_response_seconds: 'histogram',
  switchyard_listener_connections_total: 'counter',
  switchyard_listener_connections_open: 'gauge',
  switchyard_listener_requests_total: 'counter',
  switchyard_listener_accepting: 'gauge',
  switchyard_listener_event_loop_delay_p99_seconds: 'gauge',
  switchyard_listener_event_loop_delay_max_seconds: 'gauge',
  switchyard_listener_restarts_total: 'counter',
  switchyard_balancer_responses_total: 'counter',
  switchyard_requests_in_flight: 'gauge',
  switchyard_retry_budget_in_flight: 'gauge',
  switchyard_retry_budget_peak: 'gauge',
  switchyard_retries_refused_total: 'counter',
  switchyard_ejected_backends: 'gauge',
  switchyard_ejections_refused_total: 'counter',
  switchyard_proxy_header_refused_total: 'counter',
  switchyard_http2_reset_flood_closed_total: 'counter',
  switchyard_listener_tunnels_open: 'gauge',
  switchyard_membership_generation: 'gauge',
  switchyard_round_robin_ticket: 'gauge',
  process_cpu_seconds_total: 'counter',
  process_resident_memory_bytes: 'gauge',
  process_start_time_seconds: 'gauge',
  switchyard_build_info: 'gauge',
  switchyard_discovery_last_success_timestamp_seconds: 'gauge',
  switchyard_discovery_answers: 'gauge',
  switchyard_discovery_failures_total: 'counter',
  switchyard_discovery_stale: 'gauge',
};

/** The `reason` label of each failure reason, as the brief lists them. */
const REASON_LABELS: Record<string, string> = {
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  EPIPE: 'broken_pipe',
  CONNECT_TIMEOUT: 'connect_timeout',
  HEADERS_TIMEOUT: 'headers_timeout',
  BODY_TIMEOUT: 'body_timeout',
  UPSTREAM_CLOSED: 'socket_closed',
  LENGTH_MISMATCH: 'length_mismatch',
  EHOSTUNREACH: 'host_unreachable',
  ENETUNREACH: 'network_unreachable',
  ENOTFOUND: 'dns_not_found',
  EAI_AGAIN: 'dns_failure',
  TLS: 'tls',
  'malformed response': 'malformed_response',
  '5xx response': 'status_5xx',
  other: 'other',
};

const EXTRAS: MetricsExtras = { cpuSeconds: 1.25, residentBytes: 52_428_800, startTimeSeconds: 1_700_000_000.5, listenerRestarts: [0, 3], version: '0.1.0', node: 'v24.0.0', discovery: [] };

/** A shared state like the balancer's, with `origins` filled (slots 0, 1, ...). */
function tableOf(origins: readonly string[], listenerCount = 2): SharedState {
  const state = SharedState.create({ capacity: Math.max(32, origins.length), listenerCount });
  const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
  for (const origin of origins) table.addBackend({ origin, weight: 1 }, { initial: true });
  return state;
}

const metricsOf = (state: SharedState, extras = EXTRAS) => formatMetrics(readStats(state, { slowStartMs: 0 }), extras);

test('every promised family is there once, with HELP and TYPE, and no other family', () => {
  const { types, help, samples } = parseExposition(metricsOf(tableOf(['http://127.0.0.1:9001'])));
  assert.deepEqual(Object.fromEntries(types), FAMILIES);
  assert.deepEqual([...help.keys()].sort(), Object.keys(FAMILIES).sort());
  for (const text of help.values()) assert.ok(text.length > 10, `a HELP text says something: ${text}`);
  for (const [name, type] of types) if (type === 'counter') assert.match(name, /_total$/, `counter ${name}`);
  // Every sample belongs to a declared family (a histogram's to its base name).
  for (const { name } of samples) {
    const family = types.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
    assert.ok(types.has(family), `sample ${name} has no TYPE`);
    if (family !== name) assert.equal(types.get(family), 'histogram', `${name} is a histogram's series`);
  }
});

test('per-backend counters and gauges are the shared counters of that slot, labelled by origin and slot id', () => {
  const state = tableOf(['http://127.0.0.1:9001', 'http://127.0.0.1:9002']);
  for (let i = 0; i < 7; i++) state.bump(1, 'started');
  for (let i = 0; i < 2; i++) state.bump(1, 'retries');
  state.bump(1, 'ejections');
  state.bump(1, 'trials');
  state.add(1, 'inFlight', 4);
  recordResponse(state, 1, 204, 800);
  recordResponse(state, 1, 503, 900);
  recordResponse(state, 1, 302, 700);
  // Each reason counted a different number of times, so a swapped label shows.
  FAILURE_REASONS.forEach((reason, cell) => {
    for (let i = 0; i < cell; i++) state.bump(1, 'failuresBy', cell);
  });
  const metrics = parseExposition(metricsOf(state));
  const b = { backend: 'http://127.0.0.1:9002', id: '1' };
  assert.equal(valueOf(metrics, 'switchyard_backend_requests_total', b), 7);
  assert.equal(valueOf(metrics, 'switchyard_backend_retries_total', b), 2);
  assert.equal(valueOf(metrics, 'switchyard_backend_ejections_total', b), 1);
  assert.equal(valueOf(metrics, 'switchyard_backend_trials_total', b), 1);
  assert.equal(valueOf(metrics, 'switchyard_backend_in_flight', b), 4);
  assert.equal(valueOf(metrics, 'switchyard_backend_up', b), 1);
  assert.equal(valueOf(metrics, 'switchyard_backend_ejected', b), 0);
  assert.equal(valueOf(metrics, 'switchyard_backend_weight', b), 1);
  assert.deepEqual(
    Object.fromEntries(samplesOf(metrics, 'switchyard_backend_responses_total', b).map((s) => [s.labels.code, s.value])),
    { '1xx': 0, '2xx': 1, '3xx': 1, '4xx': 0, '5xx': 1 },
  );
  assert.deepEqual(
    Object.fromEntries(samplesOf(metrics, 'switchyard_backend_failures_total', b).map((s) => [s.labels.reason, s.value])),
    Object.fromEntries(FAILURE_REASONS.flatMap((reason, cell) => (reason === 'none' ? [] : [[REASON_LABELS[reason], cell]]))),
  );
  // The other backend's series are its own (zeros), not a copy.
  assert.equal(valueOf(metrics, 'switchyard_backend_requests_total', { id: '0' }), 0);
  assert.equal(valueOf(metrics, 'switchyard_backend_failures_total', { id: '0', reason: 'refused' }), 0);
});

test('a disabled backend is not up; an ejected one is ejected and not up', () => {
  const state = tableOf(['http://127.0.0.1:9001', 'http://127.0.0.1:9002']);
  new BackendTable(state, { slowStartMs: 0, log: () => {} }).disableBackend('http://127.0.0.1:9001');
  state.store(1, 'ejection', 1);
  const metrics = parseExposition(metricsOf(state));
  assert.deepEqual(samplesOf(metrics, 'switchyard_backend_up').map((s) => s.value), [0, 0]);
  assert.deepEqual(samplesOf(metrics, 'switchyard_backend_ejected').map((s) => s.value), [0, 1]);
});

test('the latency histogram: cumulative buckets with le in seconds, +Inf equal to _count, _sum in seconds', () => {
  const state = tableOf(['http://127.0.0.1:9001']);
  const times = [120, 500, 501, 999, 1_000, 2_400, 60_000, 60_000, 9_999_999, 30_000_000, 30_000_001, 45_000_000];
  for (const micros of times) recordResponse(state, 0, 200, micros);
  const metrics = parseExposition(metricsOf(state));
  const buckets = samplesOf(metrics, 'switchyard_backend_response_seconds_bucket', { id: '0' });
  assert.deepEqual(
    buckets.map((s) => s.labels.le),
    ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf'],
  );
  const bounds = [...LATENCY_BOUNDS_MICROS.map((micros) => micros / 1e6), Infinity];
  assert.deepEqual(
    buckets.map((s) => s.value),
    bounds.map((le) => times.filter((micros) => micros / 1e6 <= le).length),
  );
  assert.equal(valueOf(metrics, 'switchyard_backend_response_seconds_count', { id: '0' }), times.length);
  assert.equal(buckets.at(-1)?.value, times.length);
  const sum = valueOf(metrics, 'switchyard_backend_response_seconds_sum', { id: '0' });
  assert.ok(Math.abs(sum - times.reduce((a, b) => a + b, 0) / 1e6) < 1e-9, `_sum ${sum}`);
});

test('listener rows, the balancer-wide counters and the process figures', () => {
  const state = tableOf(['http://127.0.0.1:9001']);
  for (let i = 0; i < 5; i++) state.listenerBump(1, 'requests');
  for (let i = 0; i < 2; i++) state.listenerBump(1, 'connections');
  state.listenerAdd(1, 'connectionsOpen', 2);
  state.listenerStore(1, 'accepting', 1);
  state.listenerStore(1, 'loopDelayP99Micros', 1_500);
  state.listenerStore(1, 'loopDelayMaxMicros', 12_000);
  for (let i = 0; i < 3; i++) state.headerBump('answered', errorCodeIndex('NO_BACKEND'));
  state.headerBump('answered', errorCodeIndex('AT_CONNECTION_LIMIT'));
  state.headerBump('answered', errorCodeIndex('HEADERS_TOO_LARGE'));
  state.headerBump('retriesRefused');
  state.headerAdd('retriesInFlight', 2);
  const metrics = parseExposition(metricsOf(state));
  const l1 = { listener: '1' };
  assert.equal(valueOf(metrics, 'switchyard_listener_requests_total', l1), 5);
  assert.equal(valueOf(metrics, 'switchyard_listener_connections_total', l1), 2);
  assert.equal(valueOf(metrics, 'switchyard_listener_connections_open', l1), 2);
  assert.equal(valueOf(metrics, 'switchyard_listener_accepting', l1), 1);
  assert.equal(valueOf(metrics, 'switchyard_listener_accepting', { listener: '0' }), 0);
  assert.equal(valueOf(metrics, 'switchyard_listener_event_loop_delay_p99_seconds', l1), 0.0015);
  assert.equal(valueOf(metrics, 'switchyard_listener_event_loop_delay_max_seconds', l1), 0.012);
  assert.equal(valueOf(metrics, 'switchyard_listener_restarts_total', l1), 3);
  // One series per error code: two codes that share 503 stay apart.
  assert.equal(valueOf(metrics, 'switchyard_balancer_responses_total', { status: '503', error: 'NO_BACKEND' }), 3);
  assert.equal(valueOf(metrics, 'switchyard_balancer_responses_total', { status: '503', error: 'AT_CONNECTION_LIMIT' }), 1);
  assert.equal(valueOf(metrics, 'switchyard_balancer_responses_total', { status: '431', error: 'HEADERS_TOO_LARGE' }), 1);
  assert.equal(valueOf(metrics, 'switchyard_balancer_responses_total', { status: '502', error: 'BACKEND_FAILED' }), 0);
  assert.equal(valueOf(metrics, 'switchyard_retries_refused_total'), 1);
  assert.equal(valueOf(metrics, 'switchyard_retry_budget_in_flight'), 2);
  assert.equal(valueOf(metrics, 'switchyard_membership_generation'), state.header('generation'));
  assert.equal(valueOf(metrics, 'process_cpu_seconds_total'), EXTRAS.cpuSeconds);
  assert.equal(valueOf(metrics, 'process_resident_memory_bytes'), EXTRAS.residentBytes);
  assert.equal(valueOf(metrics, 'process_start_time_seconds'), EXTRAS.startTimeSeconds);
  assert.equal(valueOf(metrics, 'switchyard_build_info', { version: '0.1.0', node: 'v24.0.0' }), 1);
});

test('label values are escaped: backslash, double quote and line feed survive a round trip', () => {
  const version = 'v"1"\\beta\nnext';
  const text = metricsOf(tableOf([]), { ...EXTRAS, version });
  assert.ok(text.includes(String.raw`version="v\"1\"\\beta\nnext"`), text.split('\n').find((line) => line.startsWith('switchyard_build_info')));
  assert.equal(valueOf(parseExposition(text), 'switchyard_build_info', { version }), 1);
});

/** Two DNS names: one that resolves, one failing since start. */
const DISCOVERY: MetricsExtras['discovery'] = [
  { source: 'dns:api.internal:8080', lastSuccessAt: 1_700_000_123_456, answers: 3, failures: 2, stale: false, problem: null, nextInSeconds: 30 },
  { source: 'srv:_http._tcp.web.internal', lastSuccessAt: null, answers: 0, failures: 5, stale: true, problem: 'resolution failed', nextInSeconds: 16 },
];

test('per DNS name: its last successful resolution, its answer count, its failures, and whether its set is stale', () => {
  const metrics = parseExposition(metricsOf(tableOf([]), { ...EXTRAS, discovery: DISCOVERY }));
  const api = { source: 'dns:api.internal:8080' };
  const web = { source: 'srv:_http._tcp.web.internal' };
  assert.equal(valueOf(metrics, 'switchyard_discovery_last_success_timestamp_seconds', api), 1_700_000_123.456);
  assert.equal(valueOf(metrics, 'switchyard_discovery_answers', api), 3);
  assert.equal(valueOf(metrics, 'switchyard_discovery_failures_total', api), 2);
  assert.equal(valueOf(metrics, 'switchyard_discovery_stale', api), 0);
  assert.equal(valueOf(metrics, 'switchyard_discovery_last_success_timestamp_seconds', web), 0);
  assert.equal(valueOf(metrics, 'switchyard_discovery_answers', web), 0);
  assert.equal(valueOf(metrics, 'switchyard_discovery_failures_total', web), 5);
  assert.equal(valueOf(metrics, 'switchyard_discovery_stale', web), 1);
});

test('promtool check metrics accepts the exposition: 30 backends with traffic, and an empty table', (t) => {
  const missing = promtoolMissing();
  if (missing !== null) return t.skip(missing);
  const origins = Array.from({ length: 30 }, (_, i) => `http://backend-${i}.example:80${String(i).padStart(2, '0')}`);
  const state = tableOf(origins, 4);
  origins.forEach((_, slot) => {
    state.bump(slot, 'started');
    recordResponse(state, slot, 200 + slot * 10, 300 + slot * 50_000);
    state.bump(slot, 'failuresBy', 1 + (slot % (FAILURE_REASONS.length - 1)));
  });
  for (const text of [metricsOf(state, { ...EXTRAS, discovery: DISCOVERY }), metricsOf(tableOf([]))]) {
    const { status, output } = promtoolCheck(text);
    assert.equal(status, 0, output);
    assert.equal(output.trim(), '', 'promtool reports no lint problem');
  }
});
