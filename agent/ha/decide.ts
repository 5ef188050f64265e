/**
 * The HA decision: one pure function of what this agent knows now (replicated
 * state, its engine, its lease, what it observed of the primary) that returns
 * the one next action and a sentence saying why. The loop (`loop.ts`) executes
 * the action and logs the sentence; tests assert on both. Read top to bottom:
 * safety first (fence), then the leader's cluster duties, then this node's role.
 */

import type { EngineStatus } from '../engine/driver.ts';
import type { ClusterConfigRecord, FailoverRequest, MemberKind, MemberRecord, PrimaryRecord } from '../state/records.ts';
import { databaseStandbys, describe, desiredSync, effectiveSync, nextSyncStep, type SyncSet, type SyncStep } from './sync.ts';

export interface ReplicatedView {
  primary: PrimaryRecord | null;
  /** Store version of the primary record (0 = absent): the compare-and-set expectation. */
  primaryVersion: number;
  members: MemberRecord[];
  config: ClusterConfigRecord;
  failoverRequest: FailoverRequest | null;
}

export interface PrimaryHealth {
  healthy: boolean;
  /** Monotonic ms since when the primary has been seen unhealthy without a break. */
  unhealthySince: number | null;
  detail: string;
}

export interface HaInput {
  /** Monotonic milliseconds. */
  now: number;
  self: { id: string; kind: MemberKind };
  /** Read linearizably in this cycle; null when this node cannot reach a quorum. */
  state: ReplicatedView | null;
  /** Cluster settings last known (used when `state` is null). */
  config: ClusterConfigRecord;
  /** Members as last read (used to explain a lost quorum when `state` is null). */
  lastKnownMembers: MemberRecord[];
  raft: { isLeader: boolean; leader: string | null };
  engine: EngineStatus;
  /** When a quorum last confirmed the record naming this node primary (monotonic ms). */
  leaseConfirmedAt: number | null;
  /**
   * How much earlier than the lease's end to fence, so that the engine is really
   * stopped by then: one cycle's observation time plus the stop itself.
   */
  leaseMarginMs: number;
  /** Epoch in which this node last ran its engine as primary (kept on local disk); null if never or since rewound. */
  lastPrimaryEpoch: number | null;
  /**
   * Hold until then: a failover candidate does not stream WAL while the leader
   * compares candidates; a primary stopped for a switchover does not restart.
   */
  holdStreamingUntil: number | null;
  /** Leader only: the recorded primary as this node observes it. */
  primaryHealth: PrimaryHealth | null;
  /** Standbys whose flushed WAL reached the primary's position at the last engine sync change. */
  syncCaughtUp: string[];
  /** How long this standby has followed the primary without streaming from it (0 while streaming). */
  notStreamingForMs: number;
  /** pg_rewind failed for this epoch: clone afresh instead (the old data directory is kept aside). */
  rewindFailed: boolean;
  /** A long action (failover, clone, rewind) is running: nothing else starts. */
  busy: string | null;
  /** The operator stopped this node's engine (`node stop`): keep it stopped (kept on local disk). */
  engineHeld: boolean;
  /** How long this node's engine has not answered as running (0 while it does). */
  engineDownForMs?: number;
}

export type HaAction =
  | { kind: 'none' }
  | { kind: 'create-primary-record'; record: PrimaryRecord }
  | { kind: 'init-engine' }
  | { kind: 'start-engine' }
  | { kind: 'stop-engine'; reason: string }
  | { kind: 'promote'; epoch: number }
  | { kind: 'fence'; reason: string }
  | { kind: 'follow'; primary: string }
  | { kind: 'rewind'; primary: string }
  | { kind: 'clone'; primary: string }
  | { kind: 'sync-step'; step: Exclude<SyncStep, { kind: 'in-step' } | { kind: 'wait' }>; expectVersion: number }
  | { kind: 'failover'; request: FailoverRequest | null; reason: string }
  | { kind: 'transfer-leadership'; to: string };

export interface HaDecision {
  action: HaAction;
  sentence: string;
  /** Something the cluster status should show although no action is due (e.g. why writes wait). */
  warning?: string;
}

/** A standby that follows the primary but receives nothing for this long is rewound. */
export const STUCK_STANDBY_MS = 5000;

const none = (sentence: string): HaDecision => ({ action: { kind: 'none' }, sentence });

