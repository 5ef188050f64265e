/**
 * Membership churn of a simulated run: brand-new nodes join as learners (some
 * stay learners: observers), learners are promoted once caught up, members
 * (sometimes the leader) are removed while keeping at least 3 voters, and
 * leadership is transferred. It also tracks the committed configuration and
 * shuts down removed members a little after their removal commits.
 */
import type { Membership, NodeId } from '../../agent/raft/types.ts';
import type { Prng } from './prng.ts';
import { cloneMembership, type SimNode } from './sim-node.ts';

/** What churn needs from the simulation. */
export interface MembershipHost {
  now(): number;
  /** The running leader with the highest term. */
  leader(): SimNode | undefined;
  /** Every node ever created, in creation order. */
  allNodes(): readonly SimNode[];
  node(id: NodeId): SimNode | undefined;
  /** Create and start a brand-new node (empty disk, no configuration). */
  newNode(): SimNode;
  trace(text: string): void;
}

/** The membership operations the fault schedule triggers. */
export interface MembershipActions {
  addLearner(observer: boolean): void;
  hasPromotableLearner(): boolean;
  promoteLearner(): void;
  removeMember(includeLeader: boolean): void;
  transferLeadership(): void;
}

export class MembershipChurn implements MembershipActions {
  /** The newest configuration some node applied (hence committed). */
  committed: { index: number; membership: Membership };
  private readonly observers = new Set<NodeId>();
  /** Nodes that were in some committed configuration; the others are spares that may (re)join. */
  private readonly everMember = new Set<NodeId>();
  private readonly retireAt = new Map<NodeId, number>();

  constructor(
    private readonly rng: Prng,
    private readonly host: MembershipHost,
    initial: Membership,
    /** At most this many nodes (not removed) at once. */
    private readonly maxNodes: number,
    /** A removed member keeps running up to this many ticks after its removal commits. */
    private readonly retireDelay: number,
  ) {
    this.committed = { index: 0, membership: cloneMembership(initial) };
    for (const id of initial.voters) this.everMember.add(id);
  }

  /** Members of the committed configuration: whom clients know about. */
  members(): NodeId[] {
    const m = this.committed.membership;
    return [...m.voters, ...m.learners];
  }

  /** A configuration was applied somewhere (so it is committed). Members that left it are shut down later. */
  configCommitted(index: number, m: Membership): void {
    if (index <= this.committed.index) return;
    this.committed = { index, membership: cloneMembership(m) };
    const inConf = new Set([...m.voters, ...m.learners]);
    for (const id of inConf) {
      this.everMember.add(id);
      this.retireAt.delete(id);
    }
    for (const n of this.host.allNodes()) {
      if (n.state !== 'removed' && this.everMember.has(n.id) && !inConf.has(n.id) && !this.retireAt.has(n.id)) {
        this.retireAt.set(n.id, this.host.now() + this.rng.int(0, this.retireDelay));
      }
    }
  }

  /** Once per tick: shut down removed members whose time has come. */
  retireDue(): void {
    for (const [id, at] of this.retireAt) {
      if (at > this.host.now()) continue;
      this.retireAt.delete(id);
      const m = this.committed.membership;
      if (!m.voters.includes(id) && !m.learners.includes(id)) {
        this.host.node(id)!.retire();
        this.host.trace(`${id} retired: removed from the configuration`);
      }
    }
  }

  addLearner(observer: boolean): void {
    const leader = this.host.leader();
    if (!leader?.core) return;
    const m = leader.core.membership;
    const live = this.host.allNodes().filter((n) => n.state !== 'removed');
    let node = live.find((n) => !this.everMember.has(n.id) && !m.voters.includes(n.id) && !m.learners.includes(n.id));
    if (!node) {
      if (live.length >= this.maxNodes) return;
      node = this.host.newNode();
    }
    const id = node.id;
    const r = leader.call((c) => c.proposeMembership({ op: 'add-learner', node: id }));
    this.host.trace(`${leader.id} propose add-learner ${id}${observer ? ' (observer)' : ''}: ${r ? (r.ok ? `at ${r.index}/t${r.term}` : r.code) : 'no answer'}`);
    if (r?.ok && observer) this.observers.add(id);
  }

  hasPromotableLearner(): boolean {
    const core = this.host.leader()?.core;
    return !!core && core.membership.learners.some((id) => !this.observers.has(id));
  }

  promoteLearner(): void {
    const leader = this.host.leader();
    if (!leader?.core) return;
    const learners = leader.core.membership.learners.filter((id) => !this.observers.has(id));
    if (learners.length === 0) return;
    // The core refuses a learner that has not caught up yet; a later churn tries again.
    const id = this.rng.pick(learners);
    const r = leader.call((c) => c.proposeMembership({ op: 'promote', node: id }));
    this.host.trace(`${leader.id} propose promote ${id}: ${r ? (r.ok ? `at ${r.index}/t${r.term}` : r.code) : 'no answer'}`);
  }

  removeMember(includeLeader: boolean): void {
    const leader = this.host.leader();
    if (!leader?.core) return;
    const m = leader.core.membership;
    // Never below 3 voters: removals only while there are more.
    let id: NodeId | undefined;
    if (m.voters.length > 3 && includeLeader) id = leader.id;
    else {
      const choices = [...(m.voters.length > 3 ? m.voters.filter((v) => v !== leader.id) : []), ...m.learners];
      if (choices.length) id = this.rng.pick(choices);
    }
    if (!id) return;
    const target = id;
    const r = leader.call((c) => c.proposeMembership({ op: 'remove', node: target }));
    this.host.trace(`${leader.id} propose remove ${target}: ${r ? (r.ok ? `at ${r.index}/t${r.term}` : r.code) : 'no answer'}`);
  }

  transferLeadership(): void {
    const leader = this.host.leader();
    if (!leader?.core) return;
    const others = leader.core.membership.voters.filter((v) => v !== leader.id);
    if (others.length === 0) return;
    const to = this.rng.pick(others);
    const r = leader.call((c) => c.transferLeadership(to));
    this.host.trace(`${leader.id} transfer leadership to ${to}: ${r ? r.code : 'accepted'}`);
  }
}
