/**
 * A hand-driven Raft cluster for tests: real `RaftCore`s, an in-memory disk per
 * node, and an in-memory network whose messages are delivered only when a test
 * says so. Nothing happens on its own: time passes by `tick`, messages move by
 * `deliver` / `stabilize`. Every Ready is handled as soon as it appears, in the
 * order the `Ready` contract asks for (persist, send, apply), so the disk always
 * holds what a node acknowledged and `restart` recovers exactly that.
 *
 * What happened is recorded as `EnvEvent`s; the interaction interpreter prints
 * them and the paper tests assert on them.
 */

import { mulberry32 } from '../../../agent/raft/random.ts';
import { RaftCore } from '../../../agent/raft/core.ts';
import {
  NONE,
  type Entry,
  type HardState,
  type Membership,
  type MembershipChange,
  type Message,
  type NodeId,
  type ProposeResult,
  type RaftRefusal,
  type ReadState,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMeta,
} from '../../../agent/raft/types.ts';

/** Per-node settings; defaults follow the tests' convention (election 10 ticks, heartbeat 1). */
export interface NodeConfig {
  electionTicks: number;
  heartbeatTicks: number;
  preVote: boolean;
  checkQuorum: boolean;
  maxInflight?: number;
  maxMsgBytes?: number;
}

export const DEFAULT_NODE_CONFIG: NodeConfig = { electionTicks: 10, heartbeatTicks: 1, preVote: true, checkQuorum: true };

/** What a node made durable: exactly what a restart recovers. */
export interface Disk {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: Entry[];
}

/** One applied `normal` entry of the toy state machine (the list of applied commands). */
export interface Applied {
  index: number;
  data: string;
}

/** Something observable that happened in the cluster, in the order it happened. */
export type EnvEvent =
  /** A node sent a message; `dropped` says why the network lost it at once (null: it is in flight). */
  | { kind: 'send'; msg: Message; dropped: string | null }
  /** A message left the network: delivered (`dropped` null) or lost. */
  | { kind: 'deliver'; msg: Message; dropped: string | null }
  /** A node's role, term or known leader changed. */
  | { kind: 'state'; node: NodeId; role: Role; term: number; leader: NodeId }
  | { kind: 'apply'; node: NodeId; entries: Entry[] }
  | { kind: 'install'; node: NodeId; meta: SnapshotMeta }
  | { kind: 'read'; node: NodeId; read: ReadState }
  /** A core threw (a broken invariant: always a bug). */
  | { kind: 'error'; node: NodeId; message: string };

/** A test asked for something the environment cannot do (a mistake in the test, not in Raft). */
export class EnvUsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvUsageError';
  }
}

export class EnvNode {
  readonly id: NodeId;
  readonly config: NodeConfig;
  disk: Disk;
  /** Null while crashed. */
  core: RaftCore | null = null;
  applied: Applied[] = [];
  appliedIndex = 0;
  /** Every ReadState the node received, in order. */
  readStates: ReadState[] = [];
  /** Last role/term/leader reported, to report only changes. */
  last: { role: Role; term: number; leader: NodeId } = { role: 'follower', term: 0, leader: NONE };
  restarts = 0;

  constructor(id: NodeId, config: NodeConfig, disk: Disk) {
    this.id = id;
    this.config = config;
    this.disk = disk;
  }

  get up(): boolean {
    return this.core !== null;
  }
}

/** Deterministic random source (mulberry32); the core never calls Math.random. */
export const seededRandom = mulberry32;

/** Sort node ids numerically when they are numbers, else as strings (deterministic output). */
export function sortIds(ids: Iterable<NodeId>): NodeId[] {
  return [...ids].sort((a, b) => {
    const na = Number(a);
    const nb = Number(b);
    if (Number.isFinite(na) && Number.isFinite(nb) && na !== nb) return na - nb;
    return a < b ? -1 : a > b ? 1 : 0;
  });
}

export type MessageFilter = (m: Message) => boolean;

export class Env {
  readonly nodes = new Map<NodeId, EnvNode>();
  /** Messages sent and not yet delivered or dropped, oldest first. */
  inflight: Message[] = [];
  /** Groups of a partition; messages between different groups are lost. Empty: fully connected. */
  private groups: NodeId[][] = [];
  private events: EnvEvent[] = [];
  private readonly seed: number;

