/**
 * The control API's routes, driven through `app.inject()` against a small
 * in-test `ApiDeps`: health checks (Patroni meanings, GET/HEAD/OPTIONS),
 * cluster/node/history views, switchover/failover intent, validation and the
 * error table.
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FastifyPluginAsync } from 'fastify';
import { buildApp, API_BODY_LIMIT, type BuildAppOptions } from '../../agent/api/app.ts';
import type { ApiDeps, HealthSnapshot } from '../../agent/api/deps.ts';
import { API_ERRORS, ApiError } from '../../agent/api/errors.ts';
import { parseByteSize } from '../../agent/api/routes/health.ts';
import type { ClusterView, MemberView, NodeView } from '../../agent/api/wire.ts';
import { StoreError } from '../../agent/raft/store.ts';
import { PEER_PATHS, raftPeerRoutes, type RaftPeerHandler } from '../../agent/raft/transport.ts';
import type { Message } from '../../agent/raft/types.ts';
import type { HistoryRecord, OperationRecord } from '../../agent/state/records.ts';

// ---------------------------------------------------------------------------
// Fixtures

const primarySnap: HealthSnapshot = {
  nodeId: 'n1',
  role: 'primary',
  engineRunning: true,
  writable: true,
  streaming: false,
  lagBytes: null,
  adminState: 'active',
  tags: [],
  lastCycleAt: 1_000,
  loopIntervalMs: 1_000,
  hasQuorum: true,
};
const replicaSnap: HealthSnapshot = { ...primarySnap, role: 'replica', writable: false, streaming: true, lagBytes: 1024 };

const member: MemberView = {
  id: 'n1',
  kind: 'voter',
  role: 'primary',
  adminState: 'active',
  health: 'healthy',
  timeline: 2,
  flushLsn: '0/3000148',
  replayLsn: null,
  lagBytes: null,
  lagMs: null,
  release: '15.18',
  region: 'local',
  apiUrl: 'http://127.0.0.1:5433',
  pg: '127.0.0.1:5432',
  uptimeS: 42,
};

const clusterView: ClusterView = {
  name: 'demo',
  id: 'c-1',
  epoch: 3,
  primary: 'n1',
  leader: 'n1',
  quorum: { voters: 3, healthy: 3, hasQuorum: true },
  haMode: 'active_active',
  durability: 'strict',
  consistency: 'linearizable',
  staleMs: null,
  writable: true,
  problem: null,
  members: [member, { ...member, id: 'n2', role: 'replica', flushLsn: '0/3000100', replayLsn: '0/3000100', lagBytes: 72, lagMs: 3, pg: '127.0.0.1:5442' }],
};

const nodeView: NodeView = {
  ...member,
  engine: {
    running: true,
    inRecovery: false,
    timeline: 2,
    flushLsn: '0/3000148',
    replayLsn: null,
    streamingFrom: null,
    following: null,
    version: '15.18',
    syncStandbyNames: 'ANY 1 ("n2","n3")',
    replicas: [{ nodeId: 'n2', state: 'streaming', syncState: 'quorum', flushLsn: '0/3000100', replayLsn: '0/3000100', lagBytes: 72, lagMs: null }],
    initialized: true,
    problem: null,
    startedAt: null,
  },
  raft: { term: 7, role: 'leader', leader: 'n1', commit: 42, applied: 42 },
  engineHeld: false,
  progress: null,
  decision: null,
};

const historyRecord: HistoryRecord = {
  epoch: 3,
  from: 'n0',
  to: 'n1',
  reason: 'primary n0 unreachable for 5000 ms',
  at: '2025-01-01T00:00:00.000Z',
  lsns: { n1: '0/3000148', n2: '0/3000100', n0: null },
};

function operation(id: string, kind: OperationRecord['kind'] = 'failover'): OperationRecord {
  return { id, kind, state: 'pending', message: 'recorded; waiting for the leader', startedAt: '2025-01-01T00:00:00.000Z', finishedAt: null, result: null };
}

/** A controllable ApiDeps that records what the routes asked of it. */
class FakeDeps implements ApiDeps {
  nodeId = 'n1';
  clock = 1_500;
  snap: HealthSnapshot = { ...primarySnap };
  healthError: Error | null = null;
  cluster: unknown = clusterView;
  node: unknown = nodeView;
  ops = new Map<string, OperationRecord>([['op-1', { ...operation('op-1'), state: 'succeeded', finishedAt: '2025-01-01T00:00:05.000Z', result: { promoted: 'n2', lsn: '0/3000200' } }]]);
  /** When set, the next call of the named method rejects with it. */
  fail: Partial<Record<'clusterView' | 'nodeView' | 'history' | 'requestFailover' | 'operation', unknown>> = {};
  calls = { clusterView: [] as unknown[], history: [] as number[], requestFailover: [] as unknown[] };

