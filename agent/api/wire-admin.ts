/**
 * Wire format of the operator's member and node procedures (join, remove,
 * fence, drain, stop/start, reinit): paths, request/response types and their
 * JSON schemas, shared by the agent's admin routes and the CLI. Like wire.ts it
 * imports nothing at run time.
 *
 * `/v1/members/...` routes act on the cluster (any agent takes them; membership
 * changes answer 307 to the Raft leader). `/v1/node/...` routes act on the agent
 * that receives them: the CLI sends them to the node's own API URL.
 */

import type { AdminState, MemberKind, MemberRecord } from '../state/records.ts';
import type { RaftRole } from './wire.ts';

export const ADMIN_PATHS = {
  members: '/v1/members',
  /** Route patterns; use {@link memberPath} to build URLs. */
  member: '/v1/members/:id',
  promote: '/v1/members/:id/promote',
  fence: '/v1/members/:id/fence',
  unfence: '/v1/members/:id/unfence',
  undrain: '/v1/members/:id/undrain',
  nodeDrain: '/v1/node/drain',
  nodeStop: '/v1/node/stop',
  nodeStart: '/v1/node/start',
  nodeReinit: '/v1/node/reinit',
  nodeJoin: '/v1/node/join',
} as const;

export type MemberAction = 'promote' | 'fence' | 'unfence' | 'undrain';

export function memberPath(id: string, action?: MemberAction): string {
  return `/v1/members/${encodeURIComponent(id)}${action ? `/${action}` : ''}`;
}

/** `POST /v1/members`: add a node as a learner (`joining`). */
export interface AddMemberBody {
  id: string;
  kind: MemberKind;
  api_url: string;
  /** "host:port" of its engine; null for a witness. */
  pg: string | null;
  region?: string;
  /** The cluster name the node was initialized for. */
  cluster: string;
  /** PEM certificate request for the node's key (TLS clusters): the leader signs it once the join token checks out. */
  csr?: string;
}

/** Answer of member routes. */
export interface MemberAnswer {
  member: MemberRecord;
  /** `POST /v1/members` only: false when the member already existed (a repeated join). */
  created?: boolean;
  /** `POST /v1/members` with a CSR: the node's certificate and the cluster CA (PEM). */
  cert?: string;
  ca?: string;
  /** `POST /v1/members` with a CSR: the other members' API URLs, for the joining node's Raft transport. */
  peers?: Record<string, string>;
}

export interface DrainBody {
  timeout_ms?: number;
  /** Terminate sessions left at the timeout (default true). */
  terminate?: boolean;
}

export interface StopBody {
  /** Stop even the primary (the cluster then fails over). */
  force?: boolean;
  timeout_ms?: number;
}

export interface StartBody {
  timeout_ms?: number;
}

export interface JoinBody {
  cluster_address: string;
  kind?: MemberKind;
}

/** `POST /v1/node/stop` and `/v1/node/start`. */
export interface EngineAnswerView {
  node: string;
  running: boolean;
  held: boolean;
  adminState: AdminState | null;
  message: string;
}

// ---------------------------------------------------------------------------
// Schemas

const MEMBER_KINDS = ['voter', 'observer', 'witness'] as const;
const ADMIN_STATES = ['active', 'joining', 'draining', 'drained', 'fenced', 'upgrading', 'removed'] as const;
const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const bool = { type: 'boolean' } as const;
const NODE_ID = { type: 'string', pattern: '^[a-z][a-z0-9_-]{0,62}$' } as const;
const timeoutMs = { type: 'integer', minimum: 100, maximum: 86_400_000 } as const;

function closed<P extends Record<string, object>>(properties: P, required: string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, required, properties } as const;
}

export const memberRecordSchema = closed({
  id: str,
  kind: { enum: MEMBER_KINDS },
  apiUrl: str,
  pgHost: strOrNull,
  pgPort: { type: ['integer', 'null'] },
  region: str,
  weight: { type: 'number' },
  tags: { type: 'array', items: str },
  adminState: { enum: ADMIN_STATES },
});

export const memberAnswerSchema = closed(
  { member: memberRecordSchema, created: bool, cert: str, ca: str, peers: { type: 'object', additionalProperties: str } },
  ['member'],
);
export const memberParamsSchema = closed({ id: NODE_ID });

