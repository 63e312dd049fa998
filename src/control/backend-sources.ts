/**
 * @module Membership fed by sources: the backends given at start or in the config file,
 * and each DNS name being followed. A source says which backends it wants now; this keeps
 * the slot table in step through the BackendTable: kept backends keep their slot, health,
 * counters and latency; new ones are added (with slow start); weights change in place;
 * backends no longer wanted by any source drain and leave once their requests (and
 * tunnels) have finished, at most `removalTimeoutMs` later. A backend's tier (an SRV
 * record's priority) changes in place like its weight. Backends added through the
 * admin API belong to no source and are never touched here.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendTableError, type BackendSpec, type BackendTable } from './backend-table.ts';

export interface BackendSourcesOptions {
  /** How long a backend no source wants may finish its requests (--shutdown-timeout). */
  readonly removalTimeoutMs: number;
  /** Where problems are reported (the table logs the changes themselves). */
  readonly log: (line: string) => void;
}

/** What one `sync` did, by origin. */
export interface SyncResult {
  readonly added: readonly string[];
  readonly kept: readonly string[];
  readonly reweighted: readonly string[];
  /** Kept, but moved to another preference tier. */
  readonly retiered: readonly string[];
  /** Draining now; they leave the table once their requests have finished. */
  readonly removing: readonly string[];
  /** Wanted but not added (the table is full), with the reason. */
  readonly refused: ReadonlyArray<{ readonly origin: string; readonly reason: string }>;
}

/** The grace before a removal looks at the backend's requests in flight. */
const DRAIN_POLL_MS = 25;

export class BackendSources {
  readonly #table: BackendTable;
  readonly #options: BackendSourcesOptions;
  /** source -> the backends it wants, by origin. */
  readonly #wanted = new Map<string, Map<string, BackendSpec>>();
  /** Origins draining on their way out; cleared if a source wants them back first. */
  readonly #removing = new Set<string>();
  readonly #removals = new Set<Promise<void>>();

  constructor(table: BackendTable, options: BackendSourcesOptions) {
    this.#table = table;
    this.#options = options;
  }

  /**
   * Makes `source` want exactly `desired`. Backends present at the first sync of the
   * balancer's own list are `initial` (no slow start: nothing to ramp up from).
   */
  sync(source: string, desired: readonly BackendSpec[], { initial = false } = {}): SyncResult {
    const before = new Set(this.#wanted.get(source)?.keys());
    this.#wanted.set(source, new Map(desired.map((spec) => [spec.origin, spec])));
    const result = { added: [] as string[], kept: [] as string[], reweighted: [] as string[], retiered: [] as string[], removing: [] as string[], refused: [] as { origin: string; reason: string }[] };
    const present = new Map(this.#table.list().map((backend) => [backend.origin, backend]));

    for (const spec of desired) {
      if (!present.has(spec.origin)) {
        try {
          this.#table.addBackend(spec, { initial });
          result.added.push(spec.origin);
        } catch (error) {
          if (!(error instanceof BackendTableError)) throw error;
          result.refused.push({ origin: spec.origin, reason: error.message });
          this.#options.log(`${source}: backend ${spec.origin} not added: ${error.message}`);
        }
        continue;
      }
      if (this.#removing.delete(spec.origin)) this.#table.enableBackend(spec.origin);
      const current = present.get(spec.origin);
      if (current && current.weight !== spec.weight) {
        this.#table.setWeight(spec.origin, spec.weight);
        result.reweighted.push(spec.origin);
      }
      if (current && current.tier !== (spec.tier ?? 0)) {
        this.#table.setTier(spec.origin, spec.tier ?? 0);
        result.retiered.push(spec.origin);
      }
      result.kept.push(spec.origin);
    }

    for (const origin of before) {
      if (this.#isWanted(origin) || !present.has(origin) || this.#removing.has(origin)) continue;
      this.#table.drainBackend(origin);
      this.#removing.add(origin);
      const removal = this.#removeWhenDrained(origin);
      this.#removals.add(removal);
      void removal.finally(() => this.#removals.delete(removal));
      result.removing.push(origin);
    }
    return result;
  }

  /** Forgets a source; its backends leave as in a sync to an empty set. */
  forget(source: string): SyncResult {
    const result = this.sync(source, []);
    this.#wanted.delete(source);
    return result;
  }

  /** Resolves once every removal under way has finished (tests, shutdown). */
  async settled(): Promise<void> {
    while (this.#removals.size > 0) await Promise.all(this.#removals);
  }

  /** The backends `source` wants now. */
  wanted(source: string): BackendSpec[] {
    return [...(this.#wanted.get(source)?.values() ?? [])];
  }

  #isWanted(origin: string): boolean {
    for (const specs of this.#wanted.values()) if (specs.has(origin)) return true;
    return false;
  }

  /** Frees the backend's slot once its requests have finished (at most removalTimeoutMs
   * later), unless a source wants it back first or it was enabled again by hand (the
   * operator's choice stands). */
  async #removeWhenDrained(origin: string): Promise<void> {
    const calledOff = (): boolean => !this.#removing.has(origin) || this.#table.stateOf(origin) === 'active';
    // One poll first: a listener that picked the backend just before it drained may not
    // have counted its request in flight yet.
    await sleep(DRAIN_POLL_MS);
    if (calledOff()) return void this.#removing.delete(origin);
    await this.#table.removeBackend(origin, { timeoutMs: this.#options.removalTimeoutMs, calledOff });
    this.#removing.delete(origin);
  }
}
