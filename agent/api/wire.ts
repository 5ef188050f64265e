/**
 * The control API's wire format: paths, TypeScript types and the JSON schemas
 * Fastify validates requests and serializes responses with. The agent's routes
 * and the CLI's client both import this file, so the two cannot drift; it
 * imports nothing at run time (types only), so the CLI does not pull in Fastify.
 *
 * Responses list every field as `required`: a route that forgets one fails with
 * RDB_ERR_INTERNAL instead of silently sending a shorter object. Absent values
 * are `null`, never missing. The type-level checks at the end of the file make
 * a field added to a type but not to its schema (or back) a compile error.
 */

import type { EngineStatus, Lsn } from '../engine/driver.ts';
import type { Role } from '../raft/types.ts';
import type { AdminState, HaMode, HistoryRecord, MemberKind, OperationRecord } from '../state/records.ts';

// ---------------------------------------------------------------------------
// Paths

export const API_PATHS = {
  cluster: '/v1/cluster',
  node: '/v1/node',
  history: '/v1/history',
  switchover: '/v1/cluster/switchover',
  failover: '/v1/cluster/failover',
  /** Route pattern; use {@link operationPath} to build a URL. */
  operation: '/v1/operations/:id',
} as const;

export function operationPath(id: string): string {
  return `/v1/operations/${encodeURIComponent(id)}`;
}

/**
 * Load-balancer health checks with Patroni's meanings; open (no token), tiny
 * bodies. `/leader`, `/read-write` and `/master` are aliases of `/primary`.
 */
export const HEALTH_PATHS = {
  primary: ['/primary', '/leader', '/read-write', '/master'],
  replica: ['/replica'],
  readOnly: ['/read-only'],
  health: ['/health'],
  liveness: ['/liveness'],
  readiness: ['/readiness'],
} as const;

// ---------------------------------------------------------------------------
// Types

/** A node's role as the operator (and a load balancer) sees it. */
export type NodeRole = 'primary' | 'replica' | 'witness' | 'stopped' | 'unknown';
export type MemberHealth = 'healthy' | 'unhealthy' | 'unreachable';
export type Consistency = 'linearizable' | 'local';
export type RaftRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** One member of the cluster in `GET /v1/cluster`. */
export interface MemberView {
  id: string;
  kind: MemberKind;
  role: NodeRole;
  adminState: AdminState;
  health: MemberHealth;
  timeline: number | null;
  flushLsn: Lsn | null;
  replayLsn: Lsn | null;
  /** Bytes behind the primary's flush position (null on the primary, or unknown). */
  lagBytes: number | null;
  lagMs: number | null;
  /** PostgreSQL version the member's engine runs, from `SHOW server_version` in short form ("15.18"); null for a witness or a stopped engine. */
  release: string | null;
  region: string;
  apiUrl: string;
  /** Where the engine accepts clients, "host:port"; null for a witness. */
  pg: string | null;
  /** Seconds the member's engine has been running; null when it is not (or for a witness). */
  uptimeS: number | null;
}

/** `GET /v1/cluster`. */
export interface ClusterView {
  name: string;
  id: string;
  /** Epoch of the current primary record; 0 before the first primary. */
  epoch: number;
  /** Node named by the primary record. */
  primary: string | null;
  /** Raft leader as this node knows it. */
  leader: string | null;
  quorum: { voters: number; healthy: number; hasQuorum: boolean };
  haMode: HaMode;
  durability: 'strict' | 'available';
  /** How the view was read: `local` may be stale by up to `staleMs`. */
  consistency: Consistency;
  /** Upper bound of staleness for a `local` read (null: linearizable, or unknown). */
  staleMs: number | null;
  /** Is there a primary that accepts writes right now? */
  writable: boolean;
  /** Why there is no writable primary, or why its writes wait, in words (null when all is well). */
  problem: string | null;
  members: MemberView[];
}

/** `GET /v1/node`: this node as a member, plus its engine and Raft state. */
export interface NodeView extends MemberView {
  engine: EngineStatus;
  raft: { term: number; role: RaftRole; leader: string | null; commit: number; applied: number };
  /** The operator stopped the engine (`node stop`); it stays stopped until `node start`. */
  engineHeld: boolean;
  /** A long action's progress (a clone: bytes done of total), null when none runs. */
  progress: { step: string; done: number; total: number } | null;
  /** What the HA loop decided last, in words. */
  decision: string | null;
}

/** `GET /v1/history`: failovers and switchovers, newest first. */
export interface HistoryView {
  history: HistoryRecord[];
}