export function decide(i: HaInput): HaDecision {
  const me = i.self.id;
  if (i.self.kind === 'witness') return none(`no action: I am ${me}, a witness (a vote, no engine)`);
  if (i.busy) return none(`busy: ${i.busy}`);

  // 0. The operator stopped this engine: stopping is always safe, quorum or not (even after `cluster remove`).
  if (i.engineHeld && i.engine.running) {
    const reason = 'stopping my engine: the operator asked for it (node stop)';
    return { action: { kind: 'stop-engine', reason }, sentence: reason };
  }

  const runningAsPrimary = i.engine.running && !i.engine.inRecovery;

  // 1. Without a quorum nothing is decided, but a primary must fence itself when its lease runs out.
  if (i.state === null) {
    if (runningAsPrimary) {
      const age = i.leaseConfirmedAt === null ? Infinity : i.now - i.leaseConfirmedAt;
      const usable = i.config.leaseMs - i.leaseMarginMs;
      if (age > usable) {
        return fence(
          `lost contact with the quorum for ${fmtMs(age)}; my ${i.config.leaseMs} ms lease ends before the next check: stopping my engine so the majority can safely elect a new primary`,
        );
      }
      return none(`no quorum: I keep serving as primary while my lease is valid (${fmtMs(usable - age)} left)`);
    }
    const voters = i.lastKnownMembers.filter((m) => m.kind !== 'observer');
    const pairWithoutWitness = voters.length === 2 && voters.every((m) => m.kind === 'voter');
    const why = pairWithoutWitness
      ? ': a 2-node cluster without a witness cannot fail over automatically (add a witness node, or fail over by hand)'
      : '';
    return none(`no quorum: staying ${i.engine.running ? 'a standby' : 'stopped'} until the cluster is reachable${why}`);
  }

  const { primary } = i.state;

  // 2. No primary yet: the leader names the first one.
  if (primary === null) {
    if (!i.raft.isLeader) return none(`waiting for the leader (${i.raft.leader ?? 'none yet'}) to name the first primary`);
    const first = firstPrimary(i.state.members, me, i.self.kind);
    if (!first) return none('no member can run a database yet: waiting for a voter with an engine to join');
    const sync = desiredSync(modeOf(i.state), databaseStandbys(i.state.members, first), i.state.config.minQuorumSize);
    return {
      action: { kind: 'create-primary-record', record: { node: first, epoch: 1, since: '', reason: 'bootstrap', sync } },
      sentence: `bootstrapping: naming ${first} the first primary (epoch 1)`,
    };
  }

  // 3. Safety: an engine running as primary that the record does not name is stopped at once.
  if (primary.node !== me && runningAsPrimary) {
    return fence(`${primary.node} is the primary of epoch ${primary.epoch}: stopping my engine, which still runs as a primary`);
  }

  // 3b. Fenced by the operator: the engine stops and stays stopped; never promoted (candidates.ts).
  const fenced = i.state.members.find((m) => m.id === me)?.adminState === 'fenced';
  if (fenced && i.engine.running) {
    return fence(`fenced by the operator: stopping my engine; it stays stopped until \`rustydb-admin node unfence ${me}\``);
  }

  // 4. The leader's duties: failover, switchover, keeping Raft leadership with the primary.
  if (i.raft.isLeader) {
    // A leader does not watch its own engine: with it stopped on purpose, hand leadership
    // to a voter that will see the primary down and fail over.
    if (primary.node === me && (fenced || i.engineHeld)) {
      const to = handoffTarget(i.state.members, me);
      if (to) {
        return {
          action: { kind: 'transfer-leadership', to },
          sentence: `handing Raft leadership to ${to}: my engine is stopped on purpose and the primary (me) must be replaced`,
        };
      }
    }
    // Nor does it notice its own engine hanging or failing to start: past the failover
    // timeout, a voter that watches the primary from outside must lead.
    const downFor = i.engineDownForMs ?? 0;
    if (primary.node === me && !runningAsPrimary && downFor >= i.state.config.failoverTimeoutMs) {
      const to = handoffTarget(i.state.members, me);
      if (to) {
        return {
          action: { kind: 'transfer-leadership', to },
          sentence: `handing Raft leadership to ${to}: my engine, the primary's, has not answered for ${fmtMs(downFor)} (${i.engine.problem ?? 'not running'}); the primary (me) may have to be replaced`,
        };
      }
    }
    const duty = leaderDuty(i, primary);
    if (duty) return duty;
  }

  if (fenced) return none(`fenced by the operator: my engine stays stopped and I cannot be promoted until \`rustydb-admin node unfence ${me}\``);
  if (i.engineHeld) return none(`my engine is stopped by the operator: \`rustydb-admin node start ${me}\` starts it`);

  // 5. This node's role.
  return primary.node === me ? asPrimary(i, primary) : asStandby(i, primary);
}

