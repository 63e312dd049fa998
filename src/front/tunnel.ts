/**
 * @module An upgraded connection (WebSocket, or another --allow-upgrade protocol) after
 * the backend's 101: the client's socket and the backend's joined both ways with
 * backpressure (each side paused while the other is behind), the bytes either side sent
 * early written first, closed together when either side ends or errs, and closed when
 * both ways stay silent for --tunnel-idle-timeout.
 */
import type { Socket } from 'node:net';

export interface TunnelEnds {
  readonly client: Socket;
  readonly upstream: Socket;
  /** Bytes the client sent after its request head (before the 101). */
  readonly clientHead: Buffer | null;
  /** Bytes the backend sent after its 101 head. */
  readonly upstreamHead: Buffer;
  readonly idleMs: number;
  /** Once, when the tunnel is closed. */
  readonly onClose: () => void;
}

function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  // A half-close passes through: the other side may still answer.
  from.once('end', () => to.end());
}

export function joinTunnel({ client, upstream, clientHead, upstreamHead, idleMs, onClose }: TunnelEnds): void {
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    client.destroy();
    upstream.destroy();
    onClose();
  };
  for (const socket of [client, upstream]) {
    socket.on('error', close);
    socket.once('close', close);
    socket.setTimeout(idleMs, close);
  }
  if (clientHead !== null && clientHead.length > 0) upstream.write(clientHead);
  if (upstreamHead.length > 0) client.write(upstreamHead);
  forward(client, upstream);
  forward(upstream, client);
  client.resume();
  upstream.resume();
}

/** The Upgrade token of a request that asks to switch (`Connection: upgrade` and an
 * `Upgrade` header), if it is one of `allowed`; null otherwise. */
export function relayedUpgrade(raw: readonly string[], allowed: readonly string[]): string | null {
  let upgrade: string | null = null;
  let connectionUpgrade = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'upgrade') upgrade = (raw[i + 1] as string).trim();
    else if (name === 'connection' && /(?:^|,)\s*upgrade\s*(?:,|$)/i.test(raw[i + 1] as string)) connectionUpgrade = true;
  }
  // One protocol only: a list would let the backend pick one we did not allow.
  if (upgrade === null || !connectionUpgrade || upgrade.includes(',')) return null;
  return allowed.includes(upgrade.toLowerCase()) ? upgrade : null;
}
