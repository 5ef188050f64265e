/**
 * The fault suite's checker and timeline on hand-made histories: a clean
 * run with a switchover passes; a lost acknowledgement, a zombie ack in an
 * old epoch (client and probe), two nodes in one epoch, a phantom id and a
 * non-linearizable register history each fail, with the finding named.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { check, registerHistory, summarizeVerdict, writableAfter } from '../faults/checker.ts';
import { formatTimeline } from '../faults/timeline.ts';
import type { ProbeLog, ProbeRecord } from '../faults/probes.ts';
import type { FinalState, History, Op } from '../faults/workload.ts';

const KEY = 'k0';
let seq = 0;

function insert(id: number, invoke: number, complete: number, outcome: Op['outcome'], node = 'n1', epoch: number | null = 1, client = 'w1'): Op {
  const op: Op = { seq: seq++, client, kind: 'insert', id, invoke, complete, outcome };
  if (outcome === 'ok') Object.assign(op, { node, server: `127.0.0.1:${node}`, epoch });
  return op;
}

function write(value: string, version: number, invoke: number, complete: number, node = 'n1', epoch = 1, outcome: Op['outcome'] = 'ok'): Op {
  const op: Op = { seq: seq++, client: 'r1', kind: 'write', key: KEY, value, invoke, complete, outcome };
  if (outcome === 'ok') Object.assign(op, { node, epoch, version });
  return op;
}

function read(value: string | null, version: number, invoke: number, complete: number, node = 'n1'): Op {
  return { seq: seq++, client: 'r2', kind: 'read', key: KEY, invoke, complete, outcome: 'ok', node, readValue: value, version };
}

function cas(expect: number, value: string, applied: boolean, version: number, invoke: number, complete: number, node = 'n1', epoch = 1): Op {
  return { seq: seq++, client: 'r1', kind: 'cas', key: KEY, value, expectVersion: expect, invoke, complete, outcome: 'ok', node, casApplied: applied, version, epoch: applied ? epoch : null };
}

function probe(node: string, s: number, invoke: number, complete: number, outcome: ProbeRecord['outcome'], epoch: number | null): ProbeRecord {
  return { node, seq: s, invoke, complete, outcome, epoch: outcome === 'ok' ? epoch : null, error: outcome === 'ok' ? undefined : 'cannot execute INSERT in a read-only transaction' };
}

function history(ops: Op[]): History {
  const ids = ops.filter((o) => o.kind === 'insert').map((o) => o.id!);
  return { tag: 't', startedAt: 0, stoppedAt: 10_000, firstId: 100, nextId: Math.max(100, ...ids) + 1, keys: [KEY], ops };
}

function probeLog(records: ProbeRecord[]): ProbeLog {
  return { startedAt: 0, stoppedAt: 10_000, firstSeq: 0, records, epochs: [] };
}

/** The final primary holds exactly the acknowledged ids and probe rows (plus `extraIds`), and the key at `kv`. */
function finalOf(h: History, p: ProbeLog, kv: { v: string | null; version: number }, opts: { dropIds?: number[]; extraIds?: number[]; dropProbes?: string[] } = {}): FinalState {
  const ids = h.ops.filter((o) => o.kind === 'insert' && o.outcome === 'ok' && !(opts.dropIds ?? []).includes(o.id!)).map((o) => o.id!);
  const probes = p.records.filter((r) => r.outcome === 'ok').map((r) => `${r.node}:${r.seq}`).filter((k) => !(opts.dropProbes ?? []).includes(k));
  return { invoke: 20_000, complete: 20_010, ids: [...ids, ...(opts.extraIds ?? [])], probes, kv: [{ k: KEY, ...kv }] };
}

/**
 * A clean run: n1 primary in epoch 1, a switchover to n2 in epoch 2 around
 * t=5000 (n1's last ack completes at 5020, after n2's first write was
 * invoked but before n2's first ack completed: legitimate), registers
 * linearizable, an unknown insert that never landed, and an epoch-1 ack
 * invoked just before epoch 2's first acknowledgement completed.
 */
