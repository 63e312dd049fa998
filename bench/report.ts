/**
 * @module Plain-text output of the bench: aligned tables, number formats, and the
 * PASS / MISSED line of each target.
 */

export type Align = 'left' | 'right';

/** A table with a header row and a rule; numbers right-aligned unless told otherwise. */
export function table(headers: readonly string[], rows: ReadonlyArray<readonly string[]>, align?: readonly Align[]): string {
  const widths = headers.map((h, c) => Math.max(h.length, ...rows.map((row) => (row[c] ?? '').length)));
  const side = (c: number): Align => align?.[c] ?? (c === 0 ? 'left' : 'right');
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, c) => (side(c) === 'left' ? cell.padEnd(widths[c] ?? 0) : cell.padStart(widths[c] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

export function heading(number: number | string | null, title: string): string {
  const text = number === null ? title : `${number}. ${title}`;
  return `\n${text}\n${'='.repeat(text.length)}`;
}

export type Verdict = 'PASS' | 'MISSED' | 'FAIL' | 'INFO';

export interface TargetResult {
  readonly name: string;
  readonly measured: string;
  readonly target: string;
  readonly verdict: Verdict;
}

/** `PASS    Balancer CPU per request   18.2 µs   (target ≤ 25 µs)` */
export function targetLines(results: readonly TargetResult[]): string {
  const name = Math.max(...results.map((r) => r.name.length));
  const measured = Math.max(...results.map((r) => r.measured.length));
  return results
    .map((r) => `  ${r.verdict.padEnd(6)}  ${r.name.padEnd(name)}  ${r.measured.padStart(measured)}   (target: ${r.target})`)
    .join('\n');
}

export const int = (n: number): string => Math.round(n).toLocaleString('en-US');
export const fixed = (n: number, digits = 1): string => (Number.isFinite(n) ? n.toFixed(digits) : '-');
export const percent = (fraction: number, digits = 1): string => `${(fraction * 100).toFixed(digits)}%`;
export const signed = (n: number): string => (n > 0 ? `+${int(n)}` : n < 0 ? `-${int(-n)}` : '0');
export const ratio = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(2)}x` : '-');
export const mib = (bytes: number): string => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

/** Nanoseconds with a sensible number of digits. */
export function ns(value: number): string {
  return value < 10 ? value.toFixed(2) : value < 100 ? value.toFixed(1) : value.toFixed(0);
}

/** Wraps `text` to `width` columns, each line indented by `indent`. */
export function wrap(text: string, indent = '  ', width = 92): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(indent + line);
  return lines.join('\n');
}
