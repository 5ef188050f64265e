/**
 * The API's runtime config (`GET /v1/config`, `PUT /v1/config/:key`) and
 * cluster health (`GET /v1/cluster/health`) over the replicated state and the
 * Raft node. views.ts wires these into `ApiDeps`; the rules of the knobs are
 * agent/api/config-keys.ts, the scoring is agent/ha/health-score.ts.
 */

import { CONFIG_KEY_NAMES, CONFIG_KEYS, ConfigKeyError, configValues, planConfigChange, READ_FROM_FOLLOWERS_DEFAULT, type RaftTiming } from './api/config-keys.ts';
import { ApiError } from './api/errors.ts';
import { fetchRaftInfo, type RaftInfo } from './api/raft-info.ts';
import type { ClusterHealthView, ConfigSource, ConfigSetView, ConfigValueView, ConfigView, MemberView } from './api/wire.ts';
import { scoreNode, type RaftMemberFacts } from './ha/health-score.ts';
import type { Observation } from './ha/peers.ts';
import type { RaftNode } from './raft/node.ts';
import { StaleRecordError, type ClusterState, type Snapshot } from './state/cluster-state.ts';
import { KEY, type ClusterConfigRecord, type MemberRecord } from './state/records.ts';

export interface RuntimeViewDeps {
  nodeId: string;
  state: ClusterState;
  raft: RaftNode;
  /** This node's [cluster.raft] timings. */
  raftTiming: RaftTiming;
  /** The settings in force while no config record exists (the HA loop's defaults). */
  defaults(): ClusterConfigRecord;
  /** Deadline of a call to another agent. */
  peerTimeoutMs: number;
}

/** What `clusterHealth` needs from the cluster view views.ts builds. */
export interface HealthViewInput {
  snapshot: Snapshot;
  /** Each member's observation; null when its agent did not answer. */
  observations: Map<string, Observation | null>;
  /** The member views of `GET /v1/cluster` (role, lag), by id. */
  members: Map<string, MemberView>;
}

export class RuntimeViews {
  constructor(private readonly d: RuntimeViewDeps) {}

  /** This node's Raft facts (the peer route answers with them). */
  raftInfo(): RaftInfo {
    const st = this.d.raft.status();
    const match: Record<string, number> = {};
    for (const [id, pr] of Object.entries(st.progress)) match[id] = pr.match;
    return {
      nodeId: this.d.nodeId,
      ...this.d.raftTiming,
      role: st.role,
      leader: st.leader || null,
      commit: st.commit,
      voters: [...st.appliedMembership.voters],
      learners: [...st.appliedMembership.learners],
      match,
    };
  }

  /** The Raft leader's facts: our own when we lead, else asked of the leader's agent; null when no leader answers. */
  async leaderRaftInfo(members: readonly MemberRecord[]): Promise<RaftInfo | null> {
    const own = this.raftInfo();
    if (own.role === 'leader') return own;
    const leader = own.leader === null ? undefined : members.find((m) => m.id === own.leader);
    if (!leader) return null;
    try {
      const info = await fetchRaftInfo(leader.apiUrl, this.d.peerTimeoutMs);
      return info.role === 'leader' ? info : null;
    } catch {
      return null;
    }
  }

  /** The config record with its store version (0 and null when none has been written yet). */
  private async readRecord(): Promise<{ record: ClusterConfigRecord | null; version: number }> {
    const r = await this.d.raft.get(KEY.config, { consistency: 'linearizable' });
    return r ? { record: JSON.parse(r.value) as ClusterConfigRecord, version: r.version } : { record: null, version: 0 };
  }

  /** Raft timings to show and to check rules against: the leader's, else ours. */
  private async timing(): Promise<{ timing: RaftTiming; from: string }> {
    const s = await this.d.state.read('local').catch(() => null);
    const info = await this.leaderRaftInfo(s?.members ?? []);
    if (info) return { timing: { electionTimeoutMs: info.electionTimeoutMs, heartbeatIntervalMs: info.heartbeatIntervalMs }, from: info.nodeId };
    return { timing: this.d.raftTiming, from: this.d.nodeId };
  }

  private view(record: ClusterConfigRecord | null, version: number, timing: RaftTiming, from: string): ConfigView {
    const values = configValues(record ?? this.d.defaults(), timing);
    const sourceOf = (key: (typeof CONFIG_KEY_NAMES)[number]): ConfigSource => {
      const spec = CONFIG_KEYS[key];
      if (spec.readOnly) return 'rustydb.conf';
      if (spec.field === null) return 'built-in';
      if (record === null || record[spec.field] === undefined) return 'default';
      return 'cluster';
    };
    return {
      version,
      raftFrom: from,
      keys: CONFIG_KEY_NAMES.map((key) => ({
        key,
        value: values[key],
        source: sourceOf(key),
        settable: CONFIG_KEYS[key].readOnly === null,
        allowed: CONFIG_KEYS[key].allowed,
        description: CONFIG_KEYS[key].description,
      })),
    };
  }

