/**
 * Simulated clients of the replicated key-value store. Each client runs one
 * operation at a time against some node (the last leader it heard of, or a
 * random member) and records what it observed in a history for the
 * linearizability checker:
 * - writes go through `propose` and resolve when *that* node applies the entry
 *   at the returned (index, term); another term there means the write was
 *   dropped (a definite failure, not recorded); a crash or a timeout leaves the
 *   outcome unknown (recorded with complete = null);
 * - reads go through `readIndex` and are served from that node's state machine
 *   once it has applied the read index; a read that does not finish is dropped.
 * Refusals (not-leader, ...) are definite failures: the client retries elsewhere.
 */
import { encodeCommand, type KvWriteResult } from '../../agent/raft/kv.ts';
import type { Entry, NodeId, ReadState, RaftRefusal, SnapshotMeta } from '../../agent/raft/types.ts';
import { formatOp, type HistoryOp, type KvOp, type KvResult } from './linearizability.ts';
import type { Prng } from './prng.ts';
import type { SimNode } from './sim-node.ts';

/** Shape of the client workload of one run. */
export interface WorkloadSettings {
  clients: number;
  keys: number;
  /** Idle ticks between two operations of a client, uniform in [0, thinkTicks]. */
  thinkTicks: number;
  /** An operation without an answer after this many ticks has an unknown outcome. */
  timeoutTicks: number;
  /** Probability of sending to the last known leader rather than a random member. */
  stickiness: number;
  /** Share of reads among operations. */
  readRatio: number;
}

/** What the workload needs from the simulation. */
export interface ClusterView {
  now(): number;
  /** A strictly increasing instant for invoke/complete (finer than ticks: order within a tick matters). */
  instant(): number;
  node(id: NodeId): SimNode | undefined;
  /** Nodes a client may address (the members it could know of). */
  members(): NodeId[];
  /** The entry some node applied at `index` and the write result it computed (null for noop/conf), if any did. */
  appliedAt(index: number): { term: number; result: KvWriteResult | null } | undefined;
  trace(text: string): void;
  /** Verbose-only detail (client operations); `undefined` when nobody listens. */
  detail?: (text: string) => void;
}

interface PendingWrite {
  kind: 'write';
  client: Client;
  op: HistoryOp;
  node: NodeId;
  index: number;
  term: number;
  incarnation: number;
  invokedAt: number;
}

interface PendingRead {
  kind: 'read';
  client: Client;
  op: HistoryOp;
  node: NodeId;
  context: string;
  index: number | null;
  incarnation: number;
  invokedAt: number;
}

interface Client {
  name: string;
  busy: PendingWrite | PendingRead | null;
  nextAt: number;
  leader: NodeId;
  /** Last version this client saw per key: the base of its compare-and-set writes. */
  versions: Map<string, number>;
  seq: number;
}

export class Workload {
  /** Every recorded operation (definite failures are removed). */
  private readonly history: HistoryOp[] = [];
  private readonly failed = new Set<number>();
  private readonly clients: Client[] = [];
  private readonly writes = new Map<string, PendingWrite>(); // "node:index"
  private readonly reads = new Map<string, PendingRead>(); // context
  private readonly keys: string[];
  private nextId = 1;
  /** op id -> node and ticks, for failure reports. */
  private readonly ran = new Map<number, { node: NodeId; invokedAt: number; completedAt: number | null }>();
  issuing = true;

  constructor(
    private readonly rng: Prng,
    private readonly settings: WorkloadSettings,
    private readonly view: ClusterView,
  ) {
    this.keys = Array.from({ length: settings.keys }, (_, i) => `k${i + 1}`);
    for (let i = 0; i < settings.clients; i++) {
      this.clients.push({ name: `c${i + 1}`, busy: null, nextAt: 0, leader: '', versions: new Map(), seq: 0 });
    }
  }

  /** Where and when (ticks) an operation ran. */
  whereRan(id: number): { node: NodeId; invokedAt: number; completedAt: number | null } | undefined {
    return this.ran.get(id);
  }

  get pending(): number {
    return this.clients.filter((c) => c.busy).length;
  }

  /** Once per tick: time out stale operations, start new ones. */
  tick(): void {
    const now = this.view.now();
    for (const c of this.clients) {
      const p = c.busy;
      if (p && now - p.invokedAt >= this.settings.timeoutTicks) this.giveUp(p, 'timed out');
      if (!c.busy && this.issuing && now >= c.nextAt) this.start(c);
    }
  }