/** `GET /v1/operations/:id`, and the 202 answer of switchover/failover. */
export type OperationView = OperationRecord;

/** Body of every health check answer to GET (HEAD and OPTIONS have none). */
export interface HealthBody {
  role: NodeRole;
  state: 'running' | 'stopped';
}

/** `POST /v1/cluster/switchover`: planned, zero-loss; no `to` lets the leader pick. */
export interface SwitchoverRequest {
  to?: string;
  /** Idempotency key: a retry with the same id returns the first operation. */
  request_id?: string;
}

/** `POST /v1/cluster/failover`: `force` may lose acknowledged writes (operator confirmed). */
export interface FailoverRequestBody {
  to: string;
  force?: boolean;
  request_id?: string;
}

export interface ClusterQuery {
  consistency?: Consistency;
}
export interface HistoryQuery {
  limit?: number;
}
/** `/replica` and `/read-only`: Patroni's `?lag=` (bytes, or 16kB, 10MB, 1GB) and `?replication_state=streaming`. */
export interface ReplicaHealthQuery {
  lag?: string;
  replication_state?: 'streaming';
}
/** `/readiness`: Patroni's `?lag=` applies to a replica. */
export interface ReadinessQuery {
  lag?: string;
}

export type ApiErrorCode =
  | 'RDB_ERR_INVALID'
  | 'RDB_ERR_TOO_LARGE'
  | 'RDB_ERR_UNAUTHORIZED'
  | 'RDB_ERR_FORBIDDEN'
  | 'RDB_ERR_NOT_FOUND'
  | 'RDB_ERR_CONFLICT'
  | 'RDB_ERR_PRECONDITION'
  | 'RDB_ERR_RATE_LIMITED'
  | 'RDB_ERR_NO_QUORUM'
  | 'RDB_ERR_UNAVAILABLE'
  | 'RDB_ERR_INTERNAL';

/** Body of every non-2xx JSON answer of the control API. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: Record<string, unknown> };
}

// ---------------------------------------------------------------------------
// Enumerations (checked against the record types at the end of the file)

export const API_ERROR_CODES = [
  'RDB_ERR_INVALID',
  'RDB_ERR_TOO_LARGE',
  'RDB_ERR_UNAUTHORIZED',
  'RDB_ERR_FORBIDDEN',
  'RDB_ERR_NOT_FOUND',
  'RDB_ERR_CONFLICT',
  'RDB_ERR_PRECONDITION',
  'RDB_ERR_RATE_LIMITED',
  'RDB_ERR_NO_QUORUM',
  'RDB_ERR_UNAVAILABLE',
  'RDB_ERR_INTERNAL',
] as const;
const NODE_ROLES = ['primary', 'replica', 'witness', 'stopped', 'unknown'] as const;
const MEMBER_KINDS = ['voter', 'observer', 'witness'] as const;
const ADMIN_STATES = ['active', 'joining', 'draining', 'drained', 'fenced', 'upgrading', 'removed'] as const;
const MEMBER_HEALTH = ['healthy', 'unhealthy', 'unreachable'] as const;
const HA_MODES = ['active_active', 'active_passive'] as const;
const RAFT_ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;
const OPERATION_KINDS = ['switchover', 'failover', 'drain', 'reinit', 'force-quorum', 'upgrade'] as const;
const OPERATION_STATES = ['pending', 'running', 'succeeded', 'failed'] as const;
const CONSISTENCIES = ['linearizable', 'local'] as const;

// ---------------------------------------------------------------------------
// Schemas

const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const int = { type: 'integer' } as const;
const intOrNull = { type: ['integer', 'null'] } as const;
const num = { type: 'number' } as const;
const numOrNull = { type: ['number', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const anyObject = { type: 'object', additionalProperties: true } as const;

/** An object schema whose every property is required and nothing else is allowed. */
function closed<P extends Record<string, object>>(properties: P) {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties } as const;
}

export const memberViewSchema = closed({
  id: str,
  kind: { enum: MEMBER_KINDS },
  role: { enum: NODE_ROLES },
  adminState: { enum: ADMIN_STATES },
  health: { enum: MEMBER_HEALTH },
  timeline: intOrNull,
  flushLsn: strOrNull,
  replayLsn: strOrNull,
  lagBytes: numOrNull,
  lagMs: numOrNull,
  release: strOrNull,
  region: str,
  apiUrl: str,
  pg: strOrNull,
  uptimeS: numOrNull,
});

