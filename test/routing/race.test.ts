/**
 * Races on one SharedArrayBuffer: four piscina threads pick through real Selectors (each
 * its own RoutingView, algorithm and Selector, wired as a listener thread wires them)
 * while they, or the main thread, change the shared state. Each test names the property
 * it protects and fails when it does not hold; how each check is sound is said next to it.
 */
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { Piscina } from 'piscina';
import { BackendTable } from '../../src/control/backend-table.ts';
import { ALGORITHMS } from '../../src/routing/algorithms/names.ts';
import { PassiveHealth } from '../../src/routing/passive-health.ts';
import { EJECTION } from '../../src/shared/layout.ts';
import { SharedState } from '../../src/shared/shared-state.ts';
import type { ChurnResult, ChurnTask, EjectionResult, EjectionTask, InFlightResult, InFlightTask } from '../fixtures/race/hammer-worker.ts';
import type { PickResult, PickTask } from '../fixtures/race/pick-worker.ts';
import { stateWithBackends } from '../fixtures/race/picker-thread.ts';
import { RaceControl } from '../fixtures/race/race-control.ts';
import { StartGate } from '../fixtures/race/start-gate.ts';

const THREADS = 4;
const PICK_WORKER = new URL('../fixtures/race/pick-worker.ts', import.meta.url).href;
const HAMMER_WORKER = new URL('../fixtures/race/hammer-worker.ts', import.meta.url).href;

function startPool(t: TestContext): Piscina {
  // One task per thread: the start gate needs every racer running its own task.
  const pool = new Piscina({ minThreads: THREADS, maxThreads: THREADS, concurrentTasksPerWorker: 1 });
  t.after(() => pool.destroy());
  return pool;
}

/**
 * The main thread's handle on the shared state in the races where it changes it: each
 * publish is followed by a short pause before the caller goes on. Correct code publishes
 * last, so this changes nothing for it; code that publishes before its write lands
 * would let the pickers rebuild their views in between and keep the stale state, and
 * the pause makes that window wide enough to be hit every time, not once in a while.
 */
class LingeringPublish extends SharedState {
  override publish(): void {
    super.publish();
    const until = performance.now() + 0.1;
    while (performance.now() < until);
  }
}

/** Runs `task(listener)` on every thread from behind one start gate. */
async function race<R>(pool: Piscina, filename: string, name: string, task: (listener: number, gate: SharedArrayBuffer) => object): Promise<R[]> {
  const gate = StartGate.create();
  const runs = Array.from({ length: THREADS }, (_, listener) => pool.run(task(listener, gate.buffer), { filename, name }) as Promise<R>);
  await gate.openWhenArrived(THREADS);
  return Promise.all(runs);
}

// --- smooth weighted round robin -------------------------------------------------------

/** Divisible by 3 and 7 (both schedule lengths below), so every thread's run and the
 * whole race are whole cycles; long enough that the threads overlap on two cores. */
const PER_THREAD = 21 * 10_000;
const TOTAL = THREADS * PER_THREAD;

const SWRR_CASES = [
  // nginx's smooth interleaving of 5, 1, 1: a a b a c a a.
  { weights: [5, 1, 1], schedule: [0, 0, 1, 0, 2, 0, 0], start: 'zero' },
  { weights: [5, 1, 1], schedule: [0, 0, 1, 0, 2, 0, 0], start: 'just below the fold' },
  { weights: [3, 3, 3], schedule: [0, 1, 2], start: 'just below the fold' },
] as const;