  now(): number {
    return this.clock;
  }
  health(): HealthSnapshot {
    if (this.healthError) throw this.healthError;
    return this.snap;
  }
  async clusterView(opts: { consistency: 'linearizable' | 'local' }): Promise<ClusterView> {
    this.calls.clusterView.push(opts);
    this.maybeFail('clusterView');
    return this.cluster as ClusterView;
  }
  async nodeView(): Promise<NodeView> {
    this.maybeFail('nodeView');
    return this.node as NodeView;
  }
  async history(limit: number): Promise<HistoryRecord[]> {
    this.calls.history.push(limit);
    this.maybeFail('history');
    return [historyRecord];
  }
  async requestFailover(req: { to: string | null; force: boolean; planned: boolean; requestId: string | null }): Promise<OperationRecord> {
    this.calls.requestFailover.push(req);
    this.maybeFail('requestFailover');
    const op = operation(`op-${this.ops.size + 1}`, req.planned ? 'switchover' : 'failover');
    this.ops.set(op.id, op);
    return op;
  }
  async operation(id: string): Promise<OperationRecord | null> {
    this.maybeFail('operation');
    return this.ops.get(id) ?? null;
  }
  private maybeFail(name: keyof FakeDeps['fail']): void {
    const err = this.fail[name];
    if (err !== undefined) throw err;
  }
}

function setup(opts: BuildAppOptions = {}) {
  const deps = new FakeDeps();
  const app = buildApp(deps, opts);
  return { deps, app };
}

type InjectResult = Awaited<ReturnType<ReturnType<typeof buildApp>['inject']>>;

/** Asserts the standard error body: exactly `{error:{code,message[,details]}}`, the table's status, no stack. */
function assertError(res: InjectResult, code: keyof typeof API_ERRORS): { code: string; message: string; details?: Record<string, unknown> } {
  assert.equal(res.statusCode, API_ERRORS[code].status, res.body);
  assert.match(String(res.headers['content-type']), /application\/json/);
  const body = res.json() as { error: { code: string; message: string; details?: Record<string, unknown> } };
  assert.deepEqual(Object.keys(body), ['error']);
  assert.equal(body.error.code, code);
  assert.ok(body.error.message.length > 10, 'the message says what happened');
  for (const k of Object.keys(body.error)) assert.ok(['code', 'message', 'details'].includes(k), `unexpected error field ${k}`);
  assert.doesNotMatch(res.body, /\bat .*\.(ts|js):\d+/, 'no stack trace in a response');
  assert.doesNotMatch(res.body, /"stack"/);
  return body.error;
}

// ---------------------------------------------------------------------------
// Health checks

interface HealthCase {
  name: string;
  url: string;
  snap: Partial<HealthSnapshot> & { role?: HealthSnapshot['role'] };
  base?: HealthSnapshot;
  clock?: number;
  want: 200 | 503;
}

