/**
 * @module --watch-config: a change of the config file triggers a reload once the writes
 * settle. The file's folder is watched, not the file: editors and deploy tools replace a
 * file by writing another and renaming it over the first, and a watch on the file itself
 * would stay on the old, unlinked one and never fire again.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** Editors and `cp` write a file in several steps: a change is read once they settle. */
const SETTLE_MS = 200;

export interface ConfigWatcher {
  close(): void;
}

export function watchConfigFile(file: string, onChange: () => void, log: (line: string) => void): ConfigWatcher {
  const path = resolve(file);
  const name = basename(path);
  let timer: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    watcher = watch(dirname(path), (_event, changed) => {
      // Some platforms do not name the file; then any change in the folder is a candidate.
      if (changed !== null && changed !== name) return;
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        onChange();
      }, SETTLE_MS);
      timer.unref();
    });
    watcher.on('error', (error) => log(`--watch-config: watching ${path} failed (${error.message}); SIGHUP and POST /reload still reload`));
    watcher.unref();
  } catch (error) {
    log(`--watch-config: cannot watch ${path} (${(error as Error).message}); SIGHUP and POST /reload still reload`);
  }
  return {
    close(): void {
      if (timer !== null) clearTimeout(timer);
      watcher?.close();
    },
  };
}