for (const { weights, schedule, start } of SWRR_CASES) {
  test(`smooth WRR ${weights.join(',')} from ${start}: ${THREADS} threads x ${PER_THREAD} picks through Selectors, every cycle exact`, async (t) => {
    const pool = startPool(t);
    const { state } = stateWithBackends(weights, THREADS);
    const wrap = state.roundRobinWrap;
    const length = schedule.length;
    assert.equal(wrap % length, 0, 'the fold is a whole number of cycles');
    // Half the race below the fold, half above it; a whole number of cycles below.
    const first = start === 'zero' ? 0 : wrap - TOTAL / 2;
    state.setRoundRobin(first);

    const results = await race<PickResult>(pool, PICK_WORKER, 'pick', (listener, gate): PickTask => ({
      gate,
      state: state.buffer,
      times: PER_THREAD,
      algorithm: 'round-robin',
      listener,
      recordTickets: true,
    }));

    // Each pick's ticket, folded, is a position in the one global sequence; cycle c is
    // positions c*L .. c*L+L-1. Exact per cycle: every position taken once, by the slot
    // the schedule names, so each cycle gives each backend exactly its weight. A lost or
    // repeated ticket (a non-atomic counter, a fold repaired twice or not at all) shows
    // as a position taken twice or never.
    const taken = new Uint8Array(TOTAL);
    const perCycle = new Int32Array((TOTAL / length) * weights.length);
    let outside = 0;
    let misplaced = 0;
    let jumps = 0;
    for (const [worker, result] of results.entries()) {
      assert.equal(result.ticketsTaken, PER_THREAD, `worker ${worker}: one ticket per pick (none burned)`);
      let previous = -1;
      for (let i = 0; i < PER_THREAD; i++) {
        const raw = result.tickets[i] as number;
        const ticket = raw >= wrap ? raw - wrap : raw;
        const position = (ticket - first + wrap) % wrap;
        const slot = result.slots[i] as number;
        if (position >= TOTAL) {
          outside++;
          continue;
        }
        taken[position] = (taken[position] ?? 0) + 1;
        if (slot !== schedule[ticket % length]) misplaced++;
        const cell = Math.floor(position / length) * weights.length + slot;
        perCycle[cell] = (perCycle[cell] ?? 0) + 1;
        if (previous >= 0 && position !== previous + 1) jumps++;
        previous = position;
      }
    }
    t.diagnostic(`tickets ${first}..${(first + TOTAL) % wrap} (fold at ${wrap}); each thread's own tickets jumped ${jumps} times (other threads took the ones between)`);
    assert.ok(jumps > 0, 'the threads overlapped (otherwise this race proves nothing)');
    assert.equal(outside, 0, 'tickets outside the run: the counter skipped or wrapped wrongly');
    const twice = taken.findIndex((n) => n !== 1);
    assert.equal(twice, -1, `position ${twice} of the run was taken ${taken[twice]} times`);
    assert.equal(misplaced, 0, 'picks that returned another slot than the schedule names for their ticket');
    // Per cycle, each backend its weight (divided by the weights' gcd: 3,3,3 is 1,1,1).
    const perCycleWeight = weights.map((_, slot) => schedule.filter((s) => s === slot).length);
    const cycles = TOTAL / length;
    const badCycle = Array.from({ length: cycles }, (_, c) => c).find((c) => perCycleWeight.some((w, s) => perCycle[c * weights.length + s] !== w));
    assert.equal(badCycle, undefined, `cycle ${badCycle} is not exactly ${perCycleWeight.join(', ')}`);

    const totals = weights.map((_, slot) => results.reduce((sum, r) => sum + (r.counts[slot] ?? 0), 0));
    assert.deepEqual(totals, perCycleWeight.map((w) => w * cycles));
    // The fold was repaired exactly once: the counter is where one thread would have left it.
    assert.equal(state.getRoundRobinNext(), (first + TOTAL) % wrap);
  });
}