const P = primarySnap;
const R = replicaSnap;
const healthCases: HealthCase[] = [
  // /primary and its aliases: primary with a valid lease only
  ...['/primary', '/leader', '/read-write', '/master'].flatMap((url): HealthCase[] => [
    { name: `${url}: writable primary`, url, base: P, snap: {}, want: 200 },
    { name: `${url}: primary without a valid lease`, url, base: P, snap: { writable: false }, want: 503 },
    { name: `${url}: replica`, url, base: R, snap: {}, want: 503 },
  ]),
  { name: '/primary: stopped', url: '/primary', base: P, snap: { role: 'stopped', engineRunning: false, writable: false }, want: 503 },

  // /replica
  { name: '/replica: running replica', url: '/replica', base: R, snap: {}, want: 200 },
  { name: '/replica: primary', url: '/replica', base: P, snap: {}, want: 503 },
  { name: '/replica: engine stopped', url: '/replica', base: R, snap: { engineRunning: false }, want: 503 },
  { name: '/replica: tagged noloadbalance', url: '/replica', base: R, snap: { tags: ['nofailover', 'noloadbalance'] }, want: 503 },
  { name: '/replica: tagged nofailover only', url: '/replica', base: R, snap: { tags: ['nofailover'] }, want: 200 },
  { name: '/replica: draining', url: '/replica', base: R, snap: { adminState: 'draining' }, want: 503 },
  { name: '/replica: drained', url: '/replica', base: R, snap: { adminState: 'drained' }, want: 503 },
  { name: '/replica: witness', url: '/replica', base: R, snap: { role: 'witness', engineRunning: false }, want: 503 },
  { name: '/replica?lag=10MB: 1 KiB behind', url: '/replica?lag=10MB', base: R, snap: { lagBytes: 1024 }, want: 200 },
  { name: '/replica?lag=1024: exactly at the limit', url: '/replica?lag=1024', base: R, snap: { lagBytes: 1024 }, want: 200 },
  { name: '/replica?lag=1024: one byte over', url: '/replica?lag=1024', base: R, snap: { lagBytes: 1025 }, want: 503 },
  { name: '/replica?lag=1kB: over', url: '/replica?lag=1kB', base: R, snap: { lagBytes: 2048 }, want: 503 },
  { name: '/replica?lag=1GB: 600 MiB behind', url: '/replica?lag=1GB', base: R, snap: { lagBytes: 600 * 1024 ** 2 }, want: 200 },
  { name: '/replica?lag=10MB: 11 MiB behind', url: '/replica?lag=10MB', base: R, snap: { lagBytes: 11 * 1024 ** 2 }, want: 503 },
  { name: '/replica?lag=10MB: lag unknown', url: '/replica?lag=10MB', base: R, snap: { lagBytes: null }, want: 503 },
  { name: '/replica without lag: lag unknown is fine', url: '/replica', base: R, snap: { lagBytes: null }, want: 200 },
  { name: '/replica?replication_state=streaming: streaming', url: '/replica?replication_state=streaming', base: R, snap: {}, want: 200 },
  { name: '/replica?replication_state=streaming: not streaming', url: '/replica?replication_state=streaming', base: R, snap: { streaming: false }, want: 503 },

  // /read-only: writable primary or a replica passing /replica's checks
  { name: '/read-only: writable primary', url: '/read-only', base: P, snap: {}, want: 200 },
  { name: '/read-only: writable primary ignores lag', url: '/read-only?lag=0', base: P, snap: {}, want: 200 },
  { name: '/read-only: primary without a lease', url: '/read-only', base: P, snap: { writable: false }, want: 503 },
  { name: '/read-only: replica', url: '/read-only', base: R, snap: {}, want: 200 },
  { name: '/read-only: replica tagged noloadbalance', url: '/read-only', base: R, snap: { tags: ['noloadbalance'] }, want: 503 },
  { name: '/read-only: draining replica', url: '/read-only', base: R, snap: { adminState: 'draining' }, want: 503 },
  { name: '/read-only?lag=1MB: replica within', url: '/read-only?lag=1MB', base: R, snap: { lagBytes: 1000 }, want: 200 },
  { name: '/read-only?lag=1MB: replica behind', url: '/read-only?lag=1MB', base: R, snap: { lagBytes: 2 * 1024 ** 2 }, want: 503 },
  { name: '/read-only: stopped', url: '/read-only', base: R, snap: { role: 'stopped', engineRunning: false, streaming: false }, want: 503 },

  // /health: the engine runs, any role
  { name: '/health: primary running', url: '/health', base: P, snap: {}, want: 200 },
  { name: '/health: replica running, not streaming', url: '/health', base: R, snap: { streaming: false }, want: 200 },
  { name: '/health: primary without a lease still runs', url: '/health', base: P, snap: { writable: false }, want: 200 },
  { name: '/health: engine stopped', url: '/health', base: P, snap: { role: 'stopped', engineRunning: false, writable: false }, want: 503 },
  { name: '/health: witness has no engine', url: '/health', base: P, snap: { role: 'witness', engineRunning: false, writable: false }, want: 503 },

  // /liveness: the HA loop ran within 3 intervals (lastCycleAt 1000, interval 1000)
  { name: '/liveness: loop just ran', url: '/liveness', base: P, snap: {}, clock: 1_500, want: 200 },
  { name: '/liveness: exactly 3 intervals ago', url: '/liveness', base: P, snap: {}, clock: 4_000, want: 200 },
  { name: '/liveness: stuck loop', url: '/liveness', base: P, snap: {}, clock: 4_001, want: 503 },
  { name: '/liveness: engine down does not matter', url: '/liveness', base: P, snap: { role: 'stopped', engineRunning: false }, clock: 1_500, want: 200 },

  // /readiness: writable primary, or a streaming replica
  { name: '/readiness: writable primary', url: '/readiness', base: P, snap: {}, want: 200 },
  { name: '/readiness: primary without a lease', url: '/readiness', base: P, snap: { writable: false }, want: 503 },
  { name: '/readiness: streaming replica', url: '/readiness', base: R, snap: {}, want: 200 },
  { name: '/readiness: replica not streaming', url: '/readiness', base: R, snap: { streaming: false }, want: 503 },
  { name: '/readiness?lag=512: replica behind', url: '/readiness?lag=512', base: R, snap: { lagBytes: 1024 }, want: 503 },
  { name: '/readiness: witness', url: '/readiness', base: P, snap: { role: 'witness', engineRunning: false, writable: false }, want: 503 },
];

