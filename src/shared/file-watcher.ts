/**
 * @module Files followed for changes (--watch-config's config file, the --tls-cert and
 * --tls-key files): `onChange` runs once the writes settle. Each file's folder is watched,
 * not the file: a watch on a file follows that file, so a new one renamed over it (how
 * editors, deploy tools and certbot's `live/` symlinks replace files) would go unseen.
 * Kubernetes mounts a Secret as links through a `..data` link it swaps whole: a change of
 * such a `..` entry counts too.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';

/** Editors and `cp` write a file in several steps: a change is read once they settle. */
const SETTLE_MS = 200;

export interface FileWatcher {
  close(): void;
}

/** `onError`: a folder that cannot be watched (the files are then only read on demand). */
export function watchFiles(files: readonly string[], onChange: () => void, onError: (folder: string, error: Error) => void): FileWatcher {
  const names = new Map<string, Set<string>>();
  for (const file of files) {
    const path = resolve(file);
    const folder = dirname(path);
    names.set(folder, (names.get(folder) ?? new Set()).add(basename(path)));
  }
  let timer: NodeJS.Timeout | null = null;
  const changed = (): void => {
    if (timer !== null) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      onChange();
    }, SETTLE_MS);
    timer.unref();
  };
  const watchers: FSWatcher[] = [];
  for (const [folder, watched] of names) {
    try {
      const watcher = watch(folder, (_event, name) => {
        // Some platforms do not name the entry; then any change in the folder is a candidate.
        if (name === null || watched.has(name) || name.startsWith('..')) changed();
      });
      watcher.on('error', (error) => onError(folder, error));
      watcher.unref();
      watchers.push(watcher);
    } catch (error) {
      onError(folder, error as Error);
    }
  }
  return {
    close(): void {
      if (timer !== null) clearTimeout(timer);
      for (const watcher of watchers) watcher.close();
    },
  };
}
