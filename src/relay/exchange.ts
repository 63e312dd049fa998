/**
 * @module One proxied request and its response, over as many attempts as it takes: the
 * selector picks a backend, the request goes out through that backend's keep-alive pool,
 * and the response is relayed back as it streams, with backpressure both ways.
 *
 * Each attempt's outcome is recorded in shared memory (passive health, latency), and a
 * failed attempt is retried on another backend when nothing can have been processed:
 * no connection was made (any method, if the body can be sent again), or, for an
 * idempotent request whose body is none or held whole, the connection died before any
 * response byte. A request whose bytes may have reached a backend is never sent twice.
 * Every way an attempt ends releases its in-flight counts exactly once.
 */
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { SwitchyardError } from '../errors.ts';
import type { FrontRequest } from '../front/front-request.ts';
import type { ClientResponse } from '../front/client-response.ts';
import type { RequestRecord } from '../listener/access-log.ts';
import { recordLatency } from '../routing/latency.ts';
import { now } from '../shared/clock.ts';
import { failureCode, failureReason, upstreamError } from '../upstream/upstream-errors.ts';
import type { RouteRequest } from '../routing/selector.ts';
import { sendError } from './error-response.ts';
import { recordOwnResponse, recordResponse } from './outcome-counters.ts';
import { mayResend, retryElsewhere } from './retry-policy.ts';
import { clientResponseHeaders, responseTrailers } from './proxy-headers.ts';
import { outgoingRequest } from './outgoing-request.ts';
import type { Deadlines, Timed } from '../shared/deadlines.ts';
import type { UpstreamPool } from '../upstream/upstream-pool.ts';
import type { UpstreamController, UpstreamHandler, UpstreamRequest } from '../upstream/upstream-request.ts';
import type { RelayContext } from './relay-context.ts';

export class Exchange implements UpstreamHandler, Timed {
  readonly #req: FrontRequest;
  readonly #res: ClientResponse;
  readonly #context: RelayContext;
  readonly #route: RouteRequest;
  /** The access log's record of this request; null when the log is off. */
  readonly #record: RequestRecord | null;
  readonly #request: UpstreamRequest;
  /** The current attempt's backend, `http://host:port`. */
  #origin = '';
  #controller: UpstreamController | null = null;
  #slot = -1;
  #pool: UpstreamPool | null = null;
  /** The queue this request waits in for one of the --upstream-connections, if any. */
  #queue: Deadlines | null = null;
  #trial = false;
  #isRetry = false;
  /** Whether this request holds a place in the shared retry budget (for its current retry). */
  #budgetHeld = false;
  #attemptOpen = false;
  #attemptStartedAt = 0;
  #resends = 0;
  #ended = false;
  #clientGone = false;
  /** While waiting for one of the --upstream-connections: when it gets 503 (clock.now()); else 0. */
  deadline = 0;
  /** It waited for a connection past the deadline and was answered 503; the pool still holds it. */
  #answeredBusy = false;

  /** `body`: how the request body travels (see request-body.ts); null when there is none. */
  constructor(
    req: FrontRequest,
    res: ClientResponse,
    context: RelayContext,
    route: RouteRequest,
    body: Readable | Buffer | null,
    record: RequestRecord | null,
  ) {
    this.#req = req;
    this.#res = res;
    this.#context = context;
    this.#route = route;
    this.#record = record;
    this.#request = outgoingRequest(req, body, context);
  }

  start(): void {
    this.#context.budget.requestStarted();
    this.#res.once('close', this.#onClientClose);
    this.#attempt(null);
  }