describe('health checks (Patroni meanings)', () => {
  const { deps, app } = setup();

  for (const c of healthCases) {
    test(`${c.name} → ${c.want} on GET, HEAD and OPTIONS`, async () => {
      deps.snap = { ...(c.base ?? primarySnap), ...c.snap };
      deps.clock = c.clock ?? 1_500;

      const get = await app.inject({ method: 'GET', url: c.url });
      assert.equal(get.statusCode, c.want, get.body);
      assert.deepEqual(get.json(), { role: deps.snap.role, state: deps.snap.engineRunning ? 'running' : 'stopped' });

      for (const method of ['HEAD', 'OPTIONS'] as const) {
        const res = await app.inject({ method, url: c.url });
        assert.equal(res.statusCode, c.want, `${method} ${c.url}`);
        assert.equal(res.body, '', `${method} has no body`);
      }
    });
  }

  test('the body is only role and state, never cluster details', async () => {
    deps.snap = { ...replicaSnap, tags: ['secret-tag'], lagBytes: 123 };
    const res = await app.inject({ method: 'GET', url: '/replica' });
    assert.equal(res.body, '{"role":"replica","state":"running"}');
  });

  test('a malformed ?lag= is a 400 naming the field, not a pass', async () => {
    deps.snap = { ...replicaSnap };
    for (const lag of ['ten', '10XB', '-5', '']) {
      const res = await app.inject({ method: 'GET', url: `/replica?lag=${encodeURIComponent(lag)}` });
      const err = assertError(res, 'RDB_ERR_INVALID');
      assert.equal(err.details?.field, 'lag');
      assert.match(err.message, /"lag".*10MB/);
    }
  });

  test('an unknown query parameter is a 400 naming it', async () => {
    const res = await app.inject({ method: 'GET', url: '/primary?tag_dc=east' });
    const err = assertError(res, 'RDB_ERR_INVALID');
    assert.equal(err.details?.field, 'tag_dc');
    assert.match(err.message, /tag_dc/);
    const bad = await app.inject({ method: 'GET', url: '/replica?replication_state=catchup' });
    assert.equal(assertError(bad, 'RDB_ERR_INVALID').details?.field, 'replication_state');
  });

  test('a failing snapshot makes every check answer 503, with no details', async () => {
    deps.healthError = new Error('snapshot exploded at /secret/path');
    try {
      for (const url of ['/primary', '/replica', '/read-only', '/health', '/liveness', '/readiness']) {
        const res = await app.inject({ method: 'GET', url });
        assert.equal(res.statusCode, 503, url);
        assert.deepEqual(res.json(), { role: 'unknown', state: 'stopped' });
      }
    } finally {
      deps.healthError = null;
    }
  });

  test('parseByteSize: bytes and PostgreSQL-style units of 1024', () => {
    assert.equal(parseByteSize('1048576'), 1048576);
    assert.equal(parseByteSize('1024kB'), 1024 * 1024);
    assert.equal(parseByteSize('16kb'), 16 * 1024);
    assert.equal(parseByteSize('10MB'), 10 * 1024 ** 2);
    assert.equal(parseByteSize('1GB'), 1024 ** 3);
    assert.equal(parseByteSize('1.5GB'), 1.5 * 1024 ** 3);
    assert.equal(parseByteSize('2TB'), 2 * 1024 ** 4);
    assert.equal(parseByteSize('512B'), 512);
    assert.equal(parseByteSize('ten'), null);
    assert.equal(parseByteSize('10XB'), null);
    assert.equal(parseByteSize('-1'), null);
  });
});