export const clusterViewSchema = closed({
  name: str,
  id: str,
  epoch: int,
  primary: strOrNull,
  leader: strOrNull,
  quorum: closed({ voters: int, healthy: int, hasQuorum: bool }),
  haMode: { enum: HA_MODES },
  durability: { enum: ['strict', 'available'] },
  consistency: { enum: CONSISTENCIES },
  staleMs: numOrNull,
  writable: bool,
  problem: strOrNull,
  members: { type: 'array', items: memberViewSchema },
});

export const replicaStatusSchema = closed({
  nodeId: str,
  state: str,
  syncState: str,
  flushLsn: strOrNull,
  replayLsn: strOrNull,
  lagBytes: numOrNull,
  lagMs: numOrNull,
});

export const engineStatusSchema = closed({
  running: bool,
  inRecovery: bool,
  timeline: intOrNull,
  flushLsn: strOrNull,
  replayLsn: strOrNull,
  streamingFrom: strOrNull,
  following: strOrNull,
  version: strOrNull,
  syncStandbyNames: strOrNull,
  replicas: { type: 'array', items: replicaStatusSchema },
  initialized: bool,
  problem: strOrNull,
  startedAt: strOrNull,
});

export const raftViewSchema = closed({ term: int, role: { enum: RAFT_ROLES }, leader: strOrNull, commit: int, applied: int });

export const nodeViewSchema = closed({
  ...memberViewSchema.properties,
  engine: engineStatusSchema,
  raft: raftViewSchema,
  engineHeld: bool,
  progress: { anyOf: [{ type: 'null' }, closed({ step: str, done: num, total: num })] },
  decision: strOrNull,
});

export const historyRecordSchema = closed({
  epoch: int,
  from: strOrNull,
  to: str,
  reason: str,
  at: str,
  lsns: { type: 'object', additionalProperties: strOrNull },
});

export const historyViewSchema = closed({ history: { type: 'array', items: historyRecordSchema } });

export const operationSchema = closed({
  id: str,
  kind: { enum: OPERATION_KINDS },
  state: { enum: OPERATION_STATES },
  message: str,
  startedAt: str,
  finishedAt: strOrNull,
  result: { type: ['object', 'null'], additionalProperties: true },
});

export const healthBodySchema = closed({ role: { enum: NODE_ROLES }, state: { enum: ['running', 'stopped'] } });

export const errorBodySchema = closed({
  error: {
    type: 'object',
    additionalProperties: false,
    required: ['code', 'message'],
    properties: { code: { enum: API_ERROR_CODES }, message: str, details: anyObject },
  },
});

// Requests: closed objects, optional fields. `additionalProperties: false` makes an
// unknown field a 400 naming it (the app turns off Ajv's removeAdditional).
const nodeId = { type: 'string', minLength: 1, maxLength: 253 } as const;
const requestId = {
  type: 'string',
  minLength: 1,
  maxLength: 128,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'printable ASCII without spaces, e.g. a UUID',
} as const;
/** Bytes, or a PostgreSQL-style size: 16kB, 10MB, 1GB (units of 1024, case-insensitive). */
export const BYTE_SIZE_PATTERN = '^\\s*[0-9]+(\\.[0-9]+)?\\s*([kKmMgGtT]?[bB])?\\s*$';
const byteSize = { type: 'string', pattern: BYTE_SIZE_PATTERN, description: 'a byte count or a size such as 16kB, 10MB, 1GB' } as const;

export const switchoverBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { to: nodeId, request_id: requestId },
} as const;

export const failoverBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['to'],
  properties: { to: nodeId, force: bool, request_id: requestId },
} as const;

export const clusterQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { consistency: { enum: CONSISTENCIES, default: 'linearizable' } },
} as const;

export const HISTORY_DEFAULT_LIMIT = 100;
export const HISTORY_MAX_LIMIT = 1000;
export const historyQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: HISTORY_MAX_LIMIT, default: HISTORY_DEFAULT_LIMIT } },
} as const;

export const operationParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

export const replicaHealthQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { lag: byteSize, replication_state: { enum: ['streaming'] } },
} as const;

export const readinessQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { lag: byteSize },
} as const;

/** For health routes that take no parameters: any query parameter is a 400 naming it. */
export const noQuerySchema = { type: 'object', additionalProperties: false, properties: {} } as const;

// ---------------------------------------------------------------------------
// Drift checks: each line fails to compile when a type and its schema (or an
// enumeration and its union) list different names.

/** Drift-check helpers, shared by every wire file: `Check<Same<Props<typeof schema>, keyof Type>>`. */
export type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type Check<T extends true> = T;
export type Props<S> = S extends { properties: infer P } ? keyof P : never;

