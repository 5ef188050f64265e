/**
 * What a person reads when a scenario fails: one line per event, times in
 * seconds (with ms) from the start of the run, merged and sorted — faults
 * injected and healed (given by the runner), role changes as the prober and
 * the clients saw them, acknowledged/unknown/failed counts per second — and
 * at the end the missing ids and dual-primary windows with the ops involved.
 */

import { describeOp, formatClientOp, isAckedWrite, ms, runOrigin, type AckedWrite, type Verdict } from './checker.ts';
import type { ProbeLog, ProbeRecord } from './probes.ts';
import type { History, Op } from './workload.ts';

/** Something the runner did or saw, at harness time `at` (performance.now()). */
export interface TimelineEvent {
  at: number;
  text: string;
}

export interface TimelineInput {
  events: TimelineEvent[];
  history: History;
  probes: ProbeLog | null;
  verdict: Verdict | null;
  /** Time zero; default the earlier of the workload's and the prober's start. */
  origin?: number;
}

type Tag = 'fault' | 'role' | 'client' | 'ops';

/** One timeline line before formatting. */
export interface TimelineLine {
  at: number;
  tag: Tag;
  text: string;
}

/** The timeline as text, one event per line. */
export function formatTimeline(input: TimelineInput): string {
  const { history, probes, verdict } = input;
  const origin = input.origin ?? runOrigin(history, probes);
  const lines: TimelineLine[] = [
    ...input.events.map((e) => ({ at: e.at, tag: 'fault' as const, text: e.text })),
    ...probeRoleChanges(probes?.records ?? []),
    ...clientEpochChanges(history.ops),
    ...perSecond(history.ops, probes?.records ?? [], origin),
  ];
  const order: Record<Tag, number> = { fault: 0, role: 1, client: 2, ops: 3 };
  lines.sort((a, b) => a.at - b.at || order[a.tag] - order[b.tag]);

  const out = lines.map((l) => `${ms(l.at - origin).padStart(9)}  ${l.tag.padEnd(6)}  ${l.text}`);
  if (verdict) out.push(...findings(verdict, history, origin));
  return out.join('\n');
}

/** Per node: when it started acknowledging probe writes (and in which epoch), when its epoch changed, when it stopped. */
export function probeRoleChanges(records: ProbeRecord[]): TimelineLine[] {
  const out: TimelineLine[] = [];
  const byNode = new Map<string, ProbeRecord[]>();
  for (const r of records) {
    const l = byNode.get(r.node);
    if (l) l.push(r);
    else byNode.set(r.node, [r]);
  }
  for (const [node, rs] of byNode) {
    rs.sort((a, b) => a.invoke - b.invoke);
    let acking = false;
    let epoch: number | null = null;
    for (const r of rs) {
      if (r.outcome === 'ok') {
        if (!acking) out.push({ at: r.complete, tag: 'role', text: `${node} acks probe writes (epoch ${r.epoch ?? '-'})` });
        else if (r.epoch !== epoch) out.push({ at: r.complete, tag: 'role', text: `${node} acks probe writes in epoch ${r.epoch ?? '-'} (was ${epoch ?? '-'})` });
        acking = true;
        epoch = r.epoch;
      } else if (acking) {
        out.push({ at: r.complete, tag: 'role', text: `${node} stopped acking probe writes (${r.outcome}: ${r.error ?? 'no message'})` });
        acking = false;
      }
    }
  }
  return out;
}

/** The first client acknowledgement by each (node, epoch). */
function clientEpochChanges(ops: Op[]): TimelineLine[] {
  const seen = new Set<string>();
  const out: TimelineLine[] = [];
  for (const o of [...ops].sort((a, b) => a.complete - b.complete)) {
    if (!isAckedWrite(o)) continue;
    const key = `${o.node}@${o.epoch ?? '-'}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ at: o.complete, tag: 'client', text: `first client write acknowledged by ${o.node} in epoch ${o.epoch ?? '-'} (${o.client} ${describeOp(o)})` });
  }
  return out;
}

/** One line per second of the run: client outcomes by completion time, and probe acks per node. */
function perSecond(ops: Op[], probes: ProbeRecord[], origin: number): TimelineLine[] {
  const buckets = new Map<number, { ok: number; unknown: number; failed: number; probes: Map<string, number> }>();
  const bucket = (t: number) => {
    const s = Math.floor((t - origin) / 1000);
    let b = buckets.get(s);
    if (!b) buckets.set(s, (b = { ok: 0, unknown: 0, failed: 0, probes: new Map() }));
    return b;
  };
  for (const o of ops) bucket(o.complete)[o.outcome]++;
  for (const r of probes) {
    const b = bucket(r.complete);
    if (r.outcome === 'ok') b.probes.set(r.node, (b.probes.get(r.node) ?? 0) + 1);
  }
  const nodes = [...new Set(probes.map((r) => r.node))].sort();
  return [...buckets.entries()]
    .sort(([a], [b]) => a - b)
    .map(([s, b]) => {
      const p = nodes.length > 0 ? `; probe acks ${nodes.map((n) => `${n} ${b.probes.get(n) ?? 0}`).join(', ')}` : '';
      // At the end of the second, so the counts read as "what that second did".
      return { at: origin + (s + 1) * 1000 - 0.001, tag: 'ops' as const, text: `second ${s}: clients ${b.ok} ok, ${b.unknown} unknown, ${b.failed} failed${p}` };
    });
}

/** The verdict's findings with the ops involved. */
function findings(v: Verdict, history: History, origin: number): string[] {
  const out: string[] = ['', `verdict: ${v.ok ? 'PASS' : 'FAIL'}`];
  if (v.lostIds.length > 0) {
    out.push(`missing ids (${v.lostIds.length}, acknowledged but not on the final primary):`);
    const byId = new Map(history.ops.filter((o) => o.kind === 'insert').map((o) => [o.id, o]));
    for (const id of v.lostIds.slice(0, 20)) {
      const o = byId.get(id);
      out.push(`  ${o ? formatClientOp(o, origin) : `id ${id}`}`);
    }
    if (v.lostIds.length > 20) out.push(`  … ${v.lostIds.length - 20} more`);
  }
  if (v.lostProbes.length > 0) out.push(`missing probe rows (${v.lostProbes.length}): ${v.lostProbes.slice(0, 20).join(', ')}`);
  if (v.phantomIds.length > 0) out.push(`phantom ids (present, never invoked or definitely failed): ${v.phantomIds.slice(0, 20).join(', ')}`);
  for (const w of v.dualWindows) {
    out.push(`dual-primary window [${w.rules.join(', ')}] ${ms(w.from - origin)}..${ms(w.to - origin)}: ${w.text}`);
    for (const x of w.writes) out.push(`  offending: ${formatWrite(x, origin)}`);
    for (const x of w.evidence) out.push(`  evidence:  ${formatWrite(x, origin)}`);
  }
  if (!v.linearizable && v.linearizability.explanation) out.push(...v.linearizability.explanation.split('\n').map((l) => `  ${l}`));
  if (v.writable) out.push(`writable after healing: ${v.writable.ms === null ? 'never' : `${v.writable.ms.toFixed(0)} ms`} (bound ${v.writable.boundMs} ms)`);
  out.push(...v.notes.map((n) => `note: ${n}`));
  return out;
}

function formatWrite(w: AckedWrite, origin: number): string {
  return `${w.source === 'client' ? `${w.who} ` : ''}${w.what} -> ok on ${w.node} epoch ${w.epoch} [${ms(w.invoke - origin)}..${ms(w.complete - origin)}]`;
}
