/**
 * @module The peers section's check before it measures anything: each backend answers
 * 200 with its own body, and each contender answers 200 with a backend's body and
 * reaches both backends (each backend's body is distinct, so the bodies tell which one
 * answered). A contender that proxies wrongly would otherwise be measured at full speed.
 */
import { request } from 'node:http';

const SANITY_TIMEOUT_MS = 5_000;

export interface Answer {
  readonly status: number;
  readonly body: string;
}

/** One GET / on a fresh connection. */
export function get(port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: SANITY_TIMEOUT_MS }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (chunk: string) => (body += chunk));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${SANITY_TIMEOUT_MS / 1000}s`)));
    req.once('error', reject);
    req.end();
  });
}

/** Throws unless `port` answers 200 with exactly `body`. */
export async function checkBackend(name: string, port: number, body: string): Promise<void> {
  const answer = await get(port);
  if (answer.status !== 200 || answer.body !== body) {
    throw new Error(`backend ${name} (port ${port}) answered ${answer.status} ${JSON.stringify(answer.body)}, expected 200 ${JSON.stringify(body)}`);
  }
}

/** Throws unless every one of `requests` GETs through the contender got 200 and a
 * backend's body, and every backend's body came back at least once. Round robin over
 * two backends needs two; a few more tolerate a health check taking a turn. */
export async function checkContender(name: string, port: number, bodies: readonly string[], requests = 4): Promise<void> {
  const seen = new Set<string>();
  for (let i = 0; i < requests; i++) {
    let answer: Answer;
    try {
      answer = await get(port);
    } catch (error) {
      throw new Error(`${name} (port ${port}) failed a sanity request: ${error instanceof Error ? error.message : String(error)}`);
    }
    if (answer.status !== 200 || !bodies.includes(answer.body)) {
      throw new Error(`${name} (port ${port}) answered ${answer.status} ${JSON.stringify(answer.body.slice(0, 200))}, expected 200 with one of ${JSON.stringify(bodies)}`);
    }
    seen.add(answer.body);
  }
  const missed = bodies.filter((body) => !seen.has(body));
  if (missed.length > 0) throw new Error(`${name} (port ${port}) never reached the backend answering ${JSON.stringify(missed)} in ${requests} requests`);
}
