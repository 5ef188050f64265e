/**
 * The Raft consensus core: a deterministic state machine in the style of
 * etcd-io/raft. Input: `tick()`, `step(msg)` and requests (propose, read,
 * membership change, leadership transfer). Output: `ready()` (what to persist,
 * send and apply; see the ordering contract on `Ready`). No sockets, timers,
 * clock or disk here; randomness comes from `RaftOptions.random`.
 *
 * Beyond the paper: PreVote (§9.6 of the thesis), CheckQuorum, leadership
 * transfer (TimeoutNow), learners (non-voters), single-server membership
 * changes where a configuration takes effect when appended (thesis §4.1) with
 * the fix for the 2015 bug (a leader changes membership only after committing
 * an entry of its own term), ReadIndex reads (thesis §6.4) and snapshots.
 *
 * And one deliberately unsafe tool for disasters: `forceNewConfiguration`, which
 * makes the surviving voters a working group again after a majority of voters is
 * permanently lost (the operator's `cluster force-quorum`).
 */

import { RaftLog, RaftInvariantError } from './log.ts';
import { committedIndex, quorumSize, voteOutcome } from './quorum.ts';
import {
  emptyMessage,
  NONE,
  type ConfEntryData,
  type Entry,
  type HardState,
  type Membership,
  type MembershipChange,
  type Message,
  type MessageType,
  type NodeId,
  type ProposeResult,
  type RaftOptions,
  type RaftRecovered,
  type RaftRefusal,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SoftState,
} from './types.ts';

export { RaftInvariantError };

type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one peer's replication. */
interface Progress {
  match: number;
  next: number;
  state: ProgressState;
  /** probe: an append is outstanding; wait for a reply (or a heartbeat reply) before sending another. */
  probeSent: boolean;
  /** snapshot: index of the snapshot being installed. */
  pendingSnapshot: number;
  /** replicate: last index of each append in flight (flow control). */
  inflight: number[];
  /** Logical tick when we last heard from this peer (CheckQuorum). */
  lastActive: number;
  /** Logical tick when `match` last advanced (detects a lost append in replicate state). */
  lastProgress: number;
}

interface PendingRead {
  context: string;
  index: number;
  requester: NodeId;
  acks: Set<NodeId>;
}

interface ConfRecord {
  index: number;
  membership: Membership;
  /** Voters dropped by a forced configuration (empty for ordinary changes). */
  removed: NodeId[];
}

const DEFAULT_MAX_INFLIGHT = 256;
const DEFAULT_MAX_MSG_BYTES = 1 << 20;

export interface RaftStatus {
  id: NodeId;
  term: number;
  role: Role;
  leader: NodeId;
  commit: number;
  applied: number;
  firstIndex: number;
  lastIndex: number;
  membership: Membership;
  progress: Record<NodeId, { match: number; next: number; state: ProgressState }>;
}

export class RaftCore {
  readonly id: NodeId;
  protected readonly electionTicks: number;
  protected readonly heartbeatTicks: number;
  protected readonly electionJitterTicks: number;
  protected readonly random: () => number;
  protected readonly maxInflight: number;
  protected readonly maxMsgBytes: number;
  protected readonly preVote: boolean;
  protected readonly checkQuorum: boolean;

  protected currentTerm = 0;
  protected votedFor: NodeId = NONE;
  protected leaderId: NodeId = NONE;
  protected state: Role = 'follower';
  protected readonly log: RaftLog;

  /** Conf entries present in the log (after the snapshot), oldest first. */
  protected confs: ConfRecord[] = [];
  /**
   * Nodes dropped by forced configurations whose entries are no longer in the
   * log (compacted or covered by an installed snapshot: committed, so final).
   * Volatile: after a restart only forced entries still in the log fence.
   */
  protected compactedFence = new Set<NodeId>();
  protected prs = new Map<NodeId, Progress>();
  protected votes = new Map<NodeId, boolean>();

  /** Logical time, in ticks since this core was created. */
  protected now = 0;
  protected electionElapsed = 0;
  protected heartbeatElapsed = 0;
  protected randomizedElectionTimeout = 0;

  protected leadTransferee: NodeId = NONE;
  protected pendingReads: PendingRead[] = [];
  /** Reads received before this leader committed an entry of its term (answered once it has). */
  protected readsAwaitingCommit: { context: string; requester: NodeId }[] = [];
  protected needBroadcast = false;

  protected msgs: Message[] = [];
  protected readStates: ReadState[] = [];
  protected snapshotToInstall: Snapshot | undefined;
  protected prevHard: HardState;
  protected prevSoft: SoftState;

