import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { KvStateMachine, KvSnapshotError, encodeCommand, type KvCommand, type KvWriteResult } from '../../agent/raft/kv.ts';
import type { Entry } from '../../agent/raft/types.ts';

/** Applies commands as consecutive normal entries, as a driver would. */
class Harness {
  constructor(readonly kv = new KvStateMachine()) {}
  apply(c: KvCommand | string): KvWriteResult | null {
    const data = typeof c === 'string' ? c : encodeCommand(c);
    return this.kv.apply({ index: this.kv.appliedIndex + 1, term: 1, type: 'normal', data });
  }
  other(type: 'noop' | 'conf'): KvWriteResult | null {
    return this.kv.apply({ index: this.kv.appliedIndex + 1, term: 1, type, data: type === 'conf' ? '{"voters":["a"],"learners":[]}' : '' });
  }
}

const put = (key: string, value: string, extra: Partial<KvCommand> = {}): KvCommand => ({ op: 'put', key, value, ...extra }) as KvCommand;
const del = (key: string, extra: Partial<KvCommand> = {}): KvCommand => ({ op: 'delete', key, ...extra }) as KvCommand;

describe('KvStateMachine writes', () => {
  test('put creates with version 1 and bumps the version on each write', () => {
    const h = new Harness();
    assert.deepEqual(h.apply(put('a', '1')), { ok: true, version: 1 });
    assert.deepEqual(h.apply(put('a', '2')), { ok: true, version: 2 });
    assert.deepEqual(h.kv.get('a'), { key: 'a', value: '2', version: 2, modIndex: 2, createIndex: 1 });
    assert.equal(h.kv.get('missing'), null);
  });

  test('compare-and-set: a matching expectVersion writes, a stale one changes nothing', () => {
    const h = new Harness();
    h.apply(put('k', 'v1'));
    assert.deepEqual(h.apply(put('k', 'v2', { expectVersion: 1 })), { ok: true, version: 2 });
    assert.deepEqual(h.apply(put('k', 'lost', { expectVersion: 1 })), { ok: false, version: 2, reason: 'version-mismatch' });
    assert.deepEqual(h.kv.get('k'), { key: 'k', value: 'v2', version: 2, modIndex: 2, createIndex: 1 });
    assert.equal(h.kv.appliedIndex, 3, 'a failed write still consumes its entry');
  });

  test('expectVersion 0 creates only if absent', () => {
    const h = new Harness();
    assert.deepEqual(h.apply(put('lock', 'me', { expectVersion: 0 })), { ok: true, version: 1 });
    assert.deepEqual(h.apply(put('lock', 'you', { expectVersion: 0 })), { ok: false, version: 1, reason: 'version-mismatch' });
    assert.equal(h.kv.get('lock')?.value, 'me');
    // A put with a precondition on an absent key fails with version 0.
    assert.deepEqual(h.apply(put('nope', 'x', { expectVersion: 3 })), { ok: false, version: 0, reason: 'version-mismatch' });
    assert.equal(h.kv.get('nope'), null);
  });

  test('delete removes the key, resetting its version; recreation starts over', () => {
    const h = new Harness();
    h.apply(put('k', 'a'));
    h.apply(put('k', 'b'));
    assert.deepEqual(h.apply(del('k', { expectVersion: 1 })), { ok: false, version: 2, reason: 'version-mismatch' });
    assert.equal(h.kv.get('k')?.value, 'b');
    assert.deepEqual(h.apply(del('k', { expectVersion: 2 })), { ok: true, version: 0 });
    assert.equal(h.kv.get('k'), null);
    assert.deepEqual(h.apply(put('k', 'c', { expectVersion: 0 })), { ok: true, version: 1 });
    assert.deepEqual(h.kv.get('k'), { key: 'k', value: 'c', version: 1, modIndex: 5, createIndex: 5 });
  });

  test('deleting an absent key: ok without precondition or with expectVersion 0, mismatch otherwise', () => {
    const h = new Harness();
    assert.deepEqual(h.apply(del('ghost')), { ok: true, version: 0 });
    assert.deepEqual(h.apply(del('ghost', { expectVersion: 0 })), { ok: true, version: 0 });
    assert.deepEqual(h.apply(del('ghost', { expectVersion: 1 })), { ok: false, version: 0, reason: 'version-mismatch' });
  });

  test('noop and conf entries only advance the applied index', () => {
    const h = new Harness();
    h.apply(put('a', '1'));
    const before = h.kv.snapshot();
    assert.equal(h.other('noop'), null);
    assert.equal(h.other('conf'), null);
    assert.equal(h.kv.appliedIndex, 3);
    assert.deepEqual(JSON.parse(h.kv.snapshot()).records, JSON.parse(before).records);
  });

  test('malformed commands return the malformed result and change nothing', () => {
    const h = new Harness();
    h.apply(put('a', '1'));
    const cases = [
      'not json',
      '"a string"',
      'null',
      '[]',
      '{"op":"increment","key":"a"}',
      '{"op":"put","key":"a"}',
      '{"op":"put","key":"a","value":5}',
      '{"op":"put","key":"","value":"x"}',
      '{"op":"put","key":"a","value":"x","expectVersion":-1}',
      '{"op":"put","key":"a","value":"x","expectVersion":1.5}',
      '{"op":"delete","key":"a","requestId":7}',
      '{"op":"delete"}',
    ];
    for (const data of cases) {
      assert.deepEqual(h.apply(data), { ok: false, version: 0, reason: 'malformed' }, data);
    }
    assert.deepEqual(h.kv.get('a'), { key: 'a', value: '1', version: 1, modIndex: 1, createIndex: 1 });
    assert.equal(h.kv.appliedIndex, 1 + cases.length);
  });

  test('entries out of log order are refused (a driver bug), not applied', () => {
    const h = new Harness();
    h.apply(put('a', '1'));
    assert.throws(() => h.kv.apply({ index: 1, term: 1, type: 'normal', data: encodeCommand(put('a', 'again')) }), RangeError);
    assert.throws(() => h.kv.apply({ index: 3, term: 1, type: 'noop', data: '' }), RangeError);
    assert.equal(h.kv.get('a')?.value, '1');
    assert.equal(h.kv.appliedIndex, 1);
  });
});

