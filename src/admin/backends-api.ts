/**
 * @module The runtime API (HAProxy's runtime API, over HTTP): list backends and steer
 * them while the balancer runs. `{id}` is a backend's slot number (the `id` in GET
 * /backends and /status) or its origin, URL-encoded (`http%3A%2F%2F127.0.0.1%3A8081`).
 *
 *   GET    /backends                  200 [backend...]
 *   POST   /backends                  201 backend, location: /backends/{id}
 *          body {"origin":"http://host:port","weight":2} (weight optional, 1), or the
 *          text http://host:port[,weight=N]
 *   GET    /backends/{id}             200 backend
 *   POST   /backends/{id}/drain       200 backend (no new requests; those in flight finish)
 *   POST   /backends/{id}/disable     200 backend
 *   POST   /backends/{id}/enable      200 backend
 *   PUT    /backends/{id}/weight      200 backend; body {"weight":3} or a bare 3
 *   DELETE /backends/{id}             200 {id, origin, removed: true, stillRunning} once
 *          removed: it drains first and waits for its requests in flight, at most
 *          --shutdown-timeout (stillRunning counts those left at that deadline), as an
 *          operator scripting "remove, then stop the server" expects. With ?wait=0:
 *          202 backend (state draining) at once while requests are still in flight
 *          (200 as above when there were none); poll GET /backends/{origin} until 404
 *          (by origin: the slot number may be reused by a later add).
 *
 * Refusals are one line: 400 bad input, 404 unknown backend or action, 405 wrong method
 * (with Allow), 409 origin already in the table, 413 body over 16 KiB, 507 no free slot.
 * A full table is 507 (Insufficient Storage), not 409, so that a script can tell "that
 * backend exists" from "raise --max-backends or remove one" by status alone.
 *
 * Every change goes through the BackendTable (which logs the backend's state change and
 * publishes it to every listener thread's next pick) and is then logged as an admin
 * action on the event log: `admin: drain backend http://... (from 127.0.0.1)`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BackendTableError, type BackendTable } from '../control/backend-table.ts';
import { backendOrigin, backendSpec, UsageError } from '../config/flag-values.ts';
import { MAX_WEIGHT } from '../shared/layout.ts';
import type { AdminContext, AdminRoute } from './admin-context.ts';
import { backendView } from './backend-view.ts';
import { bodyValue, BodyError, readBody } from './request-body.ts';
import { refuseMethod, sendJson, sendRefusal } from './respond.ts';
import type { BackendStats } from './stats.ts';

/** What each refusal of the table means over HTTP. */
const STATUS_OF_TABLE_ERROR = { DUPLICATE: 409, FULL: 507, UNKNOWN: 404, BAD_WEIGHT: 400, BAD_TIER: 400 } as const satisfies Record<BackendTableError['code'], number>;

/** The actions that take no body: POST /backends/{id}/<action>. */
const STATE_ACTIONS = {
  drain: (table: BackendTable, origin: string) => table.drainBackend(origin),
  disable: (table: BackendTable, origin: string) => table.disableBackend(origin),
  enable: (table: BackendTable, origin: string) => table.enableBackend(origin),
} as const;
type StateAction = keyof typeof STATE_ACTIONS;
const ACTION_NAMES = [...Object.keys(STATE_ACTIONS), 'weight'].join(', ');

/** A refusal decided while handling a request: status and one line. */
class Refusal extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export const backendsApi: AdminRoute = async (req, res, url, context) => {
  const path = url.pathname.length > 1 ? url.pathname.replace(/\/$/, '') : url.pathname;
  if (path !== '/backends' && !path.startsWith('/backends/')) return false;
  try {
    await serve(req, res, url, path.split('/').slice(2), context);
  } catch (error) {
    if (error instanceof BackendTableError) sendRefusal(res, STATUS_OF_TABLE_ERROR[error.code], error.message);
    else if (error instanceof Refusal) sendRefusal(res, error.status, error.message);
    // Past the limit the body was left unread: close rather than read the rest.
    else if (error instanceof BodyError) sendRefusal(res, error.status, error.message, error.status === 413 ? { connection: 'close' } : {});
    else throw error;
  }
  return true;
};