function cleanRun(): { ops: Op[]; probes: ProbeRecord[]; kv: { v: string | null; version: number } } {
  const ops: Op[] = [
    insert(100, 1000, 1010, 'ok'),
    insert(101, 2000, 2010, 'ok'),
    insert(102, 4990, 5020, 'ok'), // slow commit on n1, finished before epoch 2 was provably live
    insert(103, 5010, 9000, 'unknown'),
    insert(104, 5015, 6100, 'ok', 'n2', 2, 'w2'),
    insert(105, 6200, 6210, 'failed'),
    insert(106, 6300, 6310, 'ok', 'n2', 2),
    insert(109, 6045, 6048, 'ok', 'n1', 1, 'w3'), // invoked 5 ms before epoch 2's first ack (probe n2:6) completed: legitimate
    read(null, 0, 900, 910),
    write('a', 1, 1100, 1110),
    cas(1, 'b', true, 2, 1200, 1210),
    cas(1, 'c', false, 2, 1300, 1310),
    read('b', 2, 1400, 1410),
    write('d', 3, 4995, 9000, 'n1', 1, 'unknown'),
    read('d', 3, 6400, 6410, 'n2'), // the unknown write had landed
    write('e', 4, 6500, 6510, 'n2', 2),
  ];
  const probes: ProbeRecord[] = [
    probe('n1', 1, 1000, 1005, 'ok', 1),
    probe('n2', 2, 1000, 1003, 'failed', null),
    probe('n1', 3, 4950, 5030, 'ok', 1),
    probe('n2', 4, 4950, 4960, 'failed', null),
    probe('n1', 5, 5100, 5110, 'failed', null),
    probe('n2', 6, 5100, 6050, 'ok', 2),
    probe('n1', 7, 6200, 6205, 'failed', null),
    probe('n2', 8, 6200, 6220, 'ok', 2),
  ];
  return { ops, probes, kv: { v: 'e', version: 4 } };
}

test('a clean run with a switchover passes: nothing lost, no dual window, linearizable', () => {
  const { ops, probes, kv } = cleanRun();
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv), healedAt: 6100, writableBoundMs: 1000 });
  assert.equal(v.ok, true, summarizeVerdict(v));
  assert.equal(v.lost, 0);
  assert.deepEqual(v.dualWindows, []);
  assert.equal(v.linearizable, true);
  assert.deepEqual(v.phantomIds, []);
  assert.equal(v.writable?.ok, true);
  assert.equal(v.writable?.ms, 120, 'first ack of an op invoked after 6100 completes at 6220 (probe n2:8)');
});

test('an acknowledged id missing on the final primary is lost; an unknown one missing is not', () => {
  const { ops, probes, kv } = cleanRun();
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv, { dropIds: [101] }) });
  assert.equal(v.ok, false);
  assert.equal(v.lost, 1);
  assert.deepEqual(v.lostIds, [101]);
  assert.match(summarizeVerdict(v), /lost ids: 101/);
});

test('a lost acknowledged probe row counts as lost', () => {
  const { ops, probes, kv } = cleanRun();
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv, { dropProbes: ['n2:8'] }) });
  assert.equal(v.ok, false);
  assert.deepEqual(v.lostProbes, ['n2:8']);
  assert.equal(v.lost, 1);
});

test('ids present that were never invoked, or whose insert definitely failed, are phantoms', () => {
  const { ops, probes, kv } = cleanRun();
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv, { extraIds: [103, 105, 999] }) });
  assert.equal(v.ok, false);
  assert.deepEqual(v.phantomIds, [105, 999], 'the unknown 103 may be present; the failed 105 and the never-invoked 999 may not');
});

test('a zombie client ack in an old epoch after the new epoch was live is a dual-primary window', () => {
  const { ops, probes, kv } = cleanRun();
  // Invoked at 6300, after n2's epoch-2 ack of id 104 completed at 6100, and acknowledged by n1 in epoch 1.
  ops.push(insert(107, 6300, 6320, 'ok', 'n1', 1, 'w3'), insert(108, 6400, 6420, 'ok', 'n1', 1, 'w3'));
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv) });
  assert.equal(v.ok, false);
  assert.equal(v.dualWindows.length, 1, summarizeVerdict(v));
  const w = v.dualWindows[0];
  assert.deepEqual(w.rules, ['epoch']);
  assert.equal(w.node, 'n1');
  assert.equal(w.epoch, 1);
  assert.equal(w.higherEpoch, 2);
  assert.deepEqual(
    w.writes.map((x) => x.what),
    ['insert id 107', 'insert id 108'],
    'both zombie writes grouped in one window',
  );
  assert.equal(v.lost, 0);
});

test('a zombie probe ack is flagged by the probe rule and the epoch rule as one window', () => {
  const { ops, probes, kv } = cleanRun();
  probes.push(probe('n1', 9, 6300, 6310, 'ok', 1)); // n2's epoch-2 probe completed at 6050
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv) });
  assert.equal(v.dualWindows.length, 1, summarizeVerdict(v));
  assert.deepEqual([...v.dualWindows[0].rules].sort(), ['epoch', 'probe']);
  assert.equal(v.dualWindows[0].evidence[0].node, 'n2');
});

test('two nodes acknowledging writes in the same epoch is a dual-primary window', () => {
  const { ops, probes, kv } = cleanRun();
  ops.push(insert(107, 1500, 1510, 'ok', 'n3', 1, 'w3'));
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv) });
  assert.equal(v.ok, false);
  const same = v.dualWindows.filter((w) => w.rules.includes('same-epoch'));
  assert.equal(same.length, 1, summarizeVerdict(v));
  assert.equal(same[0].node, 'n1+n3');
  assert.equal(same[0].epoch, 1);
});

