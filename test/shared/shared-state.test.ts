import assert from 'node:assert/strict';
import { test } from 'node:test';
import { releaseListener } from '../../src/control/listener-repair.ts';
import { EJECTION, HEADER, LISTENER, ORIGIN_BYTES, SLOT, regions, type RecordLayout, type FieldSpec } from '../../src/shared/layout.ts';
import { roundRobinWrap, SharedState, type SlotI32, type SlotU64 } from '../../src/shared/shared-state.ts';

/** Byte ranges [start, end) of every field of a record (all the cells of an array field). */
function fieldRanges(layout: RecordLayout<Record<string, FieldSpec>>): Array<{ name: string; start: number; end: number }> {
  const cells = (indices: object, size: number) =>
    Object.entries(indices as Record<string, number>).map(([name, index]) => ({
      name,
      start: index * size,
      end: (index + (layout.fields[name]?.cells ?? 1)) * size,
    }));
  return [...cells(layout.u64, 8), ...cells(layout.i32, 4), ...cells(layout.u32, 4)];
}

for (const [name, layout, align] of [
  ['HEADER', HEADER, 64],
  ['SLOT', SLOT, 64],
  ['LISTENER', LISTENER, 64],
] as const) {
  test(`${name}: every declared field gets its own aligned bytes inside the record, whose size is a multiple of ${align}`, () => {
    const ranges = fieldRanges(layout as unknown as RecordLayout<Record<string, FieldSpec>>);
    assert.equal(ranges.length, Object.keys(layout.fields).length, 'every field is laid out');
    for (const range of ranges) {
      assert.ok(range.end <= layout.bytes, `${range.name} ends at ${range.end}, past the record's ${layout.bytes} bytes`);
      assert.equal(range.start % (range.name in layout.u64 ? 8 : 4), 0, `${range.name} is aligned to its size`);
    }
    for (const a of ranges) {
      for (const b of ranges) {
        if (a !== b) assert.ok(a.end <= b.start || b.end <= a.start, `${a.name} and ${b.name} overlap`);
      }
    }
    assert.equal(layout.bytes % align, 0);
  });
}

test('regions follow each other without overlap, and the matrix is padded to 8 bytes', () => {
  const at = regions({ capacity: 3, listenerCount: 3 });
  assert.equal(at.slots, HEADER.bytes);
  assert.equal(at.origins, at.slots + 3 * SLOT.bytes);
  assert.equal(at.listeners, at.origins + 3 * ORIGIN_BYTES);
  assert.equal(at.matrix, at.listeners + 3 * LISTENER.bytes);
  assert.equal(at.end, at.matrix + 40); // 9 int32 cells = 36 bytes, padded to 40
});

test('create: every slot empty, counters at 0; attaching (as another thread does) shares the same memory', () => {
  const created = SharedState.create({ capacity: 4, listenerCount: 2 });
  assert.equal(created.capacity, 4);
  assert.equal(created.listenerCount, 2);
  assert.deepEqual(created.backends(), []);
  assert.deepEqual(created.listeners(), [
    { connections: 0, requests: 0, connectionsOpen: 0, accepting: false, tunnelsOpen: 0, requestsInFlight: 0, loopDelayP99Micros: 0, loopDelayMaxMicros: 0 },
    { connections: 0, requests: 0, connectionsOpen: 0, accepting: false, tunnelsOpen: 0, requestsInFlight: 0, loopDelayP99Micros: 0, loopDelayMaxMicros: 0 },
  ]);
  const attached = new SharedState(created.buffer);
  assert.equal(attached.capacity, 4);
  attached.store(2, 'weight', 7);
  attached.bump(3, 'started');
  attached.listenerBump(1, 'connections');
  attached.addRoundRobin(5);
  assert.equal(created.load(2, 'weight'), 7);
  assert.equal(created.count(3, 'started'), 1);
  assert.equal(created.listener(1).connections, 1);
  assert.equal(created.getRoundRobinNext(), 5);
});

