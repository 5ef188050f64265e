/**
 * One simulated server: a RaftCore, the key-value state machine it drives, and
 * its disk. `handleReady` is the driver loop of `types.ts` (persist, then send,
 * then apply), with crash points between the stages; a crash throws the core
 * and the state machine away, and a restart rebuilds both from the disk only.
 */
import type { RaftCore } from '../../agent/raft/core.ts';
import { KvStateMachine, type KvWriteResult } from '../../agent/raft/kv.ts';
import type {
  Entry,
  Membership,
  Message,
  NodeId,
  RaftOptions,
  RaftRecovered,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotMeta,
} from '../../agent/raft/types.ts';
import { SimDisk } from './disk.ts';
import type { SafetyChecker } from './invariants.ts';
import type { Prng } from './prng.ts';
import { Violation } from './violation.ts';

/** Builds the core under test; broken variants are injected here. */
export type CoreFactory = (opts: RaftOptions, recovered: RaftRecovered) => RaftCore;

/**
 * Where an armed crash hits while handling a Ready:
 * `before-persist` loses the whole Ready; `after-persist` keeps it on disk but
 * sends nothing.
 */
export type CrashPoint = 'before-persist' | 'after-persist';

/** A crash waiting for a Ready: it lets `skip` Readys pass, then hits the next one at `point`. */
export interface ArmedCrash {
  point: CrashPoint;
  skip: number;
}

export type NodeState = 'up' | 'paused' | 'down' | 'removed';

/** Raft and storage settings shared by every node of one run. */
export interface NodeSettings {
  electionTicks: number;
  /** Spread of the randomized election timeout (see RaftOptions). */
  electionJitterTicks: number;
  heartbeatTicks: number;
  maxInflight: number;
  maxMsgBytes: number;
  preVote: boolean;
  checkQuorum: boolean;
  /** Take a state-machine snapshot every this many applied entries. */
  snapshotInterval: number;
  /** Entries kept before the snapshot index for slow followers. */
  retainEntries: number;
  /** Check the promises messages make (a vote granted is durable; an acknowledged entry is on disk). */
  checkPromises: boolean;
}

/** What a node reports to the rest of the simulation. */
export interface NodeHooks {
  send(m: Message): void;
  trace(text: string): void;
  applied(node: SimNode, e: Entry, result: KvWriteResult | null): void;
  snapshotRestored(node: SimNode, meta: SnapshotMeta): void;
  readState(node: SimNode, rs: ReadState): void;
  readyDone(node: SimNode): void;
  crashed(node: SimNode, why: string): void;
  /** Decide whether to crash right after sending this Ready's messages (targets e.g. granted votes). */
  crashAfterSend(node: SimNode, rd: Ready): boolean;
  /** The node just persisted its first Ready as leader of a new term. */
  becameLeader(node: SimNode): void;
  /** Decide whether a leader crashes right after persisting a commit-index advance, before telling anyone. */
  crashAfterCommit(node: SimNode): boolean;
}

export class SimNode {
  state: NodeState = 'down';
  core: RaftCore | null = null;
  kv: KvStateMachine = new KvStateMachine();
  readonly disk: SimDisk;
  incarnation = 0;
  armed: ArmedCrash | null = null;
  /** Messages that arrived while paused, delivered on resume (a paused process keeps its sockets). */
  held: Message[] = [];
  /** Configuration as of the applied index (needed for snapshot metadata). */
  appliedMembership: Membership = { voters: [], learners: [] };
  private appliedTerm = 0;
  private lastSnapIndex = 0;
  private lastCommit = 0;
  private lastRole: Role = 'follower';
  private lastLeader: NodeId = '';
  private leaderCheckedTerm = -1;

  constructor(
    readonly id: NodeId,
    private readonly settings: NodeSettings,
    private readonly makeCore: CoreFactory,
    private readonly checker: SafetyChecker,
    private readonly hooks: NodeHooks,
    /** Initial members boot from a snapshot at index 0 holding the first configuration. */
    bootstrap: Membership | null,
  ) {
    this.disk = new SimDisk(id);
    if (bootstrap) {
      this.disk.persist({
        snapshot: { meta: { index: 0, term: 0, membership: bootstrap }, data: new KvStateMachine().snapshot() },
        entries: [],
      });
    }
  }

