/**
 * @module Whether /metrics is exact after a load run: the balancer's counters, scraped as
 * Prometheus text from its admin listener once every response is in, against what the
 * backends answered, request for request. Per backend, `switchyard_backend_requests_total`
 * and the histogram's `switchyard_backend_response_seconds_count` must equal the answers
 * that backend named itself in (`x-backend`); over the listener threads,
 * `switchyard_listener_requests_total` must add up to every response the load generator got.
 */
import { request } from 'undici';

export interface MetricSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface BackendCounts {
  readonly origin: string;
  readonly requestsTotal: number | null;
  readonly responseSecondsCount: number | null;
  /** Answers that named this backend; null when backends do not name themselves. */
  readonly answered: number | null;
}

export interface MetricsExactness {
  readonly exact: boolean;
  readonly backends: readonly BackendCounts[];
  /** The sum of `switchyard_listener_requests_total` over the listener threads. */
  readonly listenerRequests: number;
  /** Responses the load generator got, warm-up included. */
  readonly responses: number;
  /** One line per disagreement; empty when exact. */
  readonly mismatches: readonly string[];
}

/** GET /metrics from the admin listener on `port`. */
export async function scrapeMetrics(port: number): Promise<string> {
  const res = await request(`http://127.0.0.1:${port}/metrics`);
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET /metrics answered ${res.statusCode}: ${text.split('\n', 1)[0]}`);
  return text;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a text exposition (comments left out). */
export function parseSamples(text: string): MetricSample[] {
  const samples: MetricSample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1] as string, labels, value: Number(match[3]) });
  }
  return samples;
}

/**
 * Compares the scraped `text` with the backends' own counts. `answeredByName`: answers per
 * `x-backend` value (an embedded backend names itself by its port); empty when the
 * backends do not name themselves, and then only the total is checked.
 */
export function checkMetricsExactness(
  text: string,
  origins: readonly string[],
  answeredByName: Readonly<Record<string, number>>,
  responses: number,
): MetricsExactness {
  const samples = parseSamples(text);
  const ofBackend = (name: string, origin: string): number | null => samples.find((s) => s.name === name && s.labels.backend === origin)?.value ?? null;
  const named = Object.keys(answeredByName).length > 0;
  const backends = origins.map(
    (origin): BackendCounts => ({
      origin,
      requestsTotal: ofBackend('switchyard_backend_requests_total', origin),
      responseSecondsCount: ofBackend('switchyard_backend_response_seconds_count', origin),
      answered: named ? (answeredByName[new URL(origin).port] ?? 0) : null,
    }),
  );
  const listenerRequests = samples.filter((s) => s.name === 'switchyard_listener_requests_total').reduce((sum, s) => sum + s.value, 0);

  const mismatches: string[] = [];
  for (const b of backends) {
    if (b.requestsTotal === null) mismatches.push(`no switchyard_backend_requests_total for ${b.origin}`);
    if (b.responseSecondsCount === null) mismatches.push(`no switchyard_backend_response_seconds_count for ${b.origin}`);
    if (b.answered === null) continue;
    if (b.requestsTotal !== null && b.requestsTotal !== b.answered) mismatches.push(`${b.origin}: requests_total ${b.requestsTotal}, the backend answered ${b.answered}`);
    if (b.responseSecondsCount !== null && b.responseSecondsCount !== b.answered) {
      mismatches.push(`${b.origin}: response_seconds_count ${b.responseSecondsCount}, the backend answered ${b.answered}`);
    }
  }
  if (listenerRequests !== responses) mismatches.push(`listener requests_total adds up to ${listenerRequests}, the load generator got ${responses} responses`);
  return { exact: mismatches.length === 0, backends, listenerRequests, responses, mismatches };
}
