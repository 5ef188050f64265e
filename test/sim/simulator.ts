/**
 * The deterministic Raft simulator: one seeded run of a whole cluster of pure
 * RaftCores over a simulated network and simulated disks, with faults, clients
 * and continuous safety checks, then a liveness check once the faults stop and
 * a linearizability check of the clients' history.
 *
 * Each tick: deliver due messages, tick every running node, run clients,
 * inject faults, then let every node handle its Readys (persist, send, apply),
 * checking invariants as state changes.
 */
import { RaftCore } from '../../agent/raft/core.ts';
import type { KvWriteResult } from '../../agent/raft/kv.ts';
import type { Entry, Membership, NodeId, RaftOptions, RaftRecovered, ReadState, Ready, SnapshotMeta } from '../../agent/raft/types.ts';
import { Workload, type ClusterView, type WorkloadSettings } from './clients.ts';
import { DEFAULT_PROFILE, FaultInjector, type FaultProfile, type FaultTarget } from './faults.ts';
import type { SimDisk } from './disk.ts';
import { SafetyChecker } from './invariants.ts';
import { checkLinearizable } from './linearizability.ts';
import { checkLiveness, type LivenessHost } from './liveness.ts';
import { MembershipChurn, type MembershipHost } from './membership.ts';
import { SimNetwork } from './network.ts';
import { Prng } from './prng.ts';
import { SimNode, type CoreFactory, type NodeHooks, type NodeSettings } from './sim-node.ts';
import { Trace } from './trace.ts';
import { Violation, type Property } from './violation.ts';

export type { CoreFactory } from './sim-node.ts';
export type { FaultProfile } from './faults.ts';
export { DEFAULT_PROFILE } from './faults.ts';

/** Options of a simulated run. Everything not pinned here is drawn from the seed. */
export interface SimOptions {
  /** Cluster size (3, 5 or 7); by default the seed picks it (seed mod 3). */
  nodes?: number;
  /** Ticks with faults on, before everything heals (default 400). */
  steps?: number;
  /** The core under test (default: the real RaftCore). */
  makeCore?: CoreFactory;
  /** Overrides of the default fault profile. */
  profile?: Partial<FaultProfile>;
  /** Pin Raft/storage settings instead of drawing them per seed. */
  settings?: Partial<NodeSettings>;
  /** Pin workload settings instead of drawing them per seed. */
  workload?: Partial<WorkloadSettings>;
  /**
   * Ticks allowed after healing for a leader followed by a quorum to emerge and
   * commit a fresh proposal; also the longest a catching-up cluster may stay
   * leaderless (default 20 x electionTicks: over 3000 seeds the commit took at
   * most 111 ticks, p99 about 50; split votes make the tail long).
   */
  livenessTicks?: number;
  /** Events kept for the failure report (default 40). */
  traceKeep?: number;
  /** Receives every trace event as it happens (for `--seed S`). */
  onEvent?: (line: string) => void;
}

/** The outcome of one seed. */
export interface SeedResult {
  seed: number;
  nodes: number;
  ok: boolean;
  violation?: { property: Property; message: string };
  /** The last events before the end (or the violation), oldest first. */
  trace: string[];
  /** Client operations recorded in the history (definite failures excluded). */
  ops: number;
  ticks: number;
  /** Fingerprint of every event of the run: equal for two runs of the same seed. */
  hash: string;
  /** The settings drawn for this seed, for the report. */
  config: string;
}

export interface RunSummary {
  seeds: number;
  ops: number;
  violations: SeedResult[];
}

export const ELECTION_TICKS = 10;

const defaultCore: CoreFactory = (opts: RaftOptions, recovered: RaftRecovered) => new RaftCore(opts, recovered);

/** Run one seed to completion (or to its first violation). Deterministic in (seed, options). */
export function runSeed(seed: number, options: SimOptions = {}): SeedResult {
  const sim = new Simulation(seed, options);
  return sim.run();
}

/** Run seeds first..first+count-1; `onResult` sees each result as it completes. */
export function runSeeds(first: number, count: number, options: SimOptions = {}, onResult?: (r: SeedResult) => void): RunSummary {
  const summary: RunSummary = { seeds: 0, ops: 0, violations: [] };
  for (let s = first; s < first + count; s++) {
    const r = runSeed(s, options);
    summary.seeds++;
    summary.ops += r.ops;
    if (!r.ok) summary.violations.push(r);
    onResult?.(r);
  }
  return summary;
}