  get up(): boolean {
    return this.state === 'up';
  }

  /** (Re)start from what is durable. `rng` drives this incarnation's election timer. */
  start(rng: Prng): void {
    const rec = this.disk.recovered();
    const snap = rec.snapshot;
    this.kv = snap ? KvStateMachine.restore(snap.data, snap.meta.index) : new KvStateMachine();
    this.appliedMembership = snap ? cloneMembership(snap.meta.membership) : { voters: [], learners: [] };
    this.appliedTerm = snap ? snap.meta.term : 0;
    this.lastSnapIndex = snap ? snap.meta.index : 0;
    this.lastCommit = 0;
    this.lastRole = 'follower';
    this.lastLeader = '';
    this.leaderCheckedTerm = -1;
    this.armed = null;
    this.held = [];
    this.incarnation++;
    const s = this.settings;
    const opts: RaftOptions = {
      id: this.id,
      electionTicks: s.electionTicks,
      electionJitterTicks: s.electionJitterTicks,
      heartbeatTicks: s.heartbeatTicks,
      random: () => rng.next(),
      maxInflight: s.maxInflight,
      maxMsgBytes: s.maxMsgBytes,
      preVote: s.preVote,
      checkQuorum: s.checkQuorum,
    };
    this.core = this.guard(() => this.makeCore(opts, rec));
    this.state = 'up';
    if (snap) this.checker.snapshotRestored(this.id, snap.meta, snap.data, rec.hardState.term);
    this.observe();
  }

  crash(why: string): void {
    if (this.state === 'down' || this.state === 'removed') return;
    this.core = null;
    this.state = 'down';
    this.armed = null;
    this.held = [];
    this.hooks.trace(`${this.id} CRASH ${why}`);
    this.hooks.crashed(this, why);
  }

  /** Permanently stop a node that left the configuration. */
  retire(): void {
    if (this.state !== 'down' && this.state !== 'removed') this.crash('retired (removed from the configuration)');
    this.state = 'removed';
  }

  deliver(m: Message): void {
    if (this.state === 'paused') {
      this.held.push(m);
      return;
    }
    if (this.state !== 'up') return;
    this.call((c) => c.step(m));
  }

  /** Clock skew: this node's clock ticks once every `tickEvery` simulated ticks. */
  tickEvery = 1;
  private clockPhase = 0;

  tick(): void {
    if (this.state !== 'up') return;
    if (this.tickEvery > 1 && ++this.clockPhase % this.tickEvery !== 0) return;
    this.call((c) => c.tick());
  }

  /** Run `fn` against the live core, then check what is observable right away. */
  call<T>(fn: (core: RaftCore) => T): T | undefined {
    const core = this.core;
    if (!core || this.state !== 'up') return undefined;
    const r = this.guard(() => fn(core));
    this.observe();
    return r;
  }

  /** Handle every pending Ready (a step can produce several). */
  drive(): void {
    for (let i = 0; this.core && this.state === 'up'; i++) {
      const core = this.core;
      if (!this.guard(() => core.hasReady())) return;
      if (i > 100) throw new Violation('core-exception', `${this.id}: hasReady() still true after 100 Readys in one step`);
      this.handleReady(core, this.guard(() => core.ready()));
    }
  }

