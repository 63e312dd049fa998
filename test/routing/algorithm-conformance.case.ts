/**
 * @module The conformance suite every balancing algorithm passes (hono's
 * `common.case.test.ts` pattern): each `test/routing/<algorithm>.test.ts` calls
 * `runConformance` and then adds the algorithm's own cases. Everything goes through the
 * real `Selector`, `RoutingView` and `BackendTable` over a `SharedState`
 * (test/fixtures/routing-fixture.ts), so what is checked is what a listener thread does.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AlgorithmName } from '../../src/routing/algorithms/names.ts';
import { RoutingFixture, assertShares, originOf, seededRandom, sharesOf } from '../fixtures/routing-fixture.ts';

/**
 * How an algorithm honours weights, and so how the suite checks it:
 * - `cycle`: exactly, over every full cycle of the total weight (requests end at once);
 * - `in-flight`: requests held open end up in flight exactly in proportion to weight
 *   after every multiple of the total weight;
 * - `sampled`: at random; over many picks, within a 5-sigma binomial bound;
 * - `keys`: by key; over many distinct keys, within the same bound.
 */
export type WeightCheck = 'cycle' | 'in-flight' | 'sampled' | 'keys';

export interface ConformanceOptions {
  readonly weights: WeightCheck;
  readonly hashBalanceFactor?: number;
  /** Added to each test's name (a second run of the suite with other options). */
  readonly label?: string;
}

type Condition = 'in' | 'down' | 'ejected' | 'draining' | 'disabled' | 'removed';
const OUT: readonly Exclude<Condition, 'in'>[] = ['down', 'ejected', 'draining', 'disabled', 'removed'];

/** Puts the backend of `origin` in `condition`, undoing its current one first; returns its slot. */
async function setCondition(fixture: RoutingFixture, origin: string, from: Condition, to: Condition, weight = 1): Promise<number> {
  let slot = fixture.control.slotOf(origin);
  if (from === to) return slot;
  if (from === 'down') fixture.up(slot);
  if (from === 'ejected') fixture.readmit(slot);
  if (from === 'draining' || from === 'disabled') fixture.enable(slot);
  if (from === 'removed') slot = fixture.add(origin, weight);
  if (to === 'down') fixture.down(slot);
  if (to === 'ejected') fixture.eject(slot);
  if (to === 'draining') fixture.drain(slot);
  if (to === 'disabled') fixture.disable(slot);
  if (to === 'removed') await fixture.remove(slot);
  return slot;
}