/** A readable report of a failed seed. */
export function formatFailure(r: SeedResult): string {
  const lines = [
    `FAIL seed ${r.seed} (${r.nodes} nodes): ${r.violation?.property}`,
    `  ${r.violation?.message.split('\n').join('\n  ')}`,
    `  config: ${r.config}`,
    `  last ${r.trace.length} events:`,
    ...r.trace.map((l) => `    ${l}`),
    `  replay: npm run sim -- --seed ${r.seed}${r.nodes ? ` --nodes ${r.nodes}` : ''}`,
  ];
  return lines.join('\n');
}

class Simulation implements ClusterView, FaultTarget, MembershipHost, LivenessHost {
  readonly network: SimNetwork;
  private readonly trace_: Trace;
  private readonly checker = new SafetyChecker();
  private readonly nodes = new Map<NodeId, SimNode>();
  private readonly disks = new Map<NodeId, SimDisk>();
  private readonly order: SimNode[] = [];
  private readonly settings: NodeSettings;
  private readonly workloadSettings: WorkloadSettings;
  private readonly workload: Workload;
  private readonly faults: FaultInjector;
  private readonly timerRng: Prng;
  readonly membership: MembershipChurn;
  private readonly appliedResults = new Map<number, { term: number; result: KvWriteResult | null }>();
  private readonly size: number;
  private readonly steps: number;
  private readonly makeCore: CoreFactory;
  private tickNo = 0;
  private instantNo = 0;
  private nextNodeNo: number;

  constructor(
    private readonly seed: number,
    private readonly options: SimOptions,
  ) {
    const root = new Prng(seed);
    // Independent streams: a change in how one part uses randomness does not reshuffle the others.
    const configRng = root.fork();
    const netRng = root.fork();
    const faultRng = root.fork();
    const clientRng = root.fork();
    this.timerRng = root.fork();
    const memberRng = root.fork();

    this.size = options.nodes ?? [3, 5, 7][((seed % 3) + 3) % 3];
    this.steps = options.steps ?? 400;
    this.makeCore = options.makeCore ?? defaultCore;
    this.settings = {
      electionTicks: ELECTION_TICKS,
      // Half the seeds run the agent's narrow spread (more split votes), half the paper's [T, 2T).
      // Chosen from the seed, not the generator, so every other choice stays what it was.
      electionJitterTicks: seed % 2 === 0 ? ELECTION_TICKS : Math.ceil(ELECTION_TICKS / 3),
      heartbeatTicks: configRng.pick([1, 2]),
      maxInflight: configRng.pick([1, 2, 4, 64]),
      // 1 byte: one entry per AppendEntries, which exposes commit-rule bugs (Figure 8).
      maxMsgBytes: configRng.pick([1, 1, 64, 256, 1 << 16]),
      preVote: true,
      checkQuorum: true,
      snapshotInterval: configRng.pick([3, 6, 12, 30, 1000]),
      retainEntries: configRng.pick([0, 1, 4, 16]),
      checkPromises: true,
      ...options.settings,
    };
    this.workloadSettings = {
      clients: configRng.int(2, 5),
      keys: configRng.int(1, 4),
      thinkTicks: configRng.int(0, 6),
      timeoutTicks: 3 * this.settings.electionTicks,
      stickiness: 0.8,
      readRatio: configRng.range(0.25, 0.6),
      ...options.workload,
    };

    this.trace_ = new Trace(options.traceKeep ?? 40, options.onEvent);
    this.faults = new FaultInjector(faultRng, { ...DEFAULT_PROFILE, ...options.profile }, this);
    this.network = new SimNetwork(netRng, this.faults.quality);
    this.workload = new Workload(clientRng, this.workloadSettings, this);

    const ids = Array.from({ length: this.size }, (_, i) => `n${i + 1}`);
    this.nextNodeNo = this.size + 1;
    const initial: Membership = { voters: ids.slice(), learners: [] };
    this.membership = new MembershipChurn(memberRng, this, initial, this.size + 2, 2 * this.settings.electionTicks);
    for (const id of ids) this.createNode(id, initial);
  }