  private handleReady(core: RaftCore, rd: Ready): void {
    if (rd.softState && (rd.softState.role !== this.lastRole || rd.softState.leader !== this.lastLeader)) this.observe();
    const crashAt = this.armed && this.armed.skip-- <= 0 ? this.armed.point : null;
    // 1. Persist.
    if (crashAt === 'before-persist') {
      this.crash(`before persisting a Ready (${summarize(rd)} lost)`);
      return;
    }
    const commitBefore = Math.max(this.disk.hardState.commit, this.disk.snapshotIndex());
    this.disk.persist(rd);
    if (rd.entries.length > 0) this.checker.persisted(this.id, rd.entries, this.disk.termAt(rd.entries[0].index - 1));
    const commitAdvanced = rd.hardState !== undefined && rd.hardState.commit > commitBefore;
    if (commitAdvanced) this.checkDurableCommit(commitBefore, rd.hardState!.commit);
    if (this.disk.lastIndex() !== core.lastIndex) {
      throw new Violation('ready-contract', `${this.id}: after persisting its Readys the disk ends at ${this.disk.lastIndex()} but the core's log ends at ${core.lastIndex}`);
    }
    if (core.role === 'leader' && this.leaderCheckedTerm !== core.term) {
      this.leaderCheckedTerm = core.term;
      this.checker.leaderComplete(this.id, core.term, this.disk);
      this.hooks.becameLeader(this);
    }
    if (crashAt === 'after-persist' || (commitAdvanced && core.role === 'leader' && this.hooks.crashAfterCommit(this))) {
      this.crash(`after persisting a Ready, before sending (${summarize(rd)})`);
      return;
    }
    // 2. Send.
    for (const m of rd.messages) {
      if (this.settings.checkPromises) this.checkPromise(m);
      this.hooks.send(m);
    }
    if (this.hooks.crashAfterSend(this, rd)) {
      this.crash('right after sending a Ready (granted a vote)');
      return;
    }
    // 3. Apply.
    if (rd.snapshot) this.restore(rd.snapshot);
    for (const e of rd.committedEntries) this.apply(core, e);
    // 4. Reads.
    for (const rs of rd.readStates) this.hooks.readState(this, rs);
    this.guard(() => core.advance(rd));
    this.observe();
    this.maybeCompact(core);
    this.hooks.readyDone(this);
  }

  private restore(s: Snapshot): void {
    this.kv = KvStateMachine.restore(s.data, s.meta.index);
    this.appliedMembership = cloneMembership(s.meta.membership);
    this.appliedTerm = s.meta.term;
    this.lastSnapIndex = Math.max(this.lastSnapIndex, s.meta.index);
    this.checker.snapshotRestored(this.id, s.meta, s.data, this.core?.term ?? this.disk.hardState.term);
    this.hooks.trace(`${this.id} restored snapshot ${s.meta.index}/t${s.meta.term}`);
    this.hooks.snapshotRestored(this, s.meta);
  }

  private apply(core: RaftCore, e: Entry): void {
    if (e.index !== this.kv.appliedIndex + 1) {
      throw new Violation('apply-order', `${this.id} was handed entry ${e.index} to apply after applying ${this.kv.appliedIndex}`);
    }
    if (e.index > core.commitIndex) {
      throw new Violation('apply-order', `${this.id} was handed entry ${e.index} to apply beyond its commit index ${core.commitIndex}`);
    }
    if (this.disk.termAt(e.index) !== e.term && e.index > this.disk.snapshotIndex()) {
      throw new Violation('ready-contract', `${this.id} was handed entry ${e.index}/t${e.term} to apply, but its disk holds ${this.disk.termAt(e.index) ?? 'nothing'} there`);
    }
    const result = this.kv.apply(e);
    this.checker.applied(this.id, e, core.term);
    this.appliedTerm = e.term;
    if (e.type === 'conf') {
      this.appliedMembership = JSON.parse(e.data) as Membership;
      this.hooks.trace(`${this.id} applied conf ${e.index}/t${e.term} voters=[${this.appliedMembership.voters}] learners=[${this.appliedMembership.learners}]`);
    }
    this.hooks.applied(this, e, result);
  }