  async config(): Promise<ConfigView> {
    const [{ record, version }, { timing, from }] = await Promise.all([this.readRecord(), this.timing()]);
    return this.view(record, version, timing, from);
  }

  /**
   * Validate and write one knob with compare-and-set on the version read; a
   * concurrent change is re-read and re-validated once before giving up.
   */
  async setConfig(key: string, raw: ConfigValueView): Promise<ConfigSetView> {
    const { timing, from } = await this.timing();
    for (let attempt = 1; ; attempt++) {
      const { record, version } = await this.readRecord();
      let change;
      try {
        change = planConfigChange(record ?? this.d.defaults(), timing, key, raw);
      } catch (err) {
        throw err instanceof ConfigKeyError ? toApiError(err) : err;
      }
      if (!change.changed) {
        return { key: change.key, previous: change.previous, value: change.value, changed: false, config: this.view(record, version, timing, from) };
      }
      try {
        const next = await this.d.state.replace(KEY.config, change.record, version, `config-${change.key}-${version}-${String(change.value)}`);
        return { key: change.key, previous: change.previous, value: change.value, changed: true, config: this.view(change.record, next, timing, from) };
      } catch (err) {
        if (!(err instanceof StaleRecordError)) throw err;
        if (attempt >= 2) {
          throw new ApiError(
            'RDB_ERR_CONFLICT',
            `the cluster config changed twice while ${change.key} was being set (now version ${err.currentVersion}): run \`rustydb-admin config show\` and retry`,
            { key: change.key, version: err.currentVersion },
          );
        }
      }
    }
  }

  /** A health score per member, from the cluster view and the Raft leader's progress. */
  async clusterHealth(i: HealthViewInput): Promise<ClusterHealthView> {
    const s = i.snapshot;
    const p = s.primary?.value ?? null;
    const raft = await this.leaderRaftInfo(s.members);
    const primaryObs = p ? (i.observations.get(p.node) ?? null) : null;
    const factsOf = (id: string): RaftMemberFacts | null =>
      raft === null
        ? null
        : {
            leader: raft.nodeId,
            voter: raft.voters.includes(id),
            learner: raft.learners.includes(id),
            match: raft.match[id] ?? null,
            commit: raft.commit,
          };
    const nodes = s.members
      .filter((m) => m.adminState !== 'removed')
      .map((m) => {
        const obs = i.observations.get(m.id) ?? null;
        const view = i.members.get(m.id);
        // The primary's pg_stat_replication knows the lag of a standby whose agent is down.
        const seenByPrimary = primaryObs?.engine.replicas.find((r) => r.nodeId === m.id) ?? null;
        return scoreNode({
          id: m.id,
          kind: m.kind,
          adminState: m.adminState,
          apiUrl: m.apiUrl,
          role: view?.role ?? 'unknown',
          observed: obs ? { engine: obs.engine, writable: obs.writable } : null,
          recordedPrimary: p ? { node: p.node, epoch: p.epoch } : null,
          primaryEngine: primaryObs?.engine ?? null,
          lagBytes: view?.lagBytes ?? seenByPrimary?.lagBytes ?? null,
          lagMs: view?.lagMs ?? null,
          raft: factsOf(m.id),
        });
      })
      .sort((a, b) => (a.id < b.id ? -1 : 1));
    return {
      name: s.identity?.name ?? '',
      epoch: p?.epoch ?? 0,
      primary: p?.node ?? null,
      leader: this.d.raft.leader()?.id ?? null,
      computedBy: this.d.nodeId,
      raftFrom: raft?.nodeId ?? null,
      nodes,
    };
  }
}

/** A refused knob as the API's error: input problems are 400, a read-only key is a precondition. */
export function toApiError(e: ConfigKeyError): ApiError {
  const details = { key: e.key, reason: e.kind };
  return e.kind === 'read-only' ? new ApiError('RDB_ERR_PRECONDITION', e.message, details) : new ApiError('RDB_ERR_INVALID', e.message, details);
}

/** Whether standbys serve load-balanced reads under this config (absent key: they do). */
export function readFromFollowers(c: ClusterConfigRecord | null | undefined): boolean {
  return c?.readFromFollowers ?? READ_FROM_FOLLOWERS_DEFAULT;
}