  run(): SeedResult {
    let violation: SeedResult['violation'];
    try {
      for (const n of this.order) this.restart(n);
      while (this.tickNo < this.steps) this.step();
      this.faults.healAll();
      this.network.quality = { loss: 0, dup: 0, minDelay: 1, maxDelay: Math.min(3, this.faults.quality.maxDelay), longDelayRate: 0, longDelay: 0 };
      const bound = this.options.livenessTicks ?? 20 * this.settings.electionTicks;
      checkLiveness(this, bound, 3 * this.settings.electionTicks, JSON.stringify({ op: 'put', key: '__liveness', value: `seed-${this.seed}` }));
      this.drainClients();
      this.checkHistory();
    } catch (err) {
      if (!(err instanceof Violation)) {
        const e = err as Error;
        e.message = `simulator error at seed ${this.seed} tick ${this.tickNo}: ${e.message}`;
        throw e;
      }
      violation = { property: err.property, message: err.message };
      this.trace(`VIOLATION ${err.message.split('\n')[0]}`);
    }
    const history = this.workload.finish();
    this.trace_.mix(this.tickNo);
    this.trace_.mix(history.length);
    for (const n of this.order) this.trace_.mix(n.kv.appliedIndex);
    return {
      seed: this.seed,
      nodes: this.size,
      ok: violation === undefined,
      violation,
      trace: this.trace_.recent(),
      ops: history.length,
      ticks: this.tickNo,
      hash: this.trace_.hash(),
      config: this.describe(),
    };
  }

  // --- the loop ---------------------------------------------------------

  step(): void {
    this.tickNo++;
    for (const m of this.network.takeDue(this.tickNo)) this.nodes.get(m.to)?.deliver(m);
    for (const n of this.order) n.tick();
    this.workload.tick();
    this.faults.tick();
    this.membership.retireDue();
    for (const n of this.order) n.drive();
    this.checker.electableHoldCommitted(this.disks, (id) => this.nodes.get(id)!.state === 'removed');
  }

  /** Let in-flight client operations finish (or time out) without starting new ones. */
  private drainClients(): void {
    this.workload.issuing = false;
    const end = this.tickNo + this.workloadSettings.timeoutTicks + 2;
    while (this.workload.pending > 0 && this.tickNo < end) this.step();
  }

