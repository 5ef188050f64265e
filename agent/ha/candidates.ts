/**
 * Which standby may become primary (Invariant 2: no acknowledged write is lost
 * by an automatic failover).
 *
 * The primary record promises that every acknowledged commit is flushed on at
 * least k of its synchronous standbys S. Once |S| - k + 1 of them have stopped
 * receiving WAL and reported their flushed position, at least one of the
 * reporters holds every acknowledged commit (pigeonhole), and so does the most
 * advanced reporter. With fewer reports the comparison proves nothing, and an
 * automatic failover must not guess.
 */

import { compareLsn, lsnDiff } from './lsn.ts';
import type { MemberRecord, PrimaryRecord } from '../state/records.ts';

export interface CandidateReport {
  id: string;
  /** Flushed (received) WAL position after the node stopped receiving; null if unknown. */
  flushLsn: string | null;
  timeline: number | null;
}

/** Can this member be promoted at all (before looking at its WAL)? Returns why not, or null. */
export function ineligibility(m: MemberRecord, currentPrimary: string): string | null {
  if (m.id === currentPrimary) return 'it is the current primary';
  if (m.kind === 'observer') return 'it is an observer (asynchronous, never promoted)';
  if (m.kind === 'witness') return 'it is a witness (no database)';
  if (m.tags.includes('nofailover')) return 'it is tagged nofailover';
  if (m.adminState !== 'active') return `it is ${m.adminState}`;
  return null;
}

export type TargetChoice =
  | { ok: true; target: string; why: string; lsns: Record<string, string | null>; dataLossBytes: number | null }
  | { ok: false; why: string; lsns: Record<string, string | null> };

export interface ChooseArgs {
  record: PrimaryRecord;
  members: readonly MemberRecord[];
  reports: readonly CandidateReport[];
  /** Operator's choice of target (null: pick the best). */
  to: string | null;
  /** Emergency failover the operator confirmed: promote `to` even if it may lack commits. */
  force: boolean;
}

export function chooseTarget(a: ChooseArgs): TargetChoice {
  const lsns: Record<string, string | null> = {};
  for (const r of a.reports) lsns[r.id] = r.flushLsn;
  const byId = new Map(a.members.map((m) => [m.id, m]));

  if (a.to !== null) {
    const m = byId.get(a.to);
    if (!m) return { ok: false, why: `${a.to} is not a member of the cluster`, lsns };
    const why = ineligibility(m, a.record.node);
    if (why) return { ok: false, why: `${a.to} cannot be promoted: ${why}`, lsns };
  }

  const { k, standbys } = a.record.sync;
  const reported = a.reports.filter((r) => standbys.includes(r.id) && r.flushLsn !== null);
  const needed = standbys.length - k + 1;
  const conclusive = k > 0 && reported.length >= needed;
  const best = reported.reduce<CandidateReport | null>((b, r) => (b === null || compareLsn(r.flushLsn!, b.flushLsn!) > 0 ? r : b), null);

  if (a.force) {
    if (a.to === null) return { ok: false, why: 'a forced failover needs an explicit target (--to)', lsns };
    const mine = a.reports.find((r) => r.id === a.to);
    if (!mine || mine.flushLsn === null) return { ok: false, why: `${a.to} did not report its WAL position: is its agent up?`, lsns };
    const loss = best && conclusive ? Math.max(0, lsnDiff(best.flushLsn!, mine.flushLsn)) : null;
    return { ok: true, target: a.to, why: `forced failover to ${a.to} confirmed by the operator`, lsns, dataLossBytes: loss };
  }

  if (k === 0) {
    return {
      ok: false,
      why: 'the primary ran without synchronous standbys, so no standby provably holds every acknowledged commit; the cluster stays read-only (an operator may force a failover and accept the loss)',
      lsns,
    };
  }
  if (!conclusive || !best) {
    return {
      ok: false,
      why: `only ${reported.length} of the ${standbys.length} synchronous standbys reported their WAL position, ${needed} are needed to know which one holds every acknowledged commit; waiting (or force a failover and accept possible loss)`,
      lsns,
    };
  }
  // Every eligible reporter level with the best holds every acknowledged commit.
  const complete = reported.filter((r) => compareLsn(r.flushLsn!, best.flushLsn!) === 0);
  if (a.to !== null) {
    if (complete.some((r) => r.id === a.to)) {
      return { ok: true, target: a.to, why: `${a.to} holds every acknowledged commit (${best.flushLsn})`, lsns, dataLossBytes: 0 };
    }
    const mine = lsns[a.to];
    return {
      ok: false,
      why: `${a.to} is behind (${mine ?? 'unknown'} < ${best.flushLsn}) and may lack acknowledged commits; choose ${best.id}, or force it and accept the loss`,
      lsns,
    };
  }
  const eligible = complete
    .filter((r) => {
      const m = byId.get(r.id);
      return m !== undefined && ineligibility(m, a.record.node) === null;
    })
    .sort((x, y) => (byId.get(y.id)!.weight - byId.get(x.id)!.weight) || (x.id < y.id ? -1 : 1));
  if (eligible.length === 0) {
    return {
      ok: false,
      why: `the standbys holding every acknowledged commit (${complete.map((r) => r.id).join(', ')}) cannot be promoted; the cluster stays read-only until one can`,
      lsns,
    };
  }
  const target = eligible[0].id;
  return { ok: true, target, why: `${target} holds every acknowledged commit (${best.flushLsn}, ${reported.length} of ${standbys.length} synchronous standbys compared)`, lsns, dataLossBytes: 0 };
}