  /**
   * Build a node from what it recovered from storage. The driver restores its
   * state machine from `recovered.snapshot` itself; committed entries after the
   * snapshot are handed out again in `Ready.committedEntries`.
   */
  constructor(opts: RaftOptions, recovered: RaftRecovered) {
    if (!(opts.heartbeatTicks >= 1) || !(opts.electionTicks > opts.heartbeatTicks)) {
      throw new RangeError(
        `electionTicks (${opts.electionTicks}) must be greater than heartbeatTicks (${opts.heartbeatTicks}) and heartbeatTicks at least 1`,
      );
    }
    this.id = opts.id;
    this.electionTicks = opts.electionTicks;
    this.heartbeatTicks = opts.heartbeatTicks;
    this.electionJitterTicks = Math.max(1, Math.min(opts.electionJitterTicks ?? opts.electionTicks, opts.electionTicks));
    this.random = opts.random;
    this.maxInflight = opts.maxInflight ?? DEFAULT_MAX_INFLIGHT;
    this.maxMsgBytes = opts.maxMsgBytes ?? DEFAULT_MAX_MSG_BYTES;
    this.preVote = opts.preVote ?? true;
    this.checkQuorum = opts.checkQuorum ?? true;

    const snapshot: Snapshot = recovered.snapshot ?? {
      meta: { index: 0, term: 0, membership: { voters: [], learners: [] } },
      data: '',
    };
    this.log = new RaftLog(snapshot, recovered.entries, recovered.hardState.commit);
    this.currentTerm = recovered.hardState.term;
    this.votedFor = recovered.hardState.vote;
    for (const e of this.log.entries) if (e.type === 'conf') this.confs.push(confRecord(e));
    this.prevHard = this.hardState();
    this.prevSoft = { leader: NONE, role: 'follower' };
    this.resetRandomizedTimeout();
  }

  // ---------------------------------------------------------------- accessors

  get term(): number {
    return this.currentTerm;
  }
  get role(): Role {
    return this.state;
  }
  get leader(): NodeId {
    return this.leaderId;
  }
  get commitIndex(): number {
    return this.log.commit;
  }
  get appliedIndex(): number {
    return this.log.applied;
  }
  get lastIndex(): number {
    return this.log.lastIndex();
  }
  /** Term of the last entry (of the snapshot when the log is empty). */
  get lastTerm(): number {
    return this.log.lastTerm();
  }
  get firstIndex(): number {
    return this.log.firstIndex();
  }
  /** The latest configuration in the log, committed or not (thesis §4.1). */
  get membership(): Membership {
    const last = this.confs[this.confs.length - 1];
    return last ? last.membership : this.log.snapshot.meta.membership;
  }

  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {};
    if (this.state === 'leader') {
      for (const [id, pr] of this.prs) progress[id] = { match: pr.match, next: pr.next, state: pr.state };
    }
    return {
      id: this.id,
      term: this.currentTerm,
      role: this.state,
      leader: this.leaderId,
      commit: this.log.commit,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      membership: cloneMembership(this.membership),
      progress,
    };
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    this.now++;
    if (this.state === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Start an election now (pre-vote first when enabled). */
  campaign(): void {
    this.hup(false);
  }

  propose(data: string): ProposeResult {
    return this.proposeEntry('normal', data);
  }

  proposeMembership(change: MembershipChange): ProposeResult {
    if (this.state !== 'leader') return { ok: false, code: 'not-leader', leader: this.leaderId };
    if (!this.committedInTerm()) return { ok: false, code: 'leader-not-ready', leader: this.id };
    const lastConf = this.confs[this.confs.length - 1];
    if (lastConf && lastConf.index > this.log.commit) {
      return { ok: false, code: 'membership-change-pending', leader: this.id };
    }
    const next = applyChange(this.membership, change);
    if (typeof next === 'string') return { ok: false, code: 'invalid-membership-change', leader: this.id, reason: next };
    if (change.op === 'promote') {
      const pr = this.prs.get(change.node);
      if (!pr || pr.match < this.log.commit) {
        return {
          ok: false,
          code: 'invalid-membership-change',
          leader: this.id,
          reason: `learner ${change.node} has not caught up (matched ${pr?.match ?? 0}, commit ${this.log.commit}); retry once it has`,
        };
      }
    }
    return this.proposeEntry('conf', JSON.stringify(next));
  }

  /**
   * Ask for a linearizable read. Null means accepted: a `ReadState` with the
   * same context arrives in a later Ready (or never, if leadership is lost).
   */
  readIndex(context: string): RaftRefusal | null {
    if (this.state === 'leader') {
      this.leaderReadRequest(context, this.id);
      return null;
    }
    if (this.leaderId === NONE) return { code: 'not-leader', leader: NONE };
    const m = this.msg('read-index', this.leaderId);
    m.context = context;
    this.send(m);
    return null;
  }

  transferLeadership(to: NodeId): RaftRefusal | null {
    if (this.state !== 'leader') return { code: 'not-leader', leader: this.leaderId };
    if (to === this.id) return null;
    if (!this.membership.voters.includes(to)) {
      return { code: 'invalid-membership-change', leader: this.id, reason: `${to} is not a voter; only voters can lead` };
    }
    if (this.leadTransferee === to) return null;
    this.leadTransferee = to;
    // The transfer must finish within an election timeout or it is abandoned.
    this.electionElapsed = 0;
    const pr = this.prs.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send(this.msg('timeout-now', to));
    else this.sendAppend(to);
    return null;
  }

  /**
   * Disaster recovery, unsafe by design: make `voters` (the survivors, this node
   * among them) the whole voter set at once, without the lost voters' consent.
   * This node takes a new term (voting for itself), becomes its leader without an
   * election, and appends a forced `conf` entry that replaces the membership
   * outright (current learners are kept), then the usual no-op. Like every conf
   * entry it takes effect on append, so from now on only `voters` count for
   * commit; followers adopt it when they append it.
   *
   * Entries committed only by the lost voters are gone, and if this node's log is
   * behind another survivor's, that survivor's extra entries are overwritten or
   * the forced entry never commits: call this on the survivor whose log is the
   * most up to date by (last term, last index). The dropped voters are fenced:
   * every node holding this entry ignores them from then on (see `step`), and the
   * leader keeps sending them the log so that one coming back learns it is out.
   *
   * Null: done (the forced entry is in `ready()`); otherwise why it was refused.
   */
  forceNewConfiguration(voters: NodeId[]): RaftRefusal | null {
    const current = this.membership;
    const refuse = (reason: string): RaftRefusal => ({ code: 'invalid-forced-configuration', leader: this.leaderId, reason });
    if (voters.length === 0) return refuse('the list of voters is empty; name the surviving voters, this node among them');
    const wanted = new Set(voters);
    if (wanted.size !== voters.length) return refuse(`the list of voters names a node twice: ${voters.join(', ')}`);
    if (!wanted.has(this.id)) return refuse(`the list of voters (${voters.join(', ')}) does not include ${this.id}, the node asked to force it; run it on one of them`);
    const strangers = voters.filter((v) => !current.voters.includes(v) && !current.learners.includes(v));
    if (strangers.length > 0) {
      return refuse(`${strangers.join(', ')} ${strangers.length === 1 ? 'is' : 'are'} not a member of the current configuration (voters ${current.voters.join(', ') || 'none'}; learners ${current.learners.join(', ') || 'none'})`);
    }
    const data: ConfEntryData = {
      voters: [...voters],
      learners: current.learners.filter((l) => !wanted.has(l)),
      force: true,
      removed: current.voters.filter((v) => !wanted.has(v)),
    };

    // A new term nobody can have led yet, as after winning an election.
    this.currentTerm++;
    this.votedFor = this.id;
    this.state = 'leader';
    this.leaderId = this.id;
    this.resetElection();
    // Reads registered under the old configuration would be confirmed by the new one: drop them, callers retry.
    this.pendingReads = [];
    const conf: Entry = { index: this.log.lastIndex() + 1, term: this.currentTerm, type: 'conf', data: JSON.stringify(data) };
    this.log.append([conf]);
    this.confs.push(confRecord(conf));
    this.log.append([{ index: conf.index + 1, term: this.currentTerm, type: 'noop', data: '' }]);
    this.prs = new Map();
    for (const id of [...this.members(), ...this.fencedIds()]) this.prs.set(id, this.newProgress(id));
    this.needBroadcast = true;
    return null;
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (this.isFenced(m.from)) {
      // A voter dropped by a forced configuration: whatever term it is in, it must
      // not make us step down, vote, or follow it. Only its answers to the log we
      // send it (so it learns it is out) get through, and only in our term or older.
      const answer = (m.type === 'app-resp' || m.type === 'heartbeat-resp') && m.term <= this.currentTerm;
      if (!answer) return;
    }
    if (m.term > this.currentTerm) {
      if (m.type === 'vote' || m.type === 'prevote') {
        // A node that hears from a live leader ignores campaigns: this keeps a
        // rejoining partitioned node from deposing a healthy leader.
        if (!m.transfer && this.inLease()) return;
      }
      if (m.type === 'prevote') {
        // A pre-vote never changes our term.
      } else if (m.type === 'prevote-resp' && !m.reject) {
        // Granted pre-votes carry the future term; we take it when we win.
      } else if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, NONE);
      }
    } else if (m.term < this.currentTerm) {
      if ((this.checkQuorum || this.preVote) && (m.type === 'app' || m.type === 'heartbeat')) {
        // A stale leader (e.g. one cut off while we moved on) learns our term and steps down.
        this.send(this.msg('app-resp', m.from));
      } else if (m.type === 'prevote') {
        const r = this.msg('prevote-resp', m.from);
        r.reject = true;
        this.send(r);
      }
      return;
    }