export const addMemberBodySchema = closed(
  {
    id: NODE_ID,
    kind: { enum: MEMBER_KINDS },
    api_url: { type: 'string', pattern: '^https?://', maxLength: 300 },
    pg: { type: ['string', 'null'], pattern: '^[^\\s]+:[0-9]{1,5}$', maxLength: 300 },
    region: { type: 'string', maxLength: 100 },
    cluster: { type: 'string', maxLength: 100 },
    csr: { type: 'string', maxLength: 8192 },
  },
  ['id', 'kind', 'api_url', 'pg', 'cluster'],
);

export const drainBodySchema = closed({ timeout_ms: timeoutMs, terminate: bool }, []);
export const stopBodySchema = closed({ force: bool, timeout_ms: timeoutMs }, []);
export const startBodySchema = closed({ timeout_ms: timeoutMs }, []);
export const joinBodySchema = closed({ cluster_address: { type: 'string', minLength: 1, maxLength: 300 }, kind: { enum: MEMBER_KINDS } }, ['cluster_address']);

export const engineAnswerSchema = closed({ node: str, running: bool, held: bool, adminState: { anyOf: [{ type: 'null' }, { enum: ADMIN_STATES }] }, message: str });

// ---------------------------------------------------------------------------
// PKI: the cluster CA (open), join tokens and certificate rotation (admin).

export const PKI_PATHS = {
  /** Open (no token): the CA certificate, which a joining node pins by the fingerprint in its join token. */
  ca: '/v1/pki/ca',
  joinTokens: '/v1/join-tokens',
  rotateCerts: '/v1/cluster/rotate-certs',
} as const;

export const JOIN_TOKEN_ROLES = ['follower', 'observer', 'witness'] as const;

/** `GET /v1/pki/ca`. */
export interface CaAnswer {
  ca: string;
  /** sha256 of the DER, hex. */
  fingerprint: string;
}

/** `POST /v1/join-tokens`. */
export interface JoinTokenBody {
  role?: (typeof JOIN_TOKEN_ROLES)[number];
  /** Lifetime; default 3600. */
  ttl_seconds?: number;
}

/** The token is shown once: the cluster keeps only its hash. */
export interface JoinTokenAnswer {
  token: string;
  id: string;
  role: (typeof JOIN_TOKEN_ROLES)[number];
  expiresAt: string;
}

/** `POST /v1/cluster/rotate-certs`: one entry per member. */
export interface RotateCertsAnswer {
  nodes: { node: string; ok: boolean; fingerprint?: string; notAfter?: string; error?: string }[];
}

export const caAnswerSchema = closed({ ca: str, fingerprint: str });
export const joinTokenBodySchema = closed({ role: { enum: JOIN_TOKEN_ROLES }, ttl_seconds: { type: 'integer', minimum: 1, maximum: 7 * 24 * 3600 } }, []);
export const joinTokenAnswerSchema = closed({ token: str, id: str, role: { enum: JOIN_TOKEN_ROLES }, expiresAt: str });
export const rotateCertsAnswerSchema = closed({
  nodes: { type: 'array', items: closed({ node: str, ok: bool, fingerprint: str, notAfter: str, error: str }, ['node', 'ok']) },
});

// ---------------------------------------------------------------------------
// Force-quorum (`cluster force-quorum`): disaster recovery after a majority of
// voters is lost for good. Both routes act on the agent that receives them.

export const FORCE_QUORUM_PATHS = {
  /** Where this node's Raft log and engine WAL end: cheap, local, no quorum needed. */
  position: '/v1/node/position',
  /** Run on the survivor with the most up-to-date Raft log (the CLI picks it). */
  forceQuorum: '/v1/node/force-quorum',
  /** The same answer as `position`, as a peer route (agent to agent, no token, like /internal/v1/*). */
  peerPosition: '/internal/v1/position',
} as const;

/** `GET /v1/node/position`: what the operator compares survivors by. */
export interface NodePositionView {
  node: string;
  kind: MemberKind;
  /** The cluster this agent was configured for. */
  clusterName: string;
  /** `RaftNode.logPosition()`, plus the node's role and its latest (possibly uncommitted) configuration. */
  raft: { lastIndex: number; lastTerm: number; term: number; role: RaftRole; leader: string | null; voters: string[]; learners: string[] };
  /** The engine as the HA loop last saw it; `flushLsn` is null when it is not running. */
  engine: { running: boolean; inRecovery: boolean; initialized: boolean; flushLsn: string | null; timeline: number | null };
  /** The last primary record this node saw (null: none yet). */
  epoch: number | null;
  primary: string | null;
}

