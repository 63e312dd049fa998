/**
 * @module The path of one client request inside a listener thread: refuse what must be
 * refused, pick a backend from shared state, then hand the exchange to the relay.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ClientLimits } from '../config/config.ts';
import { SwitchyardError } from '../errors.ts';
import type { Picker } from '../picker/picker.ts';
import { sendError } from '../relay/error-response.ts';
import { Exchange, type RelayContext } from '../relay/exchange.ts';
import { declaredTooLarge, hasBody, mustBuffer, readLimited, streamBody } from '../relay/request-body.ts';
import { guardRequest } from './request-guard.ts';

export interface RequestHandlerOptions {
  readonly context: RelayContext;
  readonly picker: Picker;
  readonly limits: ClientLimits;
  readonly log: (line: string) => void;
}

export function createRequestHandler({ context, picker, limits, log }: RequestHandlerOptions) {
  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer | null): void => {
    if (res.destroyed) return;
    const backend = picker.pick();
    if (backend < 0) return sendError(res, new SwitchyardError('NO_BACKEND', 'no backend is available'), !req.complete);
    const upstreamBody = body ?? (hasBody(req) ? streamBody(req, limits) : null);
    new Exchange(req, res, backend, context, upstreamBody).start();
  };

  return function handleRequest(req: IncomingMessage, res: ServerResponse): void {
    try {
      const refusal = guardRequest(req, limits) ?? declaredTooLarge(req, limits);
      if (refusal) return sendError(res, refusal, true);
      if (!mustBuffer(req, limits)) return forward(req, res, null);
      readLimited(req, limits).then(
        (body) => forward(req, res, body),
        (error: SwitchyardError) => sendError(res, error, true),
      );
    } catch (error) {
      // A bug of ours must cost one request, never the thread and its other clients.
      log(`unexpected error on ${req.method} ${req.url}: ${error instanceof Error ? error.stack : String(error)}`);
      sendError(res, new SwitchyardError('INTERNAL_ERROR', 'the balancer failed to handle this request'), true);
    }
  };
}
