/**
 * @module The file descriptor under a listening server, which a takeover hands to the
 * new process. Node has no public accessor; on Linux (and other Unix systems) the
 * server's handle exposes it as `fd`.
 */
import type { Server } from 'node:net';

export function listeningFd(server: Server): number {
  const fd = (server as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('a listening socket shows no file descriptor (a takeover needs Linux or another Unix system)');
  return fd;
}
