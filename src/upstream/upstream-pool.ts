/**
 * @module The keep-alive connections of one listener thread to one backend.
 *
 * An idle connection is taken last-in first-out: the most recently used one is the one
 * least likely to have been closed by the backend meanwhile, and under light load the
 * few warm connections carry everything while the rest reach their idle timeout and
 * close (nginx's keepalive cache works the same way). Without a cap a request that finds
 * no idle connection opens one; with --upstream-connections it waits, first come first
 * served, for the next connection to come free (the wait is bounded by
 * queue-deadlines.ts).
 */
import type { ConnectionSettings } from './backend-tls.ts';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts';
import type { ConnectionDeadlines } from '../shared/connection-deadlines.ts';
import { UpstreamFailure } from './upstream-errors.ts';
import type { UpstreamHandler, UpstreamRequest } from './upstream-request.ts';

interface Waiter {
  readonly request: UpstreamRequest;
  readonly handler: UpstreamHandler;
}

export class UpstreamPool implements ConnectionOwner {
  readonly #settings: ConnectionSettings;
  readonly #deadlines: ConnectionDeadlines;
  /** null: no cap. */
  readonly #maxConnections: number | null;
  readonly #connections = new Set<UpstreamConnection>();
  readonly #idle: UpstreamConnection[] = [];
  readonly #waiting: Waiter[] = [];
  #closing = false;
  #onEmpty: (() => void) | null = null;

  constructor(settings: ConnectionSettings, maxConnections: number | null, deadlines: ConnectionDeadlines) {
    this.#settings = settings;
    this.#maxConnections = maxConnections;
    this.#deadlines = deadlines;
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.#closing) {
      return handler.onResponseError(noopController, new UpstreamFailure('UPSTREAM_CLOSED', 'the backend left the pool', false));
    }
    const idle = this.#idle.pop();
    if (idle !== undefined) return idle.send(request, handler);
    if (this.#maxConnections === null || this.#connections.size < this.#maxConnections) return this.#open().send(request, handler);
    this.#waiting.push({ request, handler });
  }

  released(connection: UpstreamConnection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) return connection.send(next.request, next.handler);
    if (this.#closing) return connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'pool closed', true));
    this.#idle.push(connection);
  }

  closed(connection: UpstreamConnection): void {
    this.#connections.delete(connection);
    this.#deadlines.delete(connection);
    const at = this.#idle.indexOf(connection);
    if (at !== -1) this.#idle.splice(at, 1);
    // A place came free under the cap: the first waiter gets a new connection.
    const next = this.#waiting.length > 0 ? this.#waiting.shift() : undefined;
    if (next !== undefined) this.#open().send(next.request, next.handler);
    if (this.#connections.size === 0 && this.#onEmpty !== null) this.#onEmpty();
  }

  /** Stops taking requests; what runs or waits finishes; resolves when every connection has closed. */
  close(): Promise<void> {
    this.#closing = true;
    for (const connection of this.#idle.splice(0)) connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'pool closed', true));
    return this.#empty();
  }

  /** Closes every connection now; requests on them or waiting fail with `UPSTREAM_CLOSED`. */
  destroy(): Promise<void> {
    this.#closing = true;
    const error = new UpstreamFailure('UPSTREAM_CLOSED', 'the balancer closed the connection', false);
    for (const { handler } of this.#waiting.splice(0)) handler.onResponseError(noopController, error);
    for (const connection of [...this.#connections]) connection.destroy(error);
    return this.#empty();
  }

  #empty(): Promise<void> {
    if (this.#connections.size === 0 && this.#waiting.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.#onEmpty = resolve;
    });
  }

  #open(): UpstreamConnection {
    const connection = new UpstreamConnection(this.#settings, this);
    this.#connections.add(connection);
    this.#deadlines.add(connection);
    return connection;
  }
}

/** For a request refused before any connection held it: there is nothing to control. */
const noopController = { abort() {}, pause() {}, resume() {} };