  private maybeCompact(core: RaftCore): void {
    const index = this.kv.appliedIndex;
    if (index - this.lastSnapIndex < this.settings.snapshotInterval || index > core.appliedIndex) return;
    const snap: Snapshot = {
      meta: { index, term: this.appliedTerm, membership: cloneMembership(this.appliedMembership) },
      data: this.kv.snapshot(),
    };
    // The core may complete the metadata (term, membership at the index): store what it returns.
    const res: { firstIndexToKeep: number; snapshot?: Snapshot } = this.guard(() => core.compact(snap, this.settings.retainEntries));
    const stored = res.snapshot ?? snap;
    if (stored.meta.term !== snap.meta.term || !sameMembership(stored.meta.membership, snap.meta.membership)) {
      throw new Violation('state-machine-safety', `${this.id}: snapshot at ${index}: the core says term ${stored.meta.term} / voters [${stored.meta.membership.voters}], the applied entries say term ${snap.meta.term} / voters [${snap.meta.membership.voters}]`);
    }
    this.disk.compact(stored, res.firstIndexToKeep);
    this.lastSnapIndex = index;
    this.checker.stateMachineAt(this.id, index, snap.data);
    this.observe();
  }

  /** The durable commit index now covers (from, to]: those entries are committed, and must be on disk. */
  private checkDurableCommit(from: number, to: number): void {
    const start = Math.max(from, this.disk.snapshotIndex()) + 1;
    for (let i = start; i <= to; i++) {
      const t = this.disk.termAt(i);
      if (t === undefined) {
        throw new Violation('ready-contract', `${this.id} persisted commit index ${to}, but its disk has no entry at ${i} (it ends at ${this.disk.lastIndex()})`);
      }
      this.checker.durablyCommitted(this.id, i, t, this.disk.hardState.term);
    }
  }

  /** Messages promise durability (types.ts, Ready step 2): check the promise against the disk. */
  private checkPromise(m: Message): void {
    const hs = this.disk.hardState;
    // A later term on disk supersedes the promise: this node can never vote in m.term again.
    if (hs.term > m.term) return;
    if (m.type === 'vote-resp' && !m.reject) {
      if (hs.term !== m.term || hs.vote !== m.to) {
        throw new Violation('ready-contract', `${this.id} granted its vote to ${m.to} in term ${m.term}, but its durable vote is ${hs.vote || '(none)'} in term ${hs.term}`);
      }
    } else if (m.type === 'app-resp' && !m.reject && m.index > this.disk.lastIndex()) {
      throw new Violation('ready-contract', `${this.id} acknowledged entries up to ${m.index}, but its disk ends at ${this.disk.lastIndex()}`);
    }
  }

  /** Checks that need no disk: election safety, commit monotonicity; traces role changes. */
  observe(): void {
    const core = this.core;
    if (!core) return;
    const role = core.role;
    const term = core.term;
    if (role === 'leader') this.checker.leaderSeen(this.id, term);
    const commit = core.commitIndex;
    if (commit < this.lastCommit) {
      throw new Violation('commit-monotonic', `${this.id}: commit index went back from ${this.lastCommit} to ${commit} (term ${term})`);
    }
    if (commit !== this.lastCommit && role === 'leader') this.hooks.trace(`${this.id} commit ${commit} t${term}`);
    this.lastCommit = commit;
    const leader = core.leader;
    if (role !== this.lastRole || leader !== this.lastLeader) {
      this.hooks.trace(`${this.id} ${role} t${term}${leader ? ` leader=${leader}` : ''}`);
      this.lastRole = role;
      this.lastLeader = leader;
    }
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (err) {
      if (err instanceof Violation) throw err;
      const msg = err instanceof Error ? err.message : String(err);
      throw new Violation('core-exception', `${this.id}: the core threw: ${msg}`);
    }
  }
}

function sameMembership(a: Membership, b: Membership): boolean {
  return a.voters.join() === b.voters.join() && a.learners.join() === b.learners.join();
}

export function cloneMembership(m: Membership): Membership {
  return { voters: m.voters.slice(), learners: m.learners.slice() };
}

function summarize(rd: Ready): string {
  const parts: string[] = [];
  if (rd.hardState) parts.push(`hs t${rd.hardState.term} v=${rd.hardState.vote || '-'} c${rd.hardState.commit}`);
  if (rd.entries.length) parts.push(`entries ${rd.entries[0].index}..${rd.entries[rd.entries.length - 1].index}`);
  if (rd.snapshot) parts.push(`snapshot ${rd.snapshot.meta.index}`);
  parts.push(`${rd.messages.length} msgs`);
  return parts.join(', ');
}
