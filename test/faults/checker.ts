/**
 * Verdicts over what the workload and the prober recorded plus the final
 * primary's tables. Pure: no clock, no I/O.
 *
 * Rules (times are the harness's monotonic clock; an op A precedes B only if
 * A completed before B was invoked):
 *  - lost: an acknowledged id (or probe row) missing on the final primary;
 *    phantom: an id present that was never invoked, or whose insert
 *    definitely failed.
 *  - epoch rule: a write acknowledged in epoch e that was invoked after some
 *    write (client or probe) acknowledged in an epoch e' > e had completed —
 *    a lower epoch took a write while a higher one was provably live.
 *  - same-epoch rule: two different nodes acknowledged writes in one epoch.
 *  - probe rule: node A acked a probe invoked after node B ≠ A's probe had
 *    completed with a higher epoch. Never flags a legitimate switchover,
 *    whose old-primary acks all finished before the promotion's first ack.
 *    (It is the epoch rule on probes alone; both are computed and a window
 *    lists every rule that saw it.)
 *  - writable: after healing, an op (client or probe) invoked after
 *    `healedAt` was acknowledged within a bound.
 *  - register histories linearizable (test/sim/linearizability.ts), with the
 *    final stored value of each key as a last read.
 *
 * Violations are grouped into dual-primary windows: one per (node, epoch)
 * that wrote under a superseded epoch, one per epoch written by two nodes.
 * Writes with no epoch (engine without `rustydb.epoch`) are skipped by the
 * epoch rules and counted in the notes.
 */

import { checkLinearizable, type HistoryOp, type LinearizabilityResult } from '../sim/linearizability.ts';
import type { ProbeLog, ProbeRecord } from './probes.ts';
import type { FinalState, History, Op } from './workload.ts';

/** An acknowledged write, client op or probe, as the epoch rules see it. */
export interface AckedWrite {
  source: 'client' | 'probe';
  /** Client name, or `probe`. */
  who: string;
  /** e.g. `insert id 17`, `cas k0 v3->r1.9`, `probe n2:1700`. */
  what: string;
  node: string;
  epoch: number;
  invoke: number;
  complete: number;
}

export type DualRule = 'epoch' | 'same-epoch' | 'probe';

/** One dual-primary window: a node writing under a superseded epoch, or two nodes in one epoch. */
export interface DualWindow {
  /** Every rule that flagged it. */
  rules: DualRule[];
  /** The node that wrote when it should not have (for same-epoch: every node of the epoch, joined by `+`). */
  node: string;
  epoch: number;
  /** epoch/probe rule: the higher epoch that was already live. */
  higherEpoch?: number;
  /** First invoke and last completion of the offending writes. */
  from: number;
  to: number;
  /** The offending writes (first few). */
  writes: AckedWrite[];
  /** What proved the higher epoch live (epoch/probe rule), or one write of each other node (same-epoch). */
  evidence: AckedWrite[];
  /** One sentence for a person. */
  text: string;
}

export interface WritableCheck {
  healedAt: number;
  boundMs: number;
  /** From healedAt to the first acknowledgement of an op invoked at or after it; null when none. */
  ms: number | null;
  ok: boolean;
}

export interface Verdict {
  /** No loss, no phantom, no dual window, linearizable, writable in time (when asked). */
  ok: boolean;
  /** Acknowledged writes missing: ids plus probe rows. */
  lost: number;
  lostIds: number[];
  lostProbes: string[];
  /** Ids present that were never invoked or whose insert definitely failed. */
  phantomIds: number[];
  dualWindows: DualWindow[];
  linearizable: boolean;
  linearizability: LinearizabilityResult;
  writable: WritableCheck | null;
  counts: {
    ops: Record<string, number>;
    probes: Record<string, number>;
    /** Acknowledged writes skipped by the epoch rules because their epoch was NULL. */
    noEpoch: number;
  };
  notes: string[];
}

export interface CheckInput {
  history: History;
  probes: ProbeLog | null;
  final: FinalState;
  /** Measure the return to a writable cluster after this instant (performance.now()). */
  healedAt?: number;
  /** Bound for that, ms. Default 30 000. */
  writableBoundMs?: number;
  /** Passed to checkLinearizable. */
  maxStatesPerKey?: number;
}

const SHOWN = 5;

