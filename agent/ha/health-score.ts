/**
 * A member's health score (0–100) and the components it is made of, for
 * `rustydb-admin cluster health`. Pure: the agent that is asked gathers what
 * it knows (its cluster view, each agent's observation, the Raft leader's
 * progress) and this file turns it into numbers and sentences.
 *
 * Each component has a weight and a value from 0 (failing, or unknown: a
 * score never gives credit for what nobody could see) to 1. Components that do
 * not apply to a member are left out (a primary has no lag, a witness no
 * engine), and the score is the points over the weights of those listed.
 */

import type { EngineStatus } from '../engine/driver.ts';
import type { HealthComponentName, HealthComponentView, NodeHealthStatus, NodeHealthView, NodeRole } from '../api/wire.ts';
import type { AdminState, MemberKind } from '../state/records.ts';

/** How much each component counts. A standby's components add up to 100. */
export const HEALTH_WEIGHTS: Readonly<Record<HealthComponentName, number>> = {
  agent: 20,
  engine: 20,
  role: 15,
  replication: 10,
  lag: 10,
  raft: 15,
  lease: 10,
  admin: 10,
};

export interface HealthThresholds {
  /** Replication lag at or below which `lag` is 1; up to `lagBytesBad` it is 0.5; above, 0. */
  lagBytesOk: number;
  lagBytesBad: number;
  lagMsOk: number;
  lagMsBad: number;
  /** Raft log entries a member may trail the leader's commit index and still count as caught up (heartbeats in flight). */
  raftEntriesOk: number;
  /** Scores at or above: `healthy`; at or above `degradedScore`: `degraded`; below: `unhealthy`. */
  healthyScore: number;
  degradedScore: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = {
  lagBytesOk: 1024 * 1024,
  lagBytesBad: 16 * 1024 * 1024,
  lagMsOk: 1000,
  lagMsBad: 10_000,
  raftEntriesOk: 5,
  healthyScore: 90,
  degradedScore: 60,
};

/** What the Raft leader knows about one member. */
export interface RaftMemberFacts {
  leader: string;
  voter: boolean;
  learner: boolean;
  /** Highest log index the leader knows the member holds; null when the leader tracks none. */
  match: number | null;
  commit: number;
}

export interface NodeHealthInput {
  id: string;
  kind: MemberKind;
  adminState: AdminState;
  apiUrl: string;
  role: NodeRole;
  /** What the member's agent reported; null when it did not answer. */
  observed: { engine: EngineStatus; writable: boolean } | null;
  /** The node the primary record names, and its epoch (null: no primary yet). */
  recordedPrimary: { node: string; epoch: number } | null;
  /** The recorded primary's engine, as its agent reported it (null when unknown). */
  primaryEngine: EngineStatus | null;
  /** Bytes behind the primary (null: unknown). */
  lagBytes: number | null;
  lagMs: number | null;
  /** Null when no Raft leader answered. */
  raft: RaftMemberFacts | null;
}

interface Part {
  name: HealthComponentName;
  value: number;
  detail: string;
}

const MIB = 1024 * 1024;
const fmtBytes = (b: number): string => (b >= MIB ? `${(b / MIB).toFixed(1)} MiB` : `${b} bytes`);
const UNKNOWN = 'unknown: the agent did not answer';

function agentPart(i: NodeHealthInput): Part {
  return i.observed
    ? { name: 'agent', value: 1, detail: `the agent answered at ${i.apiUrl}` }
    : { name: 'agent', value: 0, detail: `the agent did not answer at ${i.apiUrl}: check that rustydb-agent runs on ${i.id} and the address is reachable` };
}

function enginePart(i: NodeHealthInput): Part {
  const e = i.observed?.engine;
  if (!e) return { name: 'engine', value: 0, detail: `engine state ${UNKNOWN}` };
  if (e.running) {
    const what = [e.version ? `PostgreSQL ${e.version}` : null, e.timeline !== null ? `timeline ${e.timeline}` : null].filter((x) => x !== null).join(', ');
    return { name: 'engine', value: 1, detail: `the engine runs${what ? ` (${what})` : ''}` };
  }
  return { name: 'engine', value: 0, detail: `the engine is stopped${e.problem ? `: ${e.problem}` : ''}` };
}

function rolePart(i: NodeHealthInput): Part {
  const e = i.observed?.engine;
  const p = i.recordedPrimary;
  if (!e) return { name: 'role', value: 0, detail: `role ${UNKNOWN}` };
  if (!p) return { name: 'role', value: 0, detail: 'no primary has been recorded yet, so no role can match it' };
  if (!e.running) return { name: 'role', value: 0, detail: `the engine is stopped, so it serves neither as primary nor as standby (the primary of epoch ${p.epoch} is ${p.node})` };
  if (p.node === i.id) {
    return e.inRecovery
      ? { name: 'role', value: 0, detail: `the primary record (epoch ${p.epoch}) names ${i.id}, but its engine runs as a standby` }
      : { name: 'role', value: 1, detail: `runs as primary, as the primary record (epoch ${p.epoch}) says` };
  }
  if (!e.inRecovery) {
    return { name: 'role', value: 0, detail: `runs as a writable primary, but the primary record (epoch ${p.epoch}) names ${p.node}: it must be fenced or rewound` };
  }
  if (e.following !== null && e.following !== p.node) {
    return { name: 'role', value: 0.5, detail: `a standby following ${e.following}, but the primary of epoch ${p.epoch} is ${p.node}` };
  }
  return { name: 'role', value: 1, detail: `a standby of ${p.node}, the primary of epoch ${p.epoch}` };
}

function replicationPart(i: NodeHealthInput): Part {
  const seen = i.primaryEngine?.replicas.find((r) => r.nodeId === i.id) ?? null;
  const from = i.observed?.engine.streamingFrom ?? null;
  if (from !== null || seen?.state === 'streaming') {
    const sync = seen ? ` (${seen.syncState})` : '';
    return { name: 'replication', value: 1, detail: `streams WAL from ${from ?? i.recordedPrimary?.node ?? 'the primary'}${sync}` };
  }
  if (seen) return { name: 'replication', value: 0.5, detail: `connected to the primary but ${seen.state}, not streaming yet` };
  if (!i.observed && !i.primaryEngine) return { name: 'replication', value: 0, detail: `replication ${UNKNOWN}, nor did the primary's` };
  return { name: 'replication', value: 0, detail: `does not stream WAL from the primary${i.recordedPrimary ? ` ${i.recordedPrimary.node}` : ''}` };
}

function lagPart(i: NodeHealthInput, t: HealthThresholds): Part {
  if (i.lagBytes === null && i.lagMs === null) return { name: 'lag', value: 0, detail: 'lag unknown: neither the standby nor the primary reported its WAL position' };
  const grade = (v: number, ok: number, badAt: number): number => (v <= ok ? 1 : v <= badAt ? 0.5 : 0);
  let value = 1;
  const said: string[] = [];
  if (i.lagBytes !== null) {
    value = Math.min(value, grade(i.lagBytes, t.lagBytesOk, t.lagBytesBad));
    said.push(`${fmtBytes(i.lagBytes)} behind (fine up to ${fmtBytes(t.lagBytesOk)}, bad above ${fmtBytes(t.lagBytesBad)})`);
  }
  if (i.lagMs !== null) {
    value = Math.min(value, grade(i.lagMs, t.lagMsOk, t.lagMsBad));
    said.push(`${i.lagMs} ms behind (fine up to ${t.lagMsOk} ms, bad above ${t.lagMsBad} ms)`);
  }
  return { name: 'lag', value, detail: said.join(', ') };
}

function raftPart(i: NodeHealthInput, t: HealthThresholds): Part {
  const r = i.raft;
  if (!r) return { name: 'raft', value: 0, detail: 'Raft state unknown: no Raft leader answered (without a leader nothing can change in the cluster)' };
  if (!r.voter && !r.learner) return { name: 'raft', value: 0, detail: `not in the Raft configuration of leader ${r.leader}` };
  if (i.id === r.leader) return { name: 'raft', value: 1, detail: `the Raft leader (commit index ${r.commit})` };
  const wantsVote = i.kind !== 'observer';
  const as = r.voter ? 'a voter' : 'a learner';
  if (r.match === null) return { name: 'raft', value: 0.5, detail: `${as}, but leader ${r.leader} tracks no log position for it` };
  const behind = Math.max(0, r.commit - r.match);
  if (behind > t.raftEntriesOk) {
    return { name: 'raft', value: 0.5, detail: `${as}, ${behind} log entries behind the commit index ${r.commit} (match ${r.match})` };
  }
  if (wantsVote && !r.voter) return { name: 'raft', value: 0.5, detail: `caught up, but still a learner: a ${i.kind} should vote` };
  return { name: 'raft', value: 1, detail: `${as}, caught up (match ${r.match}, commit ${r.commit})` };
}

function leasePart(i: NodeHealthInput): Part {
  if (!i.observed) return { name: 'lease', value: 0, detail: `lease ${UNKNOWN}` };
  return i.observed.writable
    ? { name: 'lease', value: 1, detail: 'its lease is fresh: it confirmed its primary record with a quorum within lease_ms, so it accepts writes' }
    : { name: 'lease', value: 0, detail: 'its lease is not fresh: it cannot confirm its primary record with a quorum and does not accept writes' };
}

function adminPart(i: NodeHealthInput): Part {
  switch (i.adminState) {
    case 'active':
      return { name: 'admin', value: 1, detail: 'active' };
    case 'drained':
    case 'fenced':
    case 'removed':
      return { name: 'admin', value: 0, detail: `${i.adminState} by the operator: it gets no client traffic` };
    default:
      return { name: 'admin', value: 0.5, detail: `${i.adminState}: an operation on it is in progress` };
  }
}

/** The components that apply to a member, in display order. */
function partsOf(i: NodeHealthInput, t: HealthThresholds): Part[] {
  const parts = [agentPart(i)];
  if (i.kind !== 'witness') {
    parts.push(enginePart(i), rolePart(i));
    const isPrimary = i.recordedPrimary?.node === i.id;
    if (isPrimary) parts.push(leasePart(i));
    else parts.push(replicationPart(i), lagPart(i, t));
  }
  parts.push(raftPart(i, t), adminPart(i));
  return parts;
}

/** One member's score, status and components. */
export function scoreNode(i: NodeHealthInput, t: HealthThresholds = DEFAULT_HEALTH_THRESHOLDS): NodeHealthView {
  const components: HealthComponentView[] = partsOf(i, t).map((p) => {
    const weight = HEALTH_WEIGHTS[p.name];
    return { name: p.name, weight, value: p.value, points: Math.round(weight * p.value * 100) / 100, detail: p.detail };
  });
  const total = components.reduce((s, c) => s + c.weight, 0);
  const points = components.reduce((s, c) => s + c.weight * c.value, 0);
  const score = total === 0 ? 0 : Math.round((100 * points) / total);
  const status: NodeHealthStatus = score >= t.healthyScore ? 'healthy' : score >= t.degradedScore ? 'degraded' : 'unhealthy';
  const problems = components
    .filter((c) => c.value < 1)
    .sort((a, b) => b.weight * (1 - b.value) - a.weight * (1 - a.value))
    .map((c) => `${c.name}: ${c.detail}`);
  return { id: i.id, kind: i.kind, role: i.role, score, status, components, problems };
}
