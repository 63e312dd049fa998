/**
 * @module Worker-thread entry of one demo backend: listens, reports its port, and
 * closes when the main thread says so.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerUsageRequests } from '../src/supervisor/thread-reports.ts';
import type { ListeningMessage, SupervisorMessage } from '../src/supervisor/messages.ts';
import { createBackendServer } from './backend-server.ts';

/** What a demo backend thread needs to start. */
export interface BackendThreadData {
  readonly host: string;
  readonly port: number;
}

const { host, port } = workerData as BackendThreadData;
const server = createBackendServer();

server.listen({ host, port }, () => {
  const address = server.address();
  const message: ListeningMessage = { type: 'listening', port: typeof address === 'object' && address ? address.port : port };
  parentPort?.postMessage(message);
});

parentPort?.on('message', (message: SupervisorMessage) => {
  if (message.type === 'shutdown') {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  }
});
if (parentPort) answerUsageRequests(parentPort);