  private checkHistory(): void {
    const history = this.workload.finish();
    const r = checkLinearizable(history);
    if (r.ok) return;
    const explanation = r.explanation ?? '';
    if (r.gaveUp) throw new Violation('linearizability', `not proven: the checker gave up on key ${r.key ?? '?'} (${history.length} ops). ${explanation}`);
    // Say where and when (in ticks, to match the trace) the ops named in the explanation ran.
    const ids = [...new Set([...explanation.matchAll(/#(\d+)/g)].map((m) => Number(m[1])))];
    const where = ids
      .map((id) => {
        const w = this.workload.whereRan(id);
        return w ? `  #${id} sent to ${w.node} at tick ${w.invokedAt}${w.completedAt === null ? ', no answer' : `, answered at tick ${w.completedAt}`}` : '';
      })
      .filter((l) => l !== '');
    throw new Violation('linearizability', `history of key ${r.key} is not linearizable: ${explanation}\nwhere those ops ran:\n${where.join('\n')}`);
  }

  // --- nodes ------------------------------------------------------------

  private createNode(id: NodeId, bootstrap: Membership | null): SimNode {
    const hooks: NodeHooks = {
      send: (m) => this.network.send(m, this.tickNo),
      trace: (t) => this.trace(t),
      applied: (node, e, result) => this.onApplied(node, e, result),
      snapshotRestored: (node, meta) => this.onSnapshot(node, meta),
      readState: (node, rs: ReadState) => this.workload.readState(node, rs),
      readyDone: (node) => this.workload.readyDone(node),
      crashed: (node) => {
        this.workload.crashed(node);
        this.faults.nodeCrashed(node);
      },
      becameLeader: (node) => this.faults.newLeader(node),
      crashAfterCommit: (node) => this.faults.crashAfterCommit(node),
      crashAfterSend: (_node, rd: Ready) => rd.messages.some((m) => m.type === 'vote-resp' && !m.reject) && this.faults.crashAfterVote(),
    };
    const node = new SimNode(id, this.settings, this.makeCore, this.checker, hooks, bootstrap);
    this.nodes.set(id, node);
    this.disks.set(id, node.disk);
    this.order.push(node);
    return node;
  }

  private onApplied(node: SimNode, e: Entry, result: KvWriteResult | null): void {
    if (!this.appliedResults.has(e.index)) this.appliedResults.set(e.index, { term: e.term, result });
    if (e.type === 'conf') this.membership.configCommitted(e.index, JSON.parse(e.data) as Membership);
    this.workload.applied(node, e, result);
  }

  private onSnapshot(node: SimNode, meta: SnapshotMeta): void {
    this.membership.configCommitted(meta.index, meta.membership);
    this.workload.snapshotRestored(node, meta);
  }

  newNode(): SimNode {
    const node = this.createNode(`n${this.nextNodeNo++}`, null);
    this.restart(node);
    return node;
  }

  // --- views ------------------------------------------------------------

  now(): number {
    return this.tickNo;
  }

  instant(): number {
    return ++this.instantNo;
  }

  node(id: NodeId): SimNode | undefined {
    return this.nodes.get(id);
  }

  members(): NodeId[] {
    return this.membership.members();
  }

  allNodes(): readonly SimNode[] {
    return this.order;
  }

  appliedTermAt(index: number): number | undefined {
    return this.appliedResults.get(index)?.term;
  }

  stopClients(): void {
    this.workload.issuing = false;
  }

  appliedAt(index: number): { term: number; result: KvWriteResult | null } | undefined {
    return this.appliedResults.get(index);
  }

  liveNodes(): SimNode[] {
    return this.order.filter((n) => n.state !== 'removed');
  }

  /** The running leader with the highest term, if any. */
  leader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.order) {
      if (n.state === 'up' && n.core && n.core.role === 'leader' && (!best || n.core.term > best.core!.term)) best = n;
    }
    return best;
  }

  voters(): NodeId[] {
    const l = this.leader();
    return l?.core ? l.core.membership.voters : this.membership.committed.membership.voters;
  }

  restart(node: SimNode): void {
    if (node.state === 'removed') return;
    node.start(this.timerRng.fork());
    this.trace(`${node.id} START (incarnation ${node.incarnation}, disk: term ${node.disk.hardState.term}, vote ${node.disk.hardState.vote || '-'}, commit ${node.disk.hardState.commit}, snapshot ${node.disk.snapshotIndex()}, last ${node.disk.lastIndex()})`);
  }

  resume(node: SimNode): void {
    node.state = 'up';
    this.trace(`${node.id} RESUME (${node.held.length} held messages)`);
    const held = node.held;
    node.held = [];
    for (const m of held) node.deliver(m);
  }

  trace(text: string): void {
    this.trace_.add(this.tickNo, text);
  }

  get detail(): ((text: string) => void) | undefined {
    return this.trace_.verbose ? (text) => this.trace_.detail(this.tickNo, text) : undefined;
  }

  leaderWithQuorum(): SimNode | undefined {
    const l = this.leader();
    if (!l || !l.core) return undefined;
    const voters = l.core.membership.voters;
    const following = voters.filter((id) => {
      const n = this.nodes.get(id);
      return n?.state === 'up' && n.core && n.core.term === l.core!.term && (id === l.id || n.core.leader === l.id);
    });
    return following.length > voters.length / 2 ? l : undefined;
  }

  /** Members (of the committed configuration) that have not applied `index`. */
  lagging(index: number): NodeId[] {
    return this.members().filter((id) => {
      const n = this.nodes.get(id);
      return !n || n.state === 'removed' ? false : n.state !== 'up' || n.kv.appliedIndex < index;
    });
  }

  describeCluster(): string {
    const roles = this.order
      .filter((n) => n.state !== 'removed')
      .map((n) => (n.core ? `${n.id}:${n.core.role}/t${n.core.term}/c${n.core.commitIndex}/a${n.kv.appliedIndex}${n.core.leader ? `->${n.core.leader}` : ''}` : `${n.id}:${n.state}`))
      .join(' ');
    const leader = this.leader();
    const progress = leader?.core ? Object.entries(leader.core.status().progress).map(([id, p]) => `${id}:${p.state}/m${p.match}/n${p.next}`).join(' ') : '';
    const m = this.membership.committed.membership;
    return `Nodes (role/term/commit/applied): ${roles}${progress ? `; leader ${leader!.id} progress: ${progress}` : ''}; committed config voters=[${m.voters}] learners=[${m.learners}]`;
  }

  private describe(): string {
    const s = this.settings;
    const w = this.workloadSettings;
    const q = this.faults.quality;
    return (
      `nodes=${this.size} steps=${this.steps} heartbeat=${s.heartbeatTicks} inflight=${s.maxInflight} msgBytes=${s.maxMsgBytes} ` +
      `snapshotEvery=${s.snapshotInterval} retain=${s.retainEntries} clients=${w.clients} keys=${w.keys} ` +
      `loss=${q.loss.toFixed(3)} dup=${q.dup.toFixed(3)} maxDelay=${q.maxDelay} intensity=${this.faults.scale.toFixed(2)}`
    );
  }
}
