/**
 * What the control API needs from the rest of the agent. The HA loop and the
 * cluster state implement it; the routes only translate HTTP to these calls,
 * so they can be tested with a small fake.
 *
 * Failures: throw {@link ApiError} (errors.ts) for an expected refusal (e.g.
 * RDB_ERR_CONFLICT naming the operation in progress, RDB_ERR_PRECONDITION for an
 * unsafe target). A `StoreError` from the replicated store may also propagate;
 * the API maps it (no-leader → RDB_ERR_NO_QUORUM, timeout → RDB_ERR_UNAVAILABLE,
 * ...). Anything else is answered 500 with a generic message and logged.
 */

import type { AdminState, HistoryRecord, OperationRecord } from '../state/records.ts';
import type { ClusterHealthView, ClusterView, ConfigSetView, ConfigValueView, ConfigView, NodeRole, NodeView } from './wire.ts';
import type { RaftInfo } from './raft-info.ts';

/**
 * This node's state as of the HA loop's last cycle. The loop caches it after
 * every cycle so that the load-balancer health checks never block on I/O.
 */
export interface HealthSnapshot {
  nodeId: string;
  role: NodeRole;
  engineRunning: boolean;
  /** Primary with a valid lease: the primary record names us and our lease is fresh. */
  writable: boolean;
  /** Replica: the WAL receiver is streaming. */
  streaming: boolean;
  /** Replica: bytes behind the primary's flush position; null when unknown. */
  lagBytes: number | null;
  adminState: AdminState;
  /** Member tags; `noloadbalance` makes /replica answer 503. */
  tags: string[];
  /** Monotonic ms (same clock as `ApiDeps.now`) at the end of the last HA cycle. */
  lastCycleAt: number;
  loopIntervalMs: number;
  hasQuorum: boolean;
  /** `read_from_followers` of the cluster config: false makes /replica and /read-only answer 503 on a replica. Absent: true. */
  readFromFollowers?: boolean;
}

export interface ApiDeps {
  nodeId: string;
  /** Monotonic ms (performance.now()); the clock `HealthSnapshot.lastCycleAt` uses. */
  now(): number;
  /** The cached snapshot. Must not block or do I/O: probes call it every second or two. */
  health(): HealthSnapshot;
  /**
   * The cluster as this node sees it. `linearizable` confirms with a quorum and
   * may reject with StoreError `no-leader`/`timeout`; `local` never needs a quorum
   * and says how stale it may be (`staleMs`).
   */
  clusterView(opts: { consistency: 'linearizable' | 'local' }): Promise<ClusterView>;
  nodeView(): Promise<NodeView>;
  /** The newest `limit` history records, newest first. */
  history(limit: number): Promise<HistoryRecord[]>;
  /**
   * Validate and record a switchover/failover request (intent); the HA loop
   * performs it. Returns the operation. A repeated `requestId` returns the
   * operation the first call created and records nothing new.
   */
  requestFailover(req: { to: string | null; force: boolean; planned: boolean; requestId: string | null }): Promise<OperationRecord>;
  /** The operation with this id, or null if there is none. */
  operation(id: string): Promise<OperationRecord | null>;

  // Runtime config and cluster health. Optional so that partial fakes in tests
  // need not provide them; the agent always does (routes are registered only when present).

  /** Every runtime knob with its value and source (`GET /v1/config`). */
  config?(): Promise<ConfigView>;
  /**
   * Validate `key = value` with the shared key table and write it by compare-and-set
   * (`PUT /v1/config/:key`). Throws ApiError RDB_ERR_INVALID (unknown key, bad value,
   * broken rule), RDB_ERR_PRECONDITION (read-only key), RDB_ERR_CONFLICT (raced twice).
   */
  setConfig?(key: string, value: ConfigValueView): Promise<ConfigSetView>;
  /** A health score per member (`GET /v1/cluster/health`). */
  clusterHealth?(): Promise<ClusterHealthView>;
  /** This node's Raft facts, for the peer route other agents ask (must not block). */
  raftInfo?(): RaftInfo;
}