function leaderDuty(i: HaInput, primary: PrimaryRecord): HaDecision | null {
  const state = i.state!;
  const req = state.failoverRequest;
  if (req && req.fromEpoch === primary.epoch) {
    const what = req.force ? 'forced failover' : 'switchover';
    return {
      action: { kind: 'failover', request: req, reason: `${what} requested${req.to ? ` to ${req.to}` : ''}` },
      sentence: `running the requested ${what}${req.to ? ` to ${req.to}` : ''} (request ${req.requestId})`,
    };
  }
  if (primary.node === i.self.id) return null;
  const health = i.primaryHealth;
  if (health && !health.healthy) {
    const since = health.unhealthySince ?? i.now;
    const down = i.now - since;
    if (!state.config.autoFailover) {
      return none(`primary ${primary.node} is unhealthy (${health.detail}) for ${fmtMs(down)}; automatic failover is off: waiting for an operator`);
    }
    if (down < state.config.failoverTimeoutMs) {
      return none(`primary ${primary.node} is unhealthy (${health.detail}) for ${fmtMs(down)}; failing over after ${state.config.failoverTimeoutMs} ms`);
    }
    return {
      action: { kind: 'failover', request: null, reason: `primary ${primary.node} unhealthy for ${fmtMs(down)}: ${health.detail}` },
      sentence: `failing over: primary ${primary.node} has been unhealthy for ${fmtMs(down)} (${health.detail})`,
    };
  }
  if (health && health.healthy) {
    const target = state.members.find((m) => m.id === primary.node);
    if (target && target.kind === 'voter') {
      return {
        action: { kind: 'transfer-leadership', to: primary.node },
        sentence: `handing Raft leadership to ${primary.node}, the primary, so the cluster has one leader`,
      };
    }
  }
  return null;
}

function asPrimary(i: HaInput, primary: PrimaryRecord): HaDecision {
  const e = i.engine;
  if (!e.initialized) {
    if (primary.epoch === 1 && i.lastPrimaryEpoch === null) {
      return { action: { kind: 'init-engine' }, sentence: 'initializing a new database: I am the first primary (epoch 1)' };
    }
    return none(
      `I am named primary of epoch ${primary.epoch} but have no data directory: fail over to another node or reinitialize this one`,
    );
  }
  if (!e.running) {
    if (i.holdStreamingUntil !== null && i.now < i.holdStreamingUntil) {
      return none(`holding my engine stopped for a switchover (${fmtMs(i.holdStreamingUntil - i.now)} left)`);
    }
    // A live postmaster that does not answer cannot be started again; pg_ctl would only wait.
    // If it lasts, the leader (or this node, leading) moves the primary elsewhere.
    if (e.unresponsive) return none(`my engine (the primary's) runs but does not answer (${e.problem ?? 'no answer'}): waiting for it`);
    return { action: { kind: 'start-engine' }, sentence: `starting my engine as primary of epoch ${primary.epoch}` };
  }
  if (e.inRecovery) {
    return { action: { kind: 'promote', epoch: primary.epoch }, sentence: `promoting: the record naming me primary of epoch ${primary.epoch} is committed` };
  }
  const state = i.state!;
  const mode = modeOf(state);
  const desired = desiredSync(mode, databaseStandbys(state.members, i.self.id), state.config.minQuorumSize);
  const streaming = e.replicas.filter((r) => r.state === 'streaming').map((r) => r.nodeId);
  const target: SyncSet = effectiveSync(desired, streaming, state.config.durability);
  const step = nextSyncStep(mode, primary, e.syncStandbyNames ?? '', target, i.syncCaughtUp);
  if (step.kind === 'record' || step.kind === 'engine') {
    return { action: { kind: 'sync-step', step, expectVersion: state.primaryVersion }, sentence: step.why };
  }
  const lagging = desired.standbys.filter((s) => !streaming.includes(s));
  const up = desired.standbys.length - lagging.length;
  const blocked =
    state.config.durability === 'strict' && up < desired.k
      ? `; writes wait: ${up} of the ${desired.k} synchronous standbys needed are streaming (${lagging.join(', ')} not streaming)`
      : '';
  const waiting = step.kind === 'wait' ? `; ${step.why}` : '';
  const d = none(`no action: I am ${i.self.id}, the primary of epoch ${primary.epoch}, commits wait for ${describe(primary.sync)}${blocked}${waiting}`);
  if (blocked) d.warning = `writes on ${i.self.id} wait: ${up} of the ${desired.k} synchronous standbys needed are streaming (${lagging.join(', ')} not streaming); durability is strict`;
  return d;
}

