/**
 * @module The keep-alive connections of one listener thread to one backend.
 *
 * An idle connection is taken last-in first-out: the most recently used one is the one
 * least likely to have been closed by the backend meanwhile, and under light load the
 * few warm connections carry everything while the rest reach their idle timeout and
 * close (nginx's keepalive cache works the same way). Without a cap a request that finds
 * no idle connection opens one; with --upstream-connections it waits, first come first
 * served, for the next connection to come free (the wait is bounded by
 * the exchange, on the thread's deadline sweeper).
 *
 * With --send-proxy-protocol a connection starts with a PROXY header naming one client,
 * so it serves that client's connection only: its idle connections are kept apart (per
 * client connection, closed when that closes) and never given to another client.
 */
import type { ConnectionSettings } from './backend-tls.ts';
import { UpstreamConnection, type ConnectionOwner } from './upstream-connection.ts';
import type { Deadlines } from '../shared/deadlines.ts';
import { UpstreamFailure } from './upstream-errors.ts';
import type { UpstreamHandler, UpstreamRequest } from './upstream-request.ts';
import { proxyHeader } from '../shared/proxy-protocol.ts';
import type { Socket } from 'node:net';

interface Waiter {
  readonly request: UpstreamRequest;
  readonly handler: UpstreamHandler;
}

export class UpstreamPool implements ConnectionOwner {
  readonly #settings: ConnectionSettings;
  readonly #deadlines: Deadlines;
  /** null: no cap. */
  readonly #maxConnections: number | null;
  readonly #connections = new Set<UpstreamConnection>();
  readonly #idle: UpstreamConnection[] = [];
  /** --send-proxy-protocol: idle connections by the client connection they belong to. */
  readonly #privateIdle = new Map<Socket, UpstreamConnection[]>();
  readonly #proxyVersion: 'v1' | 'v2' | null;
  readonly #waiting: Waiter[] = [];
  /** Connections freed and not yet placed (see released()). */
  readonly #freed: UpstreamConnection[] = [];
  #placing = false;
  #closing = false;
  #onEmpty: (() => void) | null = null;

  constructor(settings: ConnectionSettings, maxConnections: number | null, deadlines: Deadlines, proxyVersion: 'v1' | 'v2' | null = null) {
    this.#settings = settings;
    this.#proxyVersion = proxyVersion;
    this.#maxConnections = maxConnections;
    this.#deadlines = deadlines;
  }

  dispatch(request: UpstreamRequest, handler: UpstreamHandler): void {
    if (this.#closing) {
      return handler.onResponseError(noopController, new UpstreamFailure('UPSTREAM_CLOSED', 'the backend left the pool', false));
    }
    const idle = this.#idleFor(request).pop();
    if (idle !== undefined) return idle.send(request, handler);
    if (this.#maxConnections === null || this.#connections.size < this.#maxConnections) return this.#open(request).send(request, handler);
    this.#waiting.push({ request, handler });
  }

  /**
   * A connection came free. Handing it to a waiter may free it again at once (a waiter
   * already answered, or whose client left, gives it up on start): those come back here
   * and are placed by the loop below, not by a call inside the previous hand-over, so a
   * long queue of such waiters does not grow the stack.
   */
  released(connection: UpstreamConnection): void {
    this.#freed.push(connection);
    if (this.#placing) return;
    this.#placing = true;
    try {
      for (let next = this.#freed.shift(); next !== undefined; next = this.#freed.shift()) this.#place(next);
    } finally {
      this.#placing = false;
    }
  }

  #place(connection: UpstreamConnection): void {
    const owner = connection.privateTo;
    const at = owner === null ? 0 : this.#waiting.findIndex(({ request }) => request.proxy?.connection === owner);
    const next = at >= 0 ? this.#waiting.splice(at, 1)[0] : undefined;
    if (next !== undefined) return connection.send(next.request, next.handler);
    if (this.#closing || owner?.destroyed === true) return connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'pool closed', true));
    // Another client's request waits for a place under the cap: a connection kept for
    // this client would hold that place while idle. Closed, it makes room (closed()).
    if (owner !== null && this.#waiting.length > 0) return connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'room for another client', true));
    if (owner === null) this.#idle.push(connection);
    else this.#privateList(owner).push(connection);
  }

  /** Where an idle connection for `request` is found: the shared stack, or its client's own. */
  #idleFor(request: UpstreamRequest): UpstreamConnection[] {
    const owner = request.proxy?.connection ?? null;
    return owner === null ? this.#idle : (this.#privateIdle.get(owner) ?? []);
  }

  #privateList(owner: Socket): UpstreamConnection[] {
    let list = this.#privateIdle.get(owner);
    if (list === undefined) {
      const created: UpstreamConnection[] = [];
      list = created;
      this.#privateIdle.set(owner, created);
      // The client is gone: so is every connection that spoke for it.
      owner.once('close', () => {
        this.#privateIdle.delete(owner);
        for (const connection of created.splice(0)) connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'its client closed', true));
      });
    }
    return list;
  }

  closed(connection: UpstreamConnection): void {
    this.#connections.delete(connection);
    this.#deadlines.delete(connection);
    const idle = connection.privateTo === null ? this.#idle : this.#privateIdle.get(connection.privateTo);
    const at = idle?.indexOf(connection) ?? -1;
    if (at !== -1) idle?.splice(at, 1);
    // A place came free under the cap: the first waiter gets a new connection.
    const next = this.#waiting.length > 0 ? this.#waiting.shift() : undefined;
    if (next !== undefined) this.#open(next.request).send(next.request, next.handler);
    if (this.#connections.size === 0 && this.#onEmpty !== null) this.#onEmpty();
  }

  /** Stops taking requests; what runs or waits finishes; resolves when every connection has closed. */
  close(): Promise<void> {
    this.#closing = true;
    const idle = [...this.#idle.splice(0), ...[...this.#privateIdle.values()].flatMap((list) => list.splice(0))];
    for (const connection of idle) connection.destroy(new UpstreamFailure('UPSTREAM_CLOSED', 'pool closed', true));
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

  #open(request: UpstreamRequest): UpstreamConnection {
    const proxy = this.#proxyVersion === null ? null : request.proxy;
    const connection =
      proxy === null
        ? new UpstreamConnection(this.#settings, this)
        : new UpstreamConnection(this.#settings, this, proxy.connection, proxyHeader(this.#proxyVersion as 'v1' | 'v2', proxy));
    this.#connections.add(connection);
    this.#deadlines.add(connection);
    return connection;
  }
}

/** For a request refused before any connection held it: there is nothing to control. */
const noopController = { abort() {}, pause() {}, resume() {} };
