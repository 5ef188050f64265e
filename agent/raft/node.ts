/**
 * The Raft driver: binds the pure core (`core.ts`) to time (a tick timer), disk
 * (`RaftStorage`, SQLite) and network (`RaftTransport`), runs the key-value
 * state machine, and serves it as a {@link ClusterStore}.
 *
 * Everything the core asks for goes through one loop (`processReady`), in the
 * order the `Ready` contract demands: persist (fsynced), then send, then apply,
 * then `advance`. Inputs (ticks, messages, requests) only poke the core and
 * schedule that loop with `setImmediate`, so whatever arrives in one turn of the
 * event loop is persisted with one fsync.
 */

import { randomInt, randomUUID } from 'node:crypto';
import { statfsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { ticksFor, type RaftSettings } from './config.ts';
import { mulberry32 } from './random.ts';
import { RaftCore, type RaftStatus } from './core.ts';
import { encodeCommand, KvStateMachine, type KvCommand, type KvRecord, type KvWriteResult } from './kv.ts';
import type { RaftStorage } from './storage.ts';
import { StoreError, type ClusterStore, type ReadOptions, type WriteOptions } from './store.ts';
import {
  silentLogger,
  type PeerProposeRequest,
  type PeerProposeResponse,
  type PeerReadRequest,
  type PeerReadResponse,
  type RaftLogger,
  type RaftPeerHandler,
  type RaftTransport,
} from './transport.ts';
import type { Entry, Membership, Message, NodeId, RaftRefusal, Ready, Role, Snapshot } from './types.ts';

/**
 * Replicated address book of the Raft peers: `<prefix><id>` -> base URL. Written
 * by `addMember`, so every node (whoever leads later) can reach a node added at
 * run time. Addresses from the local config win over these.
 */
export const PEER_ADDRESS_PREFIX = '/raft/peers/';

export interface RaftNodeOptions {
  id: NodeId;
  /** The node's own store; `stop()` closes it. */
  storage: RaftStorage;
  /** How to reach peers; `stop()` closes it. */
  transport: RaftTransport;
  settings: RaftSettings;
  /** Base URL of every peer known from the config (`[cluster.nodes]`); this node's own entry is ignored. */
  peers: Record<NodeId, string>;
  /**
   * Only for the founding members of a new cluster: the initial voters (all of them,
   * the same list on every founder). Ignored when the storage already holds state.
   * A node that will be added later starts without it and learns the cluster from the leader.
   */
  bootstrap?: { voters: NodeId[]; learners?: NodeId[] };
  /** Seed of the core's random source (election timeout jitter). Default: random. */
  seed?: number;
  logger?: RaftLogger;
  /** Default timeout of store requests. Default: max(2000, 2 * electionTimeoutMs). */
  requestTimeoutMs?: number;
  /**
   * Called when the node cannot go on safely (the core reports a broken invariant,
   * or storage fails to persist): the node has stopped. Default: rethrow
   * asynchronously, crashing the process (fail-stop).
   */
  onFatal?: (err: Error) => void;
  /**
   * The directory of the storage: when a write fails because its disk is full,
   * the node pauses (sends nothing, votes for no one, answers no request) and
   * resumes from what is on disk once this directory has room again.
   */
  storageDir?: string;
}

/** What the node reports about itself (the core's view plus the driver's). */
export interface RaftNodeStatus extends RaftStatus {
  /** Index of the last snapshot taken or installed. */
  snapshotIndex: number;
  /** Membership as of the applied index (the core's `membership` may include an uncommitted change). */
  appliedMembership: Membership;
  started: boolean;
  stopped: boolean;
  /** Why the node is paused (its disk is full), or null. */
  problem: string | null;
}

export type LeaderListener = (leader: { id: NodeId; term: number } | null, role: Role) => void;

/** An entry proposed here as leader: settled when an entry at its index is applied or replaced. */
interface ProposalWaiter {
  term: number;
  settle: (v: { result: KvWriteResult | null; index: number } | StoreError) => void;
}

interface AppliedWaiter {
  index: number;
  settle: () => void;
}


const now = (): number => performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/** The most Ready rounds handled in one go before yielding to I/O. */
const MAX_READY_ROUNDS = 64;

export class RaftNode implements ClusterStore, RaftPeerHandler {
  readonly id: NodeId;
  private readonly storage: RaftStorage;
  private readonly transport: RaftTransport;
  private readonly settings: RaftSettings;
  private readonly staticPeers: Record<NodeId, string>;
  private readonly log: RaftLogger;
  private readonly timing: ReturnType<typeof ticksFor>;
  private readonly requestTimeoutMs: number;
  private readonly onFatal: (err: Error) => void;
  private readonly seed: number;
  private readonly bootstrap?: { voters: NodeId[]; learners?: NodeId[] };
  private readonly storageDir: string | null;
  /** Paused because the storage could not persist (disk full): the message, else null. */
  private suspended: string | null = null;
  private resumeTimer: NodeJS.Timeout | undefined;

  private core!: RaftCore;
  private kv = new KvStateMachine();
  private started = false;
  private stopped = false;
  private snapshotIndex = 0;
  private appliedMembership: Membership = { voters: [], learners: [] };
  /** Peers learned from the replicated address book (not in the static config). */
  private replicatedPeers = new Map<NodeId, string>();

  private tickTimer: NodeJS.Timeout | undefined;
  private nextTickAt = 0;
  private readyScheduled = false;

  /** Proposals made on this node while leader, by log index. */
  private readonly proposals = new Map<number, ProposalWaiter>();
  /** ReadIndex requests by context. */
  private readonly reads = new Map<string, (index: number) => void>();
  private appliedWaiters: AppliedWaiter[] = [];
  /** Cancel functions of every outstanding wait, so `stop()` ends them all at once. */
  private readonly cancels = new Set<(err: StoreError) => void>();
  private readonly leaderListeners = new Set<LeaderListener>();
  /** Makes read contexts unique across restarts of this node. */
  private readonly readPrefix = `${randomUUID().slice(0, 8)}:`;
  private readSeq = 0;

  constructor(opts: RaftNodeOptions) {
    this.id = opts.id;
    this.storage = opts.storage;
    this.transport = opts.transport;
    this.settings = opts.settings;
    this.staticPeers = { ...opts.peers };
    this.log = opts.logger ?? silentLogger;
    this.timing = ticksFor(opts.settings);
    this.requestTimeoutMs = opts.requestTimeoutMs ?? Math.max(2000, 2 * opts.settings.electionTimeoutMs);
    this.onFatal =
      opts.onFatal ??
      ((err) =>
        setImmediate(() => {
          throw err;
        }));
    this.seed = opts.seed ?? randomInt(2 ** 31);
    this.bootstrap = opts.bootstrap;
    this.storageDir = opts.storageDir ?? null;
  }

  // ------------------------------------------------------------------ lifecycle

  /**
   * Recover from storage and start ticking. Throws what `storage.load()` throws
   * (e.g. StorageCorruptError) and `KvSnapshotError` for an unusable snapshot;
   * after such a failure the node is not running and `stop()` just closes the storage.
   */
  start(): void {
    if (this.started || this.stopped) throw new Error(`raft node ${this.id} was already started or stopped; create a new RaftNode to restart`);
    let loaded = this.storage.load();
    const empty = loaded.snapshot === null && loaded.entries.length === 0 && loaded.hardState.term === 0;
    if (empty && this.bootstrap) {
      // The founding configuration lives in a snapshot at index 0, persisted
      // before anything else so a restart finds the same configuration.
      const snapshot: Snapshot = {
        meta: { index: 0, term: 0, membership: { voters: [...this.bootstrap.voters], learners: [...(this.bootstrap.learners ?? [])] } },
        data: new KvStateMachine().snapshot(),
      };
      this.storage.save({ snapshot, entries: [] });
      loaded = this.storage.load();
      this.log.info({ node: this.id, voters: this.bootstrap.voters }, 'raft: bootstrapped a new cluster');
    }
    this.recover(loaded);
    for (const [id, url] of Object.entries(this.staticPeers)) if (id !== this.id) this.transport.setPeer(id, url);
    this.log.info(
      { node: this.id, term: loaded.hardState.term, commit: loaded.hardState.commit, snapshot: loaded.snapshot?.meta.index ?? null, entries: loaded.entries.length },
      'raft: node started',
    );
    this.started = true;
    this.nextTickAt = now();
    this.scheduleTick();
    // Committed entries after the snapshot are re-delivered by the core; apply them now.
    this.kick();
  }

  /** Build the state machine and the core from what storage holds (start, and resuming after a full disk). */
  private recover(loaded: ReturnType<RaftStorage['load']>): void {
    this.kv = new KvStateMachine();
    this.snapshotIndex = 0;
    if (loaded.snapshot) this.installSnapshot(loaded.snapshot);
    this.core = new RaftCore(
      {
        id: this.id,
        electionTicks: this.timing.electionTicks,
        electionJitterTicks: this.timing.electionJitterTicks,
        heartbeatTicks: this.timing.heartbeatTicks,
        random: mulberry32(this.seed),
        maxInflight: this.settings.maxInflightMsgs,
        maxMsgBytes: this.settings.maxMsgBytes,
        preVote: true,
        checkQuorum: true,
      },
      { hardState: loaded.hardState, snapshot: loaded.snapshot, entries: loaded.entries },
    );
  }

  /** Stop ticking and answering; pending requests fail with `stopped`. Closes the transport and the storage. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    this.failAll(new StoreError('stopped', `raft node ${this.id} is stopping; a write still pending has an unknown outcome: retry it elsewhere with the same requestId`));
    await this.transport.close();
    try {
      if (this.started) this.storage.setApplied(this.kv.appliedIndex);
    } finally {
      this.storage.close();
    }
  }

  private failAll(err: StoreError): void {
    for (const cancel of [...this.cancels]) cancel(err);
  }

  /**
   * The one way this class waits: until `arm`'s callback fires, the deadline
   * passes (`onTimeout` gives the value or the error), or the node stops.
   * `arm` registers the callback and returns how to unregister it.
   */
  private waitUntil<T>(deadline: number, onTimeout: () => T | StoreError, arm: (done: (v: T | StoreError) => void) => () => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let disarm = (): void => {};
      const finish = (v: T | StoreError): void => {
        if (!this.cancels.delete(finish)) return; // already settled
        clearTimeout(timer);
        disarm();
        if (v instanceof StoreError) reject(v);
        else resolve(v);
      };
      this.cancels.add(finish);
      const timer = setTimeout(() => finish(onTimeout()), Math.max(0, deadline - now()));
      disarm = arm(finish);
    });
  }

  private fatal(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    if (isDiskFull(e) && this.storageDir !== null && this.started && !this.stopped) return this.suspend(e);
    // A broken invariant, or storage that cannot persist: continuing could break safety.
    this.log.error({ node: this.id, err: e.message, stack: e.stack }, 'raft: fatal error; stopping this node');
    void this.stop().catch(() => {});
    this.onFatal(e);
  }

  /**
   * The storage could not persist because its disk is full. What the core holds
   * in memory is ahead of the disk and must never leave this node: drop it, go
   * silent (no votes, no acknowledgements: to the others this node is down),
   * and rebuild from the disk once there is room again.
   */
  private suspend(e: Error): void {
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.suspended = `the disk of ${this.storageDir} is full (${e.message}): this node takes no part in the cluster until there is room; free space there`;
    this.log.error({ node: this.id, err: e.message, dir: this.storageDir }, 'raft: cannot persist, the disk is full: pausing this node until there is room');
    this.failAll(new StoreError('stopped', `raft node ${this.id} paused: ${this.suspended}`));
    this.proposals.clear();
    this.reads.clear();
    this.appliedWaiters = [];
    for (const fn of [...this.leaderListeners]) {
      try {
        fn(null, 'follower');
      } catch {
        // a listener's problem is not ours
      }
    }
    this.scheduleResume();
  }

  private scheduleResume(): void {
    this.resumeTimer = setTimeout(() => {
      if (this.stopped) return;
      if (freeBytes(this.storageDir!) < RESUME_FREE_BYTES) return this.scheduleResume();
      try {
        this.recover(this.storage.load());
      } catch (err) {
        this.log.warn({ node: this.id, err: (err as Error).message }, 'raft: could not reload the state after a full disk; retrying');
        return this.scheduleResume();
      }
      this.suspended = null;
      this.log.info({ node: this.id, term: this.core.term, commit: this.core.status().commit }, 'raft: the disk has room again: resumed from the state on disk');
      // Re-apply the committed entries now, before anyone reads: the state machine was rebuilt from the snapshot.
      this.processReady();
      this.nextTickAt = now();
      this.scheduleTick();
    }, RESUME_CHECK_MS);
  }

  // ------------------------------------------------------------------ the loop

  private scheduleTick(): void {
    if (this.stopped || this.suspended) return;
    const t = now();
    this.nextTickAt += this.timing.tickMs;
    // Fell behind (a long pause): drop the missed ticks, as Go's ticker does,
    // instead of firing a burst that would time out every election at once.
    if (this.nextTickAt < t) this.nextTickAt = t + this.timing.tickMs;
    this.tickTimer = setTimeout(() => {
      if (this.stopped || this.suspended) return;
      try {
        this.core.tick();
      } catch (err) {
        return this.fatal(err);
      }
      this.kick();
      this.scheduleTick();
    }, this.nextTickAt - t);
  }

  /** Process readiness soon; everything arriving before then shares one fsync. */
  private kick(): void {
    if (this.readyScheduled || this.stopped || this.suspended) return;
    this.readyScheduled = true;
    setImmediate(() => {
      this.readyScheduled = false;
      this.processReady();
    });
  }

  private processReady(): void {
    if (this.stopped || this.suspended) return;
    try {
      for (let round = 0; this.core.hasReady(); round++) {
        if (round === MAX_READY_ROUNDS) {
          this.kick();
          return;
        }
        const rd = this.core.ready();
        this.handleReady(rd);
        this.core.advance(rd);
        this.maybeSnapshot();
      }
    } catch (err) {
      this.fatal(err);
    }
  }

  private handleReady(rd: Ready): void {
    // 1. Persist (fsynced) before anything that depends on it leaves the node.
    if (rd.snapshot || rd.entries.length > 0 || rd.hardState) {
      this.storage.save({ snapshot: rd.snapshot, entries: rd.entries, hardState: rd.hardState });
    }
    if (rd.entries.length > 0 || rd.snapshot) this.failOverwrittenProposals(rd);
    // 2. Send.
    if (rd.messages.length > 0) this.transport.send(rd.messages);
    // 3. Apply.
    if (rd.snapshot) this.installSnapshot(rd.snapshot);
    for (const e of rd.committedEntries) this.applyEntry(e);
    if (rd.snapshot || rd.committedEntries.length > 0) {
      this.storage.setApplied(this.kv.appliedIndex);
      this.flushAppliedWaiters();
    }
    // 4. Reads: served once applied reaches their index.
    for (const rs of rd.readStates) {
      const done = this.reads.get(rs.context);
      if (done) {
        this.reads.delete(rs.context);
        done(rs.index);
      }
    }
    if (rd.softState) this.onSoftState(rd.softState.leader, rd.softState.role);
  }

  private applyEntry(e: Entry): void {
    const result = this.kv.apply(e);
    if (e.type === 'conf') {
      // Only the membership: a forced entry also carries `force` and `removed`.
      const d = JSON.parse(e.data) as Membership;
      this.appliedMembership = { voters: [...d.voters], learners: [...d.learners] };
    }
    else if (e.type === 'normal' && result?.ok && e.data.includes(PEER_ADDRESS_PREFIX)) this.syncPeerAddressFrom(e);
    const w = this.proposals.get(e.index);
    if (!w) return;
    this.proposals.delete(e.index);
    w.settle(w.term === e.term ? { result, index: e.index } : this.droppedError(e.index));
  }

  private droppedError(index: number): StoreError {
    return new StoreError('dropped', `the write at log index ${index} was replaced after a leader change and was not applied; it is safe to retry`, this.core.leader);
  }

  /**
   * An entry of ours that was replaced in the log can never commit (a committed
   * entry is in every later leader's log, so no leader overwrites it), so its
   * waiter can fail now rather than at its timeout.
   */
  private failOverwrittenProposals(rd: Ready): void {
    if (this.proposals.size === 0) return;
    const first = rd.entries[0];
    for (const [index, w] of this.proposals) {
      if (rd.snapshot && rd.snapshot.meta.index >= index) {
        this.proposals.delete(index);
        w.settle(
          new StoreError('outcome-unknown', `this node installed a snapshot covering log index ${index} before applying that write: outcome unknown; read the key or retry with the same requestId`),
        );
        continue;
      }
      if (!first || index < first.index) continue;
      const e = rd.entries[index - first.index];
      // Terms never decrease along a log: a newer term at or before our index means our entry is gone.
      if ((e && e.term !== w.term) || (!e && first.term > w.term)) {
        this.proposals.delete(index);
        w.settle(this.droppedError(index));
      }
    }
  }

  private installSnapshot(snap: Snapshot): void {
    this.kv = snap.meta.index === 0 && snap.data === '' ? new KvStateMachine() : KvStateMachine.restore(snap.data, snap.meta.index);
    this.snapshotIndex = snap.meta.index;
    this.appliedMembership = { voters: [...snap.meta.membership.voters], learners: [...snap.meta.membership.learners] };
    this.replicatedPeers.clear();
    for (const r of this.kv.list(PEER_ADDRESS_PREFIX)) this.setReplicatedPeer(r.key.slice(PEER_ADDRESS_PREFIX.length), r.value);
  }

  private maybeSnapshot(): void {
    const applied = this.kv.appliedIndex;
    if (applied <= this.snapshotIndex) return;
    const { snapshotInterval, maxLogEntries, retentionLogs } = this.settings;
    const due = applied - this.snapshotIndex >= snapshotInterval;
    const logFull = this.core.lastIndex - this.core.firstIndex + 1 > maxLogEntries && applied + 1 - retentionLogs > this.core.firstIndex;
    if (!due && !logFull) return;
    const taken: Snapshot = { meta: { index: applied, term: 0, membership: this.appliedMembership }, data: this.kv.snapshot() };
    // The core fills in term and membership at that index; persist what it returns.
    const { firstIndexToKeep, snapshot } = this.core.compact(taken, retentionLogs);
    this.storage.compact(snapshot, firstIndexToKeep);
    this.snapshotIndex = applied;
    this.log.info({ node: this.id, index: applied, firstIndexToKeep }, 'raft: snapshot taken, log compacted');
  }

  private onSoftState(leader: NodeId, role: Role): void {
    this.log.info({ node: this.id, leader, role, term: this.core.term }, 'raft: leadership changed');
    const view = leader === '' ? null : { id: leader, term: this.core.term };
    for (const fn of [...this.leaderListeners]) {
      try {
        fn(view, role);
      } catch (err) {
        this.log.warn({ node: this.id, err: String(err) }, 'raft: leader listener threw');
      }
    }
  }

  private flushAppliedWaiters(): void {
    if (this.appliedWaiters.length === 0) return;
    const applied = this.kv.appliedIndex;
    const ready = this.appliedWaiters.filter((w) => w.index <= applied);
    if (ready.length === 0) return;
    this.appliedWaiters = this.appliedWaiters.filter((w) => w.index > applied);
    for (const w of ready) w.settle();
  }

  // ------------------------------------------------------------------ peer addresses

  private syncPeerAddressFrom(e: Entry): void {
    let key: unknown;
    try {
      key = (JSON.parse(e.data) as { key?: unknown }).key;
    } catch {
      return;
    }
    if (typeof key !== 'string' || !key.startsWith(PEER_ADDRESS_PREFIX)) return;
    const id = key.slice(PEER_ADDRESS_PREFIX.length);
    const rec = this.kv.get(key);
    if (rec) this.setReplicatedPeer(id, rec.value);
    else if (this.replicatedPeers.delete(id) && !(id in this.staticPeers)) this.transport.removePeer(id);
  }

  /**
   * An address learned outside the log (a node joining learns its future peers from
   * the member it joins through): used until the config or the log says otherwise.
   */
  learnPeerAddress(id: NodeId, url: string): void {
    if (id === this.id || id in this.staticPeers || this.replicatedPeers.has(id)) return;
    this.transport.setPeer(id, url);
  }

  private setReplicatedPeer(id: NodeId, url: string): void {
    if (this.replicatedPeers.get(id) === url) return;
    this.replicatedPeers.set(id, url);
    this.log.info({ node: this.id, peer: id, url, overriddenByConfig: id in this.staticPeers }, 'raft: learned a peer address from the cluster');
    // Local config wins: an operator's explicit address beats the cluster's record.
    if (id !== this.id && !(id in this.staticPeers)) this.transport.setPeer(id, url);
  }

  // ------------------------------------------------------------------ inputs from peers (RaftPeerHandler)

  receive(messages: Message[]): void {
    if (!this.started || this.stopped || this.suspended) return;
    try {
      for (const m of messages) this.core.step(m);
    } catch (err) {
      return this.fatal(err);
    }
    this.kick();
  }

  async handleForwardedProposal(req: PeerProposeRequest): Promise<PeerProposeResponse> {
    // Not running: nothing was proposed, so the follower may safely try elsewhere.
    if (!this.started || this.stopped || this.suspended) throw new StoreError('not-leader', `node ${this.id} is not running${this.suspended ? ` (${this.suspended})` : ''}`);
    if (this.core.role !== 'leader') {
      throw new StoreError('not-leader', `node ${this.id} is not the leader${this.core.leader ? `; the leader is ${this.core.leader}` : ''}`, this.core.leader);
    }
    const out = await this.proposeAsLeader(req.command, now() + req.timeoutMs, false);
    return { result: out.result, index: out.index };
  }

  async handlePeerRead(req: PeerReadRequest): Promise<PeerReadResponse> {
    const opts: ReadOptions = { consistency: req.consistency, timeoutMs: req.timeoutMs };
    if (req.key !== undefined) {
      const r = await this.get(req.key, opts);
      return { records: r ? [r] : [] };
    }
    return { records: await this.list(req.prefix ?? '', opts) };
  }

  // ------------------------------------------------------------------ ClusterStore

  leader(): { id: string; term: number } | null {
    if (!this.started || this.stopped || this.suspended || this.core.leader === '') return null;
    return { id: this.core.leader, term: this.core.term };
  }

  isLeader(): boolean {
    return this.started && !this.stopped && !this.suspended && this.core.role === 'leader';
  }

  /** Be told when the leader or this node's role changes. Returns the unsubscribe function. */
  onLeaderChange(fn: LeaderListener): () => void {
    this.leaderListeners.add(fn);
    return () => this.leaderListeners.delete(fn);
  }

  async get(key: string, opts: ReadOptions = {}): Promise<KvRecord | null> {
    if ((opts.consistency ?? 'linearizable') === 'linearizable') await this.readBarrier(now() + (opts.timeoutMs ?? this.requestTimeoutMs));
    else this.assertReadable();
    return this.kv.get(key);
  }

  async list(prefix: string, opts: ReadOptions = {}): Promise<KvRecord[]> {
    if ((opts.consistency ?? 'linearizable') === 'linearizable') await this.readBarrier(now() + (opts.timeoutMs ?? this.requestTimeoutMs));
    else this.assertReadable();
    return this.kv.list(prefix);
  }

  put(key: string, value: string, opts: WriteOptions = {}): Promise<KvWriteResult> {
    return this.write({ op: 'put', key, value, expectVersion: opts.expectVersion, requestId: opts.requestId }, opts.timeoutMs);
  }

  delete(key: string, opts: WriteOptions = {}): Promise<KvWriteResult> {
    return this.write({ op: 'delete', key, expectVersion: opts.expectVersion, requestId: opts.requestId }, opts.timeoutMs);
  }

  // ------------------------------------------------------------------ writes

  private async write(cmd: KvCommand, timeoutMs?: number): Promise<KvWriteResult> {
    const timeout = timeoutMs ?? this.requestTimeoutMs;
    const deadline = now() + timeout;
    let target: NodeId = '';
    for (;;) {
      this.assertRunning();
      // Only certain failures loop back here, so nothing was written so far.
      if (now() >= deadline) throw new StoreError('no-leader', `no leader accepted the write within ${timeout} ms; nothing was written: check that a quorum of nodes is up and reachable`);
      if (this.core.role === 'leader') {
        try {
          return (await this.proposeAsLeader(cmd, deadline, true)).result;
        } catch (err) {
          // Leadership moved before the entry was appended: forward instead.
          if (!(err instanceof StoreError) || err.code !== 'not-leader') throw err;
          await sleep(Math.min(this.timing.tickMs, deadline - now()));
          continue;
        }
      }
      target = target || this.core.leader;
      if (target === '' || target === this.id) {
        await this.waitForLeader(deadline, `no leader was elected within ${timeout} ms; nothing was written: check that a quorum of nodes is up and reachable`);
        continue;
      }
      try {
        const res = await this.transport.propose(target, { command: cmd, timeoutMs: Math.max(1, Math.ceil(deadline - now())) });
        // Read-your-writes for `local` reads here: wait (briefly) until this node applied it too.
        await this.waitApplied(res.index, deadline).catch(() => {});
        return res.result;
      } catch (err) {
        if (!(err instanceof StoreError)) throw err;
        if (err.code === 'stopped' && !this.stopped) {
          throw new StoreError('timeout', `leader ${target} stopped while the write was pending: outcome unknown; retry with the same requestId or read the key`);
        }
        // Retry only when the write certainly did not happen and time remains.
        const retriable = err.code === 'not-leader' || err.code === 'unreachable';
        if (!retriable || now() + this.timing.tickMs >= deadline) {
          if (retriable) throw new StoreError('no-leader', `could not reach a leader within ${timeout} ms (last: ${err.message}); nothing was written`, err.leader);
          throw err;
        }
        const hint = err.leader;
        target = hint && hint !== target && hint !== this.id ? hint : '';
        await sleep(Math.min(this.timing.tickMs, deadline - now()));
      }
    }
  }

  /** Propose on this node, which must be the leader; resolves when applied here. */
  private async proposeAsLeader(cmd: KvCommand, deadline: number, mayWait: boolean): Promise<{ result: KvWriteResult; index: number }> {
    for (;;) {
      this.assertRunning();
      const r = this.core.propose(encodeCommand(cmd));
      if (r.ok) {
        this.kick();
        const out = await this.waitForEntry(r.index, r.term, deadline, `write of ${cmd.key}`);
        return { result: out.result!, index: out.index };
      }
      if (r.code === 'transfer-in-progress') {
        // Leadership is moving. Nothing was appended, so the caller may go to the new leader.
        if (!mayWait || now() + this.timing.tickMs >= deadline) {
          throw new StoreError('not-leader', `leadership is moving away from ${this.id}; retry on the new leader`, '');
        }
        await sleep(this.timing.tickMs);
        if (this.core.role !== 'leader') throw new StoreError('not-leader', `leadership moved away from ${this.id}`, this.core.leader);
        continue;
      }
      throw refusalError(r, this.id);
    }
  }

  private waitForEntry(
    index: number,
    term: number,
    deadline: number,
    what: string,
    onTimeout?: () => StoreError,
  ): Promise<{ result: KvWriteResult | null; index: number }> {
    // An older waiter at this index belongs to an entry that was just replaced.
    this.proposals.get(index)?.settle(this.droppedError(index));
    return this.waitUntil<{ result: KvWriteResult | null; index: number }>(
      deadline,
      onTimeout ??
        (() => new StoreError('timeout', `${what} (log index ${index}) was not applied within the timeout: outcome unknown; retry with the same requestId or read the key`, this.core.leader)),
      (done) => {
        const w: ProposalWaiter = { term, settle: done };
        this.proposals.set(index, w);
        return () => {
          if (this.proposals.get(index) === w) this.proposals.delete(index);
        };
      },
    );
  }

  // ------------------------------------------------------------------ reads

  /** After this resolves, the local state machine reflects every write acknowledged before the call. */
  private async readBarrier(deadline: number): Promise<void> {
    const electionMs = this.timing.electionTicks * this.timing.tickMs;
    for (;;) {
      this.assertRunning();
      if (now() >= deadline) {
        throw new StoreError('timeout', `linearizable read on ${this.id} got no read index in time: is a quorum reachable? Use consistency 'local' for a possibly stale read`, this.core.leader);
      }
      const ctx = `${this.readPrefix}${++this.readSeq}`;
      const refusal = this.core.readIndex(ctx);
      if (refusal) {
        if (refusal.code === 'not-leader' && refusal.leader === '') {
          await this.waitForLeader(deadline, `no leader was elected in time for a linearizable read on ${this.id}: check that a quorum is up, or read with consistency 'local'`);
        } else {
          await sleep(Math.min(this.timing.tickMs, deadline - now()));
        }
        continue;
      }
      this.kick();
      // The read index may never come (leadership lost meanwhile): ask again after an election timeout.
      const index = await this.waitUntil<number | null>(
        Math.min(deadline, now() + electionMs),
        () => null,
        (done) => {
          this.reads.set(ctx, done);
          return () => this.reads.delete(ctx);
        },
      );
      if (index === null) continue;
      await this.waitApplied(index, deadline);
      return;
    }
  }

  private waitApplied(index: number, deadline: number): Promise<void> {
    if (this.kv.appliedIndex >= index) return Promise.resolve();
    return this.waitUntil<void>(
      deadline,
      () => new StoreError('timeout', `node ${this.id} did not apply up to index ${index} in time (applied ${this.kv.appliedIndex}); it may be catching up`, this.core.leader),
      (done) => {
        const w: AppliedWaiter = { index, settle: () => done(undefined) };
        this.appliedWaiters.push(w);
        return () => {
          this.appliedWaiters = this.appliedWaiters.filter((x) => x !== w);
        };
      },
    );
  }

  /** Resolves once a leader is known; rejects `no-leader` (with `message`) at the deadline. */
  private waitForLeader(deadline: number, message: string): Promise<void> {
    if (this.core.leader !== '') return Promise.resolve();
    return this.waitUntil<void>(
      deadline,
      () => new StoreError('no-leader', message),
      (done) =>
        this.onLeaderChange((l) => {
          if (l) done(undefined);
        }),
    );
  }

  /** Local reads go on while paused for a full disk: the applied state is intact, only possibly stale. */
  private assertReadable(): void {
    if (this.suspended && this.started && !this.stopped) return;
    this.assertRunning();
  }

  private assertRunning(): void {
    if (!this.started) throw new StoreError('stopped', `raft node ${this.id} has not been started; call start() first`);
    if (this.stopped) throw new StoreError('stopped', `raft node ${this.id} is stopped; use another node`);
    if (this.suspended) throw new StoreError('stopped', `raft node ${this.id} is paused: ${this.suspended}`);
  }

  // ------------------------------------------------------------------ administration (leader only)

  /**
   * Add `id` as a learner (non-voter) and record its address so every node can
   * reach it. Promote it with `promote` once it has caught up. Leader only.
   */
  async addMember(id: NodeId, address?: string, opts: { timeoutMs?: number } = {}): Promise<void> {
    const deadline = now() + (opts.timeoutMs ?? this.requestTimeoutMs);
    this.assertLeader('add a member');
    if (address !== undefined) {
      const r = await this.put(`${PEER_ADDRESS_PREFIX}${id}`, address, { timeoutMs: Math.max(1, deadline - now()) });
      if (!r.ok) throw new StoreError('invalid', `could not record the address of ${id}: ${r.reason}`);
    }
    await this.changeMembership({ op: 'add-learner', node: id }, deadline);
  }

  /** Make learner `id` a voter, waiting (up to the timeout) until it has caught up with the log. Leader only. */
  async promote(id: NodeId, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.changeMembership({ op: 'promote', node: id }, now() + (opts.timeoutMs ?? this.requestTimeoutMs));
  }

  /** Remove `id` (voter or learner) from the cluster. Leader only; removing the leader itself makes it step down. */
  async remove(id: NodeId, opts: { timeoutMs?: number } = {}): Promise<void> {
    await this.changeMembership({ op: 'remove', node: id }, now() + (opts.timeoutMs ?? this.requestTimeoutMs));
    if (this.replicatedPeers.has(id)) {
      // Best effort: a stale address does no harm, so do not hold the caller.
      this.delete(`${PEER_ADDRESS_PREFIX}${id}`).catch((err) => this.log.debug({ node: this.id, peer: id, err: String(err) }, 'raft: could not delete the address of a removed member'));
    }
  }

  private async changeMembership(change: Parameters<RaftCore['proposeMembership']>[0], deadline: number): Promise<void> {
    for (;;) {
      this.assertLeader(`${change.op} ${change.node}`);
      const r = this.core.proposeMembership(change);
      if (r.ok) {
        this.kick();
        await this.waitForEntry(r.index, r.term, deadline, `membership change ${change.op} ${change.node}`);
        return;
      }
      // Transient refusals: the leader's first commit, a previous change, a learner still catching up.
      const transient =
        r.code === 'leader-not-ready' ||
        r.code === 'membership-change-pending' ||
        (r.code === 'invalid-membership-change' && change.op === 'promote' && r.reason.includes('caught up'));
      if (!transient || now() + this.timing.tickMs >= deadline) throw refusalError(r, this.id);
      await sleep(this.timing.tickMs);
    }
  }

  /**
   * Disaster recovery (`cluster force-quorum`), unsafe by design: make `voters`
   * (the surviving voters, this node among them) the whole voter set, without the
   * lost ones. This node takes a new term and leads it without an election (see
   * `RaftCore.forceNewConfiguration`); resolves once the forced configuration is
   * committed by a majority of `voters`. Afterwards the dropped voters' replicated
   * addresses are deleted (best effort).
   *
   * Run it on ONE survivor: the one whose `logPosition()` is the most up to date
   * by (lastTerm, lastIndex). Entries committed only by the lost voters are gone.
   *
   * Throws StoreError `invalid` for an unusable voter list (nothing changed),
   * `timeout` when the other survivors did not take the configuration in time
   * (it stays in the log and may still commit), `dropped` when another leader
   * replaced it, `stopped` when the node stops meanwhile.
   */
  async forceNewConfiguration(voters: NodeId[], opts: { timeoutMs?: number } = {}): Promise<void> {
    this.assertRunning();
    const timeout = opts.timeoutMs ?? this.requestTimeoutMs;
    const deadline = now() + timeout;
    const before = this.core.membership;
    const refusal = this.core.forceNewConfiguration(voters);
    if (refusal) throw refusalError(refusal, this.id);
    // The core appended the forced conf entry, then a no-op.
    const index = this.core.lastIndex - 1;
    const term = this.core.term;
    const dropped = before.voters.filter((v) => !voters.includes(v));
    this.log.warn({ node: this.id, term, index, voters, dropped }, 'raft: forcing a new configuration without the lost voters');
    this.kick();
    const others = voters.filter((v) => v !== this.id);
    try {
      await this.waitForEntry(
        index,
        term,
        deadline,
        'forced configuration',
        () =>
          new StoreError(
            'timeout',
            `the forced configuration (voters ${voters.join(', ')}; log index ${index}, term ${term}) was not committed within ${timeout} ms: ` +
              `check that ${others.join(', ')} ${others.length === 1 ? 'is' : 'are'} running and reachable from ${this.id}, and that ${this.id} had the most up-to-date log of the survivors (compare their logPosition()); ` +
              `the configuration stays in ${this.id}'s log and may still commit`,
            this.core.leader,
          ),
      );
    } catch (err) {
      if (err instanceof StoreError && err.code === 'dropped') {
        throw new StoreError(
          'dropped',
          `the forced configuration at log index ${index} was replaced by the log of another leader (now ${this.core.leader || 'none'}): another node took over; check the cluster's membership before forcing again`,
          this.core.leader,
        );
      }
      throw err;
    }
    this.log.warn({ node: this.id, term, index, voters, dropped }, 'raft: forced configuration committed');
    for (const id of dropped) {
      if (!this.replicatedPeers.has(id)) continue;
      // Best effort, as for `remove`: a stale address does no harm.
      this.delete(`${PEER_ADDRESS_PREFIX}${id}`).catch((err) => this.log.debug({ node: this.id, peer: id, err: String(err) }, 'raft: could not delete the address of a dropped voter'));
    }
  }

  /**
   * Where this node's log ends, and its current term: cheap and local. Among the
   * survivors of a lost majority, the one with the greatest (lastTerm, lastIndex)
   * must be the one to `forceNewConfiguration`.
   */
  logPosition(): { lastIndex: number; lastTerm: number; term: number } {
    this.assertRunning();
    return { lastIndex: this.core.lastIndex, lastTerm: this.core.lastTerm, term: this.core.term };
  }

  /** Hand leadership to voter `to` and wait until it leads. Leader only. */
  async transferLeadership(to: NodeId, opts: { timeoutMs?: number } = {}): Promise<void> {
    this.assertLeader(`transfer leadership to ${to}`);
    const timeout = opts.timeoutMs ?? this.requestTimeoutMs;
    const refusal = this.core.transferLeadership(to);
    if (refusal) throw refusalError(refusal, this.id);
    if (to === this.id) return;
    this.kick();
    await this.waitUntil<void>(
      now() + timeout,
      () => new StoreError('timeout', `leadership did not move to ${to} within ${timeout} ms (leader: ${this.core.leader || 'none'}); check that ${to} is up and caught up, then retry`, this.core.leader),
      (done) =>
        this.onLeaderChange((l) => {
          if (l?.id === to) done(undefined);
        }),
    );
  }

  /** Start an election now (tests and benchmarks; normal operation never needs it). */
  campaign(): void {
    this.assertRunning();
    this.core.campaign();
    this.kick();
  }

  private assertLeader(what: string): void {
    this.assertRunning();
    if (this.core.role !== 'leader') {
      const l = this.core.leader;
      throw new StoreError('not-leader', `cannot ${what} on ${this.id}: only the leader can${l ? `; ask ${l}` : '; no leader is known yet, retry shortly'}`, l);
    }
  }

  status(): RaftNodeStatus {
    const base: RaftStatus = this.started
      ? this.core.status()
      : { id: this.id, term: 0, role: 'follower', leader: '', commit: 0, applied: 0, firstIndex: 0, lastIndex: 0, membership: { voters: [], learners: [] }, progress: {} };
    return {
      ...base,
      applied: this.started ? this.kv.appliedIndex : 0,
      snapshotIndex: this.snapshotIndex,
      appliedMembership: { voters: [...this.appliedMembership.voters], learners: [...this.appliedMembership.learners] },
      ...(this.suspended ? { role: 'follower' as const, leader: '' } : {}),
      started: this.started,
      stopped: this.stopped,
      problem: this.suspended,
    };
  }
}