/** Judge one run. */
export function check(input: CheckInput): Verdict {
  const { history, probes, final } = input;
  const probeRecords = probes?.records ?? [];
  const notes: string[] = [];

  // Lost and phantom ids.
  const present = new Set(final.ids);
  const invoked = new Map<number, Op>();
  for (const op of history.ops) if (op.kind === 'insert' && op.id !== undefined) invoked.set(op.id, op);
  const lostIds = history.ops.filter((o) => o.kind === 'insert' && o.outcome === 'ok' && !present.has(o.id!)).map((o) => o.id!);
  const phantomIds = final.ids.filter((id) => {
    const op = invoked.get(id);
    return op === undefined || op.outcome === 'failed';
  });
  const probeRows = new Set(final.probes);
  const lostProbes = probeRecords.filter((r) => r.outcome === 'ok' && !probeRows.has(`${r.node}:${r.seq}`)).map((r) => `${r.node}:${r.seq}`);

  // Epoch rules.
  const { writes, noEpoch } = ackedWrites(history.ops, probeRecords);
  if (noEpoch > 0) notes.push(`${noEpoch} acknowledged writes had no epoch (rustydb.epoch unset on their engine): the epoch rules skipped them`);
  const origin = runOrigin(history, probes);
  const dualWindows = mergeWindows([
    ...supersededWrites(writes, 'epoch', origin),
    ...supersededWrites(
      writes.filter((w) => w.source === 'probe'),
      'probe',
      origin,
    ),
    ...sameEpochWrites(writes),
  ]);

  // Linearizability of the registers.
  const lin = checkLinearizable(registerHistory(history, final), { maxStatesPerKey: input.maxStatesPerKey });
  if (lin.gaveUp) notes.push(`linearizability not proven: ${lin.explanation}`);

  // Writable again after healing.
  let writable: WritableCheck | null = null;
  if (input.healedAt !== undefined) writable = writableAfter(history.ops, probeRecords, input.healedAt, input.writableBoundMs ?? 30_000);

  const ok = lostIds.length === 0 && lostProbes.length === 0 && phantomIds.length === 0 && dualWindows.length === 0 && lin.ok && (writable?.ok ?? true);
  return {
    ok,
    lost: lostIds.length + lostProbes.length,
    lostIds,
    lostProbes,
    phantomIds,
    dualWindows,
    linearizable: lin.ok,
    linearizability: lin,
    writable,
    counts: { ops: countBy(history.ops, (o) => `${o.kind} ${o.outcome}`), probes: countBy(probeRecords, (r) => r.outcome), noEpoch },
    notes,
  };
}

/** One line per finding, for a log or an assertion message. */
export function summarizeVerdict(v: Verdict): string {
  const lines = [
    `${v.ok ? 'PASS' : 'FAIL'}: ${v.lost} acknowledged writes lost, ${v.phantomIds.length} phantom ids, ${v.dualWindows.length} dual-primary windows, ` +
      `registers ${v.linearizable ? 'linearizable' : v.linearizability.gaveUp ? 'not proven linearizable' : 'NOT linearizable'}` +
      (v.writable ? `, writable ${v.writable.ms === null ? 'never' : `${v.writable.ms.toFixed(0)} ms`} after healing (bound ${v.writable.boundMs} ms)` : ''),
    `ops: ${formatCounts(v.counts.ops)}; probes: ${formatCounts(v.counts.probes)}`,
  ];
  if (v.lostIds.length > 0) lines.push(`lost ids: ${v.lostIds.slice(0, 20).join(', ')}${v.lostIds.length > 20 ? ' …' : ''}`);
  if (v.lostProbes.length > 0) lines.push(`lost probe rows: ${v.lostProbes.slice(0, 20).join(', ')}${v.lostProbes.length > 20 ? ' …' : ''}`);
  if (v.phantomIds.length > 0) lines.push(`phantom ids: ${v.phantomIds.slice(0, 20).join(', ')}`);
  for (const w of v.dualWindows) lines.push(`dual-primary window: ${w.text}`);
  if (!v.linearizable && v.linearizability.explanation) lines.push(v.linearizability.explanation);
  lines.push(...v.notes.map((n) => `note: ${n}`));
  return lines.join('\n');
}

/** The run's time zero: the earlier of the workload's and the prober's start (what timelines count from). */
export function runOrigin(history: Pick<History, 'startedAt'>, probes: Pick<ProbeLog, 'startedAt'> | null): number {
  return Math.min(history.startedAt, probes?.startedAt ?? Infinity);
}

// ---------------------------------------------------------------------------
// Epoch rules

/** An acknowledged op that changed the database: an insert, a write, an applied CAS (not a read, not a refused CAS). */
export function isAckedWrite(o: Op): boolean {
  return o.outcome === 'ok' && (o.kind === 'insert' || o.kind === 'write' || (o.kind === 'cas' && o.casApplied === true));
}

