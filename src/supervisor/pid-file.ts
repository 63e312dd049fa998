/**
 * @module --pid-file: the serving process's PID, one line, for a service manager to
 * follow. Written whole (a temporary file renamed over it) once the process serves; a
 * process that took over writes its own PID there before the old one exits, which is
 * what systemd reads when the main process goes (PIDFile=). Removed at exit only while
 * it still names this process.
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';

export function writePidFile(path: string): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, `${process.pid}\n`, { mode: 0o644 });
  renameSync(temporary, path);
}

/** Removes the file if it names this process; a successor's PID stays. */
export function removePidFile(path: string): void {
  try {
    if (readFileSync(path, 'utf8').trim() === String(process.pid)) rmSync(path);
  } catch {
    // Already gone, or unreadable: nothing of ours to remove.
  }
}