test('attaching to a buffer that is not a switchyard layout of this version is refused', () => {
  assert.throws(() => new SharedState(new SharedArrayBuffer(256)), TypeError);
  const foreign = new SharedArrayBuffer(256);
  new Int32Array(foreign)[0] = 0x53575944; // right magic, wrong version
  new Int32Array(foreign)[1] = 99;
  assert.throws(() => new SharedState(foreign), /magic or version mismatch/);
});

test('bad dimensions are rejected with a RangeError naming the dimension', () => {
  for (const capacity of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => SharedState.create({ capacity, listenerCount: 1 }), { name: 'RangeError', message: /^capacity must be a positive integer/ });
  }
  for (const listenerCount of [0, -2, 2.5, Number.POSITIVE_INFINITY]) {
    assert.throws(() => SharedState.create({ capacity: 1, listenerCount }), { name: 'RangeError', message: /^listenerCount must be a positive integer/ });
  }
});

test('each slot field is its own cell: writing one field of one slot changes nothing else', () => {
  const capacity = 3;
  const state = SharedState.create({ capacity, listenerCount: 2 });
  const i32 = Object.keys(SLOT.i32) as SlotI32[];
  // Every cell of an array field (counters by class, histogram buckets) as its own entry.
  const u64 = (Object.keys(SLOT.u64) as SlotU64[]).flatMap((field) =>
    Array.from({ length: (SLOT.fields[field] as FieldSpec).cells ?? 1 }, (_, cell) => ({ field, cell })),
  );
  const snapshot = (): number[] => {
    const values: number[] = [];
    for (let slot = 0; slot < capacity; slot++) {
      for (const field of i32) values.push(state.load(slot, field));
      for (const { field, cell } of u64) values.push(state.count(slot, field, cell));
    }
    return values;
  };
  const expected = snapshot();
  for (let slot = 0; slot < capacity; slot++) {
    i32.forEach((field, f) => {
      state.store(slot, field, 1000 + f);
      expected[slot * (i32.length + u64.length) + f] = 1000 + f;
    });
    u64.forEach(({ field, cell }, f) => {
      for (let n = 0; n <= f; n++) state.bump(slot, field, cell);
      expected[slot * (i32.length + u64.length) + i32.length + f] = f + 1;
    });
    assert.deepEqual(snapshot(), expected, `after writing slot ${slot}`);
  }
  // Nor does any of it touch the header or the listener rows.
  assert.equal(state.getRoundRobinNext(), 0);
  assert.equal(state.header('generation'), 0);
  assert.deepEqual(state.listeners(), [
    { connections: 0, requests: 0, connectionsOpen: 0, accepting: false, tunnelsOpen: 0, requestsInFlight: 0, loopDelayP99Micros: 0, loopDelayMaxMicros: 0 },
    { connections: 0, requests: 0, connectionsOpen: 0, accepting: false, tunnelsOpen: 0, requestsInFlight: 0, loopDelayP99Micros: 0, loopDelayMaxMicros: 0 },
  ]);
});

test('add returns the value before; cas swaps only from the expected value, once', () => {
  const state = SharedState.create({ capacity: 2, listenerCount: 1 });
  assert.equal(state.add(1, 'inFlight', 1), 0);
  assert.equal(state.add(1, 'inFlight', -1), 1);
  assert.equal(state.cas(0, 'ejection', EJECTION.in, EJECTION.ejected), EJECTION.in);
  assert.equal(state.cas(0, 'ejection', EJECTION.in, EJECTION.ejected), EJECTION.ejected, 'the second swap finds it done');
  assert.equal(state.load(0, 'ejection'), EJECTION.ejected);
});

test('origins round-trip per slot, and one that does not fit is refused', () => {
  const state = SharedState.create({ capacity: 3, listenerCount: 1 });
  const long = `http://${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}:65535`;
  state.writeOrigin(0, 'http://127.0.0.1:9001');
  state.writeOrigin(1, long);
  state.writeOrigin(2, 'http://[::1]:9003');
  assert.deepEqual(
    [0, 1, 2].map((slot) => state.origin(slot)),
    ['http://127.0.0.1:9001', long, 'http://[::1]:9003'],
  );
  state.writeOrigin(0, 'http://b:1');
  assert.equal(state.origin(0), 'http://b:1', 'a shorter origin replaces a longer one whole');
  assert.throws(() => state.writeOrigin(0, `http://${'x'.repeat(ORIGIN_BYTES)}:1`), RangeError);
  assert.throws(() => state.writeOrigin(0, 'http://exämple:1'), RangeError);
});

