/**
 * @module The config file: TOML (`smol-toml`), read into the same raw settings the flags
 * give, key by key against the schema. What is not a known key, or not the form its key
 * takes (a table where a value belongs, a boolean for a number), is a problem naming the
 * file, the line, the key path and what is allowed; values themselves are checked by the
 * same rules as the flags (build-config.ts). Numbers are read as the flag's text, so
 * `5` is five seconds for a timeout as `--connect-timeout 5` is. Relative paths are
 * taken from the file's folder.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { MAX_WEIGHT } from '../shared/layout.ts';
import { backendOrigin, UsageError } from './flag-values.ts';
import { KeyLines } from './key-lines.ts';
import { SETTINGS, type Setting } from './schema.ts';
import type { SettingValues } from './setting-values.ts';

type Table = Record<string, unknown>;

const BACKEND_FIELDS = ['url', 'weight'];
const CERTIFICATE_FIELDS = ['cert', 'key'];
/** Values of `access-log` that are not a path. */
const NOT_PATHS = new Set(['stdout', 'stderr', 'off']);

/** Reads `file` into `values`, recording every problem; false when the file could not be
 * read or parsed at all (nothing else is worth checking then). */
export function readConfigFile(file: string, values: SettingValues): boolean {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    values.fileProblem(null, `cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    return false;
  }
  let document: Table;
  try {
    document = parse(text) as Table;
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    const what = error.message.split('\n')[0]?.replace(/^Invalid TOML document: /, '') ?? 'invalid';
    values.fileProblem(error.line, `column ${error.column}: not valid TOML: ${what}`);
    return false;
  }
  new FileReader(file, text, values).read(document);
  return true;
}

class FileReader {
  readonly #file: string;
  readonly #folder: string;
  readonly #lines: KeyLines;
  readonly #values: SettingValues;

  constructor(file: string, text: string, values: SettingValues) {
    this.#file = file;
    this.#folder = dirname(resolve(file));
    this.#lines = new KeyLines(text);
    this.#values = values;
  }

  read(document: Table): void {
    for (const [name, value] of Object.entries(document)) {
      const setting = SETTINGS.find(({ key }) => key === name);
      if (setting) this.#take(setting, name, value);
      else if (SECTIONS.has(name) && isTable(value)) this.#section(name, value);
      else if (SECTIONS.has(name)) this.#problem(name, `${name} must be a table ([${name}]) of settings, not ${describe(value)}`);
      else this.#problem(name, `unknown key ${name}${suggestion(name)}`);
    }
  }

  #section(section: string, table: Table): void {
    for (const [name, value] of Object.entries(table)) {
      const path = `${section}.${name}`;
      const setting = SETTINGS.find(({ key }) => key === path);
      if (setting) this.#take(setting, path, value);
      else this.#problem(path, `unknown key ${path}${suggestion(path)}`);
    }
  }

  #take(setting: Setting, path: string, value: unknown): void {
    const origin = { from: 'file', file: this.#file, line: this.#lines.lineOf(path) } as const;
    switch (setting.form) {
      case 'value':
        if (typeof value === 'string' || typeof value === 'number') return this.#values.set(setting.flag, String(value), origin);
        return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected a string or a number, like ${JSON.stringify(setting.fallback)}`);
      case 'path':
        if (typeof value === 'string' && value !== '') return this.#values.set(setting.flag, this.#path(value), origin);
        return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected a file path (relative to the config file's folder)`);
      case 'switch':
        if (typeof value === 'boolean') return this.#values.set(setting.flag, value, origin);
        return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected true or false`);
      case 'list':
        if (typeof value === 'string') return this.#values.set(setting.flag, [value], origin);
        if (Array.isArray(value) && value.every((item) => typeof item === 'string')) return this.#values.set(setting.flag, value as string[], origin);
        return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected an array of strings, like ["websocket"]`);
      case 'backends':
        return this.#backends(path, value, origin);
      case 'certificates':
        return this.#certificates(path, value, origin);
      case 'flag-only':
        return this.#problem(path, `${path} is a command-line flag only (--${setting.flag})`);
    }
  }

  /** `[[backends]]` tables `{ url, weight }`, or `"URL[,weight=N]"` strings as the flag takes. */
  #backends(path: string, value: unknown, origin: { from: 'file'; file: string; line: number | null }): void {
    if (!Array.isArray(value)) return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected [[backends]] tables with url and weight`);
    const specs: string[] = [];
    value.forEach((item: unknown, i) => {
      const at = `${path}[${i}]`;
      if (typeof item === 'string') return specs.push(item);
      if (!isTable(item)) return this.#problem(at, `${at} = ${describe(item)} is not allowed: expected a table with url and weight`);
      if (!this.#fields(at, item, BACKEND_FIELDS)) return;
      const { url, weight = 1 } = item;
      if (typeof url !== 'string') return this.#problem(`${at}.url`, `${at}.url ${url === undefined ? 'is missing' : `= ${describe(url)} is not allowed`}: expected an http or https URL like "http://127.0.0.1:9001"`);
      if (typeof weight !== 'number' || !Number.isSafeInteger(weight) || weight < 1 || weight > MAX_WEIGHT) {
        return this.#problem(`${at}.weight`, `${at}.weight ${describe(weight)} is not allowed: expected a whole number from 1 to ${MAX_WEIGHT}`);
      }
      try {
        backendOrigin(url, url, `${at}.url`);
      } catch (error) {
        if (!(error instanceof UsageError)) throw error;
        return this.#problem(`${at}.url`, error.message);
      }
      specs.push(weight === 1 ? url : `${url},weight=${weight}`);
    });
    this.#values.set('backend', specs, origin);
  }

  /** `[[tls.certificates]]` tables `{ cert, key }`: the --tls-cert/--tls-key pairs. */
  #certificates(path: string, value: unknown, origin: { from: 'file'; file: string; line: number | null }): void {
    if (!Array.isArray(value)) return this.#problem(path, `${path} = ${describe(value)} is not allowed: expected [[${path}]] tables with cert and key`);
    const certs: string[] = [];
    const keys: string[] = [];
    value.forEach((item: unknown, i) => {
      const at = `${path}[${i}]`;
      if (!isTable(item)) return this.#problem(at, `${at} = ${describe(item)} is not allowed: expected a table with cert and key`);
      if (!this.#fields(at, item, CERTIFICATE_FIELDS)) return;
      for (const field of CERTIFICATE_FIELDS) {
        if (typeof item[field] !== 'string' || item[field] === '') {
          return this.#problem(`${at}.${field}`, `${at}.${field} ${item[field] === undefined ? 'is missing' : `= ${describe(item[field])} is not allowed`}: expected a PEM file path`);
        }
      }
      certs.push(this.#path(item.cert as string));
      keys.push(this.#path(item.key as string));
    });
    this.#values.set('tls-cert', certs, origin);
    this.#values.set('tls-key', keys, origin);
  }

  /** Whether `table` has only `allowed` fields; records the others as problems. */
  #fields(at: string, table: Table, allowed: readonly string[]): boolean {
    const unknown = Object.keys(table).filter((field) => !allowed.includes(field));
    for (const field of unknown) this.#problem(`${at}.${field}`, `unknown key ${at}.${field}; expected ${allowed.join(' and ')}`);
    return unknown.length === 0;
  }

  #path(value: string): string {
    return NOT_PATHS.has(value) || isAbsolute(value) ? value : resolve(this.#folder, value);
  }

  #problem(path: string, message: string): void {
    this.#values.fileProblem(this.#lines.lineOf(path), message);
  }
}

/** The tables of the file: `[routing]`, `[health]` ... */
const SECTIONS = new Set(SETTINGS.flatMap(({ key }) => (key !== null && key.includes('.') ? [key.slice(0, key.indexOf('.'))] : [])));

/** "; did you mean upstream.connect-timeout?" for a misspelt key, or a flag's name in the wrong place. */
function suggestion(path: string): string {
  const leaf = path.slice(path.lastIndexOf('.') + 1);
  let best: { key: string; distance: number } | null = null;
  for (const { key, flag } of SETTINGS) {
    if (key === null || key === path) continue;
    const keyLeaf = key.slice(key.lastIndexOf('.') + 1);
    const distance = Math.min(editDistance(path, key), editDistance(leaf, keyLeaf), editDistance(leaf, flag));
    if (best === null || distance < best.distance) best = { key, distance };
  }
  return best !== null && best.distance <= Math.max(2, Math.floor(leaf.length / 4)) ? `; did you mean ${best.key}?` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length] ?? 0;
}

function isTable(value: unknown): value is Table {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return `a date (${String(value)})`;
  if (isTable(value)) return 'a table';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
