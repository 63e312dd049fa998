/**
 * @module The worker side of the supervisor's questions that every thread answers the
 * same way (listeners and backends alike).
 */
import type { MessagePort } from 'node:worker_threads';
import type { SupervisorMessage, UsageMessage } from './messages.ts';

/** Answers `usage-request` with this thread's own CPU time and heap. */
export function answerUsageRequests(port: MessagePort): void {
  port.on('message', (message: SupervisorMessage) => {
    if (message.type !== 'usage-request') return;
    if (message.collectGarbage) (globalThis as { gc?: () => void }).gc?.();
    const { user, system } = process.threadCpuUsage();
    const answer: UsageMessage = { type: 'usage', userMicros: user, systemMicros: system, heapUsedBytes: process.memoryUsage().heapUsed };
    port.postMessage(answer);
  });
}
