/**
 * A control API wired as the agent wires it (authenticate, authorize, audit,
 * token routes, admin, force-quorum and PKI routes) over fakes that answer
 * with schema-valid values, plus an in-memory replicated store and one token
 * per role. For the auth, hardening and fuzz unit tests.
 */

import type { FastifyInstance } from 'fastify';
import type { AdminDeps } from '../../../agent/admin.ts';
import { buildApp, type BuildAppOptions } from '../../../agent/api/app.ts';
import type { ApiDeps, HealthSnapshot } from '../../../agent/api/deps.ts';
import { ApiError } from '../../../agent/api/errors.ts';
import type { ClusterView, ConfigSetView, ConfigView, MemberView, NodeView } from '../../../agent/api/wire.ts';
import type { NodePositionView } from '../../../agent/api/wire-admin.ts';
import type { ForceQuorumDeps } from '../../../agent/procedures/force-quorum.ts';
import type { KvRecord, KvWriteResult } from '../../../agent/raft/kv.ts';
import type { ClusterStore, ReadOptions, WriteOptions } from '../../../agent/raft/store.ts';
import { AuditLog } from '../../../agent/security/audit.ts';
import { makeAuth, type AuthRateLimit } from '../../../agent/security/auth.ts';
import type { NodeCerts } from '../../../agent/security/node-certs.ts';
import { createToken, tokenKey, type Role } from '../../../agent/security/tokens.ts';
import type { RouteRule } from '../../../agent/security/roles.ts';
import type { ClusterState } from '../../../agent/state/cluster-state.ts';
import type { MemberRecord, OperationRecord } from '../../../agent/state/records.ts';

/** A ClusterStore in memory with etcd-like per-key versions and compare-and-set. */
export class MemoryStore implements ClusterStore {
  readonly data = new Map<string, KvRecord>();
  private index = 0;
  writes = 0;