export function runConformance(name: AlgorithmName, options: ConformanceOptions): void {
  const label = `${name}${options.label ?? ''}`;
  const fixture = (weights: readonly number[]) => new RoutingFixture({ algorithm: name, weights, hashBalanceFactor: options.hashBalanceFactor ?? 0 });
  let keys = 0;
  /** A fresh key per pick: consistent-hash then spreads picks as the others do. */
  const freshKey = (): string => `request-${keys++}`;

  test(`${label}: never picks a down, ejected, draining, disabled, removed or already-tried backend (seeded random eligibility)`, async (t) => {
    const random = seededRandom(0x5eed);
    const weights = Array.from({ length: 8 }, () => 1 + Math.floor(random() * 5));
    const f = new RoutingFixture({ algorithm: name, weights, capacity: 12, hashBalanceFactor: options.hashBalanceFactor ?? 0 });
    const origins = weights.map((_, i) => originOf(i));
    const conditions = new Map<string, Condition>(origins.map((origin) => [origin, 'in']));
    let picks = 0;
    let none = 0;
    let fallbacks = 0;
    for (let round = 0; round < 120; round++) {
      // Some rounds have most backends in, some have none.
      const inShare = random();
      for (const [i, origin] of origins.entries()) {
        const next: Condition = random() < inShare ? 'in' : (OUT[Math.floor(random() * OUT.length)] ?? 'removed');
        await setCondition(f, origin, conditions.get(origin) ?? 'in', next, weights[i]);
        conditions.set(origin, next);
      }
      const live = origins.filter((origin) => conditions.get(origin) !== 'removed').map((origin) => f.control.slotOf(origin));
      if (live.length > 0 && random() < 0.2) f.setWeight(live[Math.floor(random() * live.length)] as number, 1 + Math.floor(random() * 5));
      const eligible = new Set(origins.filter((origin) => conditions.get(origin) === 'in').map((origin) => f.control.slotOf(origin)));
      const held: number[] = [];
      for (let i = 0; i < 40; i++) {
        const tried = live.filter(() => random() < 0.3);
        const key = random() < 0.2 ? null : `key-${Math.floor(random() * 1000)}`;
        const slot = f.pick({ key, tried });
        const untried = [...eligible].filter((s) => !tried.includes(s));
        const where = `round ${round}, pick ${i}: eligible [${[...eligible]}], tried [${tried}], key ${key}`;
        if (untried.length > 0) assert.ok(untried.includes(slot), `${where}: picked ${slot}`);
        else if (eligible.size > 0) {
          assert.ok(eligible.has(slot), `${where}: every eligible backend was tried, so one of them again, but picked ${slot}`);
          fallbacks++;
        } else {
          assert.equal(slot, -1, `${where}: nothing is eligible`);
          none++;
        }
        picks++;
        // Vary the loads the load-aware algorithms see; ended before membership changes.
        if (slot >= 0 && random() < 0.5) {
          f.start(slot);
          held.push(slot);
        }
      }
      for (const slot of held) f.end(slot);
    }
    t.diagnostic(`${picks} picks: ${none} with nothing eligible, ${fallbacks} falling back to tried backends`);
    assert.ok(none > 0 && fallbacks > 0, 'the random patterns reach both the empty case and the fallback');
  });

  test(`${label}: -1 when nothing is eligible, in every way a backend can be out, and the next pick takes one that comes back`, async () => {
    const patterns: Array<readonly Exclude<Condition, 'in'>[]> = [...OUT.map((out) => [out, out, out, out]), ['down', 'ejected', 'draining', 'disabled'], ['removed', 'down', 'ejected', 'draining']];
    for (const pattern of patterns) {
      const f = fixture([1, 2, 3, 4]);
      const origins = f.slots.map((slot) => f.origin(slot));
      for (const [i, origin] of origins.entries()) await setCondition(f, origin, 'in', pattern[i] as Condition, i + 1);
      for (let i = 0; i < 20; i++) {
        assert.equal(f.pick({ key: i % 4 === 0 ? null : freshKey() }), -1, `pattern ${pattern}`);
        assert.equal(f.pick({ key: freshKey(), tried: f.slots }), -1, `pattern ${pattern}, every slot tried`);
      }
      const back = await setCondition(f, origins[2] as string, pattern[2] as Condition, 'in', 3);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([back]), `pattern ${pattern}: after backend 2 came back`);
    }
  });

  test(`${label}: when every eligible backend was tried, the selector falls back to them (never to an ineligible one)`, () => {
    const f = fixture([1, 1, 1, 1]);
    const [a, b, c, d] = f.slots as [number, number, number, number];
    for (let i = 0; i < 50; i++) assert.equal(f.pick({ key: freshKey(), tried: [a, b, c] }), d, 'the one not tried yet');
    const again = new Set<number>();
    for (let i = 0; i < 200; i++) again.add(f.pick({ key: freshKey(), tried: [a, b, c, d] }));
    assert.ok(!again.has(-1), 'a retry when all were tried still gets a backend');
    f.down(d);
    for (let i = 0; i < 200; i++) {
      const slot = f.pick({ key: freshKey(), tried: [a, b, c] });
      assert.ok([a, b, c].includes(slot), `picked ${slot}: d is down, so one of the tried ones`);
    }
  });

  test(`${label}: weights are honoured (${options.weights})`, (t) => {
    const weights = [5, 1, 1, 3];
    const total = 10;
    const f = fixture(weights);
    if (options.weights === 'cycle') {
      const picked = f.picks(total * 10);
      for (let cycle = 0; cycle < 10; cycle++) {
        const window = picked.slice(cycle * total, (cycle + 1) * total);
        assert.deepEqual(
          f.slots.map((slot) => window.filter((s) => s === slot).length),
          weights,
          `cycle ${cycle}: ${window}`,
        );
      }
    } else if (options.weights === 'in-flight') {
      for (let k = 1; k <= 10; k++) {
        f.picks(total, { hold: true });
        assert.deepEqual(
          f.slots.map((slot) => f.inFlight(slot)),
          weights.map((w) => w * k),
          `in flight after ${k * total} picks held open`,
        );
      }
    } else {
      const picked = f.picks(20_000, { key: options.weights === 'keys' ? freshKey : () => null });
      assertShares(t, picked, sharesOf(f.slots, weights), `weights ${weights}`);
    }
  });

  for (const out of OUT) {
    test(`${label}: a backend ${out} is out from the very next pick, and back from the next pick after`, async () => {
      const f = fixture([1, 1, 1, 1]);
      const origins = f.slots.map((slot) => f.origin(slot));
      const [, x, y] = origins as [string, string, string, string];
      const keys = Array.from({ length: 40 }, (_, i) => `react-${i}`);
      const before = keys.map((key) => f.pick({ key }));
      assert.ok(before.includes(f.control.slotOf(x)), 'x takes some of the keys at first');
      const xSlot = f.control.slotOf(x);
      await setCondition(f, x, 'in', out);
      for (const key of keys) assert.notEqual(f.pick({ key }), xSlot, `key ${key} after x went ${out}`);
      for (const origin of origins) if (origin !== x && origin !== y) await setCondition(f, origin, 'in', out);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([f.control.slotOf(y)]), `only y is left`);
      const xBack = await setCondition(f, x, out, 'in');
      const both = f.picks(40, { key: freshKey });
      assert.ok(both.includes(xBack) && both.every((slot) => slot === xBack || slot === f.control.slotOf(y)), `x and y after x came back: ${both}`);
      await setCondition(f, y, 'in', out);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([xBack]), 'only x is left');
    });
  }

  test(`${label}: only the lowest tier with an eligible backend is picked; when all of it is out, the next tier serves`, async () => {
    for (const out of OUT) {
      const f = fixture([1, 2, 1, 3, 1]);
      const [a, b, c, d, e] = f.slots as [number, number, number, number, number];
      // Tiers as SRV priorities: a and b at 10, c and d at 20, e at 30.
      f.setTier(a, 10);
      f.setTier(b, 10);
      f.setTier(c, 20);
      f.setTier(d, 20);
      f.setTier(e, 30);
      assert.deepEqual(new Set(f.picks(60, { key: freshKey })), new Set([a, b]), 'tier 10 serves');
      for (let i = 0; i < 20; i++) assert.ok([a, b].includes(f.pick({ key: freshKey(), tried: [a] })), 'a retry stays in the serving tier');
      await setCondition(f, f.origin(a), 'in', out);
      assert.deepEqual(new Set(f.picks(30, { key: freshKey })), new Set([b]), `a ${out}: b alone`);
      await setCondition(f, f.origin(b), 'in', out, 2);
      assert.deepEqual(new Set(f.picks(60, { key: freshKey })), new Set([c, d]), `a and b ${out}: tier 20 serves`);
      f.down(c);
      f.down(d);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([e]), 'tiers 10 and 20 out: tier 30 serves');
      f.up(c);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([c]), 'c back: tier 20 again');
      const back = out === 'removed' ? f.add('http://10.8.8.8:8080', 1) : await setCondition(f, f.origin(a), out, 'in');
      if (out === 'removed') f.setTier(back, 10);
      assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([back]), `a back from ${out}: tier 10 again`);
      assert.equal(f.view.servingTier, 10);
    }
  });

  test(`${label}: a backend moved to a better tier takes every pick from the next one`, () => {
    const f = fixture([1, 1, 1]);
    const [a, b, c] = f.slots as [number, number, number];
    f.setTier(a, 1);
    f.setTier(b, 1);
    assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([c]), 'c alone in tier 0');
    f.setTier(c, 2);
    assert.deepEqual(new Set(f.picks(40, { key: freshKey })), new Set([a, b]), 'c moved behind a and b');
  });

  test(`${label}: an added backend takes requests from the very next pick`, () => {
    const f = fixture([1, 1, 1]);
    for (const slot of f.slots) f.down(slot);
    assert.equal(f.pick({ key: freshKey() }), -1);
    const added = f.add('http://10.9.9.9:8080', 2);
    assert.deepEqual(new Set(f.picks(20, { key: freshKey })), new Set([added]));
    f.up(f.slots[0] as number);
    const picked = f.picks(60, { key: freshKey });
    assert.ok(picked.includes(added) && picked.includes(f.slots[0] as number), `both take requests: ${picked}`);
  });

  test(`${label}: a weight change counts from the very next pick`, () => {
    const f = fixture([1, 1, 1, 1]);
    const [a, b] = f.slots as [number, number];
    f.setWeight(b, 1000);
    const heavy = f.picks(100, { key: freshKey }).filter((slot) => slot === b).length;
    assert.ok(heavy >= 90, `b (weight 1000 of 1003) took ${heavy} of the next 100 picks`);
    f.setWeight(b, 1);
    f.setWeight(a, 1000);
    const moved = f.picks(100, { key: freshKey }).filter((slot) => slot === a).length;
    assert.ok(moved >= 90, `a (now weight 1000 of 1003) took ${moved} of the next 100 picks`);
  });
}
