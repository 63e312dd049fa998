/**
 * @module How the admin listener answers: JSON, text, and refusals as one line of text
 * (`404 Not Found: no route GET /nope`), like the balancer's own error responses.
 */
import type { ServerResponse } from 'node:http';
import { oneLineBody } from '../errors.ts';

export function sendJson(res: ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value, null, 2)}\n`;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

export function sendText(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store' });
  res.end(body);
}

/** A refusal: `status` and a one-line reason. */
export function sendRefusal(res: ServerResponse, status: number, reason: string, headers: Record<string, string> = {}): void {
  const body = oneLineBody(status, reason);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

/** 405 for a path that exists but not with this method. */
export function refuseMethod(res: ServerResponse, method: string | undefined, path: string, allowed: readonly string[]): void {
  sendRefusal(res, 405, `${method} ${path} is not allowed; use ${allowed.join(' or ')}`, { allow: allowed.join(', ') });
}