/** `POST /v1/node/force-quorum`: the plan the operator confirmed; the agent re-checks every part of it. */
export interface ForceQuorumBody {
  /** The cluster name (the operator typed it): a request that reached another cluster's agent is refused. */
  cluster: string;
  /** The surviving voters (and witnesses): the whole new voter set, the receiving node among them. */
  voters: string[];
  /** The voters being dropped, as the operator saw them. */
  dropped: string[];
  /** The survivor the plan makes primary. */
  primary: string;
  /** Idempotency key: a retry with the same id finishes or returns the first run; never forces twice. */
  request_id: string;
}

const RAFT_ROLES = ['follower', 'pre-candidate', 'candidate', 'leader'] as const;
const int = { type: 'integer' } as const;
const ids = { type: 'array', items: str } as const;

export const nodePositionSchema = closed({
  node: str,
  kind: { enum: MEMBER_KINDS },
  clusterName: str,
  raft: closed({ lastIndex: int, lastTerm: int, term: int, role: { enum: RAFT_ROLES }, leader: strOrNull, voters: ids, learners: ids }),
  engine: closed({ running: bool, inRecovery: bool, initialized: bool, flushLsn: strOrNull, timeline: { type: ['integer', 'null'] } }),
  epoch: { type: ['integer', 'null'] },
  primary: strOrNull,
});

export const forceQuorumBodySchema = closed({
  cluster: { type: 'string', minLength: 1, maxLength: 100 },
  voters: { type: 'array', items: NODE_ID, minItems: 1, maxItems: 100, uniqueItems: true },
  dropped: { type: 'array', items: NODE_ID, minItems: 1, maxItems: 100, uniqueItems: true },
  primary: NODE_ID,
  request_id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,100}$', description: '1 to 100 letters, digits, _ or -' },
});

type SameKeys<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type KeysOf<S> = S extends { properties: infer P } ? keyof P : never;
type Must<T extends true> = T;
/** Fails to compile when a force-quorum type and its schema list different fields. */
export type ForceQuorumDriftChecks = [
  Must<SameKeys<KeysOf<typeof nodePositionSchema>, keyof NodePositionView>>,
  Must<SameKeys<KeysOf<typeof nodePositionSchema.properties.raft>, keyof NodePositionView['raft']>>,
  Must<SameKeys<KeysOf<typeof nodePositionSchema.properties.engine>, keyof NodePositionView['engine']>>,
  Must<SameKeys<KeysOf<typeof forceQuorumBodySchema>, keyof ForceQuorumBody>>,
];

// ---------------------------------------------------------------------------
// node upgrade: a minor upgrade of one node's engine, run by its own agent

export const UPGRADE_PATHS = {
  /** `POST` on the node's own agent: 202 with an `upgrade` operation (Location: /v1/operations/<id>). */
  node: '/v1/node/upgrade',
} as const;

/** `POST /v1/node/upgrade`. */
export interface UpgradeNodeBody {
  /** A release name of the node's `[engine.releases]`, e.g. "15.18". */
  version: string;
  /** How long the new release may take to stream and catch up (default 300 000). */
  timeout_ms?: number;
  /**
   * The operation id to use (`upgrade-...`), chosen by the caller so it can
   * journal it before asking: a known id answers with that operation and
   * starts nothing (a retried request upgrades once).
   */
  operation_id?: string;
}

/**
 * `result` of an `upgrade` operation once it has ended. `from`/`to` are the
 * short server versions ("15.17"), `release` the release name asked for.
 * `rolledBack`: the new release did not start, and the node runs its previous
 * one again (the operation then failed).
 */
export interface UpgradeNodeResult {
  node: string;
  from: string | null;
  to: string;
  release: string;
  durationMs: number;
  rolledBack: boolean;
}

export const upgradeNodeBodySchema = closed(
  {
    version: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$', description: 'a release name of [engine.releases], e.g. 15.18' },
    timeout_ms: timeoutMs,
    operation_id: { type: 'string', pattern: '^upgrade-[A-Za-z0-9._-]{1,120}$', description: 'upgrade-<node>-<random>: the id of the operation to start (or to return, if it exists)' },
  },
  ['version'],
);

/** Fails to compile when the upgrade body type and its schema list different fields. */
export type UpgradeDriftChecks = [Must<SameKeys<KeysOf<typeof upgradeNodeBodySchema>, keyof UpgradeNodeBody>>];
