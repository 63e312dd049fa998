import assert from 'node:assert/strict';
import { test } from 'node:test';
import { roundRobinWrap, SharedState } from '../../src/shared/layout.ts';

test('create sets dimensions, every backend healthy with weight 1, and all counters at 0', () => {
  const state = SharedState.create({ backendCount: 3, listenerCount: 2 });
  assert.equal(state.backendCount, 3);
  assert.equal(state.listenerCount, 2);
  assert.equal(state.getRoundRobinNext(), 0);
  assert.deepEqual(state.backends(), [
    { started: 0, failures: 0, inFlight: 0, healthy: true, weight: 1 },
    { started: 0, failures: 0, inFlight: 0, healthy: true, weight: 1 },
    { started: 0, failures: 0, inFlight: 0, healthy: true, weight: 1 },
  ]);
  assert.deepEqual(state.listeners(), [
    { connections: 0, requests: 0 },
    { connections: 0, requests: 0 },
  ]);
});

test('attaching to the buffer (as another thread does) sees and shares the same slots', () => {
  const created = SharedState.create({ backendCount: 2, listenerCount: 3 });
  const attached = new SharedState(created.buffer);
  assert.equal(attached.backendCount, 2);
  assert.equal(attached.listenerCount, 3);
  assert.equal(attached.roundRobinWrap, created.roundRobinWrap);

  attached.requestStarted(2, 1);
  attached.connectionAccepted(1);
  attached.addRoundRobin(5);
  attached.setHealthy(0, false);
  attached.setWeight(1, 7);
  assert.deepEqual(created.backend(1), { started: 1, failures: 0, inFlight: 1, healthy: true, weight: 7 });
  assert.equal(created.isHealthy(0), false);
  assert.equal(created.listener(1).connections, 1);
  assert.equal(created.getRoundRobinNext(), 5);
});

test('attaching to a buffer that is not a switchyard layout is refused', () => {
  assert.throws(() => new SharedState(new SharedArrayBuffer(256)), TypeError);
  const foreign = new SharedArrayBuffer(256);
  new Int32Array(foreign)[0] = 0x53575944; // right magic, wrong version
  new Int32Array(foreign)[1] = 99;
  assert.throws(() => new SharedState(foreign), /magic or version mismatch/);
});

test('bad dimensions are rejected with a RangeError naming the dimension', () => {
  for (const backendCount of [0, -1, 1.5, Number.NaN]) {
    assert.throws(() => SharedState.create({ backendCount, listenerCount: 1 }), { name: 'RangeError', message: /^backendCount must be a positive integer/ });
  }
  for (const listenerCount of [0, -2, 2.5, Number.POSITIVE_INFINITY]) {
    assert.throws(() => SharedState.create({ backendCount: 1, listenerCount }), { name: 'RangeError', message: /^listenerCount must be a positive integer/ });
  }
});

test('started, inFlight and failures count per backend without touching any other backend', () => {
  const state = SharedState.create({ backendCount: 3, listenerCount: 2 });
  state.requestStarted(0, 0);
  state.requestStarted(1, 0);
  state.requestStarted(1, 2);
  state.requestStarted(0, 2);
  state.requestStarted(0, 2);
  assert.deepEqual(
    state.backends().map(({ started, inFlight, failures }) => ({ started, inFlight, failures })),
    [
      { started: 2, inFlight: 2, failures: 0 },
      { started: 0, inFlight: 0, failures: 0 },
      { started: 3, inFlight: 3, failures: 0 },
    ],
  );

  state.requestEnded(0, 0, false);
  state.requestEnded(1, 2, true);
  state.requestEnded(0, 2, true);
  assert.deepEqual(
    state.backends().map(({ started, inFlight, failures }) => ({ started, inFlight, failures })),
    [
      { started: 2, inFlight: 1, failures: 0 },
      { started: 0, inFlight: 0, failures: 0 },
      { started: 3, inFlight: 1, failures: 2 },
    ],
  );
  assert.equal(state.inFlight(0), 1);
  assert.equal(state.inFlight(2), 1);
  // Backend counters live apart from the listener counters and the round-robin ticket.
  assert.deepEqual(state.listeners(), [
    { connections: 0, requests: 0 },
    { connections: 0, requests: 0 },
  ]);
  assert.equal(state.getRoundRobinNext(), 0);
});

