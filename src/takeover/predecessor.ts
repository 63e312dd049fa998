/**
 * @module The new process's side of a takeover: tells the process it takes over from
 * (its parent, over the IPC channel that one opened) that it serves, or why it could not
 * start, then lets the channel go so that nothing ties the two together any more.
 */
import type { SuccessorMessage } from './takeover-handler.ts';

/** True when this process was started by a takeover and its predecessor still listens. */
export function hasPredecessor(): boolean {
  return typeof process.send === 'function' && process.connected;
}

function tell(message: SuccessorMessage): Promise<void> {
  if (!hasPredecessor()) return Promise.resolve();
  return new Promise((resolve) => {
    process.send?.(message, undefined, {}, () => {
      if (process.connected) process.disconnect();
      resolve();
    });
  });
}

export function reportServing(): Promise<void> {
  return tell({ type: 'switchyard-serving', pid: process.pid });
}

export function reportFailure(message: string): Promise<void> {
  return tell({ type: 'switchyard-failed', message });
}
