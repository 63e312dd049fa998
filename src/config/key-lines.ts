/**
 * @module Which line of a TOML file holds a key, for messages about its value. The TOML
 * parser gives a line for syntax errors only, so the file is scanned here for table
 * headers (`[upstream]`, `[[backends]]`, counted) and `key =` lines. Good for files
 * written by hand; a key it cannot place (inside an inline table, a multi-line string)
 * is named by its nearest enclosing key's line, or without a line.
 */

const ARRAY_TABLE = /^\s*\[\[\s*([A-Za-z0-9_.-]+)\s*\]\]/;
const TABLE = /^\s*\[\s*([A-Za-z0-9_.-]+)\s*\]/;
const KEY = /^\s*([A-Za-z0-9_-]+(?:\s*\.\s*[A-Za-z0-9_-]+)*)\s*=/;

export class KeyLines {
  readonly #lines = new Map<string, number>();

  constructor(text: string) {
    let table = '';
    const counts = new Map<string, number>();
    text.split(/\r?\n/).forEach((line, i) => {
      const arrayTable = ARRAY_TABLE.exec(line);
      if (arrayTable?.[1] !== undefined) {
        const name = arrayTable[1];
        const index = counts.get(name) ?? 0;
        counts.set(name, index + 1);
        table = `${name}[${index}]`;
        this.#record(table, i + 1);
        this.#record(name, i + 1);
        return;
      }
      const header = TABLE.exec(line);
      if (header?.[1] !== undefined) {
        table = header[1];
        this.#record(table, i + 1);
        return;
      }
      const key = KEY.exec(line);
      if (key?.[1] !== undefined) this.#record(table === '' ? key[1].replace(/\s+/g, '') : `${table}.${key[1].replace(/\s+/g, '')}`, i + 1);
    });
  }

  /** The line of `path` (`a.b`, `list[2].c`), else of the closest key that encloses it. */
  lineOf(path: string): number | null {
    let at = path;
    for (;;) {
      const line = this.#lines.get(at);
      if (line !== undefined) return line;
      const cut = Math.max(at.lastIndexOf('.'), at.lastIndexOf('['));
      if (cut <= 0) return null;
      at = at.slice(0, cut);
    }
  }

  #record(path: string, line: number): void {
    if (!this.#lines.has(path)) this.#lines.set(path, line);
  }
}
