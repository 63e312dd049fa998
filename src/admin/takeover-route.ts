/**
 * @module POST /takeover: replace this process by a new one that serves on the same
 * listening sockets (src/takeover/), then drain and exit. What `switchyard --takeover`
 * sends.
 *
 *   POST /takeover   body empty: the new process runs with this one's flags;
 *                    {"args": ["--port", "8080", ...]}: with those flags instead.
 *                    200 {"successor": pid, "predecessor": pid, "command": [...]} once the
 *                    new process serves; this one then stops accepting and drains.
 *
 * Refusals are one line: 400 bad body or flags (the new flags' own usage error), 409 not
 * now (another takeover under way, stopping, demo backends, PID 1 of a container), 500
 * the new process did not start (this one keeps serving; the reason is in the body and
 * in the log).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { bodyValue, BodyError, readBody } from './request-body.ts';
import { refuseMethod, sendJson, sendRefusal } from './respond.ts';
import type { TakeoverRequest } from '../takeover/takeover-handler.ts';

export const takeoverRoute: AdminRoute = async (req: IncomingMessage, res: ServerResponse, url: URL, context: AdminContext) => {
  if (url.pathname !== '/takeover') return false;
  if (req.method !== 'POST') {
    refuseMethod(res, req.method, url.pathname, ['POST']);
    return true;
  }
  if (context.takeover === null) {
    sendRefusal(res, 409, 'this balancer was not started by the switchyard command, which alone can hand over to a new process');
    return true;
  }
  let request: TakeoverRequest;
  try {
    request = { ...takeoverBody(bodyValue(await readBody(req))), from: req.socket.remoteAddress ?? 'admin' };
  } catch (error) {
    if (!(error instanceof BodyError)) throw error;
    sendRefusal(res, error.status, error.message, { connection: 'close' });
    return true;
  }
  const outcome = await context.takeover(request);
  if (!outcome.ok) {
    sendRefusal(res, outcome.status, outcome.reason);
    return true;
  }
  // The drain closes the admin connections: this answer goes out first.
  res.once('close', outcome.drain);
  sendJson(res, 200, { successor: outcome.successorPid, predecessor: process.pid, command: outcome.command });
  return true;
};

function takeoverBody(value: unknown): Omit<TakeoverRequest, 'from'> {
  if (value === null) return { args: null, sockets: 'inherit' };
  const shape = 'expected no body, or {"args": ["--flag", "value", ...]}';
  if (typeof value !== 'object' || Array.isArray(value)) throw new BodyError(400, `the body is not allowed: ${shape}`);
  const { args, sockets = 'inherit', ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest)[0];
  if (unknown !== undefined) throw new BodyError(400, `unknown key ${JSON.stringify(unknown)}: ${shape}`);
  if (args !== undefined && !(Array.isArray(args) && args.every((arg) => typeof arg === 'string'))) {
    throw new BodyError(400, `"args" must be an array of strings: ${shape}`);
  }
  if (sockets !== 'inherit' && sockets !== 'rebind') throw new BodyError(400, `"sockets" must be "inherit" (the default) or "rebind" (the naive way, for measuring it)`);
  return { args: (args as string[] | undefined) ?? null, sockets };
}
