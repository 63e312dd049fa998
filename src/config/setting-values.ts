/**
 * @module The raw settings before validation, from the command line and the config file
 * alike, each with where it came from; and the problems found while validating them.
 * Validation asks each value for its name (`--port` when a flag gave it, `port` when the
 * file did) so that every message names the setting as the operator wrote it, and each
 * problem with a value from the file starts with the file and line.
 */
import { settingOf } from './schema.ts';
import { UsageError } from './flag-values.ts';

export type RawValue = string | boolean | readonly string[];

/** Where a value was written: on the command line, or in the file (line when known). */
export type Origin = { readonly from: 'flag' } | { readonly from: 'file'; readonly file: string; readonly line: number | null };

export class SettingValues {
  readonly #values = new Map<string, { readonly value: RawValue; readonly origin: Origin }>();
  /** Each with the file line it is about (0: none, or not from the file). */
  readonly #problems: Array<{ readonly line: number; readonly text: string }> = [];
  /** The config file, when there is one: settings given nowhere are named by their key. */
  readonly file: string | null;

  constructor(file: string | null = null) {
    this.file = file;
  }

  /** Records a value; a flag given after the file's value replaces it. */
  set(flag: string, value: RawValue, origin: Origin): void {
    this.#values.set(flag, { value, origin });
  }

  has(flag: string): boolean {
    return this.#values.has(flag);
  }

  /** The text of a single-valued setting, or undefined when not given. */
  text(flag: string): string | undefined {
    const value = this.#values.get(flag)?.value;
    return typeof value === 'string' ? value : undefined;
  }

  on(flag: string): boolean {
    return this.#values.get(flag)?.value === true;
  }

  list(flag: string): readonly string[] {
    const value = this.#values.get(flag)?.value;
    return Array.isArray(value) ? value : [];
  }

  fromFlag(flag: string): boolean {
    return this.#values.get(flag)?.origin.from === 'flag';
  }

  /** How messages name the setting: its flag, or its key when the file gave it (or, with a
   * file, nobody did). */
  name(flag: string): string {
    const origin = this.#values.get(flag)?.origin;
    const key = settingOf(flag).key;
    if (origin?.from === 'flag' || this.file === null || key === null) return `--${flag}`;
    return key;
  }

  /** Records a problem about `flag`, prefixed with the file and line when the file gave it. */
  problem(flag: string | null, message: string): void {
    const origin = flag === null ? undefined : this.#values.get(flag)?.origin;
    if (origin?.from === 'file') this.#problems.push({ line: origin.line ?? 0, text: `${origin.file}${origin.line === null ? '' : `:${origin.line}`}: ${message}` });
    else if (origin?.from !== 'flag' && this.file !== null) this.#problems.push({ line: 0, text: `${this.file}: ${message}` });
    else this.#problems.push({ line: 0, text: message });
  }

  /** Records a problem of the file itself (its syntax, an unknown key), at `line` when known. */
  fileProblem(line: number | null, message: string): void {
    this.#problems.push({ line: line ?? 0, text: `${this.file ?? 'config file'}${line === null ? '' : `:${line}`}: ${message}` });
  }

  /** Runs one check; a UsageError becomes a problem about `flag` and `fallback` stands in,
   * so that the checks after it still run and every problem is reported at once. */
  attempt<T>(flag: string | null, check: () => T, fallback: T): T {
    try {
      return check();
    } catch (error) {
      if (!(error instanceof UsageError)) throw error;
      this.problem(flag, error.message);
      return fallback;
    }
  }

  /** In the order found; a file's in the order of its lines (stable: those without a line stay first). */
  get problems(): readonly string[] {
    const problems = this.file === null ? this.#problems : [...this.#problems].sort((a, b) => a.line - b.line);
    return problems.map(({ text }) => text);
  }

  /** Throws every problem found as one UsageError (its message the first one). */
  throwProblems(): void {
    const problems = this.problems;
    const [first] = problems;
    if (first !== undefined) throw new UsageError(first, problems);
  }
}