    if (m.type === 'vote' || m.type === 'prevote') {
      this.handleVoteRequest(m);
      return;
    }

    switch (this.state) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'pre-candidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  // ---------------------------------------------------------------- ready / advance

  hasReady(): boolean {
    if (this.needBroadcast && this.state === 'leader') return true;
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.snapshotToInstall !== undefined ||
      this.log.unstableFrom <= this.log.lastIndex() ||
      this.log.applied < this.log.commit ||
      !sameHard(this.hardState(), this.prevHard) ||
      this.prevSoft.leader !== this.leaderId ||
      this.prevSoft.role !== this.state
    );
  }

  ready(): Ready {
    if (this.needBroadcast && this.state === 'leader') this.broadcastAppend();
    this.needBroadcast = false;
    const rd: Ready = {
      entries: this.log.entries.slice(Math.max(0, this.log.unstableFrom - this.log.offset - 1)),
      messages: this.msgs,
      committedEntries: [],
      readStates: this.readStates,
    };
    if (this.snapshotToInstall) {
      rd.snapshot = this.snapshotToInstall;
      this.snapshotToInstall = undefined;
    }
    for (let i = this.log.applied + 1; i <= this.log.commit; i++) rd.committedEntries.push(this.log.entry(i)!);
    const hs = this.hardState();
    if (!sameHard(hs, this.prevHard)) {
      rd.hardState = hs;
      this.prevHard = hs;
    }
    if (this.prevSoft.leader !== this.leaderId || this.prevSoft.role !== this.state) {
      this.prevSoft = { leader: this.leaderId, role: this.state };
      rd.softState = this.prevSoft;
    }
    this.msgs = [];
    this.readStates = [];
    this.log.unstableFrom = this.log.lastIndex() + 1;
    this.log.applied = this.log.commit;
    return rd;
  }

  /** The driver has handled `rd`: its entries are durable now. */
  advance(rd: Ready): void {
    if (this.state !== 'leader' || rd.entries.length === 0) return;
    const last = rd.entries[rd.entries.length - 1];
    if (this.log.term(last.index) !== last.term) return; // overwritten meanwhile
    const self = this.prs.get(this.id);
    if (self && last.index > self.match) {
      self.match = last.index;
      self.next = Math.max(self.next, last.index + 1);
      if (this.maybeCommit()) this.onCommitAdvanced();
    }
  }

  /**
   * The driver took a snapshot of its state machine at `snapshot.meta.index`
   * (at most the applied index). The core keeps it for lagging followers and
   * forgets entries before `firstIndexToKeep`. Term and membership of the
   * snapshot are filled in here; persist the returned snapshot.
   */
  compact(snapshot: Snapshot, retainEntries: number): { firstIndexToKeep: number; snapshot: Snapshot } {
    const index = snapshot.meta.index;
    const term = this.log.term(index);
    if (term === undefined || index > this.log.applied) {
      throw new RaftInvariantError(`cannot snapshot at ${index}: applied ${this.log.applied}, log starts at ${this.log.firstIndex()}`);
    }
    const full: Snapshot = { meta: { index, term, membership: cloneMembership(this.membershipAt(index)) }, data: snapshot.data };
    const firstIndexToKeep = Math.max(this.log.firstIndex(), index + 1 - Math.max(0, retainEntries));
    this.log.compact(full, firstIndexToKeep);
    const snapIndex = this.log.snapshot.meta.index;
    this.forgetConfsUpTo(snapIndex);
    return { firstIndexToKeep: this.log.firstIndex(), snapshot: full };
  }

  // ---------------------------------------------------------------- hooks (protected: tests build broken variants from them)

  /** Leader: commit the index a quorum of voters holds, but only if its entry is of the current term (§5.4.2). */
  protected maybeCommit(): boolean {
    const index = this.quorumMatchIndex();
    if (index > this.log.commit && this.termAt(index) === this.currentTerm) {
      this.commitTo(index);
      return true;
    }
    return false;
  }

  protected quorumMatchIndex(): number {
    return committedIndex(this.membership.voters, (id) => this.prs.get(id)?.match ?? 0);
  }

  /** Term of the entry at `index`, or 0 if it is compacted away or not in the log. */
  protected termAt(index: number): number {
    return this.log.term(index) ?? 0;
  }

  protected commitTo(index: number): void {
    this.log.commitTo(index);
  }

  /** §5.4.1 election restriction: grant only to a candidate whose log is at least as up to date. */
  protected isUpToDate(lastIndex: number, lastTerm: number): boolean {
    return this.log.isUpToDate(lastIndex, lastTerm);
  }

  /**
   * Leader: record the commit index as the read index, then confirm we are still
   * leader with a round of heartbeats; answer once a quorum acknowledged (§6.4).
   */
  protected readIndexAsLeader(context: string, requester: NodeId): void {
    if (this.isSingleVoter()) {
      this.emitReadState(context, requester, this.log.commit);
      return;
    }
    this.pendingReads.push({ context, index: this.log.commit, requester, acks: new Set([this.id]) });
    this.broadcastHeartbeat(context);
  }

  protected emitReadState(context: string, requester: NodeId, index: number): void {
    if (requester === this.id) {
      this.readStates.push({ context, index });
    } else {
      const m = this.msg('read-index-resp', requester);
      m.context = context;
      m.index = index;
      this.send(m);
    }
  }

  // ---------------------------------------------------------------- elections

  protected inLease(): boolean {
    if (!this.checkQuorum) return false;
    if (this.state === 'leader') return true; // a leader steps down as soon as it loses its quorum
    return this.leaderId !== NONE && this.electionElapsed < this.electionTicks;
  }

  /**
   * May this node campaign? A voter in its latest configuration may; so may a
   * voter of the last committed one whose removal is still uncommitted: if it
   * stepped down before the removal committed, the others may need it to lead
   * once more to commit the removal (otherwise they can deadlock: its longer
   * log makes it refuse their votes).
   */
  protected promotable(): boolean {
    return this.membership.voters.includes(this.id) || this.membershipAt(this.log.commit).voters.includes(this.id);
  }

  protected tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  protected tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.checkQuorum && !this.quorumActive()) {
      this.becomeFollower(this.currentTerm, NONE);
      return;
    }
    if (this.leadTransferee !== NONE && this.electionElapsed >= this.electionTicks) {
      this.leadTransferee = NONE; // the transfer target did not take over in time
    }
    if (this.heartbeatElapsed >= this.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      const lastRead = this.pendingReads[this.pendingReads.length - 1];
      this.broadcastHeartbeat(lastRead ? lastRead.context : '');
    }
  }

  /** CheckQuorum: have we heard from a quorum of voters within the last election timeout? */
  protected quorumActive(): boolean {
    const voters = this.membership.voters;
    if (voters.length === 0) return false;
    let active = 0;
    for (const id of voters) {
      if (id === this.id) active++;
      else {
        const pr = this.prs.get(id);
        if (pr && this.now - pr.lastActive < this.electionTicks) active++;
      }
    }
    return active >= quorumSize(voters.length);
  }

  protected hup(transfer: boolean): void {
    if (this.state === 'leader' || !this.promotable()) return;
    if (this.preVote && !transfer) this.becomePreCandidate();
    else this.becomeCandidate(transfer);
  }

  protected becomeFollower(term: number, leader: NodeId): void {
    if (term !== this.currentTerm) {
      this.currentTerm = term;
      this.votedFor = NONE;
    }
    this.state = 'follower';
    this.leaderId = leader;
    this.resetElection();
  }

  protected becomePreCandidate(): void {
    // Forget the leader: a pre-candidate that kept it would refuse to pre-vote
    // for others and could stall the cluster (the PreVote+CheckQuorum trap).
    this.state = 'pre-candidate';
    this.leaderId = NONE;
    this.votes = new Map();
    this.resetRandomizedTimeout();
    this.leadTransferee = NONE;
    this.dropLeaderState();
    this.requestVotes('prevote', this.currentTerm + 1, false);
  }

  protected becomeCandidate(transfer: boolean): void {
    this.currentTerm++;
    this.votedFor = this.id;
    this.state = 'candidate';
    this.leaderId = NONE;
    this.votes = new Map();
    this.resetElection();
    this.requestVotes('vote', this.currentTerm, transfer);
  }

  protected requestVotes(type: 'vote' | 'prevote', term: number, transfer: boolean): void {
    this.votes.set(this.id, true);
    if (this.electionDecided()) return;
    for (const id of this.membership.voters) {
      if (id === this.id) continue;
      const m = this.msg(type, id);
      m.term = term;
      m.index = this.log.lastIndex();
      m.logTerm = this.log.lastTerm();
      if (transfer) m.transfer = true;
      this.send(m);
    }
  }

  /** Acts on the election once decided; true if it was. */
  protected electionDecided(): boolean {
    const outcome = voteOutcome(this.membership.voters, this.votes);
    if (outcome === 'pending') return false;
    if (outcome === 'lost') {
      this.becomeFollower(this.currentTerm, NONE);
    } else if (this.state === 'pre-candidate') {
      this.becomeCandidate(false);
    } else {
      this.becomeLeader();
    }
    return true;
  }

  protected becomeLeader(): void {
    this.state = 'leader';
    this.leaderId = this.id;
    this.resetElection();
    this.prs = new Map();
    for (const id of [...this.members(), ...this.fencedIds()]) this.prs.set(id, this.newProgress(id));
    // A no-op of our own term: the only way to commit earlier entries (§5.4.2)
    // and the precondition for membership changes and reads.
    this.log.append([{ index: this.log.lastIndex() + 1, term: this.currentTerm, type: 'noop', data: '' }]);
    this.needBroadcast = true;
  }

  protected handleVoteRequest(m: Message): void {
    const canVote =
      this.votedFor === m.from ||
      (this.votedFor === NONE && this.leaderId === NONE) ||
      (m.type === 'prevote' && m.term > this.currentTerm);
    const respType: MessageType = m.type === 'vote' ? 'vote-resp' : 'prevote-resp';
    const r = this.msg(respType, m.from);
    if (canVote && this.isUpToDate(m.index, m.logTerm)) {
      // A granted pre-vote answers in the candidate's future term; a vote in ours (== m.term).
      r.term = m.term;
      if (m.type === 'vote') {
        this.electionElapsed = 0;
        this.votedFor = m.from;
      }
    } else {
      r.reject = true;
    }
    this.send(r);
  }

  // ---------------------------------------------------------------- role step functions

  protected stepLeader(m: Message): void {
    const pr = this.prs.get(m.from);
    switch (m.type) {
      case 'app-resp':
        if (!pr) return;
        pr.lastActive = this.now;
        this.handleAppendResponse(m, pr);
        return;
      case 'heartbeat-resp':
        if (!pr) return;
        pr.lastActive = this.now;
        this.handleHeartbeatResponse(m, pr);
        return;
      case 'read-index':
        this.leaderReadRequest(m.context, m.from);
        return;
      case 'prevote-resp':
      case 'vote-resp':
      case 'read-index-resp':
      case 'timeout-now':
        return;
      default:
        // app/heartbeat/snap from another leader of our term would break election safety.
        if (m.type === 'app' || m.type === 'heartbeat' || m.type === 'snap') {
          throw new RaftInvariantError(`${this.id} is leader of term ${this.currentTerm} and got ${m.type} from ${m.from} in the same term`);
        }
    }
  }

  protected stepCandidate(m: Message): void {
    switch (m.type) {
      case 'app':
      case 'heartbeat':
      case 'snap':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'vote-resp':
        if (this.state === 'candidate') {
          this.votes.set(m.from, !m.reject);
          this.electionDecided();
        }
        return;
      case 'prevote-resp':
        if (this.state === 'pre-candidate') {
          this.votes.set(m.from, !m.reject);
          this.electionDecided();
        }
        return;
      default:
        return;
    }
  }

  protected stepFollower(m: Message): void {
    switch (m.type) {
      case 'app':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snap':
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeout-now':
        // Leadership transfer: campaign at once, skipping pre-vote and leases.
        if (this.promotable()) this.hup(true);
        return;
      case 'read-index-resp':
        this.readStates.push({ context: m.context, index: m.index });
        return;
      default:
        // A read-index sent to us by a node that took us for the leader is
        // dropped: its caller times out and retries with the real leader.
        return;
    }
  }

  // ---------------------------------------------------------------- follower side of replication

  protected handleAppend(m: Message): void {
    const resp = this.msg('app-resp', m.from);
    if (m.index < this.log.commit) {
      resp.index = this.log.commit;
      this.send(resp);
      return;
    }
    if (this.log.matchTerm(m.index, m.logTerm)) {
      const truncatedAt = this.log.appendFromLeader(m.entries);
      if (truncatedAt !== undefined) this.confs = this.confs.filter((c) => c.index < truncatedAt);
      for (const e of m.entries) {
        if (e.type === 'conf' && (this.confs.length === 0 || this.confs[this.confs.length - 1].index < e.index) && e.index > this.log.offset) {
          this.confs.push(confRecord(e));
        }
      }
      const lastNew = m.index + m.entries.length;
      this.log.commitTo(Math.min(m.commit, lastNew));
      resp.index = lastNew;
      this.send(resp);
      return;
    }
    // Fast backtracking: tell the leader where our log can possibly match.
    const hint = this.log.findConflictByTerm(Math.min(m.index, this.log.lastIndex()), m.logTerm);
    resp.reject = true;
    resp.index = m.index;
    resp.rejectHint = hint.index;
    resp.hintTerm = hint.term;
    this.send(resp);
  }

  protected handleHeartbeat(m: Message): void {
    this.log.commitTo(Math.min(m.commit, this.log.lastIndex()));
    const r = this.msg('heartbeat-resp', m.from);
    r.context = m.context;
    this.send(r);
  }

  protected handleSnapshot(m: Message): void {
    const snap = m.snapshot;
    const resp = this.msg('app-resp', m.from);
    if (!snap || snap.meta.index <= this.log.commit) {
      resp.index = this.log.commit;
    } else if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      // We already hold that entry: just learn that it is committed.
      // Answer with the commit index, not our last index: entries after it may
      // be from an old term and must not be counted as matched.
      this.log.commitTo(snap.meta.index);
      resp.index = this.log.commit;
    } else {
      // Our committed forced entries are in the snapshot's history: keep their fence.
      this.forgetConfsUpTo(this.log.commit);
      this.log.restore(snap);
      this.confs = [];
      this.snapshotToInstall = snap;
      resp.index = snap.meta.index;
    }
    this.send(resp);
  }

  // ---------------------------------------------------------------- leader side of replication

  protected handleAppendResponse(m: Message, pr: Progress): void {
    if (m.reject) {
      let hint = m.rejectHint;
      if (m.hintTerm > 0) hint = this.log.findConflictByTerm(m.rejectHint, m.hintTerm).index;
      if (this.maybeDecrease(pr, m.index, hint)) {
        if (pr.state === 'replicate') this.becomeProbe(pr);
        this.sendAppend(m.from);
      }
      return;
    }
    const oldPaused = this.isPaused(pr);
    if (m.index > pr.match) {
      pr.match = m.index;
      pr.lastProgress = this.now;
    }
    if (m.index + 1 > pr.next) pr.next = m.index + 1;
    if (pr.state === 'probe') {
      this.becomeReplicate(pr);
    } else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      this.becomeProbe(pr);
      this.becomeReplicate(pr);
    } else if (pr.state === 'replicate') {
      pr.inflight = pr.inflight.filter((i) => i > m.index);
    }
    if (this.maybeCommit()) {
      this.onCommitAdvanced();
    } else if (oldPaused || pr.next <= this.log.lastIndex()) {
      this.sendAppend(m.from);
    }
    // Keep pushing while there is more to send and room in flight.
    while (pr.state === 'replicate' && pr.next <= this.log.lastIndex() && !this.isPaused(pr)) {
      if (!this.sendAppend(m.from)) break;
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send(this.msg('timeout-now', m.from));
    }
  }

  protected handleHeartbeatResponse(m: Message, pr: Progress): void {
    pr.probeSent = false;
    if (pr.state === 'replicate' && pr.inflight.length >= this.maxInflight) pr.inflight.shift();
    // A snapshot that got lost: probe again, which re-sends it if still needed.
    if (pr.state === 'snapshot' && this.now - pr.lastProgress >= this.electionTicks) this.becomeProbe(pr);
    if (pr.match < this.log.lastIndex()) {
      // An append lost in replicate state would stall the peer: fall back to probing.
      if (pr.state === 'replicate' && this.now - pr.lastProgress >= 2 * this.heartbeatTicks + 2) this.becomeProbe(pr);
      this.sendAppend(m.from);
    }
    if (m.context !== '') this.ackRead(m.context, m.from);
  }

  /** Returns false if the rejection is stale. */
  protected maybeDecrease(pr: Progress, rejected: number, hint: number): boolean {
    if (pr.state === 'replicate') {
      if (rejected <= pr.match) return false;
      pr.next = pr.match + 1;
      return true;
    }
    if (pr.next - 1 !== rejected) return false;
    pr.next = Math.max(Math.min(rejected, hint + 1), pr.match + 1, 1);
    pr.probeSent = false;
    return true;
  }

  protected isPaused(pr: Progress): boolean {
    switch (pr.state) {
      case 'probe':
        return pr.probeSent;
      case 'replicate':
        return pr.inflight.length >= this.maxInflight;
      case 'snapshot':
        return true;
    }
  }

  protected becomeProbe(pr: Progress): void {
    if (pr.state === 'snapshot') pr.next = Math.max(pr.match + 1, pr.pendingSnapshot + 1);
    else pr.next = pr.match + 1;
    pr.state = 'probe';
    pr.probeSent = false;
    pr.pendingSnapshot = 0;
    pr.inflight = [];
  }

  protected becomeReplicate(pr: Progress): void {
    pr.state = 'replicate';
    pr.next = pr.match + 1;
    pr.probeSent = false;
    pr.inflight = [];
  }

  /** Send the next batch of entries (or a snapshot) to `to`. False if nothing was sent. */
  protected sendAppend(to: NodeId, sendIfEmpty = true): boolean {
    const pr = this.prs.get(to);
    if (!pr || to === this.id || this.isPaused(pr)) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    const entries = prevTerm === undefined ? undefined : this.log.slice(pr.next, this.maxMsgBytes);
    if (prevTerm === undefined || entries === undefined) {
      // The peer needs entries we compacted: send the snapshot.
      const snap = this.log.snapshot;
      const m = this.msg('snap', to);
      m.snapshot = snap;
      this.send(m);
      pr.state = 'snapshot';
      pr.pendingSnapshot = snap.meta.index;
      pr.inflight = [];
      pr.lastProgress = this.now;
      return true;
    }
    if (entries.length === 0 && !sendIfEmpty) return false;
    const m = this.msg('app', to);
    m.index = prevIndex;
    m.logTerm = prevTerm;
    m.entries = entries;
    m.commit = this.log.commit;
    this.send(m);
    if (entries.length > 0) {
      const last = entries[entries.length - 1].index;
      if (pr.state === 'replicate') {
        pr.next = last + 1;
        pr.inflight.push(last);
      } else {
        pr.probeSent = true;
      }
    } else if (pr.state === 'probe') {
      pr.probeSent = true;
    }
    return true;
  }

  protected broadcastAppend(): void {
    for (const id of this.prs.keys()) {
      if (id !== this.id) this.sendAppend(id);
    }
  }

  protected broadcastHeartbeat(context: string): void {
    for (const [id, pr] of this.prs) {
      if (id === this.id) continue;
      const m = this.msg('heartbeat', id);
      // Never tell a peer to commit beyond what it is known to hold.
      m.commit = Math.min(pr.match, this.log.commit);
      m.context = context;
      this.send(m);
    }
  }

  protected onCommitAdvanced(): void {
    this.needBroadcast = true;
    if (this.committedInTerm() && this.readsAwaitingCommit.length > 0) {
      const waiting = this.readsAwaitingCommit;
      this.readsAwaitingCommit = [];
      for (const r of waiting) this.readIndexAsLeader(r.context, r.requester);
    }
    // A leader removed from the voters steps down once the removal is committed,
    // after telling the others that it is.
    if (!this.promotable() && this.lastConfCommitted()) {
      this.broadcastAppend();
      this.becomeFollower(this.currentTerm, NONE);
    }
  }

  protected lastConfCommitted(): boolean {
    const last = this.confs[this.confs.length - 1];
    return !last || last.index <= this.log.commit;
  }

  // ---------------------------------------------------------------- reads

  protected leaderReadRequest(context: string, requester: NodeId): void {
    // Until this leader has committed an entry of its term it does not know the
    // true commit index (§6.4 step 1), so the read waits.
    if (!this.committedInTerm()) {
      this.readsAwaitingCommit.push({ context, requester });
      return;
    }
    this.readIndexAsLeader(context, requester);
  }

  protected ackRead(context: string, from: NodeId): void {
    const i = this.pendingReads.findIndex((r) => r.context === context);
    if (i < 0) return;
    const read = this.pendingReads[i];
    if (!this.membership.voters.includes(from)) return;
    read.acks.add(from);
    const votersAcked = this.membership.voters.filter((v) => read.acks.has(v)).length;
    if (votersAcked < quorumSize(this.membership.voters.length)) return;
    // A quorum confirmed us after this read (and every earlier one) was registered.
    const done = this.pendingReads.splice(0, i + 1);
    for (const r of done) this.emitReadState(r.context, r.requester, r.index);
  }

  // ---------------------------------------------------------------- helpers

  protected proposeEntry(type: 'normal' | 'conf', data: string): ProposeResult {
    if (this.state !== 'leader') return { ok: false, code: 'not-leader', leader: this.leaderId };
    if (this.leadTransferee !== NONE) return { ok: false, code: 'transfer-in-progress', leader: this.id };
    const entry: Entry = { index: this.log.lastIndex() + 1, term: this.currentTerm, type, data };
    this.log.append([entry]);
    if (type === 'conf') {
      this.confs.push(confRecord(entry));
      this.syncProgressWithMembership();
    }
    this.needBroadcast = true;
    return { ok: true, index: entry.index, term: entry.term };
  }

  protected committedInTerm(): boolean {
    return this.termAt(this.log.commit) === this.currentTerm;
  }

  protected isSingleVoter(): boolean {
    const v = this.membership.voters;
    return v.length === 1 && v[0] === this.id;
  }

  protected members(): NodeId[] {
    const m = this.membership;
    return [...m.voters, ...m.learners];
  }

  protected membershipAt(index: number): Membership {
    let result = this.log.snapshot.meta.membership;
    for (const c of this.confs) if (c.index <= index) result = c.membership;
    return result;
  }

  protected syncProgressWithMembership(): void {
    const members = new Set(this.members());
    for (const id of members) if (!this.prs.has(id)) this.prs.set(id, this.newProgress(id));
    // Fenced nodes keep their progress: the leader goes on telling them they are out.
    const fenced = new Set(this.fencedIds());
    for (const id of [...this.prs.keys()]) if (!members.has(id) && !fenced.has(id) && id !== this.id) this.prs.delete(id);
  }

  /**
   * Nodes dropped by a forced configuration (in the log, or compacted) that are
   * not members again. Usually empty, and then cheap.
   */
  protected fencedIds(): NodeId[] {
    const out = new Set(this.compactedFence);
    for (const c of this.confs) for (const id of c.removed) out.add(id);
    if (out.size === 0) return [];
    for (const id of this.members()) out.delete(id);
    out.delete(this.id);
    return [...out];
  }

  protected isFenced(id: NodeId): boolean {
    if (id === this.id) return false;
    let dropped = this.compactedFence.has(id);
    for (let i = 0; !dropped && i < this.confs.length; i++) dropped = this.confs[i].removed.includes(id);
    if (!dropped) return false;
    const m = this.membership;
    return !m.voters.includes(id) && !m.learners.includes(id);
  }

  /** Forget conf records up to `index` (compaction), keeping the fence of forced ones. */
  protected forgetConfsUpTo(index: number): void {
    for (const c of this.confs) if (c.index <= index) for (const id of c.removed) this.compactedFence.add(id);
    this.confs = this.confs.filter((c) => c.index > index);
  }

  protected newProgress(id: NodeId): Progress {
    const self = id === this.id;
    return {
      match: self ? this.log.unstableFrom - 1 : 0,
      next: this.log.lastIndex() + 1,
      state: 'probe',
      probeSent: false,
      pendingSnapshot: 0,
      inflight: [],
      lastActive: this.now,
      lastProgress: this.now,
    };
  }

  protected resetElection(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedTimeout();
    this.votes = new Map();
    this.leadTransferee = NONE;
    this.dropLeaderState();
  }

  protected dropLeaderState(): void {
    if (this.state !== 'leader') {
      // Pending reads are never answered by a former leader: callers time out and retry.
      this.pendingReads = [];
      this.readsAwaitingCommit = [];
      this.needBroadcast = false;
    }
  }

  protected resetRandomizedTimeout(): void {
    this.randomizedElectionTimeout = this.electionTicks + Math.floor(this.random() * this.electionJitterTicks);
  }

  protected hardState(): HardState {
    return { term: this.currentTerm, vote: this.votedFor, commit: this.log.commit };
  }

  protected msg(type: MessageType, to: NodeId): Message {
    return emptyMessage(type, this.id, to, this.currentTerm);
  }

  protected send(m: Message): void {
    this.msgs.push(m);
  }
}