export type WireDriftChecks = [
  Check<Same<Props<typeof memberViewSchema>, keyof MemberView>>,
  Check<Same<Props<typeof clusterViewSchema>, keyof ClusterView>>,
  Check<Same<Props<typeof clusterViewSchema.properties.quorum>, keyof ClusterView['quorum']>>,
  Check<Same<Props<typeof nodeViewSchema>, keyof NodeView>>,
  // `unresponsive` is the HA loop's own (the view shows `problem` instead).
  Check<Same<Props<typeof engineStatusSchema>, Exclude<keyof EngineStatus, 'unresponsive'>>>,
  Check<Same<Props<typeof replicaStatusSchema>, keyof EngineStatus['replicas'][number]>>,
  Check<Same<Props<typeof raftViewSchema>, keyof NodeView['raft']>>,
  Check<Same<Props<typeof historyRecordSchema>, keyof HistoryRecord>>,
  Check<Same<Props<typeof historyViewSchema>, keyof HistoryView>>,
  Check<Same<Props<typeof operationSchema>, keyof OperationRecord>>,
  Check<Same<Props<typeof healthBodySchema>, keyof HealthBody>>,
  Check<Same<Props<typeof switchoverBodySchema>, keyof SwitchoverRequest>>,
  Check<Same<Props<typeof failoverBodySchema>, keyof FailoverRequestBody>>,
  Check<Same<Props<typeof clusterQuerySchema>, keyof ClusterQuery>>,
  Check<Same<Props<typeof historyQuerySchema>, keyof HistoryQuery>>,
  Check<Same<Props<typeof replicaHealthQuerySchema>, keyof ReplicaHealthQuery>>,
  Check<Same<Props<typeof readinessQuerySchema>, keyof ReadinessQuery>>,
  Check<Same<(typeof API_ERROR_CODES)[number], ApiErrorCode>>,
  Check<Same<(typeof NODE_ROLES)[number], NodeRole>>,
  Check<Same<(typeof MEMBER_KINDS)[number], MemberKind>>,
  Check<Same<(typeof ADMIN_STATES)[number], AdminState>>,
  Check<Same<(typeof MEMBER_HEALTH)[number], MemberHealth>>,
  Check<Same<(typeof HA_MODES)[number], HaMode>>,
  Check<Same<(typeof RAFT_ROLES)[number], RaftRole>>,
  Check<Same<RaftRole, Role>>,
  Check<Same<(typeof OPERATION_KINDS)[number], OperationRecord['kind']>>,
  Check<Same<(typeof OPERATION_STATES)[number], OperationRecord['state']>>,
  Check<Same<(typeof CONSISTENCIES)[number], Consistency>>,
];

// ---------------------------------------------------------------------------
// Runtime config and cluster health (`config show|get|set`, `cluster health`).
// Kept in one section: the key table itself is agent/api/config-keys.ts.

export const CONFIG_API_PATHS = {
  config: '/v1/config',
  /** Route pattern; use {@link configKeyPath} to build a URL. */
  configKey: '/v1/config/:key',
  clusterHealth: '/v1/cluster/health',
} as const;

export function configKeyPath(key: string): string {
  return `/v1/config/${encodeURIComponent(key)}`;
}

/**
 * Where a knob's value comes from: `cluster` the replicated config record
 * (changed by `config set`), `default` not in the record (the built-in
 * default), `built-in` fixed by the agent, `rustydb.conf` the `[cluster.raft]`
 * of the node named by `ConfigView.raftFrom`.
 */
export type ConfigSource = 'cluster' | 'default' | 'built-in' | 'rustydb.conf';
/** A knob's value: a word, a number of milliseconds or a count, or a boolean. */
export type ConfigValueView = string | number | boolean;

export interface ConfigEntryView {
  key: string;
  value: ConfigValueView;
  source: ConfigSource;
  /** Can `config set` (PUT /v1/config/:key) change it? */
  settable: boolean;
  /** What values are allowed, in words. */
  allowed: string;
  description: string;
}

/** `GET /v1/config`: every runtime knob, in a fixed order. */
export interface ConfigView {
  /** Version of the replicated config record the values were read at (0: not written yet). */
  version: number;
  /** The node whose [cluster.raft] gave the read-only Raft timings (the leader when it answered). */
  raftFrom: string;
  keys: ConfigEntryView[];
}

/** `PUT /v1/config/:key`: the new value, typed or as a string ("5000", "true", "auto"). */
export interface ConfigSetBody {
  value: ConfigValueView;
}