async function serve(req: IncomingMessage, res: ServerResponse, url: URL, segments: string[], context: AdminContext): Promise<void> {
  const { method } = req;
  const [rawId, action, ...rest] = segments;
  const who = clientOf(req);
  if (rawId === undefined) {
    if (method === 'GET') return sendJson(res, 200, context.stats().backends.map(backendView));
    if (method !== 'POST') return refuseMethod(res, method, url.pathname, ['GET', 'POST']);
    const spec = addedBackend(bodyValue(await readBody(req)));
    const slot = context.table.addBackend(spec);
    context.logEvent(`admin: add backend ${spec.origin} with weight ${spec.weight} (from ${who})`);
    res.setHeader('location', `/backends/${slot}`);
    return sendJson(res, 201, viewOf(context, slot));
  }
  if (rest.length > 0 || (action !== undefined && !Object.hasOwn(STATE_ACTIONS, action) && action !== 'weight')) {
    throw new Refusal(404, `no admin route ${method} ${url.pathname}; a backend's actions are ${ACTION_NAMES}`);
  }

  if (action === undefined) {
    if (method === 'GET') return sendJson(res, 200, backendView(find(context, rawId)));
    if (method !== 'DELETE') return refuseMethod(res, method, url.pathname, ['GET', 'DELETE']);
    const wait = url.searchParams.get('wait') ?? '1';
    if (wait !== '0' && wait !== '1') throw new Refusal(400, `wait=${wait} is not allowed: expected wait=1 (answer once removed, the default) or wait=0 (answer 202 at once)`);
    const { id, origin } = find(context, rawId);
    // Drains at once (synchronously), then waits for the requests in flight.
    const removal = context.table.removeBackend(origin, { timeoutMs: context.config.shutdownTimeoutMs });
    context.logEvent(`admin: remove backend ${origin} (from ${who})`);
    if (wait === '0') {
      // With nothing in flight the removal is already done: then the answer is 200 below.
      const draining = context.stats().backends.find((b) => b.id === id && b.origin === origin);
      if (draining !== undefined) {
        removal.catch((error: unknown) => context.logEvent(`admin: removing backend ${origin} failed: ${String(error)}`));
        return sendJson(res, 202, backendView(draining));
      }
    }
    const stillRunning = await removal;
    return sendJson(res, 200, { id, origin, removed: true, stillRunning });
  }

  if (action === 'weight') {
    if (method !== 'PUT') return refuseMethod(res, method, url.pathname, ['PUT']);
    const weight = weightOf(bodyValue(await readBody(req)));
    const { id, origin } = find(context, rawId);
    context.table.setWeight(origin, weight);
    context.logEvent(`admin: set weight of backend ${origin} to ${weight} (from ${who})`);
    return sendJson(res, 200, viewOf(context, id));
  }

  if (method !== 'POST') return refuseMethod(res, method, url.pathname, ['POST']);
  const { id, origin, state } = find(context, rawId);
  STATE_ACTIONS[action as StateAction](context.table, origin);
  const unchanged = state === { drain: 'draining', disable: 'disabled', enable: 'active' }[action as StateAction];
  context.logEvent(`admin: ${action} backend ${origin} (from ${who})${unchanged ? `; it was already ${state}` : ''}`);
  return sendJson(res, 200, viewOf(context, id));
}

/** The backend `raw` names (slot number or URL-encoded origin), or a 404/400 refusal. */
function find(context: AdminContext, raw: string): BackendStats {
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    throw new Refusal(400, `backend id ${JSON.stringify(raw)} is not valid percent-encoding`);
  }
  const backends = context.stats().backends;
  const found = /^\d+$/.test(decoded) ? backends.find((b) => b.id === Number(decoded)) : backends.find((b) => b.origin === originOrNull(decoded));
  if (found === undefined) {
    throw new Refusal(404, `no backend ${JSON.stringify(decoded)}; name one by the id GET /backends lists, or by its origin URL-encoded (http%3A%2F%2F127.0.0.1%3A8081)`);
  }
  return found;
}

function originOrNull(raw: string): string | null {
  try {
    return backendOrigin(raw);
  } catch {
    return null;
  }
}

function viewOf(context: AdminContext, id: number): ReturnType<typeof backendView> {
  const backend = context.stats().backends.find((b) => b.id === id);
  if (backend === undefined) throw new Refusal(404, `backend ${id} left the table meanwhile`);
  return backendView(backend);
}

/** POST /backends: `{"origin": ..., "weight": N}` or the text `URL[,weight=N]`. */
function addedBackend(value: unknown): { origin: string; weight: number } {
  const expected = 'expected {"origin": "http://host:port", "weight": N} (weight optional, default 1), or the text http://host:port[,weight=N]';
  if (value === null) throw new Refusal(400, `POST /backends needs a body: ${expected}`);
  try {
    if (typeof value === 'string') return backendSpec(value, MAX_WEIGHT);
    if (typeof value !== 'object' || Array.isArray(value)) throw new Refusal(400, `the body is not a backend: ${expected}`);
    const fields = value as Record<string, unknown>;
    const unknown = Object.keys(fields).filter((key) => key !== 'origin' && key !== 'weight');
    if (unknown.length > 0) throw new Refusal(400, `unknown field ${unknown.map((key) => JSON.stringify(key)).join(', ')}; ${expected}`);
    if (typeof fields.origin !== 'string') throw new Refusal(400, `the field "origin" is missing or not a string; ${expected}`);
    return { origin: backendOrigin(fields.origin), weight: fields.weight === undefined ? 1 : checkedWeight(fields.weight) };
  } catch (error) {
    // flag-values.ts words its refusals for the --backend flag; here the value came in a body.
    if (error instanceof UsageError) throw new Refusal(400, error.message.replace(/^--backend /, 'backend '));
    throw error;
  }
}

/** PUT /backends/{id}/weight: `{"weight": N}` or a bare `N`. */
function weightOf(value: unknown): number {
  const expected = 'expected {"weight": N} or a bare N';
  if (value === null) throw new Refusal(400, `PUT .../weight needs a body: ${expected}`);
  if (typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length !== 1 || keys[0] !== 'weight') throw new Refusal(400, `the body has fields ${JSON.stringify(keys)}; ${expected}`);
    return checkedWeight((value as { weight: unknown }).weight);
  }
  return checkedWeight(value);
}

function checkedWeight(value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > MAX_WEIGHT) {
    throw new Refusal(400, `weight ${JSON.stringify(value)} is not allowed: expected a whole number from 1 to ${MAX_WEIGHT}`);
  }
  return value;
}

/** The client's address for the event log, IPv4 without its IPv6 mapping. */
function clientOf(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}