function sameHard(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function cloneMembership(m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] };
}

function confRecord(e: Entry): ConfRecord {
  const d = JSON.parse(e.data) as ConfEntryData;
  if (!Array.isArray(d.voters) || !Array.isArray(d.learners) || (d.removed !== undefined && !Array.isArray(d.removed))) {
    throw new RaftInvariantError(`conf entry ${e.index} does not hold a membership`);
  }
  // Only the membership: the forced entry's extra fields must not leak into status or snapshots.
  return { index: e.index, membership: { voters: d.voters, learners: d.learners }, removed: d.force ? (d.removed ?? []) : [] };
}

/** The membership after one single-server change, or why the change is invalid. */
export function applyChange(current: Membership, change: MembershipChange): Membership | string {
  const voters = [...current.voters];
  const learners = [...current.learners];
  const known = voters.includes(change.node) || learners.includes(change.node);
  switch (change.op) {
    case 'add-learner':
      if (known) return `${change.node} is already a member`;
      learners.push(change.node);
      break;
    case 'promote':
      if (!learners.includes(change.node)) return `${change.node} is not a learner`;
      learners.splice(learners.indexOf(change.node), 1);
      voters.push(change.node);
      break;
    case 'remove':
      if (!known) return `${change.node} is not a member`;
      if (voters.includes(change.node) && voters.length === 1) return `${change.node} is the last voter; a cluster cannot remove its only voter`;
      if (voters.includes(change.node)) voters.splice(voters.indexOf(change.node), 1);
      else learners.splice(learners.indexOf(change.node), 1);
      break;
  }
  return { voters, learners };
}
