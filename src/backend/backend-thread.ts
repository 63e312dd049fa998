/**
 * @module Worker-thread entry of one embedded backend: listens, reports its port, and
 * closes when the main thread says so.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { answerUsageRequests } from '../supervisor/thread-reports.ts';
import type { BackendThreadData, ListeningMessage, SupervisorMessage } from '../supervisor/messages.ts';
import { createBackendServer } from './backend-server.ts';

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