  constructor(seed = 1) {
    this.seed = seed;
  }

  // ---------------------------------------------------------------- membership of the environment

  /**
   * Create `count` nodes with the next free numeric ids. Nodes given a
   * membership bootstrap from it (every initial member starts with the same
   * configuration snapshot at index 0); `membership: null` makes brand-new nodes
   * that learn the cluster from the leader once added by a conf change.
   */
  addNodes(count: number, membership: Membership | null, config: Partial<NodeConfig> = {}): NodeId[] {
    const ids: NodeId[] = [];
    let next = 1;
    for (const id of this.nodes.keys()) next = Math.max(next, Number(id) + 1);
    for (let i = 0; i < count; i++) {
      const id = String(next + i);
      const disk: Disk = {
        hardState: { term: 0, vote: NONE, commit: 0 },
        snapshot: membership ? { meta: { index: 0, term: 0, membership: cloneMembership(membership) }, data: '[]' } : null,
        entries: [],
      };
      const node = new EnvNode(id, { ...DEFAULT_NODE_CONFIG, ...config }, disk);
      this.nodes.set(id, node);
      this.boot(node);
      ids.push(id);
    }
    return ids;
  }

  /** Add one node that recovers `disk` (a node with history, built by hand for a test). */
  addNodeWithDisk(id: NodeId, disk: Disk, config: Partial<NodeConfig> = {}): void {
    if (this.nodes.has(id)) throw new EnvUsageError(`node ${id} already exists`);
    const node = new EnvNode(id, { ...DEFAULT_NODE_CONFIG, ...config }, structuredClone(disk));
    this.nodes.set(id, node);
    this.boot(node);
  }

  node(id: NodeId): EnvNode {
    const n = this.nodes.get(id);
    if (!n) throw new EnvUsageError(`no node ${id}; add it with add-nodes first`);
    return n;
  }

  /** The running core of `id`; fails if the node is crashed. */
  core(id: NodeId): RaftCore {
    const n = this.node(id);
    if (!n.core) throw new EnvUsageError(`node ${id} is down; restart it first`);
    return n.core;
  }

  ids(): NodeId[] {
    return sortIds(this.nodes.keys());
  }

  liveIds(): NodeId[] {
    return this.ids().filter((id) => this.node(id).up);
  }

  /** Ids of live nodes that currently believe they are leader. */
  leaders(): NodeId[] {
    return this.liveIds().filter((id) => this.core(id).role === 'leader');
  }

  // ---------------------------------------------------------------- inputs (each handles the resulting Ready)

  /** Run `fn` against a node's core and handle whatever it produced. */
  act<T>(id: NodeId, fn: (core: RaftCore) => T): T {
    const n = this.node(id);
    const core = this.core(id);
    let result: T;
    try {
      result = fn(core);
      this.handleReady(n);
    } catch (err) {
      this.events.push({ kind: 'error', node: id, message: err instanceof Error ? err.message : String(err) });
      throw err;
    }
    return result;
  }

  campaign(id: NodeId): void {
    this.act(id, (c) => c.campaign());
  }

  tick(id: NodeId, times = 1): void {
    for (let i = 0; i < times; i++) this.act(id, (c) => c.tick());
  }

  /** `rounds` times: tick every live node once (in id order), then deliver until quiet. */
  tickAll(rounds: number): void {
    for (let r = 0; r < rounds; r++) {
      for (const id of this.liveIds()) this.tick(id);
      this.stabilize();
    }
  }

  propose(id: NodeId, data: string): ProposeResult {
    return this.act(id, (c) => c.propose(data));
  }

  proposeConf(id: NodeId, change: MembershipChange): ProposeResult {
    return this.act(id, (c) => c.proposeMembership(change));
  }

  readIndex(id: NodeId, context: string): RaftRefusal | null {
    return this.act(id, (c) => c.readIndex(context));
  }

  transfer(id: NodeId, to: NodeId): RaftRefusal | null {
    return this.act(id, (c) => c.transferLeadership(to));
  }