// ---------------------------------------------------------------------------
// Views

describe('GET /v1/cluster', () => {
  test('serves a linearizable view by default', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'GET', url: '/v1/cluster' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), clusterView);
    assert.deepEqual(deps.calls.clusterView, [{ consistency: 'linearizable' }]);
  });

  test('?consistency=local asks for the local view', async () => {
    const { deps, app } = setup();
    deps.cluster = { ...clusterView, consistency: 'local', staleMs: 250 };
    const res = await app.inject({ method: 'GET', url: '/v1/cluster?consistency=local' });
    assert.equal(res.statusCode, 200);
    assert.equal(res.json().staleMs, 250);
    assert.deepEqual(deps.calls.clusterView, [{ consistency: 'local' }]);
  });

  for (const code of ['no-leader', 'timeout'] as const) {
    test(`a linearizable read failing with ${code} is 503 RDB_ERR_NO_QUORUM pointing at ?consistency=local`, async () => {
      const { deps, app } = setup();
      deps.fail.clusterView = new StoreError(code, `read failed: ${code}`);
      const err = assertError(await app.inject({ method: 'GET', url: '/v1/cluster' }), 'RDB_ERR_NO_QUORUM');
      assert.match(err.message, /consistency=local/);
    });
  }

  test('a local read that times out is not reported as a lost quorum', async () => {
    const { deps, app } = setup();
    deps.fail.clusterView = new StoreError('timeout', 'local read timed out');
    assertError(await app.inject({ method: 'GET', url: '/v1/cluster?consistency=local' }), 'RDB_ERR_UNAVAILABLE');
  });

  test('bad consistency values and unknown parameters are 400 naming the field', async () => {
    const { deps, app } = setup();
    const bad = assertError(await app.inject({ method: 'GET', url: '/v1/cluster?consistency=eventual' }), 'RDB_ERR_INVALID');
    assert.equal(bad.details?.field, 'consistency');
    assert.match(bad.message, /linearizable, local/);
    const unknown = assertError(await app.inject({ method: 'GET', url: '/v1/cluster?verbose=1' }), 'RDB_ERR_INVALID');
    assert.equal(unknown.details?.field, 'verbose');
    assert.match(unknown.message, /"verbose".*accepted: consistency/);
    assert.equal(deps.calls.clusterView.length, 0, 'an invalid request never reaches the deps');
  });

  test('the response schema drops fields the wire type does not have', async () => {
    const { deps, app } = setup();
    deps.cluster = { ...clusterView, internalSecret: 'x', members: [{ ...member, password: 'p' }] };
    const res = await app.inject({ method: 'GET', url: '/v1/cluster' });
    assert.equal(res.statusCode, 200);
    assert.doesNotMatch(res.body, /internalSecret|password/);
  });

  test('a view missing a required field is a 500, not a silently shorter object', async () => {
    const { deps, app } = setup();
    const { problem: _dropped, ...incomplete } = clusterView;
    deps.cluster = incomplete;
    assertError(await app.inject({ method: 'GET', url: '/v1/cluster' }), 'RDB_ERR_INTERNAL');
  });
});