/** Every acknowledged write with an epoch, and how many acknowledged writes had none. */
export function ackedWrites(ops: Op[], probes: ProbeRecord[]): { writes: AckedWrite[]; noEpoch: number } {
  const writes: AckedWrite[] = [];
  let noEpoch = 0;
  for (const o of ops) {
    if (!isAckedWrite(o)) continue;
    if (o.epoch === null || o.epoch === undefined) {
      noEpoch++;
      continue;
    }
    writes.push({ source: 'client', who: o.client, what: describeOp(o), node: o.node ?? '?', epoch: o.epoch, invoke: o.invoke, complete: o.complete });
  }
  for (const r of probes) {
    if (r.outcome !== 'ok') continue;
    if (r.epoch === null) {
      noEpoch++;
      continue;
    }
    writes.push({ source: 'probe', who: 'probe', what: `probe ${r.node}:${r.seq}`, node: r.node, epoch: r.epoch, invoke: r.invoke, complete: r.complete });
  }
  return { writes, noEpoch };
}

/**
 * Writes invoked after a write in a higher epoch had completed. `probe`:
 * only a higher-epoch write of a different node counts (the probe rule).
 */
export function supersededWrites(writes: AckedWrite[], rule: 'epoch' | 'probe', origin = 0): DualWindow[] {
  const byComplete = [...writes].sort((a, b) => a.complete - b.complete);
  const byInvoke = [...writes].sort((a, b) => a.invoke - b.invoke);
  // Sweep: `best` and `second` hold the highest-epoch completed writes of two different nodes, so the
  // probe rule can always find the highest one on a node other than the write's own.
  let best: AckedWrite | null = null;
  let second: AckedWrite | null = null;
  let j = 0;
  const offenders = new Map<string, { writes: AckedWrite[]; evidence: AckedWrite }>();
  for (const w of byInvoke) {
    while (j < byComplete.length && byComplete[j].complete < w.invoke) {
      const c = byComplete[j++];
      if (!best || c.epoch > best.epoch) {
        if (best && best.node !== c.node) second = best;
        best = c;
      } else if (c.node !== best.node && (!second || c.epoch > second.epoch)) {
        second = c;
      }
    }
    const higher = rule === 'probe' && best?.node === w.node ? second : best;
    if (!higher || higher.epoch <= w.epoch) continue;
    const key = `${w.node}@${w.epoch}`;
    const o = offenders.get(key);
    if (o) o.writes.push(w);
    else offenders.set(key, { writes: [w], evidence: higher });
  }
  return [...offenders.values()].map(({ writes: ws, evidence }) => {
    const w0 = ws[0];
    return {
      rules: [rule],
      node: w0.node,
      epoch: w0.epoch,
      higherEpoch: evidence.epoch,
      from: Math.min(...ws.map((w) => w.invoke)),
      to: Math.max(...ws.map((w) => w.complete)),
      writes: ws.slice(0, SHOWN),
      evidence: [evidence],
      text:
        `${w0.node} acknowledged ${ws.length} write(s) in epoch ${w0.epoch} invoked after epoch ${evidence.epoch} was live ` +
        `(${evidence.what} acknowledged by ${evidence.node} at ${ms(evidence.complete - origin)}); first: ${w0.what} invoked at ${ms(w0.invoke - origin)}`,
    };
  });
}

/** Epochs in which more than one node acknowledged a write. */
export function sameEpochWrites(writes: AckedWrite[]): DualWindow[] {
  const byEpoch = new Map<number, Map<string, AckedWrite[]>>();
  for (const w of writes) {
    let nodes = byEpoch.get(w.epoch);
    if (!nodes) byEpoch.set(w.epoch, (nodes = new Map()));
    const list = nodes.get(w.node);
    if (list) list.push(w);
    else nodes.set(w.node, [w]);
  }
  const out: DualWindow[] = [];
  for (const [epoch, nodes] of byEpoch) {
    if (nodes.size < 2) continue;
    const all = [...nodes.values()].flat();
    const names = [...nodes.keys()].sort();
    out.push({
      rules: ['same-epoch'],
      node: names.join('+'),
      epoch,
      from: Math.min(...all.map((w) => w.invoke)),
      to: Math.max(...all.map((w) => w.complete)),
      writes: all.sort((a, b) => a.invoke - b.invoke).slice(0, SHOWN),
      evidence: [...nodes.values()].map((l) => l[0]),
      text: `nodes ${names.join(', ')} all acknowledged writes in epoch ${epoch} (${names.map((n) => `${n}: ${nodes.get(n)!.length}`).join(', ')})`,
    });
  }
  return out;
}