// --- in-flight counts --------------------------------------------------------------------

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: in-flight counts never go negative under matched start/end from ${THREADS} threads and return to exactly 0`, async (t) => {
    const pool = startPool(t);
    const { state } = stateWithBackends([1, 2, 3], THREADS);
    const control = RaceControl.create();
    const times = 40_000;
    const results = await race<InFlightResult>(pool, HAMMER_WORKER, 'inFlight', (listener, gate): InFlightTask => ({
      gate,
      state: state.buffer,
      control: control.buffer,
      algorithm,
      listener,
      times,
      maxOpen: 8,
    }));
    // Each thread ends only attempts it started, after starting them: at any instant the
    // sum over threads of (started - ended) is >= 0, so an atomic count can never read
    // below 0, and ends at 0. A lost update (a plain read-modify-write, or another field
    // laid over this one) shows as a negative sample or a count left over.
    t.diagnostic(`samples ${results.map((r) => r.samples).join(', ')}; counts seen from ${Math.min(...results.map((r) => r.lowest))} to ${Math.max(...results.map((r) => r.highest))}`);
    for (const [worker, result] of results.entries()) assert.ok(result.lowest >= 0, `worker ${worker} read an in-flight count of ${result.lowest}`);
    assert.ok(Math.max(...results.map((r) => r.highest)) > 1, 'attempts overlapped (otherwise this race proves nothing)');
    const picks = results.reduce((sum, r) => sum + r.picks, 0);
    assert.equal(picks, THREADS * times, 'every pick found a backend');
    assert.equal(
      state.backends().reduce((sum, b) => sum + b.started, 0),
      picks,
      'started counts add up to the picks',
    );
    for (const backend of state.backends()) assert.equal(backend.inFlight, 0, `${backend.origin} in flight at the end`);
    for (let listener = 0; listener < THREADS; listener++) {
      for (let slot = 0; slot < state.capacity; slot++) assert.equal(state.matrixTake(listener, slot), 0, `matrix cell listener ${listener} x slot ${slot}`);
      assert.equal(state.listenerTake(listener, 'requestsInFlight'), 0, `listener ${listener} requests in flight`);
    }
    assert.equal(state.header('requestsInFlight'), 0, 'requests in flight (header)');
  });
}

// --- ejection ------------------------------------------------------------------------------

const EJECTION_ROUNDS = 8;

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: after an ejection is published, no pick that started later returns that backend (${EJECTION_ROUNDS} rounds)`, async (t) => {
    const pool = startPool(t);
    const { state } = stateWithBackends([1, 1, 1], THREADS);
    const target = 1;
    // As a listener ejects: --eject-after 3 failures of real traffic; an ejection long
    // enough that no trial starts during the test.
    const health = new PassiveHealth(new LingeringPublish(state.buffer), { ejectAfter: 3, ejectTimeMs: 60_000, maxEjectedPercent: 50, slowStartMs: 0 });
    const control = RaceControl.create();
    const running = race<EjectionResult>(pool, HAMMER_WORKER, 'watchEjection', (listener, gate): EjectionTask => ({
      gate,
      state: state.buffer,
      control: control.buffer,
      algorithm,
      listener,
      target,
    }));
    try {
      await control.picksGoOn(2_000);
      for (let round = 1; round <= EJECTION_ROUNDS; round++) {
        for (let i = 0; i < 3; i++) health.failed(target, 'ECONNREFUSED', false);
        assert.equal(state.load(target, 'ejection'), EJECTION.ejected, `round ${round}: ejected`);
        // Published (inside failed()) before the phase says so: a pick that reads this odd
        // phase before it starts and after it ends ran wholly after the publish.
        control.phase = 2 * round - 1;
        await control.picksGoOn(3_000);
        // Even before the rejoin: a pick inside an odd phase ended before the rejoin began.
        control.phase = 2 * round;
        health.succeeded(target, false);
        assert.equal(state.cas(target, 'ejection', EJECTION.ejected, EJECTION.in), EJECTION.ejected);
        state.headerAdd('ejected', -1);
        state.publish();
        await control.picksGoOn(3_000);
      }
    } finally {
      control.stop();
    }
    const results = await running;
    const sum = (f: (r: EjectionResult) => number): number => results.reduce((total, r) => total + f(r), 0);
    t.diagnostic(`picks ${sum((r) => r.picks)}; inside ejections ${sum((r) => r.picksWhileOut)}; of the target while in rotation ${sum((r) => r.targetPicksWhileIn)}`);
    assert.ok(sum((r) => r.targetPicksWhileIn) > 0, 'the target was picked while in rotation (otherwise this race proves nothing)');
    assert.ok(sum((r) => r.picksWhileOut) > 0, 'picks ran inside the ejections');
    for (const [worker, result] of results.entries()) {
      assert.equal(result.violations, 0, `worker ${worker} picked the ejected backend ${result.violations} times (phases ${result.violationPhases.join(', ')})`);
    }
    assert.equal(state.count(target, 'ejections'), EJECTION_ROUNDS);
  });
}

// --- membership churn ------------------------------------------------------------------------

/** Each churn race runs at least this long and makes at least CHURN_CHANGES changes,
 * unless it reaches CHURN_MAX_MS first (consistent hashing rebuilds a large table per change). */
const CHURN_MS = 300;
const CHURN_CHANGES = 200;
const CHURN_MAX_MS = 2_000;
const CHURN_ORIGINS = Array.from({ length: 6 }, (_, i) => `http://127.0.0.1:${9101 + i}`);

/** A small seeded generator: the same churn every run. */
function seeded(seed: number): () => number {
  let x = seed;
  return () => {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    return x / 2 ** 32;
  };
}