/** Answer of `PUT /v1/config/:key`. */
export interface ConfigSetView {
  key: string;
  previous: ConfigValueView;
  value: ConfigValueView;
  /** False when the knob had this value already (nothing was written). */
  changed: boolean;
  config: ConfigView;
}

export type HealthComponentName = 'agent' | 'engine' | 'role' | 'replication' | 'lag' | 'raft' | 'lease' | 'admin';
export type NodeHealthStatus = 'healthy' | 'degraded' | 'unhealthy';

/** One part of a node's health score. Components that do not apply to the node (e.g. lag on the primary) are left out. */
export interface HealthComponentView {
  name: HealthComponentName;
  /** Share of the score this component carries, before normalising over the components listed. */
  weight: number;
  /** 0 (failing or unknown) to 1 (fine). */
  value: number;
  /** weight × value. */
  points: number;
  /** What was seen, in one sentence. */
  detail: string;
}

export interface NodeHealthView {
  id: string;
  kind: MemberKind;
  role: NodeRole;
  /** 0–100: the points of the components listed over their weights. */
  score: number;
  status: NodeHealthStatus;
  components: HealthComponentView[];
  /** The details of the components below 1, worst first: why the score is not 100. */
  problems: string[];
}

/** `GET /v1/cluster/health`: a health score per member, computed by the agent that was asked. */
export interface ClusterHealthView {
  name: string;
  epoch: number;
  primary: string | null;
  leader: string | null;
  /** The agent that computed the scores. */
  computedBy: string;
  /** The Raft leader whose progress gave the `raft` components (null: no leader answered). */
  raftFrom: string | null;
  nodes: NodeHealthView[];
}

const CONFIG_SOURCES = ['cluster', 'default', 'built-in', 'rustydb.conf'] as const;
const HEALTH_COMPONENTS = ['agent', 'engine', 'role', 'replication', 'lag', 'raft', 'lease', 'admin'] as const;
const NODE_HEALTH_STATUSES = ['healthy', 'degraded', 'unhealthy'] as const;
const configValue = { type: ['string', 'number', 'boolean'] } as const;

export const configEntrySchema = closed({
  key: str,
  value: configValue,
  source: { enum: CONFIG_SOURCES },
  settable: bool,
  allowed: str,
  description: str,
});

export const configViewSchema = closed({ version: int, raftFrom: str, keys: { type: 'array', items: configEntrySchema } });

export const configSetBodySchema = {
  type: 'object',
  additionalProperties: false,
  required: ['value'],
  properties: { value: { ...configValue, description: 'a string, number or boolean' } },
} as const;

/** The key is checked by the route (unknown keys get "did you mean"), not by an enum here. */
export const configKeyParamsSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: { key: { type: 'string', minLength: 1, maxLength: 128 } },
} as const;

export const configSetViewSchema = closed({ key: str, previous: configValue, value: configValue, changed: bool, config: configViewSchema });

export const healthComponentSchema = closed({ name: { enum: HEALTH_COMPONENTS }, weight: num, value: num, points: num, detail: str });

export const nodeHealthSchema = closed({
  id: str,
  kind: { enum: MEMBER_KINDS },
  role: { enum: NODE_ROLES },
  score: int,
  status: { enum: NODE_HEALTH_STATUSES },
  components: { type: 'array', items: healthComponentSchema },
  problems: { type: 'array', items: str },
});

export const clusterHealthSchema = closed({
  name: str,
  epoch: int,
  primary: strOrNull,
  leader: strOrNull,
  computedBy: str,
  raftFrom: strOrNull,
  nodes: { type: 'array', items: nodeHealthSchema },
});

export type ConfigHealthDriftChecks = [
  Check<Same<Props<typeof configEntrySchema>, keyof ConfigEntryView>>,
  Check<Same<Props<typeof configViewSchema>, keyof ConfigView>>,
  Check<Same<Props<typeof configSetBodySchema>, keyof ConfigSetBody>>,
  Check<Same<Props<typeof configSetViewSchema>, keyof ConfigSetView>>,
  Check<Same<Props<typeof healthComponentSchema>, keyof HealthComponentView>>,
  Check<Same<Props<typeof nodeHealthSchema>, keyof NodeHealthView>>,
  Check<Same<Props<typeof clusterHealthSchema>, keyof ClusterHealthView>>,
  Check<Same<(typeof CONFIG_SOURCES)[number], ConfigSource>>,
  Check<Same<(typeof HEALTH_COMPONENTS)[number], HealthComponentName>>,
  Check<Same<(typeof NODE_HEALTH_STATUSES)[number], NodeHealthStatus>>,
];