function asStandby(i: HaInput, primary: PrimaryRecord): HaDecision {
  const e = i.engine;
  const p = primary.node;
  if (i.holdStreamingUntil !== null && i.now < i.holdStreamingUntil) {
    return none(`holding WAL streaming while the leader compares failover candidates (${fmtMs(i.holdStreamingUntil - i.now)} left)`);
  }
  if (!e.initialized) return { action: { kind: 'clone', primary: p }, sentence: `cloning the database from ${p}, the primary of epoch ${primary.epoch}` };
  if (i.lastPrimaryEpoch !== null && i.lastPrimaryEpoch < primary.epoch && !e.running) {
    if (i.rewindFailed) {
      return {
        action: { kind: 'clone', primary: p },
        sentence: `pg_rewind onto ${p} failed: cloning afresh from ${p} (my old data directory is kept aside until the copy streams)`,
      };
    }
    return {
      action: { kind: 'rewind', primary: p },
      sentence: `I was primary in epoch ${i.lastPrimaryEpoch}: rewinding onto ${p}, the primary of epoch ${primary.epoch}`,
    };
  }
  if (!e.running || e.following !== p) {
    const from = e.running ? (e.streamingFrom ? `was streaming from ${e.streamingFrom}` : `was following ${e.following ?? 'no one'}`) : 'engine stopped';
    return { action: { kind: 'follow', primary: p }, sentence: `following ${p}, the primary of epoch ${primary.epoch} (${from})` };
  }
  if (e.streamingFrom === p) return none(`no action: I am ${i.self.id}, a standby streaming from ${p}, the primary of epoch ${primary.epoch}`);
  // Configured to follow p, yet no WAL arrives: usually our timeline forked off p's (we
  // replayed WAL p never had). Rewinding fixes that; if it cannot, the next step clones.
  if (i.notStreamingForMs >= STUCK_STANDBY_MS) {
    if (i.rewindFailed) {
      return { action: { kind: 'clone', primary: p }, sentence: `no WAL from ${p} for ${fmtMs(i.notStreamingForMs)} and pg_rewind failed: cloning afresh` };
    }
    return {
      action: { kind: 'rewind', primary: p },
      sentence: `no WAL from ${p} for ${fmtMs(i.notStreamingForMs)} although following it: rewinding (the timelines may have forked)`,
    };
  }
  return none(`waiting for WAL streaming from ${p} to start (${fmtMs(i.notStreamingForMs)})`);
}

/** Who takes Raft leadership from a primary that cannot judge itself: an active member that votes. */
function handoffTarget(members: readonly MemberRecord[], me: string): string | undefined {
  return members.find((m) => m.id !== me && m.kind !== 'observer' && m.adminState === 'active')?.id;
}

function fence(reason: string): HaDecision {
  return { action: { kind: 'fence', reason }, sentence: reason };
}

/** The bootstrap primary: this node if it runs an engine, else the first voter by id. */
function firstPrimary(members: readonly MemberRecord[], me: string, myKind: MemberKind): string | null {
  if (myKind === 'voter') return me;
  const voter = members.filter((m) => m.kind === 'voter' && m.adminState === 'active').map((m) => m.id).sort()[0];
  return voter ?? null;
}

function modeOf(s: ReplicatedView): 'active_active' | 'active_passive' {
  return s.config.haMode;
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'ever';
  return ms >= 10_000 ? `${(ms / 1000).toFixed(0)} s` : `${Math.round(ms)} ms`;
}