/** One window per (rule family, node, epoch); the rules that saw it are merged. */
function mergeWindows(windows: DualWindow[]): DualWindow[] {
  const out = new Map<string, DualWindow>();
  for (const w of windows) {
    const key = `${w.rules.includes('same-epoch') ? 'same' : 'superseded'}|${w.node}|${w.epoch}`;
    const had = out.get(key);
    if (!had) {
      out.set(key, { ...w });
      continue;
    }
    // The epoch rule sees every write the probe rule sees, so keep its window and record both rules.
    had.rules = [...new Set([...had.rules, ...w.rules])];
  }
  return [...out.values()].sort((a, b) => a.from - b.from);
}

// ---------------------------------------------------------------------------
// Registers

/**
 * The register ops as the linearizability checker's history: failed ops left
 * out (they never took effect), unknown ones with no completion, and each
 * key's final stored value appended as a read at the final read's time.
 */
export function registerHistory(history: History, final: Pick<FinalState, 'kv' | 'invoke' | 'complete'>): HistoryOp[] {
  const out: HistoryOp[] = [];
  for (const o of history.ops) {
    if (o.kind === 'insert' || o.outcome === 'failed' || o.key === undefined) continue;
    const known = o.outcome === 'ok';
    const base = { id: o.seq, client: o.client, invoke: o.invoke, complete: known ? o.complete : null };
    if (o.kind === 'read') {
      out.push({ ...base, op: { kind: 'get', key: o.key }, result: known ? { value: o.readValue ?? null, version: o.version! } : null });
    } else if (o.kind === 'write') {
      out.push({ ...base, op: { kind: 'put', key: o.key, value: o.value! }, result: known ? { ok: true, version: o.version! } : null });
    } else {
      out.push({
        ...base,
        op: { kind: 'put', key: o.key, value: o.value!, expectVersion: o.expectVersion },
        result: known ? { ok: o.casApplied === true, version: o.version! } : null,
      });
    }
  }
  let id = Math.max(0, ...history.ops.map((o) => o.seq)) + 1;
  for (const kv of final.kv) {
    if (!history.keys.includes(kv.k)) continue;
    out.push({ id: id++, client: 'final', op: { kind: 'get', key: kv.k }, invoke: final.invoke, complete: final.complete, result: { value: kv.v, version: kv.version } });
  }
  return out;
}

// ---------------------------------------------------------------------------
// Writable after healing

/** Time from `healedAt` to the first acknowledged op (client or probe, write or read) invoked at or after it. */
export function writableAfter(ops: Op[], probes: ProbeRecord[], healedAt: number, boundMs: number): WritableCheck {
  let first = Infinity;
  for (const o of ops) if (o.outcome === 'ok' && o.kind !== 'read' && o.invoke >= healedAt) first = Math.min(first, o.complete);
  for (const r of probes) if (r.outcome === 'ok' && r.invoke >= healedAt) first = Math.min(first, r.complete);
  const msTaken = first === Infinity ? null : first - healedAt;
  return { healedAt, boundMs, ms: msTaken, ok: msTaken !== null && msTaken <= boundMs };
}

// ---------------------------------------------------------------------------

/** `insert id 17`, `cas k0 expect v3 = r1.9`, … (no outcome). */
export function describeOp(o: Op): string {
  switch (o.kind) {
    case 'insert':
      return `insert id ${o.id}`;
    case 'read':
      return `read ${o.key}`;
    case 'write':
      return `write ${o.key} = ${o.value}`;
    case 'cas':
      return `cas ${o.key} expect v${o.expectVersion} = ${o.value}`;
  }
}

/** The op with its outcome and times, e.g. `w2 insert id 17 -> ok on n1 epoch 4 [12.003s..12.010s]`. */
export function formatClientOp(o: Op, origin = 0): string {
  let result: string = o.outcome;
  if (o.outcome === 'ok') {
    const extra = o.kind === 'read' ? ` ${o.readValue ?? 'null'} v${o.version}` : o.kind === 'cas' ? ` ${o.casApplied ? 'applied' : 'refused'} v${o.version}` : o.version !== undefined ? ` v${o.version}` : '';
    result = `ok${extra} on ${o.node} epoch ${o.epoch ?? '-'}`;
  } else if (o.error) {
    result = `${o.outcome} (${o.error})`;
  }
  return `${o.client} ${describeOp(o)} -> ${result} [${ms(o.invoke - origin)}..${ms(o.complete - origin)}]`;
}

/** Seconds with ms, e.g. `12.345s`. */
export function ms(t: number): string {
  return `${(t / 1000).toFixed(3)}s`;
}

function countBy<T>(xs: T[], key: (x: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const x of xs) out[key(x)] = (out[key(x)] ?? 0) + 1;
  return out;
}

function formatCounts(c: Record<string, number>): string {
  const parts = Object.entries(c)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, n]) => `${n} ${k}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

