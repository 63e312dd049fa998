/**
 * @module The path of one client request inside a listener thread: refuse what must be
 * refused, read what routing needs from it (hash key, sticky pin), then hand it to an
 * exchange, which picks a backend from shared state and relays. With the access log on,
 * the request's record starts here and travels with it.
 */
import type { ClientLimits, HashKeySpec } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';
import type { ClientResponse } from '../front/client-response.ts';
import { sendError } from '../relay/error-response.ts';
import { Exchange } from '../relay/exchange.ts';
import type { RelayContext } from '../relay/relay-context.ts';
import { declaredTooLarge, hasBody, mustBuffer, readLimited, streamBody } from '../relay/request-body.ts';
import { hashKeyOf } from '../routing/hash-key.ts';
import type { RouteRequest } from '../routing/selector.ts';
import type { AccessLog, RequestRecord } from './access-log.ts';
import { guardRequest } from './request-guard.ts';

export interface RequestHandlerOptions {
  readonly context: RelayContext;
  readonly limits: ClientLimits;
  /** What consistent hashing hashes; null when the algorithm needs no key. */
  readonly hashKey: HashKeySpec | null;
  readonly log: (line: string) => void;
  /** null when --access-log is off. */
  readonly accessLog: AccessLog | null;
}

export function createRequestHandler({ context, limits, hashKey, log, accessLog }: RequestHandlerOptions) {
  const forward = (req: FrontRequest, res: ClientResponse, body: Buffer | null, record: RequestRecord | null): void => {
    if (res.destroyed) return;
    const route: RouteRequest = {
      key: hashKey === null ? null : hashKeyOf(req, hashKey),
      tried: [],
      attempt: 0,
      now: 0,
      pinned: context.sticky === null ? -1 : context.sticky.pinnedSlot(req.headers.cookie),
    };
    const upstreamBody = body ?? (hasBody(req) ? streamBody(req, limits) : null);
    new Exchange(req, res, context, route, upstreamBody, record).start();
  };

  return function handleRequest(req: FrontRequest, res: ClientResponse): void {
    const record = accessLog === null ? null : accessLog.begin(req, res);
    try {
      const refusal = guardRequest(req, limits) ?? declaredTooLarge(req, limits);
      if (refusal) return sendError(res, refusal, true, context.state, record);
      // From here on the body is read (streamed upstream, or buffered first).
      if (record !== null && hasBody(req)) record.countBody(req);
      if (!mustBuffer(req, limits)) return forward(req, res, null, record);
      readLimited(req, limits).then(
        (body) => forward(req, res, body, record),
        (error: SwitchyardError) => sendError(res, error, true, context.state, record),
      );
    } catch (error) {
      // A bug of ours must cost one request, never the thread and its other clients.
      log(`unexpected error on ${req.method} ${req.url}: ${error instanceof Error ? error.stack : String(error)}`);
      sendError(res, new SwitchyardError('INTERNAL_ERROR', 'the balancer failed to handle this request'), true, context.state, record);
    }
  };
}