  /** Take a snapshot of `id`'s state machine at `index` and compact its log, as the driver does. */
  compact(id: NodeId, index: number, retainEntries = 0): { snapshot: Snapshot; firstIndexToKeep: number } {
    const n = this.node(id);
    const data = JSON.stringify(n.applied.filter((a) => a.index <= index));
    const out = this.act(id, (c) => c.compact({ meta: { index, term: 0, membership: { voters: [], learners: [] } }, data }, retainEntries));
    n.disk.snapshot = structuredClone(out.snapshot);
    n.disk.entries = n.disk.entries.filter((e) => e.index >= out.firstIndexToKeep);
    return { snapshot: out.snapshot, firstIndexToKeep: out.firstIndexToKeep };
  }

  // ---------------------------------------------------------------- faults

  /** The node stops; its volatile state is lost and messages to it are dropped. */
  crash(id: NodeId): void {
    const n = this.node(id);
    if (!n.core) throw new EnvUsageError(`node ${id} is already down`);
    n.core = null;
  }

  /** Start the node again from what it persisted. */
  restart(id: NodeId): void {
    const n = this.node(id);
    if (n.core) throw new EnvUsageError(`node ${id} is running; crash it first`);
    n.restarts++;
    this.boot(n);
  }

  /** Split the cluster; nodes in different groups cannot talk. Nodes in no group talk to everyone. */
  partition(groups: NodeId[][]): void {
    for (const g of groups) for (const id of g) this.node(id);
    this.groups = groups.map((g) => [...g]);
  }

  /** Cut `id` off from every other node. */
  isolate(id: NodeId): void {
    this.partition([[id], this.ids().filter((x) => x !== id)]);
  }

  heal(): void {
    this.groups = [];
  }

  // ---------------------------------------------------------------- the network

  /**
   * Deliver (or with `drop`, lose) the messages in flight that match `filter`,
   * oldest first. Messages sent as a consequence stay in flight.
   * Returns how many matched.
   */
  deliver(filter: MessageFilter = () => true, drop = false): number {
    const batch = this.inflight.filter(filter);
    this.inflight = this.inflight.filter((m) => !filter(m));
    for (const m of batch) this.deliverOne(m, drop ? 'dropped by test' : null);
    return batch.length;
  }

  /** Lose the matching in-flight messages. */
  drop(filter: MessageFilter = () => true): number {
    return this.deliver(filter, true);
  }

  /**
   * Deliver messages, oldest first, until none is in flight. Messages matching
   * `dropIf` are lost instead (a selective fault for scripted scenarios).
   */
  stabilize(dropIf?: MessageFilter, limit = 100_000): void {
    this.deliverUntil(() => false, dropIf, limit);
  }

  /**
   * Deliver messages one at a time, oldest first, until `done()` holds (checked
   * before each delivery) or nothing is in flight. Returns whether `done()` held.
   */
  deliverUntil(done: () => boolean, dropIf?: MessageFilter, limit = 100_000): boolean {
    for (let i = 0; ; i++) {
      if (done()) return true;
      if (this.inflight.length === 0) return false;
      if (i >= limit) throw new EnvUsageError(`the cluster did not go quiet within ${limit} deliveries (a message loop?)`);
      const m = this.inflight.shift()!;
      this.deliverOne(m, dropIf?.(m) ? 'dropped by test' : null);
    }
  }

  /** Events since the last `takeEvents`, without consuming them. */
  peekEvents(): readonly EnvEvent[] {
    return this.events;
  }

  /** Events since the last call, oldest first. */
  takeEvents(): EnvEvent[] {
    const e = this.events;
    this.events = [];
    return e;
  }

  // ---------------------------------------------------------------- internals

  private boot(n: EnvNode): void {
    const recovered = structuredClone(n.disk);
    const seed = this.seed * 1_000_003 + Number(n.id) * 7919 + n.restarts * 104_729;
    n.core = new RaftCore(
      {
        id: n.id,
        electionTicks: n.config.electionTicks,
        heartbeatTicks: n.config.heartbeatTicks,
        random: seededRandom(seed),
        maxInflight: n.config.maxInflight,
        maxMsgBytes: n.config.maxMsgBytes,
        preVote: n.config.preVote,
        checkQuorum: n.config.checkQuorum,
      },
      recovered,
    );
    // The state machine restarts from the snapshot; the core hands out the
    // committed entries after it again.
    n.applied = recovered.snapshot ? parseApplied(recovered.snapshot.data) : [];
    n.appliedIndex = recovered.snapshot?.meta.index ?? 0;
    n.last = { role: n.core.role, term: n.core.term, leader: n.core.leader };
    this.handleReady(n);
  }