describe('GET /v1/node and /v1/history', () => {
  test('/v1/node returns the node view with engine and raft state', async () => {
    const { app } = setup();
    const res = await app.inject({ method: 'GET', url: '/v1/node' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), nodeView);
  });

  test('/v1/node takes no query parameters', async () => {
    const { app } = setup();
    assert.equal(assertError(await app.inject({ method: 'GET', url: '/v1/node?x=1' }), 'RDB_ERR_INVALID').details?.field, 'x');
  });

  test('/v1/history defaults to 100 records and honours ?limit=', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'GET', url: '/v1/history' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), { history: [historyRecord] });
    await app.inject({ method: 'GET', url: '/v1/history?limit=5' });
    assert.deepEqual(deps.calls.history, [100, 5]);
  });

  test('/v1/history rejects a limit out of range or not a number', async () => {
    const { deps, app } = setup();
    for (const limit of ['0', '1001', 'many', '2.5']) {
      const err = assertError(await app.inject({ method: 'GET', url: `/v1/history?limit=${limit}` }), 'RDB_ERR_INVALID');
      assert.equal(err.details?.field, 'limit', limit);
    }
    assert.deepEqual(deps.calls.history, []);
  });
});

// ---------------------------------------------------------------------------
// Switchover / failover intent and operations

