/**
 * The failover / switchover procedure, run by the Raft leader's agent.
 *
 * 1. Planned switchover (primary healthy, not forced): ask the primary to stop
 *    its engine cleanly. On a clean shutdown PostgreSQL's WAL senders hand all
 *    WAL to the connected standbys, so nothing acknowledged stays behind.
 * 2. Ask every candidate to stop receiving WAL and report its flushed position:
 *    a still-running old primary can then no longer move them while we compare.
 * 3. Choose a target that provably holds every acknowledged commit
 *    (`chooseTarget`), or stop and say why.
 * 4. Commit the new primary record (epoch + 1) by compare-and-set. Only then
 *    may the target promote (Invariant 1); its own HA loop does that.
 *
 * Every step is safe to repeat: the procedure may die anywhere and the next
 * cycle re-runs it from the replicated state.
 */

import type { ClusterState, Snapshot, Versioned } from '../state/cluster-state.ts';
import type { FailoverRequest, PrimaryRecord } from '../state/records.ts';
import { chooseTarget, ineligibility, type CandidateReport } from '../ha/candidates.ts';
import { compareLsn } from '../ha/lsn.ts';
import type { PeerClient, PositionReport } from '../ha/peers.ts';

export interface FailoverContext {
  state: ClusterState;
  peers: PeerClient;
  snapshot: Snapshot;
  request: Versioned<FailoverRequest> | null;
  primaryHealthy: boolean;
  reason: string;
  /** How long candidates hold WAL streaming off (covers the comparison and the commit). */
  holdMs: number;
  isoNow: () => string;
  /** Monotonic ms (default performance.now()). */
  now?: () => number;
  log: (msg: string) => void;
}

export type FailoverOutcome =
  | { ok: true; target: string; epoch: number; message: string; lsns: Record<string, string | null> }
  | { ok: false; message: string; lsns: Record<string, string | null> };

export async function runFailover(c: FailoverContext): Promise<FailoverOutcome> {
  const primary = c.snapshot.primary;
  if (!primary) return { ok: false, message: 'there is no primary record yet; nothing to fail over from', lsns: {} };
  const old: PrimaryRecord = primary.value;
  const members = c.snapshot.members;
  const byId = new Map(members.map((m) => [m.id, m]));
  const req = c.request?.value ?? null;
  const planned = req !== null && !req.force && c.primaryHealthy;

  let final: PositionReport | null = null;
  if (planned) {
    const p = byId.get(old.node);
    if (!p) return { ok: false, message: `the primary ${old.node} is not a member; cannot switch over`, lsns: {} };
    try {
      final = await c.peers.demote(p.apiUrl, old.epoch, c.holdMs);
      c.log(`switchover: ${old.node} stopped cleanly at ${final.flushLsn}`);
    } catch (err) {
      return { ok: false, message: `could not stop the primary ${old.node} cleanly (${errText(err)}); nothing changed`, lsns: {} };
    }
  }

  const candidates = members.filter((m) => ineligibility(m, old.node) === null || (req?.force && m.id === req.to && m.kind !== 'witness'));
  // Candidates hold off streaming from the old primary for holdMs from when they get our
  // request. The new record must be committed well inside that window: a candidate whose
  // hold ran out resumes streaming from the old primary (still in the record) and may help
  // it acknowledge writes the new primary never sees. So the whole comparison and commit
  // get half the hold, measured from before the requests left.
  const now = c.now ?? (() => performance.now());
  const preparedAt = now();
  const budgetMs = Math.floor(c.holdMs / 2);
  const reports: CandidateReport[] = [];
  await Promise.all(
    candidates.map(async (m) => {
      try {
        const r = await c.peers.prepare(m.apiUrl, old.epoch, c.holdMs);
        reports.push({ id: m.id, flushLsn: r.flushLsn, timeline: r.timeline });
      } catch (err) {
        c.log(`failover: candidate ${m.id} did not report (${errText(err)})`);
      }
    }),
  );
  reports.sort((a, b) => (a.id < b.id ? -1 : 1));

  const choice = chooseTarget({ record: old, members, reports, to: req?.to ?? null, force: req?.force ?? false });
  const lsns = { ...choice.lsns, ...(final ? { [old.node]: final.flushLsn } : {}) };
  if (!choice.ok) {
    await releaseAll(c, candidates.map((m) => m.apiUrl).concat(planned ? [byId.get(old.node)!.apiUrl] : []));
    return { ok: false, message: choice.why, lsns };
  }
  if (final?.flushLsn) {
    const mine = reports.find((r) => r.id === choice.target)?.flushLsn;
    if (!mine || compareLsn(mine, final.flushLsn) < 0) {
      await releaseAll(c, candidates.map((m) => m.apiUrl).concat([byId.get(old.node)!.apiUrl]));
      return { ok: false, message: `${choice.target} did not receive everything the primary wrote (${mine ?? 'unknown'} < ${final.flushLsn}); switchover aborted, ${old.node} stays primary`, lsns };
    }
  }

  const left = budgetMs - (now() - preparedAt);
  if (left < Math.min(1000, budgetMs / 4)) {
    await releaseAll(c, candidates.map((m) => m.apiUrl).concat(planned ? [byId.get(old.node)!.apiUrl] : []));
    return { ok: false, message: `comparing candidates took ${Math.round(now() - preparedAt)} ms, too close to their ${c.holdMs} ms hold; nothing changed, retrying`, lsns };
  }

  const next: PrimaryRecord = {
    node: choice.target,
    epoch: old.epoch + 1,
    since: c.isoNow(),
    reason: c.reason,
    // The new primary promises nothing until its own loop has raised and recorded its synchronous set.
    sync: { k: 0, standbys: [] },
  };
  await c.state.putPrimary(next, primary.version, `primary-epoch-${next.epoch}`, left);
  const involved = candidates.map((m) => m.apiUrl).concat(planned ? [byId.get(old.node)!.apiUrl] : []);
  await Promise.all([
    (async () => {
      await c.state.appendHistory({ epoch: next.epoch, from: old.node, to: next.node, reason: c.reason, at: next.since, lsns });
      if (c.request) await c.state.clearFailoverRequest(c.request.version).catch(() => {});
    })(),
    // The target promotes and the others re-follow on their next cycle: make that now
    // (clients are without a primary until then; the history can be written meanwhile).
    ...involved.map(async (u) => {
      await c.peers.release(u, next.epoch).catch(() => {});
      await c.peers.wake(u).catch(() => {});
    }),
  ]);
  return { ok: true, target: next.node, epoch: next.epoch, message: `${next.node} is the primary of epoch ${next.epoch}: ${choice.why}`, lsns };
}

async function releaseAll(c: FailoverContext, urls: string[], epoch?: number): Promise<void> {
  await Promise.all(urls.map((u) => c.peers.release(u, epoch).catch(() => {})));
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