describe('KvStateMachine idempotence', () => {
  test('a retried request returns the first result and is not applied again', () => {
    const h = new Harness();
    assert.deepEqual(h.apply(put('k', 'v', { requestId: 'r1' })), { ok: true, version: 1 });
    h.apply(put('k', 'w')); // someone else writes in between
    assert.deepEqual(h.apply(put('k', 'v', { requestId: 'r1' })), { ok: true, version: 1 });
    assert.deepEqual(h.kv.get('k'), { key: 'k', value: 'w', version: 2, modIndex: 2, createIndex: 1 });
  });

  test('a retried failed CAS returns the same failure even when it would now succeed', () => {
    const h = new Harness();
    h.apply(put('k', 'a'));
    h.apply(put('k', 'b'));
    assert.deepEqual(h.apply(put('k', 'c', { expectVersion: 3, requestId: 'r' })), { ok: false, version: 2, reason: 'version-mismatch' });
    h.apply(put('k', 'x')); // now at version 3
    assert.deepEqual(h.apply(put('k', 'c', { expectVersion: 3, requestId: 'r' })), { ok: false, version: 2, reason: 'version-mismatch' });
    assert.equal(h.kv.get('k')?.value, 'x');
  });

  test('a retried delete does not delete a recreated key', () => {
    const h = new Harness();
    h.apply(put('k', 'a'));
    assert.deepEqual(h.apply(del('k', { requestId: 'd' })), { ok: true, version: 0 });
    h.apply(put('k', 'new'));
    assert.deepEqual(h.apply(del('k', { requestId: 'd' })), { ok: true, version: 0 });
    assert.equal(h.kv.get('k')?.value, 'new');
  });

  test('callers cannot alter a remembered result', () => {
    const h = new Harness();
    const first = h.apply(put('k', 'v', { requestId: 'r' }))!;
    (first as { version: number }).version = 99;
    assert.deepEqual(h.apply(put('k', 'v', { requestId: 'r' })), { ok: true, version: 1 });
  });

  test('the dedup table is bounded and evicts the oldest request ids first', () => {
    const h = new Harness(new KvStateMachine(3));
    for (const id of ['r1', 'r2', 'r3']) h.apply(put('k', id, { requestId: id }));
    h.apply(put('k', 'r1-again', { requestId: 'r2' })); // a hit does not refresh r2's place
    h.apply(put('k', 'r4', { requestId: 'r4' })); // evicts r1
    assert.deepEqual(h.apply(put('k', 'r1', { requestId: 'r1' })), { ok: true, version: 5 }, 'r1 was forgotten, so it applies again');
    // r1 re-entered and evicted r2; r3 is still remembered.
    assert.deepEqual(h.apply(put('k', 'r3', { requestId: 'r3' })), { ok: true, version: 3 });
    assert.equal(JSON.parse(h.kv.snapshot()).dedup.length, 3);
  });
});

describe('KvStateMachine reads', () => {
  test('list returns records with the prefix, sorted by key', () => {
    const h = new Harness();
    for (const k of ['/members/c', '/primary', '/members/a', '/members/b', '/membersX', 'other']) h.apply(put(k, k.toUpperCase()));
    assert.deepEqual(
      h.kv.list('/members/').map((r) => r.key),
      ['/members/a', '/members/b', '/members/c'],
    );
    assert.deepEqual(
      h.kv.list('').map((r) => r.key),
      ['/members/a', '/members/b', '/members/c', '/membersX', '/primary', 'other'],
    );
    assert.deepEqual(h.kv.list('/members/a')[0], { key: '/members/a', value: '/MEMBERS/A', version: 1, modIndex: 3, createIndex: 3 });
  });

  test('returned records are copies', () => {
    const h = new Harness();
    h.apply(put('k', 'v'));
    h.kv.get('k')!.value = 'changed';
    h.kv.list('')[0].version = 42;
    assert.deepEqual(h.kv.get('k'), { key: 'k', value: 'v', version: 1, modIndex: 1, createIndex: 1 });
  });
});