describe('POST /v1/cluster/switchover and /failover', () => {
  test('switchover with no body records a planned request for the best candidate: 202 + Location', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'POST', url: '/v1/cluster/switchover' });
    assert.equal(res.statusCode, 202, res.body);
    const op = res.json() as OperationRecord;
    assert.equal(op.kind, 'switchover');
    assert.equal(res.headers.location, `/v1/operations/${op.id}`);
    assert.deepEqual(deps.calls.requestFailover, [{ to: null, force: false, planned: true, requestId: null }]);
  });

  test('switchover with a target and a request id passes both', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'POST', url: '/v1/cluster/switchover', payload: { to: 'n2', request_id: 'req-42' } });
    assert.equal(res.statusCode, 202, res.body);
    assert.deepEqual(deps.calls.requestFailover, [{ to: 'n2', force: false, planned: true, requestId: 'req-42' }]);
  });

  test('switchover refuses force (only failover can lose data)', async () => {
    const { deps, app } = setup();
    const err = assertError(await app.inject({ method: 'POST', url: '/v1/cluster/switchover', payload: { to: 'n2', force: true } }), 'RDB_ERR_INVALID');
    assert.equal(err.details?.field, 'force');
    assert.match(err.message, /unknown field "force".*accepted: to, request_id/);
    assert.deepEqual(deps.calls.requestFailover, []);
  });

  test('failover: 202 with the operation and its Location', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n3', force: true, request_id: 'abc' } });
    assert.equal(res.statusCode, 202, res.body);
    const op = res.json() as OperationRecord;
    assert.deepEqual(op, deps.ops.get(op.id));
    assert.equal(res.headers.location, `/v1/operations/${op.id}`);
    assert.deepEqual(deps.calls.requestFailover, [{ to: 'n3', force: true, planned: false, requestId: 'abc' }]);

    const follow = await app.inject({ method: 'GET', url: String(res.headers.location) });
    assert.equal(follow.statusCode, 200);
    assert.deepEqual(follow.json(), op);
  });

  test('failover defaults force to false', async () => {
    const { deps, app } = setup();
    await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n3' } });
    assert.deepEqual(deps.calls.requestFailover, [{ to: 'n3', force: false, planned: false, requestId: null }]);
  });

  const invalidBodies: { name: string; payload: unknown; field?: string; pattern: RegExp }[] = [
    { name: 'unknown field', payload: { to: 'n2', confirm: true }, field: 'confirm', pattern: /unknown field "confirm"/ },
    { name: 'missing to', payload: { force: true }, field: 'to', pattern: /missing field "to"/ },
    { name: 'force not a boolean', payload: { to: 'n2', force: 'maybe' }, field: 'force', pattern: /"force".*boolean/ },
    { name: 'empty target', payload: { to: '' }, field: 'to', pattern: /"to"/ },
    { name: 'request id with spaces', payload: { to: 'n2', request_id: 'a b' }, field: 'request_id', pattern: /"request_id".*printable/ },
    { name: 'body is an array', payload: ['n2'], pattern: /request body.*JSON object/ },
  ];
  for (const c of invalidBodies) {
    test(`failover with ${c.name} is 400 RDB_ERR_INVALID and records nothing`, async () => {
      const { deps, app } = setup();
      const err = assertError(await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: c.payload as object }), 'RDB_ERR_INVALID');
      assert.match(err.message, c.pattern);
      if (c.field) assert.equal(err.details?.field, c.field);
      assert.deepEqual(deps.calls.requestFailover, []);
    });
  }

  test('malformed JSON is 400 RDB_ERR_INVALID, an oversized body 413 RDB_ERR_TOO_LARGE', async () => {
    const { deps, app } = setup();
    const malformed = await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: '{"to":', headers: { 'content-type': 'application/json' } });
    assertError(malformed, 'RDB_ERR_INVALID');
    const big = await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n2', request_id: 'x'.repeat(API_BODY_LIMIT) } });
    assert.match(assertError(big, 'RDB_ERR_TOO_LARGE').message, /too large/i);
    assert.deepEqual(deps.calls.requestFailover, []);
  });

  test('an ApiError from the deps keeps its status, code, message and details', async () => {
    const { deps, app } = setup();
    deps.fail.requestFailover = new ApiError('RDB_ERR_CONFLICT', 'switchover op-7 is in progress: wait for it (GET /v1/operations/op-7)', { operation: 'op-7' });
    const conflict = assertError(await app.inject({ method: 'POST', url: '/v1/cluster/switchover', payload: {} }), 'RDB_ERR_CONFLICT');
    assert.equal(conflict.message, 'switchover op-7 is in progress: wait for it (GET /v1/operations/op-7)');
    assert.deepEqual(conflict.details, { operation: 'op-7' });

    deps.fail.requestFailover = new ApiError('RDB_ERR_PRECONDITION', 'n3 is tagged nofailover: pick another target');
    assertError(await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n3' } }), 'RDB_ERR_PRECONDITION');
  });

  test('a store timeout while recording is 503 and says a retry with the same request_id is safe', async () => {
    const { deps, app } = setup();
    deps.fail.requestFailover = new StoreError('timeout', 'proposal timed out');
    const err = assertError(await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n2', request_id: 'r1' } }), 'RDB_ERR_UNAVAILABLE');
    assert.match(err.message, /same request_id/);
    deps.fail.requestFailover = new StoreError('no-leader', 'no leader');
    assertError(await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n2', request_id: 'r1' } }), 'RDB_ERR_NO_QUORUM');
  });
});

describe('GET /v1/operations/:id', () => {
  test('a known operation is 200 with its outcome', async () => {
    const { deps, app } = setup();
    const res = await app.inject({ method: 'GET', url: '/v1/operations/op-1' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(res.json(), deps.ops.get('op-1'));
  });

  test('an unknown operation is 404 RDB_ERR_NOT_FOUND naming it', async () => {
    const { app } = setup();
    const err = assertError(await app.inject({ method: 'GET', url: '/v1/operations/op-999' }), 'RDB_ERR_NOT_FOUND');
    assert.match(err.message, /op-999/);
  });
});

// ---------------------------------------------------------------------------
// Errors, auth hook, extra plugins

describe('errors and app structure', () => {
  test('a plain Error from a dep is 500 with a generic message: no stack, no internals', async () => {
    const { deps, app } = setup();
    const secret = 'connection to /var/lib/secret refused';
    for (const [name, url] of [
      ['clusterView', '/v1/cluster'],
      ['nodeView', '/v1/node'],
      ['history', '/v1/history'],
      ['operation', '/v1/operations/op-1'],
    ] as const) {
      deps.fail = { [name]: new Error(secret) };
      const res = await app.inject({ method: 'GET', url });
      const err = assertError(res, 'RDB_ERR_INTERNAL');
      assert.ok(!res.body.includes(secret), `${url} leaks the error message`);
      assert.match(err.message, /agent log/);
    }
    deps.fail = { requestFailover: new TypeError(secret) };
    const post = await app.inject({ method: 'POST', url: '/v1/cluster/failover', payload: { to: 'n2' } });
    assertError(post, 'RDB_ERR_INTERNAL');
    assert.ok(!post.body.includes(secret));
  });

  test('every code in the table answers with its own status', async () => {
    for (const code of Object.keys(API_ERRORS) as (keyof typeof API_ERRORS)[]) {
      const { deps, app } = setup();
      deps.fail.nodeView = new ApiError(code);
      const err = assertError(await app.inject({ method: 'GET', url: '/v1/node' }), code);
      assert.equal(err.message, API_ERRORS[code].defaultMessage);
    }
  });

  test('an unknown route is 404 RDB_ERR_NOT_FOUND', async () => {
    const { app } = setup();
    assertError(await app.inject({ method: 'GET', url: '/v1/nothing-here' }), 'RDB_ERR_NOT_FOUND');
    assertError(await app.inject({ method: 'DELETE', url: '/v1/cluster' }), 'RDB_ERR_NOT_FOUND');
  });

  test('authenticate guards every /v1 route, before validation; health checks stay open', async () => {
    const seen: string[] = [];
    const { deps, app } = setup({
      authenticate: async (req) => {
        seen.push(req.url);
        if (req.headers.authorization !== 'Bearer good') throw new ApiError('RDB_ERR_UNAUTHORIZED');
      },
    });
    deps.snap = { ...primarySnap };
    for (const [method, url] of [
      ['GET', '/v1/cluster'],
      ['GET', '/v1/node'],
      ['GET', '/v1/history'],
      ['GET', '/v1/operations/op-1'],
      ['POST', '/v1/cluster/switchover'],
      ['POST', '/v1/cluster/failover'],
    ] as const) {
      assertError(await app.inject({ method, url, payload: method === 'POST' ? { unknown: 1 } : undefined }), 'RDB_ERR_UNAUTHORIZED');
    }
    assert.deepEqual(deps.calls.requestFailover, []);
    const ok = await app.inject({ method: 'GET', url: '/v1/cluster', headers: { authorization: 'Bearer good' } });
    assert.equal(ok.statusCode, 200);

    const before = seen.length;
    for (const url of ['/primary', '/replica', '/read-only', '/health', '/liveness', '/readiness']) {
      const res = await app.inject({ method: 'GET', url });
      assert.notEqual(res.statusCode, 401, url);
    }
    assert.equal(seen.length, before, 'health checks never run the auth hook');
  });

  test('extra plugins are registered at the root, outside the /v1 auth', async () => {
    const extra: FastifyPluginAsync = async (app) => {
      app.get('/raft/v1/ping', async () => ({ pong: true }));
    };
    const { app } = setup({ plugins: [extra], authenticate: async () => { throw new ApiError('RDB_ERR_UNAUTHORIZED'); } });
    const res = await app.inject({ method: 'GET', url: '/raft/v1/ping' });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { pong: true });
  });

  test('the Raft peer plugin keeps its own body limit and is not behind the /v1 auth', async () => {
    const received: Message[][] = [];
    const handler: RaftPeerHandler = {
      id: 'n1',
      receive: (ms) => void received.push(ms),
      handleForwardedProposal: async () => ({ result: { ok: true, version: 1 }, index: 1 }),
      handlePeerRead: async () => ({ records: [] }),
    };
    const { app } = setup({ plugins: [raftPeerRoutes(handler)], authenticate: async () => { throw new ApiError('RDB_ERR_UNAUTHORIZED'); } });
    const big = 'x'.repeat(2 * API_BODY_LIMIT);
    const msg = {
      type: 'app', from: 'n2', to: 'n1', term: 1, index: 0, logTerm: 0, commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: '',
      entries: [{ index: 1, term: 1, type: 'normal', data: big }],
    };
    const res = await app.inject({ method: 'POST', url: PEER_PATHS.messages, payload: [msg] });
    assert.equal(res.statusCode, 204, res.body);
    assert.equal(received[0]?.[0]?.entries[0]?.data.length, big.length);
  });
});
