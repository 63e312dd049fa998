/**
 * @module The worker side of the supervisor's questions that every thread answers the
 * same way (listeners and backends alike).
 */
import type { MessagePort } from 'node:worker_threads';
import type { SupervisorMessage, UsageMessage } from './messages.ts';

/** Answers `usage-request` with this thread's own CPU time. */
export function answerUsageRequests(port: MessagePort): void {
  port.on('message', (message: SupervisorMessage) => {
    if (message.type !== 'usage-request') return;
    const { user, system } = process.threadCpuUsage();
    const answer: UsageMessage = { type: 'usage', userMicros: user, systemMicros: system };
    port.postMessage(answer);
  });
}
