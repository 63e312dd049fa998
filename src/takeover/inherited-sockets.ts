/**
 * @module The listening sockets one switchyard process hands to the one that takes over
 * from it, as open file descriptors, and how the new process learns which descriptor is
 * which: the old one puts them in the new one's stdio array (so they arrive open, without
 * close-on-exec) and names their numbers in one environment variable.
 */

/** Descriptors of listening sockets, as numbers in the process that holds them. */
export interface InheritedSockets {
  /** The balancer port's sockets: every listener thread's (64 each), all of them. */
  readonly listeners: readonly number[];
  /** The admin listener's socket; null: the new process binds its own (or has none). */
  readonly admin: number | null;
  /** --redirect-http's socket; null: likewise. */
  readonly redirect: number | null;
}

/** Set by the old process in the new one's environment; read (and removed) at its start. */
export const INHERITED_SOCKETS_ENV = 'SWITCHYARD_INHERITED_SOCKETS';

export function encodeInheritedSockets(sockets: InheritedSockets): string {
  return JSON.stringify(sockets);
}

/**
 * The sockets this process inherited, or null when it was not started by a takeover.
 * The variable is removed, so that nothing this process starts mistakes it for its own.
 */
export function takeInheritedSockets(env: NodeJS.ProcessEnv = process.env): InheritedSockets | null {
  const raw = env[INHERITED_SOCKETS_ENV];
  if (raw === undefined) return null;
  delete env[INHERITED_SOCKETS_ENV];
  const parsed: unknown = JSON.parse(raw);
  const fd = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) > 2;
  const { listeners, admin, redirect } = (parsed ?? {}) as Record<string, unknown>;
  if (!Array.isArray(listeners) || !listeners.every(fd) || !(admin === null || fd(admin)) || !(redirect === null || fd(redirect))) {
    throw new Error(`${INHERITED_SOCKETS_ENV} is malformed (${raw.slice(0, 200)}); it is set by a switchyard handing over its sockets, not by hand`);
  }
  return { listeners, admin, redirect };
}

/** Which inherited listening sockets listener thread `listener` of `threads` adopts: every
 * one is adopted by some thread, since one left unadopted would hold connections that
 * nobody accepts. */
export function socketsOfListener(sockets: InheritedSockets | null, listener: number, threads: number): readonly number[] {
  return sockets === null ? [] : sockets.listeners.filter((_, index) => index % threads === listener);
}
