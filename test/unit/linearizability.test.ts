import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkLinearizable,
  formatOp,
  makePrng,
  InvalidHistoryError,
  type HistoryOp,
  type KvOp,
  type KvResult,
} from '../sim/linearizability.ts';

// ---------------------------------------------------------------------------
// Builders: tiny helpers so each history reads like a timeline.

const K = 'k1';
const put = (value: string, expectVersion?: number, key = K): KvOp =>
  expectVersion === undefined ? { kind: 'put', key, value } : { kind: 'put', key, value, expectVersion };
const del = (expectVersion?: number, key = K): KvOp =>
  expectVersion === undefined ? { kind: 'delete', key } : { kind: 'delete', key, expectVersion };
const get = (key = K): KvOp => ({ kind: 'get', key });
const ok = (version: number): KvResult => ({ ok: true, version });
const fail = (version: number): KvResult => ({ ok: false, version });
const saw = (value: string | null, version: number): KvResult => ({ value, version });

/** Op #id by client c, invoked at t0; completes at t1 with result, or has unknown outcome if t1 is null. */
function h(
  id: number,
  op: KvOp,
  t0: number,
  t1: number | null,
  result: KvResult | null = null,
  client = `c${id}`,
): HistoryOp {
  return { id, client, op, invoke: t0, complete: t1, result: t1 === null ? null : result };
}

function assertLinearizable(history: HistoryOp[]): void {
  const r = checkLinearizable(history);
  assert.equal(r.ok, true, `expected linearizable, got:\n${r.explanation}`);
  assert.equal(r.gaveUp, undefined);
}

function assertViolation(history: HistoryOp[], key = K): string {
  const r = checkLinearizable(history);
  assert.equal(r.ok, false, 'expected a linearizability violation');
  assert.equal(r.gaveUp, undefined, `expected a proven violation, not a give-up: ${r.explanation}`);
  assert.equal(r.key, key);
  assert.ok(r.explanation && r.explanation.length > 0);
  return r.explanation!;
}

// ---------------------------------------------------------------------------
// Sequential histories

test('empty history is linearizable', () => {
  assert.deepEqual(checkLinearizable([]), { ok: true, opsChecked: 0 });
});

test('sequential: a correct history of puts, gets and deletes is linearizable', () => {
  const history = [
    h(1, get(), 0, 1, saw(null, 0)),
    h(2, put('a'), 2, 3, ok(1)),
    h(3, get(), 4, 5, saw('a', 1)),
    h(4, put('b'), 6, 7, ok(2)),
    h(5, get(), 8, 9, saw('b', 2)),
    h(6, del(), 10, 11, ok(0)),
    h(7, get(), 12, 13, saw(null, 0)),
  ];
  assertLinearizable(history);
  assert.equal(checkLinearizable(history).opsChecked, 7);
});

