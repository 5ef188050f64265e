/**
 * The HA loop: once per heartbeat, observe (engine, replicated state, the
 * primary), `decide`, execute the one action, and log the decision's sentence
 * when it changes (and every `repeatLogEvery` cycles otherwise). Long actions
 * (clone, rewind, failover) run on a one-slot executor so the loop keeps
 * observing, keeps its lease and can still fence while they run.
 */

import { notRunning, type EngineDriver, type EngineStatus, type PrimaryEndpoint } from '../engine/driver.ts';
import type { ClusterState, Snapshot } from '../state/cluster-state.ts';
import { KEY, type ClusterConfigRecord, type ClusterIdentity, type MemberKind, type MemberRecord } from '../state/records.ts';
import { decide, type HaAction, type HaDecision, type PrimaryHealth } from './decide.ts';
import type { LocalStateFile } from './local-state.ts';
import { lsnDiff } from './lsn.ts';
import type { Observation, PeerClient, PositionReport } from './peers.ts';
import { runFailover } from '../procedures/failover.ts';

export interface HaLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** The part of the Raft node the loop uses. */
export interface RaftHandle {
  isLeader(): boolean;
  leader(): { id: string; term: number } | null;
  transferLeadership(to: string): Promise<void>;
}

export interface HaLoopOptions {
  self: { id: string; kind: MemberKind };
  raft: RaftHandle;
  state: ClusterState;
  driver: EngineDriver | null;
  peers: PeerClient;
  local: LocalStateFile;
  intervalMs: number;
  /** Raft election timeout ([cluster.raft] election_timeout_ms). */
  electionTimeoutMs: number;
  /** Settings used until the replicated config exists (and to seed it). */
  defaults: ClusterConfigRecord;
  /** Members from the node's config, written into the replicated state by the first leader. */
  seedMembers: MemberRecord[];
  clusterName: string;
  logger: HaLogger;
  clock?: () => number;
  isoNow?: () => string;
  repeatLogEvery?: number;
}

const STOPPED: EngineStatus = notRunning(false, null);
/** Time allowed for `pg_ctl stop -m immediate` when fencing. */
const STOP_ALLOWANCE_MS = 200;

export class HaLoop {
  private readonly o: HaLoopOptions;
  private readonly clock: () => number;
  private readonly isoNow: () => string;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private started = false;
  private wakeRequested = false;
  private cycling: Promise<void> | null = null;

  private driver: EngineDriver | null;
  private leaseConfirmedAt: number | null = null;
  private holdUntil: number | null = null;
  private busy: string | null = null;
  private primaryUnhealthySince: number | null = null;
  /** The Raft leader seen before this node became leader ('' while none seen). */
  private previousLeader = '';
  private leaderSeen = '';
  /** Since this node became leader, has it seen the recorded primary healthy? */
  private primarySeenHealthyAsLeader = false;
  private lastTransferAt = -Infinity;
  private syncSwitchLsn: string | null = null;
  /** Epoch of the primary a rewind onto failed (then the next attempt clones afresh). */
  private rewindFailedEpoch: number | null = null;
  /** A clone moved the old data directory aside: discard it once the new copy streams. */
  private previousToDiscard = false;
  private notStreamingSince: number | null = null;
  /** Was the data directory nearly full at the last cycle? */
  private diskLow = false;
  /** Since when the engine has not answered as running (monotonic ms); null while it runs. */
  private engineDownSince: number | null = null;
  /** Epoch of the primary we last rewound onto. */
  private rewoundEpoch: number | null = null;
  /** Standbys the primary's replication slots were last made for (null: not checked as primary yet). */
  private slotsFor: string | null = null;
  /** The newest epoch a failover told us it made: a primary of an older epoch is never followed again. */
  private minFollowEpoch = 0;
  /** Member engine hosts pg_hba.conf was last written for. */
  private hbaPeersFor: string | null = null;
  private lastSentence = '';
  private sameSentenceCount = 0;

