/**
 * @module `switchyard ctl status`: every backend on one line of a compact, aligned
 * table (id, origin, state, health, weight/effective, in flight, requests, 5xx, p99),
 * from GET /backends, and one summary line under it.
 */
import type { BackendView } from '../admin/backend-view.ts';

const COLUMNS = ['ID', 'ORIGIN', 'STATE', 'HEALTH', 'WEIGHT', 'IN FLIGHT', 'REQUESTS', '5XX', 'P99'] as const;
/** Numbers read best right-aligned. */
const RIGHT_ALIGNED = new Set<string>(['ID', 'IN FLIGHT', 'REQUESTS', '5XX', 'P99']);

export function statusTable(backends: readonly BackendView[]): string {
  const rows = backends.map((b) => [
    String(b.id),
    b.origin,
    b.state,
    health(b),
    b.effectiveWeight === b.weight ? String(b.weight) : `${b.weight}/${b.effectiveWeight}`,
    String(b.inFlight),
    String(b.started),
    String(b.responses['5xx']),
    b.latency.p99Ms === null ? '-' : `${b.latency.p99Ms}ms`,
  ]);
  const widths = COLUMNS.map((name, column) => Math.max(name.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, column) => {
        const width = widths[column] ?? 0;
        return RIGHT_ALIGNED.has(COLUMNS[column] ?? '') ? cell.padStart(width) : cell.padEnd(width);
      })
      .join('  ')
      .trimEnd();
  const taking = backends.filter((b) => b.up).length;
  const summary = `${backends.length} backend${backends.length === 1 ? '' : 's'}, ${taking} taking new requests`;
  return [line(COLUMNS), ...rows.map(line), summary].join('\n');
}

/** Health checks' and passive health's verdicts in one word. */
function health(b: BackendView): string {
  if (!b.healthy) return 'down';
  if (b.ejection === 'ejected') return `ejected ${Math.ceil(b.ejectedForMs / 1000)}s`;
  if (b.ejection === 'trial') return 'trial';
  return 'ok';
}