test('sequential: a stale read after a completed write is a violation', () => {
  const explanation = assertViolation([
    h(1, put('a'), 0, 1, ok(1)),
    h(2, put('b'), 2, 3, ok(2)),
    h(3, get(), 4, 5, saw('a', 1)),
  ]);
  assert.match(explanation, /#3 /);
});

test('sequential: reading a value that was never written is a violation', () => {
  assertViolation([h(1, put('a'), 0, 1, ok(1)), h(2, get(), 2, 3, saw('zzz', 1))]);
  assertViolation([h(1, get(), 0, 1, saw('ghost', 0))]);
});

test('sequential: a version going backwards is a violation', () => {
  assertViolation([h(1, put('a'), 0, 1, ok(1)), h(2, put('b'), 2, 3, ok(2)), h(3, put('c'), 4, 5, ok(2))]);
  assertViolation([h(1, put('a'), 0, 1, ok(1)), h(2, put('b'), 2, 3, ok(2)), h(3, get(), 4, 5, saw('b', 1))]);
});

test('sequential: compare-and-set must succeed only on the current version', () => {
  const base = h(1, put('a'), 0, 1, ok(1));
  assertLinearizable([base, h(2, put('b', 1), 2, 3, ok(2))]);
  assertLinearizable([base, h(2, put('b', 5), 2, 3, fail(1)), h(3, get(), 4, 5, saw('a', 1))]);
  // Succeeding with a wrong expected version.
  assertViolation([base, h(2, put('b', 5), 2, 3, ok(2))]);
  // Failing although the version matched.
  assertViolation([base, h(2, put('b', 1), 2, 3, fail(1))]);
  // A failed CAS must report the current version and change nothing.
  assertViolation([base, h(2, put('b', 5), 2, 3, fail(2))]);
  assertViolation([base, h(2, put('b', 5), 2, 3, fail(1)), h(3, get(), 4, 5, saw('b', 2))]);
});

// ---------------------------------------------------------------------------
// Concurrency

test('concurrent: a read overlapping a write may see the old or the new value', () => {
  const w1 = h(1, put('a'), 0, 1, ok(1));
  const w2 = h(2, put('b'), 2, 10, ok(2));
  assertLinearizable([w1, w2, h(3, get(), 3, 5, saw('a', 1))]);
  assertLinearizable([w1, w2, h(3, get(), 3, 5, saw('b', 2))]);
  // After the write completed only the new value is possible.
  assertViolation([w1, w2, h(3, get(), 11, 12, saw('a', 1))]);
});

test('concurrent: two overlapping writes, reads observing an order that is / is not possible', () => {
  // W1 and W2 overlap; their versions say W2 ('b') took effect first, then W1 ('a').
  const w1 = h(1, put('a'), 0, 10, ok(2));
  const w2 = h(2, put('b'), 0, 10, ok(1));
  // Reads during the writes see 'b' then 'a': consistent with the order.
  assertLinearizable([w1, w2, h(3, get(), 2, 4, saw('b', 1)), h(4, get(), 5, 7, saw('a', 2))]);
  // Reads see 'a' then 'b' (second invoked after the first returned): impossible.
  const explanation = assertViolation([w1, w2, h(3, get(), 2, 4, saw('a', 2)), h(4, get(), 5, 7, saw('b', 1))]);
  assert.match(explanation, /#4 /);
  // The same two reads overlapping each other are fine in either order.
  assertLinearizable([w1, w2, h(3, get(), 2, 6, saw('a', 2)), h(4, get(), 5, 7, saw('b', 1))]);
  // Both writes done: only the final value.
  assertViolation([w1, w2, h(3, get(), 11, 12, saw('b', 1))]);
});

test('concurrent: only one of two racing creates (expectVersion 0) may succeed', () => {
  const a = h(1, put('a', 0), 0, 10, ok(1));
  assertLinearizable([a, h(2, put('b', 0), 0, 10, fail(1)), h(3, get(), 11, 12, saw('a', 1))]);
  assertViolation([a, h(2, put('b', 0), 0, 10, ok(1))]);
});

test('ops that complete and invoke at the same time are treated as concurrent', () => {
  const w = h(1, put('a'), 0, 5, ok(1));
  assertLinearizable([w, h(2, get(), 5, 6, saw(null, 0))]);
  assertViolation([w, h(2, get(), 6, 7, saw(null, 0))]);
});

// ---------------------------------------------------------------------------
// Unknown outcomes

test('unknown outcome: a later read may or may not see the write', () => {
  const w1 = h(1, put('a'), 0, 1, ok(1));
  const lost = h(2, put('b'), 2, null);
  assertLinearizable([w1, lost, h(3, get(), 3, 4, saw('b', 2))]);
  assertLinearizable([w1, lost, h(3, get(), 3, 4, saw('a', 1))]);
  assertLinearizable([w1, lost, h(3, get(), 3, 4, saw('a', 1)), h(4, get(), 100, 101, saw('b', 2))]);
});

test('unknown outcome: seeing the write and then not seeing it is a violation', () => {
  const w1 = h(1, put('a'), 0, 1, ok(1));
  const lost = h(2, put('b'), 2, null);
  const explanation = assertViolation([w1, lost, h(3, get(), 3, 4, saw('b', 2)), h(4, get(), 5, 6, saw('a', 1))]);
  assert.match(explanation, /#4 /);
  // If the reads overlap, the one that saw 'a' may be ordered first: fine.
  assertLinearizable([w1, lost, h(3, get(), 3, 6, saw('b', 2)), h(4, get(), 5, 6, saw('a', 1))]);
});

test('unknown outcome: the write cannot take effect before it was invoked', () => {
  assertViolation([h(1, get(), 0, 1, saw('b', 1)), h(2, put('b'), 2, null)]);
});

test('unknown outcome: a compare-and-set with unknown outcome follows the model', () => {
  const w1 = h(1, put('a'), 0, 1, ok(1));
  // CAS on the wrong version could never have changed the value.
  assertViolation([w1, h(2, put('b', 7), 2, null), h(3, get(), 3, 4, saw('b', 2))]);
  assertLinearizable([w1, h(2, put('b', 1), 2, null), h(3, get(), 3, 4, saw('b', 2))]);
});

test('unknown-outcome gets are dropped and not counted', () => {
  const r = checkLinearizable([h(1, put('a'), 0, 1, ok(1)), h(2, get(), 2, null), h(3, put('x'), 2, null)]);
  assert.equal(r.ok, true);
  assert.equal(r.opsChecked, 2);
});

// ---------------------------------------------------------------------------
// Delete semantics

test('delete resets the version to 0; the next put starts again at 1', () => {
  const history = [
    h(1, put('a'), 0, 1, ok(1)),
    h(2, put('b'), 2, 3, ok(2)),
    h(3, del(), 4, 5, ok(0)),
    h(4, get(), 6, 7, saw(null, 0)),
    h(5, put('c'), 8, 9, ok(1)),
  ];
  assertLinearizable(history);
  assertViolation([...history.slice(0, 4), h(5, put('c'), 8, 9, ok(3))]);
  assertViolation([...history.slice(0, 3), h(4, get(), 6, 7, saw('b', 2))]);
  // Deleting an absent key succeeds with version 0.
  assertLinearizable([h(1, del(), 0, 1, ok(0)), h(2, get(), 2, 3, saw(null, 0))]);
});

test('delete with expectVersion is a compare-and-delete', () => {
  const w1 = h(1, put('a'), 0, 1, ok(1));
  assertLinearizable([w1, h(2, del(2), 2, 3, fail(1)), h(3, get(), 4, 5, saw('a', 1))]);
  assertLinearizable([w1, h(2, del(1), 2, 3, ok(0)), h(3, get(), 4, 5, saw(null, 0))]);
  assertViolation([w1, h(2, del(2), 2, 3, ok(0))]);
});

test('expectVersion 0 means "create only if absent"', () => {
  const history = [
    h(1, put('a', 0), 0, 1, ok(1)),
    h(2, put('b', 0), 2, 3, fail(1)),
    h(3, del(), 4, 5, ok(0)),
    h(4, put('c', 0), 6, 7, ok(1)),
  ];
  assertLinearizable(history);
  assertViolation([history[0], h(2, put('b', 0), 2, 3, ok(2))]);
  assertViolation([...history.slice(0, 3), h(4, put('c', 0), 6, 7, fail(0))]);
});

// ---------------------------------------------------------------------------
// Keys, explanations, budget, validation

test('keys are checked independently and the failing key is reported', () => {
  const history = [
    h(1, put('a', undefined, 'x'), 0, 1, ok(1)),
    h(2, put('a', undefined, 'y'), 0, 1, ok(1)),
    h(3, get('x'), 2, 3, saw('a', 1)),
    h(4, get('y'), 2, 3, saw(null, 0)),
  ];
  const r = checkLinearizable(history);
  assert.equal(r.ok, false);
  assert.equal(r.key, 'y');
  // Values of other keys do not leak: 'a' on x does not make 'a' v1 on z plausible.
  assertViolation([h(1, put('a', undefined, 'x'), 0, 1, ok(1)), h(2, get('z'), 2, 3, saw('a', 1))], 'z');
});

test('explanation names the key, the consistent prefix and the op that could not be placed', () => {
  const r = checkLinearizable([
    h(1, put('v1'), 0, 1, ok(1), 'c1'),
    h(2, put('v2'), 2, 3, ok(2), 'c2'),
    h(12, get(), 40, 52, saw('v1', 1), 'c3'),
  ]);
  assert.equal(r.ok, false);
  const text = r.explanation!;
  assert.match(text, /key 'k1'/);
  assert.match(text, /2 of 3 ops/);
  assert.match(text, /#12 c3 get\(k1\) -> 'v1' v1 \[t=40\.\.52\]/);
  assert.match(text, /model would answer: 'v2' v2/);
});

test('formatOp prints one line per op', () => {
  assert.equal(formatOp(h(12, put('v7'), 40, 52, ok(4), 'c3')), "#12 c3 put(k1,'v7') -> ok v4 [t=40..52]");
  assert.equal(
    formatOp(h(3, put("it's", 2), 1, 2, fail(3), 'c1')),
    "#3 c1 put(k1,'it\\'s',expect v2) -> fail v3 [t=1..2]",
  );
  assert.equal(formatOp(h(4, del(), 5, null, null, 'c2')), '#4 c2 delete(k1) -> ? [t=5..?]');
  assert.equal(formatOp(h(5, get(), 6, 7, saw(null, 0), 'c2')), '#5 c2 get(k1) -> null v0 [t=6..7]');
});

/**
 * A history that takes many states to refute: `pairs` concurrent puts (each "ok v1") and
 * deletes interleave in many orders, and only a read at the very end is impossible, so the
 * search must try them all (thousands of states for 6 pairs) before concluding.
 */
function hardViolation(key: string, pairs: number, firstId: number): HistoryOp[] {
  const history: HistoryOp[] = [];
  let id = firstId;
  for (let i = 0; i < pairs; i++) {
    history.push(h(id++, put(`v${i}`, undefined, key), 0, 100, ok(1)));
    history.push(h(id++, del(undefined, key), 0, 100, ok(0)));
  }
  history.push(h(id++, get(key), 200, 201, saw('never', 1)));
  return history;
}

test('search budget: gives up (never ok) when exhausted, proves the violation when not', () => {
  const history = hardViolation(K, 6, 1);
  const small = checkLinearizable(history, { maxStatesPerKey: 100 });
  assert.equal(small.ok, false);
  assert.equal(small.gaveUp, true);
  assert.equal(small.key, K);
  assert.match(small.explanation!, /gave up after 101 states/);
  const big = checkLinearizable(history);
  assert.equal(big.ok, false);
  assert.equal(big.gaveUp, undefined);
  assert.match(big.explanation!, /#13 /);
});

test('a proven violation on one key wins over a give-up on another', () => {
  const history = [...hardViolation('slow', 8, 1), h(100, get('bad'), 0, 1, saw('ghost', 1))];
  const r = checkLinearizable(history, { maxStatesPerKey: 50 });
  assert.equal(r.ok, false);
  assert.equal(r.gaveUp, undefined);
  assert.equal(r.key, 'bad');
  // And with only the slow key, the give-up is what is reported.
  const slow = checkLinearizable(hardViolation('slow', 8, 1), { maxStatesPerKey: 50 });
  assert.deepEqual([slow.ok, slow.gaveUp, slow.key], [false, true, 'slow']);
});

test('many lost writes (unknown outcome, never read) do not blow up the search', () => {
  // 40 concurrent writes that timed out: any subset may have applied, in any order. They are
  // interchangeable, so the search only has to decide how many applied, not which.
  const history: HistoryOp[] = [h(1, put('a'), 0, 1, ok(1))];
  for (let i = 0; i < 40; i++) history.push(h(10 + i, put(`lost${i}`), 2, null));
  const budget = { maxStatesPerKey: 1000 };
  const read = (value: string, version: number): HistoryOp => h(100, get(), 100, 101, saw(value, version));
  assert.equal(checkLinearizable([...history, read('a', 1)], budget).ok, true);
  // 'lost3' last, after three others: version 1 + 4.
  assert.equal(checkLinearizable([...history, read('lost3', 5)], budget).ok, true);
  const r = checkLinearizable([...history, read('lost3', 50)], budget);
  assert.deepEqual([r.ok, r.gaveUp, r.key], [false, undefined, K]);
});

test('when the fast search gives up, the thorough one still proves the violation', () => {
  // Heavy histories: ~70 ops on one key, ~40% with unknown outcome, wide overlaps, one read
  // corrupted. These seeds are ones where the time-ordered search alone runs out of budget.
  const budget = 20_000;
  for (const seed of [1, 5, 8, 9, 25]) {
    const rng = makePrng(seed);
    const history = generate(rng, { keys: 1, ops: 60, width: 150, unknownRate: 0.3 });
    const gets = knownGets(history);
    const victim = gets[Math.floor(rng() * gets.length)];
    const corrupted = replaceAt(history, victim, { ...history[victim], result: saw('never-written', 1) });
    const fast = checkLinearizable(corrupted, { maxStatesPerKey: budget, strategy: 'fast' });
    assert.equal(fast.gaveUp, true, `seed ${seed}: fast search no longer gives up; pick harder seeds`);
    const r = checkLinearizable(corrupted, { maxStatesPerKey: budget });
    assert.deepEqual([r.ok, r.gaveUp], [false, undefined], `seed ${seed}: ${r.explanation}`);
    assert.match(r.explanation!, new RegExp(`#${history[victim].id} `));
  }
});

test('malformed histories throw InvalidHistoryError naming the op', () => {
  const bad: HistoryOp[][] = [
    [h(1, get(), 0, 1, saw(null, 0)), h(1, get(), 2, 3, saw(null, 0))], // duplicate id
    [{ id: 2, client: 'c', op: get(), invoke: 0, complete: 1, result: null }], // complete without result
    [{ id: 3, client: 'c', op: put('a'), invoke: 5, complete: 4, result: ok(1) }], // completes before invoke
    [h(4, put('a'), 0, 1, saw('a', 1))], // result shape does not match op
    [h(5, get(), 0, 1, ok(1))],
  ];
  for (const history of bad) {
    assert.throws(
      () => checkLinearizable(history),
      (e: unknown) => e instanceof InvalidHistoryError && e.code === 'invalid-history' && /op #\d/.test(e.message),
    );
  }
});

// ---------------------------------------------------------------------------
// Randomized: histories linearizable by construction, then corrupted

interface GenOptions {
  keys: number;
  ops: number;
  /** Max ticks an interval is widened on each side of its linearization point. */
  width: number;
  unknownRate: number;
  /** Draw written values from this many (so values repeat); default: every value is unique. */
  valuePool?: number;
}

/**
 * Runs the model sequentially, one op every 10 ticks, and records each op with an
 * interval widened randomly around its point of effect, so overlaps are common but
 * the history is linearizable by construction. Some ops get an unknown outcome
 * (they did take effect), and some unknown-outcome writes never take effect at all.
 */
function generate(rng: () => number, o: GenOptions): HistoryOp[] {
  const state = new Map<string, { value: string | null; version: number }>();
  const history: HistoryOp[] = [];
  const pick = (n: number): number => Math.floor(rng() * n);
  let id = 0;
  for (let t = 0; t < o.ops; t++) {
    const point = 100 + t * 10;
    const key = `k${pick(o.keys)}`;
    const s = state.get(key) ?? { value: null, version: 0 };
    const invoke = point - pick(o.width + 1);
    const complete = point + pick(o.width + 1);
    const client = `c${pick(5)}`;
    const roll = rng();
    const expectVersion = rng() < 0.3 ? (rng() < 0.7 ? s.version : pick(4)) : undefined;
    let op: KvOp;
    let result: KvResult;
    if (roll < 0.45) {
      const value = o.valuePool ? `v${pick(o.valuePool)}` : `v${id}`;
      op = expectVersion === undefined ? { kind: 'put', key, value } : { kind: 'put', key, value, expectVersion };
      if (expectVersion !== undefined && expectVersion !== s.version) result = fail(s.version);
      else {
        state.set(key, { value, version: s.version + 1 });
        result = ok(s.version + 1);
      }
    } else if (roll < 0.55) {
      op = expectVersion === undefined ? { kind: 'delete', key } : { kind: 'delete', key, expectVersion };
      if (expectVersion !== undefined && expectVersion !== s.version) result = fail(s.version);
      else {
        state.set(key, { value: null, version: 0 });
        result = ok(0);
      }
    } else {
      op = { kind: 'get', key };
      result = saw(s.value, s.version);
    }
    const unknown = rng() < o.unknownRate;
    const outcome = unknown ? { complete: null, result: null } : { complete, result };
    history.push({ id: id++, client, op, invoke, ...outcome });
    if (rng() < o.unknownRate / 2) {
      // A write that was sent but never applied.
      const value = o.valuePool ? `v${pick(o.valuePool)}` : `ghost${id}`;
      const expectVersion = rng() < 0.3 ? pick(3) : undefined;
      history.push({ id: id++, client, op: put(value, expectVersion, key), invoke, complete: null, result: null });
    }
  }
  // The checker must not depend on the order ops are given in.
  for (let i = history.length - 1; i > 0; i--) {
    const j = pick(i + 1);
    [history[i], history[j]] = [history[j], history[i]];
  }
  return history;
}

function replaceAt(history: HistoryOp[], i: number, x: HistoryOp): HistoryOp[] {
  const copy = history.slice();
  copy[i] = x;
  return copy;
}

function knownGets(history: HistoryOp[]): number[] {
  return history.flatMap((x, i) => (x.op.kind === 'get' && x.result !== null ? [i] : []));
}

test('randomized: linearizable-by-construction histories pass; a corrupted read fails', () => {
  let corrupted = 0;
  for (let seed = 1; seed <= 300; seed++) {
    const rng = makePrng(seed);
    const history = generate(rng, { keys: 1 + (seed % 5), ops: 20 + (seed % 120), width: seed % 40, unknownRate: 0.1 });
    const r = checkLinearizable(history);
    assert.equal(r.ok, true, `seed ${seed}: expected ok:\n${r.explanation}`);
    assert.equal(r.opsChecked, history.filter((x) => !(x.op.kind === 'get' && x.result === null)).length);

    const gets = knownGets(history);
    if (gets.length === 0) continue;
    const victim = gets[Math.floor(rng() * gets.length)];
    const original = history[victim];
    const key = original.op.key;
    const res = original.result as { value: string | null; version: number };

    // A value no write ever produced: surely not linearizable.
    const neverWritten = replaceAt(history, victim, { ...original, result: saw('never-written', res.version) });
    const bad1 = checkLinearizable(neverWritten);
    assert.equal(bad1.ok, false, `seed ${seed}: corrupted value not caught`);
    assert.equal(bad1.key, key);
    assert.match(bad1.explanation!, new RegExp(`#${original.id} `));

    // A version higher than the number of writes could ever reach.
    const futureVersion = replaceAt(history, victim, { ...original, result: saw(res.value, res.version + 10_000) });
    const bad2 = checkLinearizable(futureVersion);
    assert.equal(bad2.ok, false, `seed ${seed}: corrupted version not caught`);
    assert.equal(bad2.key, key);
    corrupted++;
  }
  assert.ok(corrupted > 250, `only ${corrupted} seeds had a read to corrupt`);
});

test('randomized: realistic simulator-sized histories never exhaust the default budget', () => {
  for (let seed = 1000; seed < 1100; seed++) {
    const history = generate(makePrng(seed), { keys: 10, ops: 10 * 80, width: 60, unknownRate: 0.15 });
    const r = checkLinearizable(history);
    assert.equal(r.ok, true, `seed ${seed}: ${r.explanation}`);
  }
});

// ---------------------------------------------------------------------------
// Differential: against a brute-force reading of the definition on small histories

/** True iff some total order of all ops respects real time and replays through the model. */
function bruteForce(history: HistoryOp[]): boolean {
  const ops = history.filter((x) => !(x.op.kind === 'get' && x.complete === null));
  const n = ops.length;
  const placed = new Array<boolean>(n).fill(false);
  const mustPrecede = (a: HistoryOp, b: HistoryOp): boolean => a.complete !== null && a.complete < b.invoke;
  const search = (depth: number, value: string | null, version: number): boolean => {
    if (depth === n) return true;
    for (let i = 0; i < n; i++) {
      if (placed[i]) continue;
      const c = ops[i];
      if (ops.some((a, j) => !placed[j] && j !== i && mustPrecede(a, c))) continue;
      let next: { value: string | null; version: number };
      let res: KvResult;
      if (c.op.kind === 'get') {
        next = { value, version };
        res = saw(value, version);
      } else if (c.op.expectVersion !== undefined && c.op.expectVersion !== version) {
        next = { value, version };
        res = fail(version);
      } else if (c.op.kind === 'put') {
        next = { value: c.op.value, version: version + 1 };
        res = ok(version + 1);
      } else {
        next = { value: null, version: 0 };
        res = ok(0);
      }
      if (c.result !== null && JSON.stringify(c.result) !== JSON.stringify(res)) continue;
      placed[i] = true;
      const found = search(depth + 1, next.value, next.version);
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return search(0, null, 0);
}

/** Nudges one op's result into a plausible-looking wrong (or accidentally right) answer. */
function mutate(rng: () => number, history: HistoryOp[]): HistoryOp[] {
  const known = history.flatMap((x, i) => (x.result !== null ? [i] : []));
  if (known.length === 0) return history;
  const i = known[Math.floor(rng() * known.length)];
  const x = history[i];
  const r = x.result!;
  const dv = rng() < 0.5 ? 1 : -1;
  let result: KvResult;
  if ('ok' in r) {
    result = rng() < 0.5 ? { ok: !r.ok, version: r.version } : { ok: r.ok, version: Math.max(0, r.version + dv) };
  } else if (rng() < 0.5) {
    result = saw(r.version + dv < 0 ? null : r.value, Math.max(0, r.version + dv));
  } else {
    const values = history.flatMap((y) => (y.op.kind === 'put' ? [y.op.value] : []));
    result = saw(values.length > 0 && rng() < 0.8 ? values[Math.floor(rng() * values.length)] : null, r.version);
  }
  return replaceAt(history, i, { ...x, result });
}

test('differential: both search orders agree with brute force on thousands of small histories', () => {
  let linearizable = 0;
  let violations = 0;
  for (let seed = 1; seed <= 4000; seed++) {
    const rng = makePrng(seed * 7919);
    const valuePool = seed % 3 === 0 ? 2 : undefined;
    let history = generate(rng, { keys: 1, ops: 3 + (seed % 5), width: 5 + (seed % 25), unknownRate: 0.2, valuePool });
    if (rng() < 0.6) history = mutate(rng, history);
    const expected = bruteForce(history);
    for (const strategy of ['fast', 'thorough'] as const) {
      const r = checkLinearizable(history, { strategy });
      const dump = `${history.map(formatOp).join('\n')}\n${r.explanation ?? ''}`;
      assert.equal(r.ok, expected, `seed ${seed} ${strategy}: checker says ${r.ok}, brute force ${expected}\n${dump}`);
    }
    if (expected) linearizable++;
    else violations++;
  }
  // Both verdicts must be well represented, or this test proves little.
  assert.ok(linearizable > 1000, `only ${linearizable} linearizable cases`);
  assert.ok(violations > 1000, `only ${violations} violating cases`);
});
