/**
 * The replicated cluster state: which keys of the Raft key-value store hold
 * what. This is the only file that knows the key layout; the HA code, the API
 * and the CLI read and write typed records through `ClusterState`.
 *
 * Every record is JSON. Compare-and-set uses the per-key `version` of the
 * store (0 = absent), so "create if absent" and "replace the one I read" are
 * single atomic Raft commands.
 */

export const KEY = {
  identity: '/rustydb/cluster',
  config: '/rustydb/config',
  primary: '/rustydb/primary',
  memberPrefix: '/rustydb/members/',
  member: (id: string) => `/rustydb/members/${id}`,
  historyPrefix: '/rustydb/history/',
  /** Zero-padded so that keys sort by epoch. */
  history: (epoch: number) => `/rustydb/history/${String(epoch).padStart(12, '0')}`,
  /** An operator's request for a switchover/failover: the API records it, the leader's HA loop acts on it. */
  failoverRequest: '/rustydb/failover-request',
  operationPrefix: '/rustydb/operations/',
  operation: (id: string) => `/rustydb/operations/${id}`,
  /** The rolling-upgrade journal (agent/upgrade-journal.ts): at most one upgrade runs at a time. */
  upgradeProcedure: '/rustydb/procedures/upgrade',
} as const;

export const FORMAT_VERSION = 1;

export interface ClusterIdentity {
  name: string;
  id: string;
  createdAt: string; // ISO time
  formatVersion: number;
}

export type MemberKind = 'voter' | 'observer' | 'witness';
/**
 * What the operator made of a member. `joining`: added as a Raft learner, cloning and catching up
 * (`cluster join` promotes it). `draining`/`drained`: no new client traffic (health checks 503).
 * `fenced`: its engine is stopped and it can never be promoted until unfenced. `removed`: a
 * tombstone kept so the node can still be found (e.g. to stop its engine) after `cluster remove`.
 */
export type AdminState = 'active' | 'joining' | 'draining' | 'drained' | 'fenced' | 'upgrading' | 'removed';

export interface MemberRecord {
  id: string;
  kind: MemberKind;
  /** The agent's control API, e.g. http://127.0.0.1:5433 */
  apiUrl: string;
  /** Where the engine accepts clients and replication (absent for a witness). */
  pgHost: string | null;
  pgPort: number | null;
  region: string;
  weight: number;
  tags: string[]; // 'nofailover', 'noloadbalance'
  adminState: AdminState;
}

export type HaMode = 'active_active' | 'active_passive';

/** Cluster-wide HA settings, versioned by the store. */
export interface ClusterConfigRecord {
  haMode: HaMode;
  autoFailover: boolean;
  /** Standbys that must confirm a commit; derived from haMode unless set. */
  minQuorumSize: number | null;
  /** How long the primary may be unhealthy before an automatic failover. */
  failoverTimeoutMs: number;
  /** A primary that cannot confirm its record for this long stops accepting writes. */
  leaseMs: number;
  /**
   * 'strict': writes block when too few synchronous standbys are up (no acknowledged
   * write is ever lost). 'available': the primary drops to fewer/no synchronous
   * standbys to keep accepting writes, and the status says so.
   */
  durability: 'strict' | 'available';
  /**
   * false: standbys' /replica and /read-only health checks answer 503, so routers
   * send reads to the primary. Absent (records written before the key existed): true.
   */
  readFromFollowers?: boolean;
}

/** The primary record: who may accept writes, in which epoch. Changes only by compare-and-set. */
export interface PrimaryRecord {
  node: string;
  epoch: number;
  since: string; // ISO time
  reason: string;
  /** The synchronous standby set the primary runs with: a commit waits for `k` of `standbys`. */
  sync: { k: number; standbys: string[] };
}

export interface HistoryRecord {
  epoch: number;
  from: string | null;
  to: string;
  reason: string;
  at: string;
  /** Flushed LSN of each candidate compared, and of the old primary when known. */
  lsns: Record<string, string | null>;
}

export interface FailoverRequest {
  requestId: string;
  /** Target node; null lets the leader pick the best candidate. */
  to: string | null;
  /** Emergency failover that may lose data (operator confirmed). */
  force: boolean;
  /** The primary this request was made against: a stale request is ignored. */
  fromEpoch: number;
  requestedAt: string;
}

export type OperationState = 'pending' | 'running' | 'succeeded' | 'failed';

export interface OperationRecord {
  id: string;
  kind: 'switchover' | 'failover' | 'drain' | 'reinit' | 'force-quorum' | 'upgrade';
  state: OperationState;
  message: string;
  startedAt: string;
  finishedAt: string | null;
  result: Record<string, unknown> | null;
}
