/**
 * @module The access log's own cost per line, measured apart from any load: the real
 * `AccessLog` (src/listener/access-log.ts: a record, pino, sonic-boom) writing lines of
 * the shape a small proxied GET gives to a file, in this thread. Under load (section 8) its
 * cost drowns in the noise of a shared machine; alone, it is a figure that holds still:
 * this thread's CPU per line (building and formatting it, handing it to sonic-boom), and
 * the process's (the asynchronous writes run on libuv's threads).
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn, setTimeout as sleep } from 'node:timers/promises';
import type { FrontRequest } from '../../src/front/front-request.ts';
import type { FrontResponse } from '../../src/front/front-response.ts';
import { AccessLog } from '../../src/listener/access-log.ts';

/** Lines per event-loop turn: about what a busy listener thread answers per turn. */
const BATCH = 64;
const WARMUP_LINES = 2_000;

export interface AccessLogLineCost {
  readonly lines: number;
  /** CPU of the thread that logs, per line. */
  readonly threadMicrosPerLine: number;
  /** CPU of the whole process, per line: the thread plus the writes on libuv's threads. */
  readonly processMicrosPerLine: number;
  readonly bytesPerLine: number;
}

export async function measureAccessLogLines(lines: number): Promise<AccessLogLineCost> {
  const dir = mkdtempSync(join(tmpdir(), 'switchyard-bench-lines-'));
  try {
    const file = join(dir, 'access.jsonl');
    const log = new AccessLog({ to: 'file', path: file }, 0, (line) => console.error(`bench: ${line}`));
    // The parts of a request and its response the log reads, nothing more.
    const req = { method: 'GET', url: '/item/17', socket: { remoteAddress: '127.0.0.1' } } as unknown as FrontRequest;
    const res = Object.assign(new EventEmitter(), { headersSent: true, statusCode: 200 }) as unknown as FrontResponse;
    const write = (): void => {
      const record = log.begin(req, res);
      record.attempts = 1;
      record.backend = 'http://127.0.0.1:45031';
      record.upstreamMs = 0.8123;
      record.bytesOut = 41;
      res.emit('close');
    };
    // Warm-up: compiled before it is timed, and its writes done.
    for (let i = 0; i < WARMUP_LINES; i++) write();
    await sleep(100);

    const thread0 = process.threadCpuUsage();
    const process0 = process.cpuUsage();
    for (let done = 0; done < lines; done += BATCH) {
      for (let i = 0; i < BATCH; i++) write();
      await turn();
    }
    await log.close();
    const thread1 = process.threadCpuUsage(thread0);
    const process1 = process.cpuUsage(process0);
    const { size } = await stat(file);
    const timed = Math.ceil(lines / BATCH) * BATCH;
    return {
      lines: timed,
      threadMicrosPerLine: (thread1.user + thread1.system) / timed,
      processMicrosPerLine: (process1.user + process1.system) / timed,
      bytesPerLine: size / (timed + WARMUP_LINES),
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