  async get(key: string, _o?: ReadOptions): Promise<KvRecord | null> {
    return this.data.get(key) ?? null;
  }
  async list(prefix: string, _o?: ReadOptions): Promise<KvRecord[]> {
    return [...this.data.values()].filter((r) => r.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  async put(key: string, value: string, o: WriteOptions = {}): Promise<KvWriteResult> {
    this.writes++;
    const cur = this.data.get(key);
    const version = cur?.version ?? 0;
    if (o.expectVersion !== undefined && o.expectVersion !== version) return { ok: false, version, reason: 'version-mismatch' };
    const idx = ++this.index;
    this.data.set(key, { key, value, version: version + 1, modIndex: idx, createIndex: cur?.createIndex ?? idx });
    return { ok: true, version: version + 1 };
  }
  async delete(key: string, o: WriteOptions = {}): Promise<KvWriteResult> {
    const version = this.data.get(key)?.version ?? 0;
    if (o.expectVersion !== undefined && o.expectVersion !== version) return { ok: false, version, reason: 'version-mismatch' };
    this.data.delete(key);
    return { ok: true, version: 0 };
  }
  leader() {
    return { id: 'n1', term: 1 };
  }
  isLeader() {
    return true;
  }
}

const member: MemberView = {
  id: 'n1', kind: 'voter', role: 'primary', adminState: 'active', health: 'healthy', timeline: 2, flushLsn: '0/3000148', replayLsn: null,
  lagBytes: null, lagMs: null, release: '15.18', region: 'local', apiUrl: 'http://127.0.0.1:5433', pg: '127.0.0.1:5432', uptimeS: 42,
};
const clusterView: ClusterView = {
  name: 'demo', id: 'c-1', epoch: 3, primary: 'n1', leader: 'n1', quorum: { voters: 3, healthy: 3, hasQuorum: true }, haMode: 'active_active',
  durability: 'strict', consistency: 'linearizable', staleMs: null, writable: true, problem: null, members: [member],
};
const nodeView: NodeView = {
  ...member,
  engine: {
    running: true, inRecovery: false, timeline: 2, flushLsn: '0/3000148', replayLsn: null, streamingFrom: null, following: null, version: '15.18',
    syncStandbyNames: '', replicas: [], initialized: true, problem: null, startedAt: null,
  },
  raft: { term: 7, role: 'leader', leader: 'n1', commit: 42, applied: 42 },
  engineHeld: false, progress: null, decision: null,
};
const snap: HealthSnapshot = {
  nodeId: 'n1', role: 'primary', engineRunning: true, writable: true, streaming: false, lagBytes: null, adminState: 'active', tags: [],
  lastCycleAt: 1000, loopIntervalMs: 1000, hasQuorum: true,
};
const configView: ConfigView = { version: 1, raftFrom: 'n1', keys: [] };
const position: NodePositionView = {
  node: 'n1', kind: 'voter', clusterName: 'demo',
  raft: { lastIndex: 10, lastTerm: 2, term: 2, role: 'leader', leader: 'n1', voters: ['n1'], learners: [] },
  engine: { running: true, inRecovery: false, initialized: true, flushLsn: '0/1', timeline: 1 },
  epoch: 1, primary: 'n1',
};

export const op = (kind: OperationRecord['kind'] = 'switchover'): OperationRecord => ({
  id: `${kind}-1`, kind, state: 'pending', message: 'recorded', startedAt: '2025-01-01T00:00:00.000Z', finishedAt: null, result: null,
});
const rec = (id: string): MemberRecord => ({ id, kind: 'voter', apiUrl: 'http://127.0.0.1:5433', pgHost: '127.0.0.1', pgPort: 5432, region: 'local', weight: 1, tags: [], adminState: 'active' });

/** Every method the routes call, answering valid values; `calls` records which ran. */
export function fakeDeps(calls: string[]): { deps: ApiDeps; admin: AdminDeps; forceQuorum: ForceQuorumDeps; pki: { certs: NodeCerts; state: ClusterState } } {
  const log = <T>(name: string, v: T): T => (calls.push(name), v);
  const deps: ApiDeps = {
    nodeId: 'n1',
    now: () => 1500,
    health: () => snap,
    clusterView: async () => log('clusterView', clusterView),
    nodeView: async () => log('nodeView', nodeView),
    history: async () => log('history', []),
    requestFailover: async (r) => log('requestFailover', op(r.planned ? 'switchover' : 'failover')),
    operation: async (id) => log('operation', id === 'switchover-1' ? op() : null),
    config: async () => log('config', configView),
    setConfig: async (key): Promise<ConfigSetView> => log('setConfig', { key, previous: 1, value: 2, changed: true, config: configView }),
    clusterHealth: async () => log('clusterHealth', { name: 'demo', epoch: 3, primary: 'n1', leader: 'n1', computedBy: 'n1', raftFrom: 'n1', nodes: [] }),
  };
  const engine = { node: 'n1', running: true, held: false, adminState: 'active' as const, message: 'ok' };
  const admin: AdminDeps = {
    addMember: async (m) => log('addMember', { member: rec(m.id), created: true }),
    promoteMember: async (id) => log('promoteMember', rec(id)),
    removeMember: async (id) => log('removeMember', { ...rec(id), adminState: 'removed' }),
    member: async (id) => log('member', id === 'n1' ? rec(id) : null),
    fence: async (id) => log('fence', rec(id)),
    unfence: async (id) => log('unfence', rec(id)),
    undrain: async (id) => log('undrain', rec(id)),
    drain: async () => log('drain', op('drain')),
    stopEngine: async () => log('stopEngine', { ...engine, running: false }),
    startEngine: async () => log('startEngine', engine),
    reinit: async () => log('reinit', op('reinit')),
    join: async () => log('join', rec('n4')),
  };
  const forceQuorum: ForceQuorumDeps = { position: () => position, forceQuorum: async () => log('forceQuorum', op('force-quorum')) };
  // The PKI deps refuse everything with a 503: these tests are about the API's gate, not about certificates.
  const unavailable = new Proxy({}, { get: () => () => { throw new ApiError('RDB_ERR_UNAVAILABLE', 'no PKI in this test'); } });
  return { deps, admin, forceQuorum, pki: { certs: unavailable as NodeCerts, state: unavailable as ClusterState } };
}

export interface SecuredApp {
  app: FastifyInstance;
  store: MemoryStore;
  audit: AuditLog;
  /** Plaintext token per role (names: the role itself). */
  tokens: Record<Role, string>;
  calls: string[];
  clock: { now: number };
  bearer(role: Role): { authorization: string };
}

/** The app as main.ts wires it, with an admin, an operator and a read-only token. */
export async function securedApp(o: { rateLimit?: AuthRateLimit; extra?: BuildAppOptions } = {}): Promise<SecuredApp> {
  const store = new MemoryStore();
  const calls: string[] = [];
  const clock = { now: Date.parse('2025-01-01T00:00:00Z') };
  const tokens = {} as Record<Role, string>;
  for (const role of ['admin', 'operator', 'read-only'] as const) {
    const { token, record } = await createToken({ name: role, role, createdBy: 'test' });
    await store.put(tokenKey(record.id), JSON.stringify(record));
    tokens[role] = token;
  }
  const auth = makeAuth({ store, rateLimit: o.rateLimit, now: () => clock.now });
  const audit = new AuditLog({ store, nodeId: 'n1' });
  const { deps, admin, forceQuorum, pki } = fakeDeps(calls);
  const app = buildApp(deps, {
    admin,
    forceQuorum,
    pki,
    authenticate: auth.authenticate,
    authorize: auth.authorize,
    audit: audit.hook,
    tokens: { store, audit },
    procedures: store,
    upgradeNode: { upgrade: async () => (calls.push('upgradeNode'), op('upgrade')) },
    ...o.extra,
  } as BuildAppOptions);
  return { app, store, audit, tokens, calls, clock, bearer: (role) => ({ authorization: `Bearer ${tokens[role]}` }) };
}

/** A concrete URL for a route pattern (ids that the fakes know). */
export function sampleUrl(pattern: string): string {
  return pattern.replace(':id', pattern.startsWith('/v1/operations') ? 'switchover-1' : pattern.startsWith('/v1/tokens') ? 'nobody' : 'n1').replace(':key', 'lease_ms');
}

/** A body each route's schema accepts. */
export function sampleBody(r: Pick<RouteRule, 'method' | 'url'>): unknown {
  const bodies: Record<string, unknown> = {
    'POST /v1/cluster/failover': { to: 'n2', request_id: 'r1' },
    'POST /v1/cluster/switchover': { to: 'n2', request_id: 'r2' },
    'PUT /v1/config/:key': { value: 2000 },
    'POST /v1/members': { id: 'n4', kind: 'voter', api_url: 'http://127.0.0.1:7004', pg: '127.0.0.1:6004', cluster: 'demo' },
    'POST /v1/node/force-quorum': { cluster: 'demo', voters: ['n1'], dropped: ['n2'], primary: 'n1', request_id: 'r1' },
    'POST /v1/node/join': { cluster_address: '127.0.0.1:7001' },
    'POST /v1/node/upgrade': { version: '15.18' },
    'POST /v1/tokens': { name: 'ci', role: 'read-only' },
    'PUT /v1/procedures/upgrade': {
      id: 'upgrade-1', version: '15.18', state: 'running', switchover: null, startedAt: '2025-01-01T00:00:00.000Z', updatedAt: '2025-01-01T00:00:00.000Z', message: 'planned', revision: 0,
      plan: [{ node: 'n2', role: 'follower', step: 'pending', from: '15.17', to: null, startedAt: null, finishedAt: null, durationMs: null, operation: null, rolledBack: false, writeUnavailableMs: null }],
    },
  };
  return bodies[`${r.method} ${r.url}`] ?? (r.method === 'POST' ? {} : undefined);
}