  /** Picks a backend and sends the request there; `failed` is the previous attempt's error. */
  #attempt(failed: SwitchyardError | null): void {
    const { selector, pools, state, listener } = this.#context;
    const slot = selector.select(this.#route);
    if (slot < 0) {
      this.#releaseBudget();
      if (failed) return this.#answerError(failed);
      state.headerBump('noBackend');
      return this.#answerError(
        new SwitchyardError('NO_BACKEND', selector.describeUnavailable(), { retryAfterSeconds: selector.retryAfterSeconds(this.#context.healthRetryMs) }),
      );
    }
    this.#slot = slot;
    this.#trial = selector.trial;
    this.#pool = pools.get(slot);
    this.#origin = pools.origin(slot);
    this.#resends = 0;
    state.bump(slot, 'started');
    if (this.#record !== null) {
      this.#record.attempts++;
      this.#record.backend = this.#origin;
    }
    if (this.#isRetry) state.bump(slot, 'retries');
    state.add(slot, 'inFlight', 1);
    state.matrixAdd(listener, slot, 1);
    this.#attemptOpen = true;
    this.#attemptStartedAt = now();
    this.#dispatch();
  }

  #dispatch(): void {
    const { queue } = this.#context;
    // Kept: a reload may give the context another queue while this one waits here.
    this.#queue = queue;
    if (queue !== null) {
      this.deadline = now() + this.#context.upstream.connectMs;
      queue.add(this);
    }
    (this.#pool as UpstreamPool).dispatch(this.#request, this);
  }

  onRequestStart(controller: UpstreamController): void {
    this.#stopWaiting();
    this.#controller = controller;
    // Answered already: it must not reach the backend now (nothing of it is written).
    if (this.#answeredBusy) return controller.abort(new SwitchyardError('BACKEND_BUSY', 'answered while waiting for a connection'));
    if (this.#clientGone) controller.abort(clientGone());
  }

  /** It started (or ended otherwise): no deadline any more. */
  #stopWaiting(): void {
    this.deadline = 0;
    this.#queue?.delete(this);
  }

  /** Waited past --connect-timeout for one of the --upstream-connections: 503, not sent. */
  expired(): void {
    this.#stopWaiting();
    if (this.#ended || !this.#attemptOpen) return;
    this.#answeredBusy = true;
    this.#endAttempt();
    const { maxConnections, connectMs } = this.#context.upstream;
    this.#answerError(
      new SwitchyardError(
        'BACKEND_BUSY',
        `no connection to ${this.#origin} became free within ${connectMs} ms (--upstream-connections ${maxConnections})`,
        { retryAfterSeconds: 1 },
      ),
    );
  }

  onResponseStart(controller: UpstreamController, statusCode: number, headers: string[], statusMessage: string): void {
    const res = this.#res;
    if (this.#clientGone) return controller.abort(clientGone());
    this.#recordAnswer(statusCode);
    const { sticky } = this.#context;
    // A new pin whenever the pinned backend did not serve: no cookie, a stale one, or
    // the pinned backend failed this request and another one answered.
    const setCookie = sticky !== null && this.#slot !== this.#route.pinned ? sticky.setCookie(this.#slot) : undefined;
    const out = clientResponseHeaders(headers, setCookie);
    if (statusMessage) res.writeHead(statusCode, statusMessage, out);
    else res.writeHead(statusCode, out);
  }

  /** The backend answered this attempt with `statusCode`: its latency, its response and
   * the passive-health verdict (a 5xx is a failure only with --eject-on-5xx) are recorded. */
  #recordAnswer(statusCode: number): void {
    const { state, health, ejectOn5xx } = this.#context;
    const at = now();
    const micros = (at - this.#attemptStartedAt) * 1000;
    if (this.#record !== null) this.#record.upstreamMs = at - this.#attemptStartedAt;
    recordLatency(state, this.#slot, micros, at);
    recordResponse(state, this.#slot, statusCode, micros);
    if (ejectOn5xx && statusCode >= 500) health.failed(this.#slot, '5xx response', this.#trial);
    else health.succeeded(this.#slot, this.#trial);
    // The trial has its verdict; a body cut off later is an ordinary failure.
    this.#trial = false;
  }

  /** Early hints go on to a client that can take an interim response (HTTP/1.1, HTTP/2),
   * before the final response's head; an HTTP/1.0 client does not get them. */
  onEarlyHints(_controller: UpstreamController, statusMessage: string, headers: string[]): void {
    const req = this.#req;
    if (this.#clientGone || (req.httpVersionMajor === 1 && req.httpVersionMinor < 1)) return;
    this.#res.writeInterim(103, statusMessage, clientResponseHeaders(headers));
  }

  /** The backend accepted the upgrade (101): the client gets the 101 and the two sockets
   * are joined. The tunnel counts as in flight at its backend until it closes, so that
   * least-connections sees it. */
  onSwitchProtocols(_controller: UpstreamController, statusMessage: string, headers: string[], socket: Socket, head: Buffer): void {
    const { state, health, listener } = this.#context;
    if (this.#clientGone) {
      socket.destroy();
      health.abandoned(this.#slot, this.#trial);
      this.#endAttempt();
      return this.#finish();
    }
    this.#recordAnswer(101);
    state.listenerAdd(listener, 'tunnelsOpen', 1);
    this.#res.switchProtocols(statusMessage, headers, socket, head, () => {
      state.listenerAdd(listener, 'tunnelsOpen', -1);
      this.#endAttempt();
      this.#finish();
    });
  }

  onResponseData(controller: UpstreamController, chunk: Buffer): void {
    if (this.#record !== null) this.#record.bytesOut += chunk.length;
    if (!this.#res.write(chunk)) {
      controller.pause();
      this.#res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(trailers: readonly string[]): void {
    if (trailers.length === 0) this.#res.end();
    else this.#res.end(undefined, responseTrailers(trailers));
    this.#endAttempt();
    this.#finish();
  }

  onResponseError(_controller: UpstreamController, error: Error): void {
    this.#stopWaiting();
    // Its client has its answer already (expired()); this is the pool letting go of it.
    if (this.#answeredBusy) return;
    const { health } = this.#context;
    if (this.#clientGone) {
      health.abandoned(this.#slot, this.#trial);
      this.#endAttempt();
      if (!this.#res.headersSent) recordOwnResponse(this.#context.state, 'CLIENT_CLOSED_REQUEST');
      return this.#finish();
    }
    if (!this.#res.headersSent && mayResend(error, this.#request.method, this.#request.body, this.#resends)) {
      this.#resends++;
      this.#controller = null;
      return this.#dispatch();
    }
    // A SwitchyardError here came from the client's side of the request body (stalled:
    // 408, vanished: 499); anything else is the connection's report of the backend.
    const failure = error instanceof SwitchyardError ? error : upstreamError(error, this.#origin);
    if (failure.clientCaused) {
      health.abandoned(this.#slot, this.#trial);
      this.#endAttempt();
      return this.#answerError(failure);
    }
    health.failed(this.#slot, failureReason(failureCode(error)), this.#trial);
    this.#endAttempt();
    if (!this.#res.headersSent && this.#mayRetryElsewhere(error)) {
      this.#route.tried.push(this.#slot);
      this.#route.attempt++;
      this.#isRetry = true;
      this.#controller = null;
      return this.#attempt(failure);
    }
    this.#answerError(failure);
  }

  /** Before the response started, a clean error status; after, the only honest signal
   * left is to abort the connection (a truncated body), so that nothing downstream
   * mistakes a partial response for a complete one. */
  #answerError(failure: SwitchyardError): void {
    if (this.#res.headersSent) {
      if (this.#record !== null) this.#record.error = failure.code;
      this.#res.destroy(failure);
    } else {
      sendError(this.#res, failure, failure.clientCaused || !this.#req.complete, this.#context.state, this.#record);
    }
    this.#finish();
  }

  /** Another backend, within --retries; a retry (not a requeue) also needs a place in
   * the shared retry budget (see retry-policy.ts). */
  #mayRetryElsewhere(error: Error): boolean {
    if (this.#route.attempt >= this.#context.retries) return false;
    const way = retryElsewhere(error, this.#request.method, this.#request.body);
    if (way !== 'retry') return way === 'requeue';
    this.#budgetHeld = this.#context.budget.tryAcquire();
    return this.#budgetHeld;
  }

  #onClientClose = (): void => {
    if (this.#ended) return;
    this.#clientGone = true;
    this.#controller?.abort(clientGone());
  };

  #endAttempt(): void {
    if (!this.#attemptOpen) return;
    this.#attemptOpen = false;
    const { state, listener } = this.#context;
    state.add(this.#slot, 'inFlight', -1);
    state.matrixAdd(listener, this.#slot, -1);
    this.#releaseBudget();
  }

  #releaseBudget(): void {
    if (!this.#budgetHeld) return;
    this.#budgetHeld = false;
    this.#context.budget.release();
  }

  #finish(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#context.budget.requestEnded();
  }
}

function clientGone(): SwitchyardError {
  return new SwitchyardError('CLIENT_CLOSED_REQUEST', 'client closed the connection');
}