/** How often a paused node looks for room, and how much it wants before resuming. */
const RESUME_CHECK_MS = 1000;
const RESUME_FREE_BYTES = 2 * 1024 * 1024;

/** SQLite's "database or disk is full", or ENOSPC from the file system. */
function isDiskFull(e: Error): boolean {
  const code = (e as { code?: unknown }).code;
  return code === 'SQLITE_FULL' || code === 'ENOSPC' || /disk is full|ENOSPC|no space left/i.test(e.message);
}

function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return 0;
  }
}

function refusalError(r: RaftRefusal, self: NodeId): StoreError {
  switch (r.code) {
    case 'not-leader':
      return new StoreError('not-leader', `node ${self} is not the leader${r.leader ? `; the leader is ${r.leader}` : '; no leader is known yet, retry shortly'}`, r.leader);
    case 'transfer-in-progress':
      return new StoreError('refused', `leadership is being transferred away from ${self}; retry on the new leader shortly`, r.leader);
    case 'membership-change-pending':
      return new StoreError('refused', 'another membership change is still being committed; retry once it is done', r.leader);
    case 'leader-not-ready':
      return new StoreError('refused', `leader ${self} has not yet committed an entry of its term; retry shortly`, r.leader);
    case 'invalid-membership-change':
      return new StoreError('invalid', `membership change refused: ${r.reason}`, r.leader);
    case 'invalid-forced-configuration':
      return new StoreError('invalid', `forced configuration refused on ${self}: ${r.reason}`, r.leader);
  }
}