  private handleReady(n: EnvNode): void {
    const core = n.core!;
    for (let guard = 0; core.hasReady(); guard++) {
      if (guard > 10_000) throw new EnvUsageError(`node ${n.id} keeps producing Ready (hasReady never turns false)`);
      const rd = core.ready();
      this.persist(n, rd);
      const now = { role: core.role, term: core.term, leader: core.leader };
      if (now.role !== n.last.role || now.term !== n.last.term || now.leader !== n.last.leader) {
        n.last = now;
        this.events.push({ kind: 'state', node: n.id, ...now });
      }
      for (const m of rd.messages) this.send(structuredClone(m));
      if (rd.snapshot) {
        n.applied = parseApplied(rd.snapshot.data);
        n.appliedIndex = rd.snapshot.meta.index;
        this.events.push({ kind: 'install', node: n.id, meta: structuredClone(rd.snapshot.meta) });
      }
      if (rd.committedEntries.length > 0) {
        for (const e of rd.committedEntries) {
          if (e.index !== n.appliedIndex + 1) {
            throw new EnvUsageError(`node ${n.id} was handed entry ${e.index} to apply after applying ${n.appliedIndex}: committed entries must be applied in order without gaps`);
          }
          n.appliedIndex = e.index;
          if (e.type === 'normal') n.applied.push({ index: e.index, data: e.data });
        }
        this.events.push({ kind: 'apply', node: n.id, entries: structuredClone(rd.committedEntries) });
      }
      for (const r of rd.readStates) {
        n.readStates.push({ ...r });
        this.events.push({ kind: 'read', node: n.id, read: { ...r } });
      }
      core.advance(rd);
    }
  }

  /** Step 1 of the Ready contract, with the same semantics as the SQLite storage. */
  private persist(n: EnvNode, rd: Ready): void {
    const disk = n.disk;
    if (rd.snapshot) {
      const s = structuredClone(rd.snapshot);
      // Paper §7: keep the log after the snapshot only if it agrees with it at its index.
      const agrees = disk.entries.some((e) => e.index === s.meta.index && e.term === s.meta.term);
      disk.entries = agrees ? disk.entries.filter((e) => e.index > s.meta.index) : [];
      disk.snapshot = s;
    }
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      disk.entries = disk.entries.filter((e) => e.index < first).concat(structuredClone(rd.entries));
    }
    if (rd.hardState) disk.hardState = { ...rd.hardState };
    // The log on disk must stay contiguous and reach back to the snapshot.
    const base = disk.snapshot?.meta.index ?? 0;
    const after = disk.entries.filter((e) => e.index > base);
    after.forEach((e, i) => {
      if (e.index !== base + 1 + i) {
        throw new EnvUsageError(`node ${n.id}: Ready.entries left a hole in the stored log at index ${base + 1 + i} (found ${e.index})`);
      }
    });
  }

  private send(m: Message): void {
    const dropped = this.blocked(m);
    this.events.push({ kind: 'send', msg: m, dropped });
    if (dropped === null) this.inflight.push(m);
  }

  private deliverOne(m: Message, forced: string | null): void {
    const dropped = forced ?? this.blocked(m);
    this.events.push({ kind: 'deliver', msg: m, dropped });
    if (dropped === null) this.act(m.to, (c) => c.step(m));
  }

  private blocked(m: Message): string | null {
    const to = this.nodes.get(m.to);
    if (!to) return `no node ${m.to}`;
    if (!to.up) return `${m.to} is down`;
    const gf = this.groups.findIndex((g) => g.includes(m.from));
    const gt = this.groups.findIndex((g) => g.includes(m.to));
    if (gf >= 0 && gt >= 0 && gf !== gt) return 'partition';
    return null;
  }
}

function cloneMembership(m: Membership): Membership {
  return { voters: [...m.voters], learners: [...m.learners] };
}

function parseApplied(data: string): Applied[] {
  return data === '' ? [] : (JSON.parse(data) as Applied[]);
}