test('connections and requests count per listener thread without touching the others', () => {
  const state = SharedState.create({ backendCount: 2, listenerCount: 3 });
  state.connectionAccepted(0);
  state.connectionAccepted(2);
  state.connectionAccepted(2);
  for (let i = 0; i < 5; i++) state.requestReceived(2);
  state.requestReceived(1);
  assert.deepEqual(state.listeners(), [
    { connections: 1, requests: 0 },
    { connections: 0, requests: 1 },
    { connections: 2, requests: 5 },
  ]);
  assert.deepEqual(
    state.backends().map(({ started, inFlight, failures }) => ({ started, inFlight, failures })),
    [
      { started: 0, inFlight: 0, failures: 0 },
      { started: 0, inFlight: 0, failures: 0 },
    ],
  );
});

test('releaseListener returns the dead listener\'s stranded in-flight count and subtracts it from each backend', () => {
  const state = SharedState.create({ backendCount: 3, listenerCount: 3 });
  // Listener 1 (about to die): 2 at backend 0, 1 at backend 2. Listeners 0 and 2 keep theirs.
  state.requestStarted(1, 0);
  state.requestStarted(1, 0);
  state.requestStarted(1, 2);
  state.requestStarted(0, 0);
  state.requestStarted(2, 2);
  state.requestStarted(2, 1);
  // One of listener 1's requests had already ended before it died.
  state.requestStarted(1, 1);
  state.requestEnded(1, 1, false);
  assert.deepEqual([0, 1, 2].map((b) => state.inFlight(b)), [3, 1, 2]);

  assert.equal(state.releaseListener(1), 3);
  assert.deepEqual([0, 1, 2].map((b) => state.inFlight(b)), [1, 1, 1]);
  // Started counts are history, not gauges: releasing leaves them alone.
  assert.deepEqual(state.backends().map((b) => b.started), [3, 2, 2]);

  // The row is zeroed: releasing again finds nothing, and the survivors' requests still end cleanly.
  assert.equal(state.releaseListener(1), 0);
  state.requestEnded(0, 0, false);
  state.requestEnded(2, 2, false);
  state.requestEnded(2, 1, false);
  assert.deepEqual([0, 1, 2].map((b) => state.inFlight(b)), [0, 0, 0]);
  assert.equal(state.releaseListener(0), 0);
  assert.equal(state.releaseListener(2), 0);
});

test('a restarted listener starts from a clean row: its new requests are not released twice', () => {
  const state = SharedState.create({ backendCount: 2, listenerCount: 2 });
  state.requestStarted(0, 1);
  assert.equal(state.releaseListener(0), 1);
  state.requestStarted(0, 0);
  state.requestStarted(1, 0);
  assert.equal(state.inFlight(0), 2);
  assert.equal(state.releaseListener(0), 1);
  assert.equal(state.inFlight(0), 1);
  assert.equal(state.inFlight(1), 0);
});

test('the matrix region fits odd dimensions: the last listener\'s last backend slot is in bounds and distinct', () => {
  // 3 x 3 int32 cells = 36 bytes, padded to 40: the last cell must neither overflow nor alias.
  const state = SharedState.create({ backendCount: 3, listenerCount: 3 });
  state.requestStarted(2, 2);
  state.requestStarted(2, 2);
  state.requestStarted(0, 0);
  assert.equal(state.releaseListener(2), 2);
  assert.equal(state.releaseListener(0), 1);
  assert.equal(state.releaseListener(1), 0);
});

test('roundRobinWrap is the largest multiple of the backend count that is at most 2^31', () => {
  for (const n of [1, 2, 3, 5, 7, 64, 1000]) {
    const wrap = roundRobinWrap(n);
    assert.equal(wrap % n, 0, `wrap for ${n}`);
    assert.ok(wrap <= 2 ** 31 && wrap > 2 ** 31 - n, `wrap ${wrap} for ${n}`);
    assert.equal(SharedState.create({ backendCount: n, listenerCount: 1 }).roundRobinWrap, wrap);
  }
});

test('setRoundRobinNext stores the ticket as an unsigned 32-bit value', () => {
  const state = SharedState.create({ backendCount: 3, listenerCount: 1 });
  state.setRoundRobinNext(state.roundRobinWrap - 1);
  assert.equal(state.getRoundRobinNext(), state.roundRobinWrap - 1);
  assert.equal(state.addRoundRobin(1), state.roundRobinWrap - 1);
  assert.equal(state.getRoundRobinNext(), state.roundRobinWrap);
  state.subRoundRobin(state.roundRobinWrap);
  assert.equal(state.getRoundRobinNext(), 0);
});