  /** What the last cycle saw, for the API. */
  engine: EngineStatus = STOPPED;
  snapshot: Snapshot | null = null;
  snapshotAt: number | null = null;
  lastCycleAt = 0;
  lastDecision: HaDecision | null = null;
  problem: string | null = null;

  constructor(opts: HaLoopOptions) {
    this.o = opts;
    this.driver = opts.driver;
    this.clock = opts.clock ?? (() => performance.now());
    this.isoNow = opts.isoNow ?? (() => new Date().toISOString());
  }

  /** The engine driver arrives once the cluster's engine credentials are known. */
  attachDriver(d: EngineDriver): void {
    this.driver = d;
  }

  start(): void {
    this.started = true;
    this.run();
  }

  /**
   * Run a cycle now rather than at the next interval: something changed that the
   * loop should act on at once (Raft leadership moved, a failover named us).
   */
  wake(): void {
    if (!this.started || this.stopped) return;
    if (this.cycling) {
      this.wakeRequested = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.run();
  }

  private run(): void {
    if (this.stopped) return;
    this.cycling = this.cycle()
      .catch((err) => this.o.logger.error({ err }, 'HA cycle failed'))
      .finally(() => {
        this.cycling = null;
        if (this.stopped) return;
        const again = this.wakeRequested;
        this.wakeRequested = false;
        this.timer = setTimeout(() => this.run(), again ? 0 : this.o.intervalMs);
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.cycling;
  }

  /** Is this node the primary with a fresh lease (may accept writes)? */
  writable(): boolean {
    const p = this.snapshot?.primary?.value;
    const cfg = this.config();
    return (
      p?.node === this.o.self.id &&
      this.engine.running &&
      !this.engine.inRecovery &&
      this.leaseConfirmedAt !== null &&
      this.clock() - this.leaseConfirmedAt <= cfg.leaseMs
    );
  }

  private readTimeoutMs(): number {
    return Math.max(200, this.o.intervalMs);
  }

  config(): ClusterConfigRecord {
    return this.snapshot?.config ?? this.o.defaults;
  }

  // ------------------------------------------------------------- one cycle

  async cycle(): Promise<void> {
    const t0 = this.clock();
    this.engine = this.driver ? await this.driver.status().catch((err) => ({ ...STOPPED, problem: String(err) })) : STOPPED;
    if (this.engine.running) this.engineDownSince = null;
    else this.engineDownSince ??= this.clock();

    let snap: Snapshot | null = null;
    try {
      snap = await this.o.state.read('linearizable', this.readTimeoutMs());
    } catch {
      snap = null;
    }
    if (snap) {
      this.snapshot = snap;
      this.snapshotAt = t0;
      // The quorum confirmed, at or after t0, that the record names us: the lease runs from t0.
      if (snap.primary?.value.node === this.o.self.id) this.leaseConfirmedAt = t0;
      if (this.o.raft.isLeader() && (!snap.identity || !snap.config || snap.members.length === 0)) {
        await this.seed(snap);
        return;
      }
    }

    const leaderNow = this.o.raft.leader()?.id ?? '';
    if (leaderNow !== this.leaderSeen) {
      if (leaderNow === this.o.self.id) {
        this.previousLeader = this.leaderSeen;
        this.primarySeenHealthyAsLeader = false;
      }
      this.leaderSeen = leaderNow;
    }
    const primaryHealth = snap && this.o.raft.isLeader() ? await this.observePrimary(snap) : null;
    const cfg = snap?.config ?? this.config();
    const decision = decide({
      now: this.clock(),
      self: this.o.self,
      state: snap
        ? {
            primary: snap.primary?.value ?? null,
            primaryVersion: snap.primary?.version ?? 0,
            members: snap.members,
            config: cfg,
            failoverRequest: snap.failoverRequest?.value ?? null,
          }
        : null,
      config: cfg,
      lastKnownMembers: this.snapshot?.members ?? this.o.seedMembers,
      raft: { isLeader: this.o.raft.isLeader(), leader: this.o.raft.leader()?.id ?? null },
      engine: this.engine,
      leaseConfirmedAt: this.leaseConfirmedAt,
      leaseMarginMs: this.o.intervalMs + this.readTimeoutMs() + STOP_ALLOWANCE_MS,
      lastPrimaryEpoch: this.o.local.get().lastPrimaryEpoch,
      holdStreamingUntil: this.holdUntil,
      primaryHealth,
      syncCaughtUp: this.caughtUp(),
      notStreamingForMs: this.notStreamingFor(),
      // A rewind that failed, or one that "succeeded" and still left us unable to stream, calls for a clone.
      rewindFailed: this.rewindFailedEpoch !== null && this.rewindFailedEpoch === (snap?.primary?.value.epoch ?? null),
      busy: this.busy,
      engineHeld: this.o.local.get().engineHeld,
      engineDownForMs: this.engineDownSince === null ? 0 : this.clock() - this.engineDownSince,
    });
    const full = this.diskWarning();
    if (full) decision.warning = decision.warning ? `${decision.warning}; ${full}` : full;
    this.note(decision);
    try {
      await this.execute(decision.action, snap);
      await this.keepSlots(snap);
      await this.keepHbaPeers(snap);
    } catch (err) {
      this.o.logger.warn({ err: errText(err), action: decision.action.kind }, `action failed: ${decision.sentence}`);
      this.problem = `${decision.action.kind} failed: ${errText(err)}`;
    }
    this.lastCycleAt = this.clock();
  }

  private note(d: HaDecision): void {
    this.lastDecision = d;
    const every = this.o.repeatLogEvery ?? 60;
    if (d.sentence !== this.lastSentence || ++this.sameSentenceCount >= every) {
      this.o.logger.info({ action: d.action.kind }, d.sentence);
      this.lastSentence = d.sentence;
      this.sameSentenceCount = 0;
    }
  }

  /**
   * A (nearly) full data directory: PostgreSQL keeps running but writes fail, so no
   * failover happens (Patroni's choice too); the operator must hear of it. Said in
   * the cluster view's `problem` (for the primary) and logged when it starts and ends.
   */
  private diskWarning(): string | null {
    const space = this.driver?.dataDirSpace?.() ?? null;
    const low = space !== null && space.totalBytes > 0 && space.freeBytes < Math.min(64 * 1024 * 1024, space.totalBytes * 0.05);
    const text = low ? `the data directory of ${this.o.self.id} (${space!.dir}) is nearly full: ${mb(space!.freeBytes)} free of ${mb(space!.totalBytes)}; writes fail when it is full: free space there` : null;
    if (low !== this.diskLow) {
      this.diskLow = low;
      if (low) this.o.logger.warn({ dir: space!.dir, freeBytes: space!.freeBytes }, text!);
      else this.o.logger.info({}, 'the data directory has room again');
    }
    return text;
  }

  /** First leader of a new cluster: write identity, config and members (each only if absent). */
  private async seed(snap: Snapshot): Promise<void> {
    if (!snap.identity) {
      const id: ClusterIdentity = { name: this.o.clusterName, id: crypto.randomUUID(), createdAt: this.isoNow(), formatVersion: 1 };
      await this.o.state.createIfAbsent(KEY.identity, id, 'seed-identity');
    }
    if (!snap.config) await this.o.state.createIfAbsent(KEY.config, this.o.defaults, 'seed-config');
    for (const m of this.o.seedMembers) {
      if (!snap.members.some((x) => x.id === m.id)) await this.o.state.createIfAbsent(KEY.member(m.id), m, `seed-member-${m.id}`);
    }
    this.note({ action: { kind: 'none' }, sentence: `seeding the replicated state of new cluster ${this.o.clusterName}` });
  }

  private async observePrimary(snap: Snapshot): Promise<PrimaryHealth | null> {
    const p = snap.primary?.value;
    if (!p || p.node === this.o.self.id) {
      this.primaryUnhealthySince = null;
      return null;
    }
    const m = snap.members.find((x) => x.id === p.node);
    let healthy = false;
    let detail = '';
    if (!m) detail = 'not a member';
    else {
      try {
        const obs: Observation = await this.o.peers.observe(m.apiUrl);
        healthy = obs.engine.running && !obs.engine.inRecovery;
        detail = healthy ? 'running' : obs.engine.running ? 'engine in recovery' : `engine not running${obs.engine.problem ? `: ${obs.engine.problem}` : ''}`;
      } catch (err) {
        detail = `agent unreachable (${errText(err).slice(0, 120)})`;
      }
    }
    const now = this.clock();
    if (healthy) {
      this.primaryUnhealthySince = null;
      this.primarySeenHealthyAsLeader = true;
    } else if (this.primaryUnhealthySince === null) {
      this.primaryUnhealthySince = now;
      // We were just elected because the previous leader, the primary, lost its quorum: a
      // quorum granted our (pre)votes only after an election timeout without hearing from
      // it, so its last lease confirmation is at least that old, and a lease no longer than
      // the election timeout has expired. It cannot have renewed through us either: we
      // cannot reach it, and a read-index answer travels the same way. No need to wait again.
      const cfg = this.config();
      if (p.node === this.previousLeader && !this.primarySeenHealthyAsLeader && cfg.leaseMs <= this.o.electionTimeoutMs) {
        this.primaryUnhealthySince = now - cfg.failoverTimeoutMs;
        detail += '; it was the Raft leader we replaced, so its lease has already run out';
      }
    }
    return { healthy, unhealthySince: this.primaryUnhealthySince, detail };
  }

  /** As primary: one physical replication slot per standby member, so none misses WAL it still needs. */
  private async keepSlots(snap: Snapshot | null): Promise<void> {
    const p = snap?.primary?.value;
    if (!this.driver || !snap || p?.node !== this.o.self.id || !this.engine.running || this.engine.inRecovery) {
      this.slotsFor = null;
      return;
    }
    const want = this.standbyIds(snap).join(',');
    if (want === this.slotsFor) return;
    // A slot still in use by a removed standby is dropped on a later cycle.
    if (await this.driver.syncSlots(want === '' ? [] : want.split(','))) this.slotsFor = want;
  }

  /** Replication (and pg_rewind's superuser) is allowed from the members' engine hosts only; they change with joins and removals. */
  private async keepHbaPeers(snap: Snapshot | null): Promise<void> {
    if (!this.driver || !snap || snap.members.length === 0) return;
    const hosts = [...new Set(snap.members.filter((m) => m.adminState !== 'removed' && m.pgHost).map((m) => m.pgHost!))].sort().join(',');
    if (hosts === this.hbaPeersFor) return;
    await this.driver.setReplicationPeers(hosts === '' ? [] : hosts.split(','));
    this.hbaPeersFor = hosts;
  }

  /** Members that stream from the primary: everyone with an engine but us. */
  private standbyIds(snap: Snapshot | null): string[] {
    return (snap?.members ?? [])
      .filter((m) => m.id !== this.o.self.id && m.kind !== 'witness' && m.adminState !== 'removed')
      .map((m) => m.id)
      .sort();
  }

  /** Time a running standby has been configured to follow someone without streaming. */
  private notStreamingFor(): number {
    const e = this.engine;
    const stuck = e.running && e.inRecovery && e.following !== null && e.streamingFrom === null;
    if (!stuck) {
      this.notStreamingSince = null;
      return 0;
    }
    this.notStreamingSince ??= this.clock();
    return this.clock() - this.notStreamingSince;
  }

  private caughtUp(): string[] {
    const ref = this.syncSwitchLsn ?? this.engine.flushLsn;
    if (!ref) return [];
    return this.engine.replicas.filter((r) => r.flushLsn !== null && lsnDiff(r.flushLsn, ref) >= 0).map((r) => r.nodeId);
  }

  // ------------------------------------------------------------- actions

  private async execute(a: HaAction, snap: Snapshot | null): Promise<void> {
    const d = this.driver;
    // A cycle that read the state before a failover's new record committed must not stream from
    // (follow, rewind onto, clone) the old primary: the next cycle reads the new record.
    if ((a.kind === 'follow' || a.kind === 'rewind' || a.kind === 'clone') && (snap?.primary?.value.epoch ?? 0) < this.minFollowEpoch) return;
    switch (a.kind) {
      case 'none':
        if (this.previousToDiscard && d && this.engine.inRecovery && this.engine.streamingFrom !== null) {
          await d.discardPrevious();
          this.previousToDiscard = false;
        }
        this.problem = this.lastDecision?.sentence.startsWith('no action') ? null : this.problem;
        return;
      case 'create-primary-record': {
        const rec = { ...a.record, since: this.isoNow() };
        if (await this.o.state.createIfAbsent(KEY.primary, rec, 'primary-epoch-1')) {
          await this.o.state.appendHistory({ epoch: 1, from: null, to: rec.node, reason: 'bootstrap', at: rec.since, lsns: {} });
        }
        return;
      }
      case 'init-engine':
        return void this.background('initializing the database', async () => {
          this.o.local.set({ lastPrimaryEpoch: 1 });
          await d!.init();
          await d!.start();
        });
      case 'start-engine':
        await this.startUnlessHeld(d!);
        return;
      case 'stop-engine':
        await d!.stop('fast');
        return;
      case 'promote':
        // Remember it first: if we crash right after promoting, we must still know to rewind later.
        this.o.local.set({ lastPrimaryEpoch: a.epoch });
        // Slots first (a standby may create physical slots): the others start following us as
        // soon as the record names us, and a missing slot would turn them away.
        await d!.syncSlots(this.standbyIds(snap)).catch((err) => this.o.logger.warn({ err: errText(err) }, 'could not create replication slots before promoting'));
        await d!.promote(a.epoch);
        return;
      case 'fence':
        this.problem = a.reason;
        await d!.stop('immediate');
        return;
      case 'follow': {
        const ep = this.endpoint(snap, a.primary);
        await d!.follow(ep);
        if (!this.engine.running) await this.startUnlessHeld(d!);
        return;
      }
      case 'rewind':
        return void this.background(`rewinding onto ${a.primary}`, async () => {
          const ep = this.endpoint(snap, a.primary);
          // pg_rewind needs the server down; a stuck standby is stopped cleanly first.
          if ((await d!.status()).running) await d!.stop('fast');
          const epoch = snap?.primary?.value.epoch ?? null;
          // Rewinding again for the same epoch means the last rewind did not help: clone next time.
          if (this.rewoundEpoch === epoch) this.rewindFailedEpoch = epoch;
          try {
            await d!.rewind(ep);
            this.rewoundEpoch = epoch;
          } catch (err) {
            this.rewindFailedEpoch = epoch;
            throw err;
          }
          this.o.local.set({ lastPrimaryEpoch: null });
          await this.startUnlessHeld(d!);
        });
      case 'clone':
        return void this.background(`cloning from ${a.primary}`, async () => {
          const ep = this.endpoint(snap, a.primary);
          if ((await d!.status()).running) await d!.stop('fast');
          await d!.clone(ep, {
            onProgress: (done, total) => {
              this.progress = { step: `cloning from ${a.primary}`, done, total };
              this.note({ action: { kind: 'none' }, sentence: `cloning from ${a.primary}: ${Math.round(done / 1024)} of ${Math.round(total / 1024)} kB` });
            },
          });
          this.o.local.set({ lastPrimaryEpoch: null });
          this.rewindFailedEpoch = null;
          this.previousToDiscard = true;
          await this.startUnlessHeld(d!);
        });
      case 'sync-step': {
        const step = a.step;
        if (step.kind === 'engine') {
          await d!.setSyncStandbys(step.value);
          this.syncSwitchLsn = this.engine.flushLsn;
        } else {
          const p = snap!.primary!;
          await this.o.state.putPrimary({ ...p.value, sync: step.sync }, a.expectVersion);
          this.syncSwitchLsn = null;
        }
        return;
      }
      case 'transfer-leadership': {
        // At most once per failover timeout: a transfer that did not happen is retried, not hammered.
        const now = this.clock();
        if (now - this.lastTransferAt < this.config().failoverTimeoutMs) return;
        this.lastTransferAt = now;
        await this.o.raft.transferLeadership(a.to);
        return;
      }
      case 'failover':
        return void this.background(a.reason, async () => {
          const s = snap!;
          const out = await runFailover({
            state: this.o.state,
            peers: this.o.peers,
            snapshot: s,
            request: s.failoverRequest,
            primaryHealthy: this.primaryUnhealthySince === null,
            reason: a.reason,
            holdMs: Math.max(10_000, 3 * this.o.intervalMs),
            isoNow: this.isoNow,
            log: (msg) => this.o.logger.info({}, msg),
          });
          this.problem = out.ok ? null : out.message;
          this.o.logger.info({ lsns: out.lsns }, out.ok ? `failover done: ${out.message}` : `failover not possible: ${out.message}`);
          const req = s.failoverRequest;
          if (req) {
            // An operator's request runs once: record its outcome and withdraw it.
            if (!out.ok) await this.o.state.clearFailoverRequest(req.version).catch(() => {});
            const op = await this.o.state.operation(`op-${req.value.requestId}`).catch(() => null);
            if (op) {
              await this.o.state.putOperation({ ...op, state: out.ok ? 'succeeded' : 'failed', message: out.message, finishedAt: this.isoNow(), result: { ...op.result, lsns: out.lsns, ...(out.ok ? { epoch: out.epoch, primary: out.target } : {}) } });
            }
          }
          if (out.ok) await this.o.raft.transferLeadership(out.target).catch(() => {});
        });
    }
  }

  private background(what: string, job: () => Promise<void>): Promise<void> {
    this.busy = what;
    this.progress = null;
    const done = job()
      .catch((err) => {
        this.problem = `${what} failed: ${errText(err)}`;
        this.o.logger.error({ err: errText(err) }, `${what} failed`);
        throw err;
      })
      .finally(() => {
        this.busy = null;
        this.progress = null;
      });
    done.catch(() => {}); // reported above; callers that await it see the error too
    return done;
  }

  // ------------------------------------------------------------- operator actions on this node

  /** What a long action is doing now (a clone's bytes), for `node status` and `cluster join`. */
  progress: { step: string; done: number; total: number } | null = null;

  /** The engine driver, or an error saying why this node has none. */
  engineDriver(): EngineDriver {
    if (!this.driver) {
      throw new Error(this.o.self.kind === 'witness' ? `${this.o.self.id} is a witness: it runs no database` : `${this.o.self.id} has no engine yet (it waits for the cluster's engine credentials)`);
    }
    return this.driver;
  }

  /** The long action running on the loop's one slot ("cloning from n1"), or null. */
  busyWith(): string | null {
    return this.busy;
  }

  /** Run an operator's long action on the loop's one slot; refused while another runs. */
  runExclusive(what: string, job: () => Promise<void>): Promise<void> {
    if (this.busy) throw new BusyError(this.busy);
    return this.background(what, job);
  }

  /**
   * A decision made before the operator's `node stop` may be executed after it:
   * starting the engine checks the hold again, right before doing it.
   */
  private async startUnlessHeld(d: EngineDriver): Promise<void> {
    if (this.o.local.get().engineHeld) return;
    await d.start();
  }

  /** `node stop` / `node start`: keep the engine stopped (durably), or let the loop run it again. */
  holdEngine(held: boolean): void {
    this.o.local.set({ engineHeld: held });
    this.wake();
  }

  engineHeld(): boolean {
    return this.o.local.get().engineHeld;
  }

  /** `node reinit`: stop, clone afresh from the primary (the old data directory kept aside until the copy streams), start. */
  reinit(primary: PrimaryEndpoint): Promise<void> {
    const d = this.engineDriver();
    return this.runExclusive(`reinitializing from ${primary.nodeId}`, async () => {
      if ((await d.status()).running) await d.stop('fast');
      await d.clone(primary, { onProgress: (done, total) => (this.progress = { step: `cloning from ${primary.nodeId}`, done, total }) });
      this.o.local.set({ lastPrimaryEpoch: null });
      this.rewindFailedEpoch = null;
      this.previousToDiscard = true;
      await this.startUnlessHeld(d);
      this.wake();
    });
  }

  private endpoint(snap: Snapshot | null, id: string): PrimaryEndpoint {
    const m = snap?.members.find((x) => x.id === id);
    if (!m || !m.pgHost || !m.pgPort) throw new Error(`no engine address known for ${id}`);
    return { nodeId: id, host: m.pgHost, port: m.pgPort };
  }

  // ------------------------------------------------------------- peer requests (internal routes)

  observe(): Observation {
    return {
      nodeId: this.o.self.id,
      engine: this.engine,
      epoch: this.snapshot?.primary?.value.epoch ?? null,
      writable: this.writable(),
      warning: this.lastDecision?.warning ?? null,
    };
  }

  /** Failover candidate: stop receiving WAL, hold off re-following, report how far we got. */
  async prepare(epoch: number, holdMs: number): Promise<PositionReport> {
    const current = this.snapshot?.primary?.value.epoch ?? null;
    if (current !== null && epoch < current) throw new Error(`stale failover for epoch ${epoch}; the current epoch is ${current}`);
    this.holdUntil = this.clock() + holdMs;
    const d = this.driver!;
    await d.follow(null);
    const s = await waitStreamingStopped(d);
    return { nodeId: this.o.self.id, flushLsn: s.flushLsn, timeline: s.timeline };
  }

  /** Planned switchover: the primary of `epoch` stops cleanly and reports its final position. */
  async demote(epoch: number, holdMs: number): Promise<PositionReport> {
    const p = this.snapshot?.primary?.value;
    if (!p || p.node !== this.o.self.id || p.epoch !== epoch) throw new Error(`not the primary of epoch ${epoch}`);
    this.holdUntil = this.clock() + holdMs;
    const d = this.driver!;
    // Checkpoint while still serving: the shutdown checkpoint, which clients wait out, is then short.
    await d.checkpoint().catch((err) => this.o.logger.warn({ err: errText(err) }, 'checkpoint before the switchover failed; stopping anyway'));
    const before = await d.status();
    await d.stop('fast');
    return { nodeId: this.o.self.id, flushLsn: before.flushLsn, timeline: before.timeline };
  }

  release(epoch?: number): void {
    // A cycle that read the state before the new record committed must not follow the old primary.
    if (epoch !== undefined) this.minFollowEpoch = Math.max(this.minFollowEpoch, epoch);
    this.holdUntil = null;
  }
}

/** An operator's action was refused because a long action runs on this node. */
export class BusyError extends Error {
  constructor(readonly running: string) {
    super(`this node is busy ${running}: wait for it to finish, then retry`);
    this.name = 'BusyError';
  }
}

async function waitStreamingStopped(d: EngineDriver): Promise<EngineStatus> {
  // Polled closely: a switchover waits on this (at most 5 s, then it reports what it has).
  let s = await d.status();
  for (let i = 0; i < 250 && s.streamingFrom !== null; i++) {
    await new Promise((r) => setTimeout(r, 20));
    s = await d.status();
  }
  return s;
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