  /** A node applied a committed entry: resolve the write waiting for that slot there. */
  applied(node: SimNode, e: Entry, result: KvWriteResult | null): void {
    const p = this.writes.get(`${node.id}:${e.index}`);
    if (!p) return;
    if (e.term === p.term) this.completeWrite(p, result);
    else this.fail(p, `its slot ${e.index} was taken by term ${e.term}`);
  }

  /** A node jumped over entries by restoring a snapshot: resolve the writes it skipped from what others applied. */
  snapshotRestored(node: SimNode, meta: SnapshotMeta): void {
    for (const p of [...this.writes.values()]) {
      if (p.node !== node.id || p.index > meta.index) continue;
      const a = this.view.appliedAt(p.index);
      if (a && a.term === p.term) this.completeWrite(p, a.result);
      else if (a) this.fail(p, `its slot ${p.index} holds term ${a.term}`);
      else this.giveUp(p, `skipped by snapshot ${meta.index}`);
    }
  }

  readState(node: SimNode, rs: ReadState): void {
    const p = this.reads.get(rs.context);
    if (!p || p.node !== node.id || p.incarnation !== node.incarnation || p.index !== null) return;
    p.index = rs.index;
  }

  /** After a node handled a Ready: serve reads whose index is now applied. */
  readyDone(node: SimNode): void {
    for (const p of [...this.reads.values()]) {
      if (p.node !== node.id || p.index === null || node.kv.appliedIndex < p.index) continue;
      const rec = node.kv.get((p.op.op as { key: string }).key);
      const result: KvResult = { value: rec ? rec.value : null, version: rec ? rec.version : 0 };
      this.reads.delete(p.context);
      p.client.versions.set((p.op.op as { key: string }).key, result.version);
      this.complete(p, result);
    }
  }

  /** A node crashed: whatever it was doing for clients has an unknown outcome. */
  crashed(node: SimNode): void {
    for (const c of this.clients) {
      if (c.busy && c.busy.node === node.id) {
        this.giveUp(c.busy, `${node.id} crashed`);
        if (c.leader === node.id) c.leader = '';
      }
    }
  }

  /** Stop and return the history: operations still pending have unknown outcomes. */
  finish(): HistoryOp[] {
    for (const c of this.clients) if (c.busy) this.giveUp(c.busy, 'run ended');
    return this.history.filter((h) => !this.failed.has(h.id));
  }

  private start(c: Client): void {
    const members = this.view.members();
    if (members.length === 0) return;
    const target = c.leader && this.rng.chance(this.settings.stickiness) ? c.leader : this.rng.pick(members);
    const node = this.view.node(target);
    if (!node || !node.up) {
      // Connection refused or no answer: nothing was sent, so nothing is recorded.
      if (c.leader === target) c.leader = '';
      c.nextAt = this.view.now() + this.rng.int(1, 3);
      return;
    }
    const op = this.chooseOp(c);
    if (op.kind === 'get') this.startRead(c, node, op);
    else this.startWrite(c, node, op);
  }

  private chooseOp(c: Client): KvOp {
    const key = this.rng.pick(this.keys);
    if (this.rng.chance(this.settings.readRatio)) return { kind: 'get', key };
    const value = `${c.name}.${++c.seq}`;
    const r = this.rng.next();
    const known = c.versions.get(key);
    // Compare-and-set from the last version seen; sometimes deliberately stale or create-only.
    const cas = (): number => (known !== undefined && this.rng.chance(0.8) ? known : this.rng.int(0, 3));
    if (r < 0.5) return { kind: 'put', key, value };
    if (r < 0.8) return { kind: 'put', key, value, expectVersion: cas() };
    if (r < 0.9) return { kind: 'delete', key };
    return { kind: 'delete', key, expectVersion: cas() };
  }

