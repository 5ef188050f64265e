/**
 * Global safety invariants of Raft (paper Figure 3), checked continuously
 * against everything every node persists and applies during a simulated run.
 * Each check throws a {@link Violation} at the first counter-example.
 */
import type { Entry, NodeId, SnapshotMeta } from '../../agent/raft/types.ts';
import type { SimDisk } from './disk.ts';
import { Violation } from './violation.ts';

interface LoggedEntry {
  type: string;
  data: string;
  /** Term of the entry before it in the log that persisted it; -1 when unknown (compacted). */
  prevTerm: number;
  node: NodeId;
}

interface CommittedPoint {
  term: number;
  /**
   * Upper bound of the term in which the entry was committed: the smallest
   * current term of a node seen knowing it committed (the committing leader's,
   * usually). Leader completeness binds leaders of later terms only; a leader
   * of an earlier term can still finish its election late (it counts votes
   * that were delayed) without the entry, legitimately.
   */
  commitTerm: number;
  /** How it became known: applied there, a snapshot ending there, or a durable commit index covering it. */
  how: 'applied' | 'restored a snapshot ending in' | 'durably committed';
  /** undefined when only known from a snapshot's metadata. */
  type?: string;
  data?: string;
  node: NodeId;
}

export class SafetyChecker {
  /** term -> the leader of that term (election safety). */
  private readonly leaders = new Map<number, NodeId>();
  /** "index:term" -> the entry (log matching). */
  private readonly logged = new Map<string, LoggedEntry>();
  /** index -> the entry some node applied there, or the snapshot point some node installed. */
  private readonly committed = new Map<number, CommittedPoint>();
  /** index -> state-machine snapshot data taken at that index. */
  private readonly smAt = new Map<number, { data: string; node: NodeId }>();
  maxCommitted = 0;

  /** Called whenever a node is seen as leader. */
  leaderSeen(node: NodeId, term: number): void {
    const prev = this.leaders.get(term);
    if (prev === undefined) this.leaders.set(term, node);
    else if (prev !== node) throw new Violation('election-safety', `two leaders in term ${term}: ${prev} and ${node}`);
  }

  /** Every entry made durable on a node; `prevTerm` is the term before `entries[0]` on that disk. */
  persisted(node: NodeId, entries: Entry[], prevTerm: number | undefined): void {
    let pt = prevTerm ?? -1;
    for (const e of entries) {
      const key = `${e.index}:${e.term}`;
      const seen = this.logged.get(key);
      if (!seen) {
        this.logged.set(key, { type: e.type, data: e.data, prevTerm: pt, node });
      } else {
        if (seen.type !== e.type || seen.data !== e.data) {
          throw new Violation('log-matching', `entry ${key} differs: ${seen.node} has ${seen.type} ${short(seen.data)}, ${node} has ${e.type} ${short(e.data)}`);
        }
        if (seen.prevTerm >= 0 && pt >= 0 && seen.prevTerm !== pt) {
          throw new Violation('log-matching', `entry ${key} follows term ${seen.prevTerm} on ${seen.node} but term ${pt} on ${node}: the logs differ before it`);
        }
        if (seen.prevTerm < 0) seen.prevTerm = pt;
      }
      pt = e.term;
    }
  }

  /** A node applied a committed entry. */
  applied(node: NodeId, e: Entry, nodeTerm: number): void {
    const seen = this.committed.get(e.index);
    if (!seen) {
      this.committed.set(e.index, { term: e.term, commitTerm: nodeTerm, how: 'applied', type: e.type, data: e.data, node });
      if (e.index > this.maxCommitted) this.maxCommitted = e.index;
      return;
    }
    if (seen.term !== e.term || (seen.data !== undefined && (seen.type !== e.type || seen.data !== e.data))) {
      throw new Violation('state-machine-safety', `index ${e.index}: ${seen.node} ${seen.how} term ${seen.term} ${short(seen.data ?? '')}, ${node} applied term ${e.term} ${short(e.data)}`);
    }
    if (seen.data === undefined) {
      seen.type = e.type;
      seen.data = e.data;
    }
    if (nodeTerm < seen.commitTerm) seen.commitTerm = nodeTerm;
  }

