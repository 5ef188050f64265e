/**
 * The control API's view of the agent (`ApiDeps`): built from what the HA loop
 * last observed, the replicated state and the Raft node. Routes record intent
 * here (a failover request in the replicated state); the HA loop acts on it.
 */

import { randomUUID } from 'node:crypto';
import type { ApiDeps, HealthSnapshot } from './api/deps.ts';
import { ApiError } from './api/errors.ts';
import type { ClusterView, MemberView, NodeRole, NodeView } from './api/wire.ts';
import { lsnDiff } from './ha/lsn.ts';
import type { HaLoop } from './ha/loop.ts';
import type { Observation, PeerClient } from './ha/peers.ts';
import type { RaftNode } from './raft/node.ts';
import type { ClusterState, Snapshot } from './state/cluster-state.ts';
import type { MemberRecord, OperationRecord } from './state/records.ts';
import type { EngineStatus } from './engine/driver.ts';
import type { RaftTiming } from './api/config-keys.ts';
import { readFromFollowers, RuntimeViews } from './runtime-views.ts';
import { shortVersion } from './procedures/upgrade-node.ts';

export interface ViewDeps {
  nodeId: string;
  loop: HaLoop;
  state: ClusterState;
  raft: RaftNode;
  peers: PeerClient;
  intervalMs: number;
  /** This node's [cluster.raft] timings (`config get election_timeout_ms`). */
  raftTiming: RaftTiming;
}