test('writes with no epoch are skipped by the epoch rules and counted in the notes', () => {
  const ops = [insert(100, 0, 10, 'ok', 'n1', null), insert(101, 20, 30, 'ok', 'n2', null), insert(102, 40, 50, 'ok', 'n1', null)];
  const h = history(ops);
  const p = probeLog([probe('n1', 1, 0, 5, 'ok', null)]);
  const v = check({ history: h, probes: p, final: finalOf(h, p, { v: null, version: 0 }) });
  assert.deepEqual(v.dualWindows, []);
  assert.equal(v.counts.noEpoch, 4);
  assert.match(v.notes.join('\n'), /4 acknowledged writes had no epoch/);
  assert.equal(v.ok, true);
});

test('a stale read after a completed write is not linearizable', () => {
  const { ops, probes, kv } = cleanRun();
  ops.push(read('a', 1, 1500, 1510)); // b (v2) was written at 1210 and read at 1410
  const h = history(ops);
  const p = probeLog(probes);
  const v = check({ history: h, probes: p, final: finalOf(h, p, kv) });
  assert.equal(v.ok, false);
  assert.equal(v.linearizable, false);
  assert.equal(v.linearizability.key, KEY);
  assert.match(summarizeVerdict(v), /not linearizable/);
});

test('an acknowledged register write missing from the final value is not linearizable', () => {
  const { ops, probes } = cleanRun();
  const h = history(ops);
  const p = probeLog(probes);
  // The write of e (v4) was acknowledged; the final primary still has d (v3).
  const v = check({ history: h, probes: p, final: finalOf(h, p, { v: 'd', version: 3 }) });
  assert.equal(v.linearizable, false);
  assert.equal(v.ok, false);
});

test('registerHistory: failed ops left out, unknown ones open-ended, the final value a last read', () => {
  const ops = [write('a', 1, 0, 10), write('x', 0, 20, 30, 'n1', 1, 'failed'), write('b', 0, 40, 9000, 'n1', 1, 'unknown')];
  const h = history(ops);
  const rh = registerHistory(h, { kv: [{ k: KEY, v: 'b', version: 2 }], invoke: 10_000, complete: 10_001 });
  assert.equal(rh.length, 3);
  assert.deepEqual(
    rh.map((x) => [x.op.kind, x.complete, x.result]),
    [
      ['put', 10, { ok: true, version: 1 }],
      ['put', null, null],
      ['get', 10_001, { value: 'b', version: 2 }],
    ],
  );
});

test('writableAfter: no acknowledgement after healing is never writable', () => {
  const w = writableAfter([insert(100, 0, 10, 'ok')], [], 100, 1000);
  assert.deepEqual(w, { healedAt: 100, boundMs: 1000, ms: null, ok: false });
  const late = writableAfter([insert(101, 200, 2000, 'ok')], [], 100, 1000);
  assert.equal(late.ms, 1900);
  assert.equal(late.ok, false);
});

test('the timeline merges faults, role changes and per-second counts in time order, and ends with the findings', () => {
  const { ops, probes, kv } = cleanRun();
  ops.push(insert(107, 6300, 6320, 'ok', 'n1', 1, 'w3'));
  const h = history(ops);
  const p = probeLog(probes);
  const verdict = check({ history: h, probes: p, final: finalOf(h, p, kv, { dropIds: [100] }) });
  const text = formatTimeline({
    events: [
      { at: 4900, text: 'switchover to n2 requested' },
      { at: 7000, text: 'healed' },
    ],
    history: h,
    probes: p,
    verdict,
  });
  const lines = text.split('\n');
  const timed = lines.filter((l) => /^\s*\d+\.\d{3}s  /.test(l));
  const times = timed.map((l) => Number(l.trim().split('s ')[0]));
  assert.deepEqual(
    times,
    [...times].sort((a, b) => a - b),
    'timed lines are sorted',
  );
  assert.ok(timed.some((l) => /^\s*4\.900s  fault\s+switchover to n2 requested$/.test(l)), text);
  assert.ok(timed.some((l) => /n2 acks probe writes \(epoch 2\)/.test(l)), text);
  assert.ok(timed.some((l) => /n1 stopped acking probe writes \(failed: /.test(l)), text);
  assert.ok(timed.some((l) => /first client write acknowledged by n2 in epoch 2/.test(l)), text);
  assert.ok(timed.some((l) => /second 6: clients \d+ ok, \d+ unknown, \d+ failed; probe acks n1 0, n2 2/.test(l)), text);
  const tail = lines.slice(lines.indexOf('verdict: FAIL'));
  assert.ok(tail.length > 1, `the findings follow the timed lines:\n${text}`);
  assert.ok(tail.some((l) => /^missing ids \(1/.test(l)), text);
  assert.ok(tail.some((l) => /w1 insert id 100 -> ok on n1 epoch 1 \[1\.000s\.\.1\.010s\]/.test(l)), text);
  assert.ok(tail.some((l) => /^dual-primary window \[epoch\]/.test(l)), text);
  assert.ok(tail.some((l) => /offending: w3 insert id 107/.test(l)), text);
});