  /** A node restored its state machine from a snapshot (received, or its own at restart). */
  snapshotRestored(node: NodeId, meta: SnapshotMeta, data: string, nodeTerm: number): void {
    if (meta.index === 0) return;
    const seen = this.committed.get(meta.index);
    if (seen && seen.term !== meta.term) {
      throw new Violation('state-machine-safety', `index ${meta.index}: ${seen.node} ${seen.how} term ${seen.term}, ${node} restored a snapshot ending in term ${meta.term}`);
    }
    if (!seen) {
      this.committed.set(meta.index, { term: meta.term, commitTerm: nodeTerm, how: 'restored a snapshot ending in', node });
      if (meta.index > this.maxCommitted) this.maxCommitted = meta.index;
    } else if (nodeTerm < seen.commitTerm) seen.commitTerm = nodeTerm;
    this.stateMachineAt(node, meta.index, data);
  }

  /**
   * A node made its commit index durable over an entry of `term` at `index`: from
   * then on that entry is committed, and every node must apply exactly it there.
   * (Earlier than waiting for someone to apply it: a crash right after can hide it.)
   */
  durablyCommitted(node: NodeId, index: number, term: number, nodeTerm: number): void {
    const seen = this.committed.get(index);
    if (!seen) {
      this.committed.set(index, { term, commitTerm: nodeTerm, how: 'durably committed', node });
      if (index > this.maxCommitted) this.maxCommitted = index;
    } else if (seen.term !== term) {
      throw new Violation('state-machine-safety', `index ${index}: ${seen.node} ${seen.how} term ${seen.term}, ${node} durably committed term ${term} there`);
    } else if (nodeTerm < seen.commitTerm) seen.commitTerm = nodeTerm;
  }

  /** The state machine of `node` after applying up to `index` serializes to `data`: all nodes must agree. */
  stateMachineAt(node: NodeId, index: number, data: string): void {
    const seen = this.smAt.get(index);
    if (!seen) this.smAt.set(index, { data, node });
    else if (seen.data !== data) {
      throw new Violation('state-machine-safety', `state machines differ after index ${index}: ${seen.node} has ${short(seen.data)}, ${node} has ${short(data)}`);
    }
  }

  /**
   * Leader completeness, for elections that have not happened yet: a node that
   * *could* win an election now (its durable log is at least as up to date as
   * those of a majority of the voters of its own configuration, §5.4.1) must
   * already hold the highest committed entry (and with it, by log matching,
   * every earlier one). Raft's proof of leader completeness covers such
   * hypothetical elections too, since votes depend on durable logs only; this
   * catches an unsafe commit at once instead of waiting for the unlucky election.
   * Call between steps, when every running node's log is durable.
   */
  electableHoldCommitted(disks: ReadonlyMap<NodeId, SimDisk>, skip: (id: NodeId) => boolean): void {
    const m = this.maxCommitted;
    const c = this.committed.get(m);
    if (m === 0 || !c) return;
    for (const [id, disk] of disks) {
      if (skip(id) || disk.snapshotIndex() >= m || disk.termAt(m) === c.term) continue;
      const voters = disk.membership().voters;
      if (!voters.includes(id)) continue;
      const lastTerm = disk.lastTerm();
      const lastIndex = disk.lastIndex();
      const supporters = voters.filter((v) => {
        const d = disks.get(v);
        if (!d) return false;
        const t = d.lastTerm();
        return lastTerm > t || (lastTerm === t && lastIndex >= d.lastIndex());
      });
      if (supporters.length > voters.length / 2) {
        const has = disk.termAt(m);
        throw new Violation(
          'leader-completeness',
          `${id} could be elected (its log ${lastIndex}/t${lastTerm} is at least as up to date as ${supporters.join(',')} of voters ${voters.join(',')}) but has ${has === undefined ? 'no entry' : `term ${has}`} at index ${m}, where ${c.node} ${c.how} term ${c.term}`,
        );
      }
    }
  }

  /**
   * Leader completeness (§5.4): a leader of `term` holds every entry committed in
   * an earlier term. `disk` is the leader's log, just persisted.
   */
  leaderComplete(node: NodeId, term: number, disk: SimDisk): void {
    const snapIndex = disk.snapshotIndex();
    for (const [index, c] of this.committed) {
      if (c.commitTerm >= term) continue;
      if (index < snapIndex) continue; // inside the leader's snapshot: committed state it already holds
      const t = disk.termAt(index);
      if (t !== c.term) {
        throw new Violation('leader-completeness', `${node} leads term ${term} but has ${t === undefined ? 'no entry' : `term ${t}`} at index ${index}, where ${c.node} ${c.how} term ${c.term}, committed by term ${c.commitTerm} (its log ends at ${disk.lastIndex()})`);
      }
    }
  }
}

function short(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