for (const algorithm of ALGORITHMS) {
  test(`${algorithm}: adding, draining, disabling, enabling, re-weighting and removing backends under ${THREADS} picking threads never yields an empty or removed slot`, async (t) => {
    const pool = startPool(t);
    // Four slots for six origins: removed slots are refilled by other backends.
    const state = new LingeringPublish(SharedState.create({ capacity: 4, listenerCount: THREADS }).buffer);
    const table = new BackendTable(state, { slowStartMs: 0, log: () => {} });
    for (const origin of CHURN_ORIGINS.slice(0, 3)) table.addBackend({ origin, weight: 1 }, { initial: true });
    const rand = seeded(7);
    const pickOne = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)] as T;

    /** After change k (0: the start), per slot: the origin's index if active, else -1. */
    const routable: Int8Array[] = [];
    const record = (): void => {
      const row = new Int8Array(state.capacity).fill(-1);
      for (const b of table.list()) if (b.state === 'active') row[b.slot] = CHURN_ORIGINS.indexOf(b.origin);
      routable.push(row);
    };
    record();
    const control = RaceControl.create();
    const running = race<ChurnResult>(pool, HAMMER_WORKER, 'churn', (listener, gate): ChurnTask => ({
      gate,
      state: state.buffer,
      control: control.buffer,
      algorithm,
      listener,
      origins: CHURN_ORIGINS,
    }));
    const done: Record<string, number> = {};
    try {
      await control.picksGoOn(1_000);
      const started = performance.now();
      const churning = (): boolean => {
        const ms = performance.now() - started;
        return ms < CHURN_MAX_MS && (ms < CHURN_MS || routable.length <= CHURN_CHANGES);
      };
      while (churning()) {
        const present = table.list();
        const active = present.filter((b) => b.state === 'active');
        const resting = present.filter((b) => b.state !== 'active');
        const absent = CHURN_ORIGINS.filter((origin) => !present.some((b) => b.origin === origin));
        // The control plane never takes the last active backend out, so a pick that ran
        // during one change always had one to return.
        const spare = active.length >= 2;
        const choices = [
          present.length < state.capacity && absent.length > 0 ? 'add' : '',
          spare ? 'drain' : '',
          spare ? 'disable' : '',
          resting.length > 0 ? 'enable' : '',
          resting.length > 0 || spare ? 'remove' : '',
          'weight',
        ].filter(Boolean);
        const op = pickOne(choices);
        if (op === 'add') table.addBackend({ origin: pickOne(absent), weight: 1 + Math.floor(rand() * 5) });
        else if (op === 'drain') table.drainBackend(pickOne(active).origin);
        else if (op === 'disable') table.disableBackend(pickOne(active).origin);
        else if (op === 'enable') table.enableBackend(pickOne(resting).origin);
        else if (op === 'remove') await table.removeBackend(pickOne(spare ? present : resting).origin, { timeoutMs: 1_000 });
        else table.setWeight(pickOne(present).origin, 1 + Math.floor(rand() * 5));
        done[op] = (done[op] ?? 0) + 1;
        // Change k is complete (and published) before the phase says k.
        record();
        control.phase = routable.length - 1;
        await control.picksGoOn(THREADS * 16);
      }
    } finally {
      control.stop();
    }
    const results = await running;
    const changes = routable.length - 1;

    // A pick that read phase b before it started and a after it ended saw the table as
    // changes 1..b left it, or later, and not later than change a+1 in progress (change
    // a+1 is announced only once complete). So its slot must have been active in one of
    // the states after changes b .. a+1, and active holding the origin its view names
    // (what its upstream pools would dial). A stale view (not rebuilt on the epoch), a
    // change published before it was written, a torn origin or a removed slot left in an
    // algorithm's table all break that.
    let observations = 0;
    let noBackend = 0;
    const notActive: string[] = [];
    const wrongOrigin: string[] = [];
    for (const result of results) {
      for (const [before, after, slot, origin] of result.observations) {
        observations++;
        if (slot < 0) {
          if (before === after) notActive.push(`a pick within change ${before + 1} found no backend, though one stayed active throughout`);
          else noBackend++;
          continue;
        }
        const states = routable.slice(before, Math.min(after + 1, changes) + 1).map((row) => row[slot] ?? -1);
        const seen = [...new Set(states)].map((o) => (o < 0 ? 'inactive' : CHURN_ORIGINS[o])).join(' / ');
        const where = `phases ${before}..${after}: slot ${slot}, named ${origin < 0 ? '(no known origin)' : CHURN_ORIGINS[origin]} by the view, was ${seen}`;
        if (origin < 0 || states.every((o) => o < 0)) notActive.push(where);
        else if (!states.includes(origin)) wrongOrigin.push(where);
      }
    }
    t.diagnostic(`${changes} changes (${Object.entries(done).map(([op, n]) => `${op} ${n}`).join(', ')}); picks ${results.map((r) => r.picks).join(', ')}; ${observations} distinct observations; ${noBackend} empty picks spanning two or more changes`);
    assert.ok(changes >= 50 && (done.remove ?? 0) > 0 && (done.add ?? 0) > 0, 'enough churn, with slots freed and refilled (otherwise this race proves nothing)');
    await t.test('every slot returned was active, with a known origin, while the pick ran', () => {
      assert.deepEqual(notActive.slice(0, 5), [], `${notActive.length} picks returned an empty, removed or inactive slot`);
    });
    // Known: RoutingView.refresh reads the members (origins) and then, after the
    // algorithm's build, each member's state, without checking that the slot still holds
    // the same backend (its incarnation). A slot removed and refilled in between is then
    // eligible under the old backend's origin. See the report of this change.
    await t.test('the origin the view names for it was the one active in that slot', () => {
      assert.deepEqual(wrongOrigin.slice(0, 5), [], `${wrongOrigin.length} picks returned a slot under the origin of a backend no longer in it`);
    });
  });
}