export function makeApiDeps(v: ViewDeps): ApiDeps {
  const now = () => performance.now();
  const runtime = new RuntimeViews({
    nodeId: v.nodeId,
    state: v.state,
    raft: v.raft,
    raftTiming: v.raftTiming,
    defaults: () => v.loop.config(),
    peerTimeoutMs: Math.max(500, v.intervalMs),
  });

  const roleOf = (e: EngineStatus | null, m: MemberRecord | undefined): NodeRole => {
    if (m?.kind === 'witness') return 'witness';
    if (!e) return 'unknown';
    if (!e.running) return 'stopped';
    return e.inRecovery ? 'replica' : 'primary';
  };

  const memberView = (m: MemberRecord, e: EngineStatus | null, reachable: boolean, primaryFlush: string | null, primaryEngine: EngineStatus | null = null): MemberView => {
    const lag = e?.inRecovery && e.flushLsn && primaryFlush ? Math.max(0, lsnDiff(primaryFlush, e.flushLsn)) : null;
    // Time lag as the primary measures it; PostgreSQL clears it once an idle standby has caught up.
    const sample = e?.inRecovery ? primaryEngine?.replicas.find((r) => r.nodeId === m.id) : undefined;
    const lagMs = sample?.lagMs ?? (sample && lag === 0 ? 0 : null);
    return {
      id: m.id,
      kind: m.kind,
      role: roleOf(e, m),
      adminState: m.adminState,
      health: !reachable ? 'unreachable' : m.kind === 'witness' || e?.running ? 'healthy' : 'unhealthy',
      timeline: e?.timeline ?? null,
      flushLsn: e?.flushLsn ?? null,
      replayLsn: e?.replayLsn ?? null,
      lagBytes: lag,
      lagMs,
      release: shortVersion(e?.version),
      region: m.region,
      apiUrl: m.apiUrl,
      pg: m.pgHost && m.pgPort ? `${m.pgHost}:${m.pgPort}` : null,
      uptimeS: e?.running && e.startedAt ? Math.max(0, Math.round((Date.now() - Date.parse(e.startedAt)) / 1000)) : null,
    };
  };

  async function observeAll(s: Snapshot): Promise<Map<string, Observation | null>> {
    const out = new Map<string, Observation | null>();
    await Promise.all(
      s.members.map(async (m) => {
        if (m.id === v.nodeId) out.set(m.id, v.loop.observe());
        else out.set(m.id, await v.peers.observe(m.apiUrl).catch(() => null));
      }),
    );
    return out;
  }

  return {
    nodeId: v.nodeId,
    now,
    health(): HealthSnapshot {
      const e = v.loop.engine;
      const me = v.loop.snapshot?.members.find((m) => m.id === v.nodeId);
      return {
        nodeId: v.nodeId,
        role: roleOf(e, me),
        engineRunning: e.running,
        writable: v.loop.writable(),
        streaming: e.inRecovery && e.streamingFrom !== null,
        lagBytes: e.inRecovery && e.flushLsn && e.replayLsn ? Math.max(0, lsnDiff(e.flushLsn, e.replayLsn)) : null,
        adminState: me?.adminState ?? 'active',
        tags: me?.tags ?? [],
        lastCycleAt: v.loop.lastCycleAt,
        loopIntervalMs: v.intervalMs,
        hasQuorum: v.raft.leader() !== null,
        readFromFollowers: readFromFollowers(v.loop.snapshot?.config),
      };
    },
    async clusterView({ consistency }): Promise<ClusterView> {
      const s = await v.state.read(consistency);
      const obs = await observeAll(s);
      const p = s.primary?.value ?? null;
      const primaryFlush = p ? (obs.get(p.node)?.engine.flushLsn ?? null) : null;
      // Removed members are tombstones (kept so `node stop` can still find them), not members.
      const live = s.members.filter((m) => m.adminState !== 'removed');
      const members = live.map((m) => memberView(m, obs.get(m.id)?.engine ?? null, obs.get(m.id) != null, primaryFlush, p ? (obs.get(p.node)?.engine ?? null) : null)).sort((a, b) => (a.id < b.id ? -1 : 1));
      // A joining node is a Raft learner until `cluster join` promotes it: it does not count yet.
      const voters = live.filter((m) => m.kind !== 'observer' && m.adminState !== 'joining');
      const healthy = voters.filter((m) => obs.get(m.id) != null).length;
      const writable = p ? obs.get(p.node)?.writable === true : false;
      const cfg = s.config ?? v.loop.config();
      return {
        name: s.identity?.name ?? '',
        id: s.identity?.id ?? '',
        epoch: p?.epoch ?? 0,
        primary: p?.node ?? null,
        leader: v.raft.leader()?.id ?? null,
        quorum: { voters: voters.length, healthy, hasQuorum: healthy >= Math.floor(voters.length / 2) + 1 },
        haMode: cfg.haMode,
        durability: cfg.durability,
        consistency,
        staleMs: consistency === 'local' && v.loop.snapshotAt !== null ? Math.round(now() - v.loop.snapshotAt) : null,
        writable,
        problem: writable
          ? (p ? (obs.get(p.node)?.warning ?? null) : null)
          : (v.loop.problem ?? (p ? `primary ${p.node} is not accepting writes` : 'no primary has been chosen yet')),
        members,
      };
    },
    async nodeView(): Promise<NodeView> {
      const s = v.loop.snapshot;
      const me: MemberRecord = s?.members.find((m) => m.id === v.nodeId) ?? {
        id: v.nodeId, kind: 'voter', apiUrl: '', pgHost: null, pgPort: null, region: 'default', weight: 1, tags: [], adminState: 'active',
      };
      const st = v.raft.status();
      return {
        ...memberView(me, v.loop.engine, true, null),
        engine: v.loop.engine,
        raft: { term: st.term, role: st.role, leader: st.leader || null, commit: st.commit, applied: st.applied },
        engineHeld: v.loop.engineHeld(),
        progress: v.loop.progress,
        decision: v.loop.lastDecision?.sentence ?? null,
      };
    },
    history: (limit) => v.state.history(limit),
    async requestFailover(req): Promise<OperationRecord> {
      const s = await v.state.read('linearizable');
      const p = s.primary?.value;
      if (!p) throw new ApiError('RDB_ERR_PRECONDITION', 'there is no primary yet: wait for the cluster to bootstrap');
      if (req.to !== null && !s.members.some((m) => m.id === req.to)) {
        throw new ApiError('RDB_ERR_NOT_FOUND', `${req.to} is not a member of this cluster: see GET /v1/cluster for the members`);
      }
      if (req.to === p.node) throw new ApiError('RDB_ERR_PRECONDITION', `${req.to} is already the primary`);
      const requestId = req.requestId ?? randomUUID();
      const opId = `op-${requestId}`;
      const existing = await v.state.operation(opId);
      if (existing) return existing;
      const r = await v.state.requestFailover({ requestId, to: req.to, force: req.force, fromEpoch: p.epoch, requestedAt: new Date().toISOString() });
      if (!r.ok) {
        throw new ApiError('RDB_ERR_CONFLICT', `another ${r.pending.force ? 'failover' : 'switchover'} (request ${r.pending.requestId}) is in progress: wait for it to finish`);
      }
      const op: OperationRecord = {
        id: opId,
        kind: req.planned ? 'switchover' : 'failover',
        state: 'pending',
        message: `requested${req.to ? ` to ${req.to}` : ''} from epoch ${p.epoch}; the leader runs it on its next cycle`,
        startedAt: new Date().toISOString(),
        finishedAt: null,
        result: { fromEpoch: p.epoch, to: req.to },
      };
      await v.state.putOperation(op);
      // The leader acts on the request on its next cycle: make that now (a switchover's clients wait meanwhile).
      const leader = v.raft.status().leader;
      if (leader === v.nodeId) v.loop.wake();
      else {
        const url = s.members.find((m) => m.id === leader)?.apiUrl;
        if (url) void v.peers.wake(url).catch(() => {});
      }
      return op;
    },
    async operation(id): Promise<OperationRecord | null> {
      const op = await v.state.operation(id);
      // Node procedures (drain, reinit) record their own outcome; switchovers are judged by the epoch.
      if (!op || op.state === 'failed' || (op.kind !== 'switchover' && op.kind !== 'failover')) return op;
      if (op.state === 'succeeded') {
        // The leader records success once the new record commits; the promotion follows a moment later.
        const r = op.result as { epoch?: number; primary?: string } | null;
        const m = r?.primary ? (await v.state.read('local')).members.find((x) => x.id === r.primary) : undefined;
        if (!m) return op;
        const obs = m.id === v.nodeId ? v.loop.observe() : await v.peers.observe(m.apiUrl).catch(() => null);
        if (obs && !obs.writable && (obs.epoch ?? 0) <= (r!.epoch ?? 0)) return { ...op, state: 'running', message: `${m.id} is named primary of epoch ${r!.epoch}; waiting for it to accept writes` };
        return op;
      }
      // The outcome follows from the replicated state: a newer epoch means it happened.
      const s = await v.state.read('linearizable');
      const from = Number((op.result as { fromEpoch?: number } | null)?.fromEpoch ?? 0);
      const p = s.primary?.value;
      if (p && p.epoch > from) {
        // Done when the new primary accepts writes, not merely when the record names it:
        // a script's next command must find a writable primary.
        const m = s.members.find((x) => x.id === p.node);
        const obs = m ? (m.id === v.nodeId ? v.loop.observe() : await v.peers.observe(m.apiUrl).catch(() => null)) : null;
        if (obs?.writable !== true) {
          return { ...op, state: 'running', message: `${p.node} is named primary of epoch ${p.epoch}; waiting for it to accept writes` };
        }
        const done: OperationRecord = { ...op, state: 'succeeded', message: `${p.node} is the primary of epoch ${p.epoch}`, finishedAt: new Date().toISOString(), result: { ...op.result, epoch: p.epoch, primary: p.node } };
        await v.state.putOperation(done);
        return done;
      }
      if (!s.failoverRequest) {
        const failed: OperationRecord = { ...op, state: 'failed', message: v.loop.problem ?? 'the request was withdrawn without a new primary', finishedAt: new Date().toISOString() };
        return failed;
      }
      return { ...op, state: 'running', message: v.loop.lastDecision?.sentence ?? op.message };
    },
    config: () => runtime.config(),
    setConfig: (key, value) => runtime.setConfig(key, value),
    raftInfo: () => runtime.raftInfo(),
    async clusterHealth() {
      const s = await v.state.read('linearizable');
      const observations = await observeAll(s);
      const p = s.primary?.value ?? null;
      const primaryFlush = p ? (observations.get(p.node)?.engine.flushLsn ?? null) : null;
      const members = new Map(s.members.map((m) => [m.id, memberView(m, observations.get(m.id)?.engine ?? null, observations.get(m.id) != null, primaryFlush, p ? (observations.get(p.node)?.engine ?? null) : null)]));
      return runtime.clusterHealth({ snapshot: s, observations, members });
    },
  };
}