test('publish moves the routing epoch', () => {
  const state = SharedState.create({ capacity: 1, listenerCount: 1 });
  const before = state.header('stateEpoch');
  state.publish();
  state.publish();
  assert.equal(state.header('stateEpoch'), before + 2);
});

test("releaseListener gives back exactly the dead listener's in-flight counts, retry-budget share and trial", () => {
  const state = SharedState.create({ capacity: 3, listenerCount: 3 });
  const start = (listener: number, slot: number): void => {
    state.add(slot, 'inFlight', 1);
    state.matrixAdd(listener, slot, 1);
  };
  // Listener 1 (about to die): 2 at slot 0, 1 at slot 2. Listeners 0 and 2 keep theirs.
  start(1, 0);
  start(1, 0);
  start(1, 2);
  start(0, 0);
  start(2, 2);
  start(2, 1);
  for (const [listener, requests, retries] of [
    [0, 1, 0],
    [1, 3, 1],
    [2, 2, 0],
  ] as const) {
    state.headerAdd('requestsInFlight', requests);
    state.listenerAdd(listener, 'requestsInFlight', requests);
    state.headerAdd('retriesInFlight', retries);
    state.listenerAdd(listener, 'retriesInFlight', retries);
  }
  // Listener 1 had claimed slot 1's trial request.
  state.store(1, 'ejection', EJECTION.trial);
  state.store(1, 'trialOwner', 2);
  assert.deepEqual(
    [0, 1, 2].map((slot) => state.load(slot, 'inFlight')),
    [3, 1, 2],
  );

  assert.equal(releaseListener(state, 1), 3);
  assert.deepEqual(
    [0, 1, 2].map((slot) => state.load(slot, 'inFlight')),
    [1, 1, 1],
  );
  assert.equal(state.header('requestsInFlight'), 3);
  assert.equal(state.header('retriesInFlight'), 0);
  assert.equal(state.load(1, 'ejection'), EJECTION.ejected, 'the trial goes back: another thread sends one');
  assert.equal(state.load(1, 'trialOwner'), 0);
  // The rows are zeroed: releasing again finds nothing.
  assert.equal(releaseListener(state, 1), 0);
  assert.equal(state.header('requestsInFlight'), 3);
  assert.equal(releaseListener(state, 2), 2);
  assert.equal(releaseListener(state, 0), 1);
  assert.deepEqual(
    [0, 1, 2].map((slot) => state.load(slot, 'inFlight')),
    [0, 0, 0],
  );
  assert.equal(state.header('requestsInFlight'), 0);
});

test('roundRobinWrap is the largest multiple of the total weight that is at most 2^31', () => {
  for (const total of [1, 2, 3, 5, 7, 64, 1000, 64_000]) {
    const wrap = roundRobinWrap(total);
    assert.equal(wrap % total, 0, `wrap for ${total}`);
    assert.ok(wrap <= 2 ** 31 && wrap > 2 ** 31 - total, `wrap ${wrap} for ${total}`);
  }
});

test('setRoundRobin stores the ticket and the fold as unsigned 32-bit values', () => {
  const state = SharedState.create({ capacity: 3, listenerCount: 1 });
  state.setRoundRobin(roundRobinWrap(3) - 1, roundRobinWrap(3));
  assert.equal(state.roundRobinWrap, roundRobinWrap(3));
  assert.equal(state.addRoundRobin(1), state.roundRobinWrap - 1);
  assert.equal(state.getRoundRobinNext(), state.roundRobinWrap);
  state.subRoundRobin(state.roundRobinWrap);
  assert.equal(state.getRoundRobinNext(), 0);
});