  private startWrite(c: Client, node: SimNode, op: KvOp): void {
    const cmd =
      op.kind === 'put'
        ? encodeCommand({ op: 'put', key: op.key, value: op.value, ...(op.expectVersion !== undefined ? { expectVersion: op.expectVersion } : {}) })
        : encodeCommand({ op: 'delete', key: op.key, ...('expectVersion' in op && op.expectVersion !== undefined ? { expectVersion: op.expectVersion } : {}) });
    const invoke = this.view.instant();
    const res = node.call((core) => core.propose(cmd));
    if (!res) return this.retryLater(c, node.id);
    if (!res.ok) return this.refused(c, node.id, res);
    const h: HistoryOp = { id: this.nextId++, client: c.name, op, invoke, complete: null, result: null };
    this.history.push(h);
    this.ran.set(h.id, { node: node.id, invokedAt: this.view.now(), completedAt: null });
    const p: PendingWrite = {
      kind: 'write',
      client: c,
      op: h,
      node: node.id,
      index: res.index,
      term: res.term,
      incarnation: node.incarnation,
      invokedAt: this.view.now(),
    };
    c.busy = p;
    c.leader = node.id;
    // The node's log was cut at this index since an older write was accepted there: that one is gone.
    const older = this.writes.get(`${node.id}:${res.index}`);
    if (older) this.fail(older, `its slot ${res.index} on ${node.id} was reused`);
    this.writes.set(`${node.id}:${res.index}`, p);
  }

  private startRead(c: Client, node: SimNode, op: KvOp): void {
    const id = this.nextId++;
    const context = `r${id}`;
    const invoke = this.view.instant();
    const h: HistoryOp = { id, client: c.name, op, invoke, complete: null, result: null };
    const p: PendingRead = {
      kind: 'read',
      client: c,
      op: h,
      node: node.id,
      context,
      index: null,
      incarnation: node.incarnation,
      invokedAt: this.view.now(),
    };
    // Register first: the core may answer a local read within the call.
    this.reads.set(context, p);
    c.busy = p;
    const refusal = node.call((core) => core.readIndex(context));
    if (refusal === undefined || refusal !== null) {
      this.reads.delete(context);
      c.busy = null;
      if (refusal) this.refused(c, node.id, refusal);
      else this.retryLater(c, node.id);
      return;
    }
    this.history.push(h);
    this.ran.set(h.id, { node: node.id, invokedAt: this.view.now(), completedAt: null });
  }

  private completeWrite(p: PendingWrite, r: KvWriteResult | null): void {
    this.writes.delete(`${p.node}:${p.index}`);
    if (!r) {
      // Not a write after all (should not happen: a normal entry always has a result).
      this.giveUp(p, 'no result');
      return;
    }
    const key = (p.op.op as { key: string }).key;
    p.client.versions.set(key, r.version);
    this.complete(p, r.ok ? { ok: true, version: r.version } : { ok: false, version: r.version });
  }

  private complete(p: PendingWrite | PendingRead, result: KvResult): void {
    p.op.complete = this.view.instant();
    p.op.result = result;
    const ran = this.ran.get(p.op.id);
    if (ran) ran.completedAt = this.view.now();
    this.view.detail?.(`${formatOp(p.op)} at ${p.node}`);
    this.release(p);
  }

  /** Definite failure: never took effect, so it is not part of the history. */
  private fail(p: PendingWrite | PendingRead, why: string): void {
    this.failed.add(p.op.id);
    this.view.trace(`${p.client.name} #${p.op.id} failed: ${why}`);
    this.drop(p);
    this.release(p);
  }

  /** Unknown outcome: a write stays in the history with complete = null; a read is dropped. */
  private giveUp(p: PendingWrite | PendingRead, why: string): void {
    if (p.kind === 'read') this.failed.add(p.op.id);
    this.drop(p);
    p.op.complete = null;
    p.op.result = null;
    if (p.kind === 'write') this.view.trace(`${p.client.name} #${p.op.id} unknown: ${why}`);
    this.release(p);
  }

  private drop(p: PendingWrite | PendingRead): void {
    if (p.kind === 'write') this.writes.delete(`${p.node}:${p.index}`);
    else this.reads.delete(p.context);
  }

  private release(p: PendingWrite | PendingRead): void {
    const c = p.client;
    if (c.busy === p) c.busy = null;
    c.nextAt = this.view.now() + this.rng.int(0, this.settings.thinkTicks);
  }

  private refused(c: Client, at: NodeId, r: RaftRefusal): void {
    c.leader = r.leader && r.leader !== at ? r.leader : '';
    c.nextAt = this.view.now() + this.rng.int(0, 2);
  }

  private retryLater(c: Client, at: NodeId): void {
    if (c.leader === at) c.leader = '';
    c.nextAt = this.view.now() + this.rng.int(1, 3);
  }
}