/** A deterministic pseudo-random command stream (mulberry32), with retries and malformed data. */
function workload(seed: number, n: number): string[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = `k${Math.floor(rnd() * 8)}`;
    const r = rnd();
    const extra: Partial<KvCommand> = {};
    if (rnd() < 0.5) extra.expectVersion = Math.floor(rnd() * 4);
    if (rnd() < 0.5) extra.requestId = `req-${Math.floor(rnd() * 40)}`;
    if (r < 0.05) out.push('{"op":"bogus"}');
    else if (r < 0.7) out.push(encodeCommand(put(key, `v${i}`, extra)));
    else out.push(encodeCommand(del(key, extra)));
  }
  return out;
}

function entriesOf(data: string[]): Entry[] {
  return data.map((d, i) => ({ index: i + 1, term: 1, type: i % 17 === 16 ? 'noop' : 'normal', data: d }));
}

describe('KvStateMachine snapshots and determinism', () => {
  test('snapshot/restore round trip gives the same snapshot string and the same behaviour', () => {
    const es = entriesOf(workload(7, 400));
    const original = new KvStateMachine(16);
    for (const e of es.slice(0, 300)) original.apply(e);
    const snap = original.snapshot();
    const restored = KvStateMachine.restore(snap, 300);
    assert.equal(restored.snapshot(), snap);
    assert.equal(restored.appliedIndex, 300);
    assert.equal(restored.dedupLimit, 16);
    assert.deepEqual(restored.list(''), original.list(''));
    // Continuing from the restored copy gives the same results as continuing from the original.
    for (const e of es.slice(300)) assert.deepEqual(restored.apply(e), original.apply(e), `entry ${e.index}`);
    assert.equal(restored.snapshot(), original.snapshot());
  });

  test('two replicas applying the same log have identical snapshots and results', () => {
    const es = entriesOf(workload(42, 1000));
    const a = new KvStateMachine(50);
    const b = new KvStateMachine(50);
    const ra = es.map((e) => a.apply(e));
    const rb = es.map((e) => b.apply(e));
    assert.deepEqual(ra, rb);
    assert.equal(a.snapshot(), b.snapshot());
    assert.ok(ra.some((r) => r !== null && !r.ok && r.reason === 'version-mismatch'), 'the workload exercises CAS failures');
    assert.ok(ra.some((r) => r !== null && !r.ok && r.reason === 'malformed'), 'the workload exercises malformed commands');
  });

  test('snapshot does not depend on insertion order of keys', () => {
    const x = new Harness();
    const y = new Harness();
    x.apply(put('b', '2'));
    x.apply(put('a', '1'));
    y.apply(put('a', '1'));
    y.apply(put('b', '2'));
    // Records differ only by modIndex/createIndex; normalise those to compare layout.
    const norm = (s: string): unknown => (JSON.parse(s).records as unknown[][]).map((r) => r.slice(0, 3));
    assert.deepEqual(norm(x.kv.snapshot()), norm(y.kv.snapshot()));
    assert.deepEqual(norm(x.kv.snapshot()), [['a', '1', 1], ['b', '2', 1]]);
  });

  test('restore refuses bad data and a snapshot installed at the wrong index', () => {
    const h = new Harness();
    h.apply(put('a', '1'));
    const good = h.kv.snapshot();
    assert.throws(() => KvStateMachine.restore(good, 2), KvSnapshotError);
    assert.throws(() => KvStateMachine.restore('not json', 1), KvSnapshotError);
    assert.throws(() => KvStateMachine.restore(good.replace('"v":1', '"v":2'), 1), KvSnapshotError);
    assert.throws(() => KvStateMachine.restore(good.replace('["a","1",1,1,1]', '["a",1,1,1,1]'), 1), KvSnapshotError);
    assert.throws(() => KvStateMachine.restore(good.replace('"dedup":[]', '"dedup":[["r",{"ok":"yes","version":1}]]'), 1), KvSnapshotError);
  });

  test('encodeCommand is canonical and omits absent fields', () => {
    assert.equal(encodeCommand({ requestId: 'r', value: 'v', key: 'k', op: 'put', expectVersion: 0 } as KvCommand), '{"op":"put","key":"k","value":"v","expectVersion":0,"requestId":"r"}');
    assert.equal(encodeCommand({ op: 'delete', key: 'k' }), '{"op":"delete","key":"k"}');
  });
});
