/**
 * The admin routes (agent/api/routes/admin.ts) through `app.inject()` with a
 * fake AdminDeps that records every call: schema validation (a refused
 * request never reaches the procedures), 307 to the leader with the same
 * path and query, 503 when no leader is known, 201/200 for a created/existing
 * member, 202 + Location for the node operations, empty bodies meaning
 * defaults, and ApiErrors from the procedures answered with their own status.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LeaderElsewhere, type AdminDeps, type DrainOptions, type EngineAnswer, type NewMember } from '../../agent/admin.ts';
import { buildApp } from '../../agent/api/app.ts';
import type { ApiDeps } from '../../agent/api/deps.ts';
import { API_ERRORS, ApiError } from '../../agent/api/errors.ts';
import type { MemberKind, MemberRecord, OperationRecord } from '../../agent/state/records.ts';

const LEADER = 'http://10.0.0.1:5433';

function record(id: string, adminState: MemberRecord['adminState'] = 'active', kind: MemberKind = 'voter'): MemberRecord {
  return { id, kind, apiUrl: `http://127.0.0.1:70${id.slice(1).padStart(2, '0')}`, pgHost: '127.0.0.1', pgPort: 6001, region: 'local', weight: 1, tags: [], adminState };
}

function operation(id: string, kind: OperationRecord['kind']): OperationRecord {
  return { id, kind, state: 'running', message: `${kind} started`, startedAt: '2026-01-01T00:00:00.000Z', finishedAt: null, result: { node: 'n2' } };
}

const engine = (running: boolean): EngineAnswer => ({ node: 'n2', running, held: !running, adminState: 'active', message: running ? 'the engine of n2 runs' : 'the engine of n2 is stopped' });

type Method = keyof AdminDeps;

/**
 * An AdminDeps that records `[method, argument]` for every call and answers
 * with a fixed value, or throws what `fail[method]` holds.
 */
class FakeAdmin implements AdminDeps {
  calls: [Method, unknown][] = [];
  fail: Partial<Record<Method, unknown>> = {};
  existing = new Set<string>();
  tombstones = new Map<string, MemberRecord>([['n9', record('n9', 'removed')]]);

  private call(m: Method, arg: unknown): void {
    this.calls.push([m, arg]);
    if (m in this.fail) throw this.fail[m];
  }
  async addMember(m: NewMember) {
    this.call('addMember', m);
    return { member: record(m.id, 'joining', m.kind), created: !this.existing.has(m.id) };
  }
  async promoteMember(id: string) {
    this.call('promoteMember', id);
    return record(id);
  }
  async removeMember(id: string) {
    this.call('removeMember', id);
    return record(id, 'removed');
  }
  async member(id: string) {
    this.call('member', id);
    return this.tombstones.get(id) ?? (id === 'n2' ? record('n2') : null);
  }
  async fence(id: string) {
    this.call('fence', id);
    return record(id, 'fenced');
  }
  async unfence(id: string) {
    this.call('unfence', id);
    return record(id);
  }
  async undrain(id: string) {
    this.call('undrain', id);
    return record(id);
  }
  async drain(o: DrainOptions) {
    this.call('drain', o);
    return operation('drain-n2-1', 'drain');
  }
  async stopEngine(o: { force: boolean; timeoutMs: number }) {
    this.call('stopEngine', o);
    return engine(false);
  }
  async startEngine(o: { timeoutMs: number }) {
    this.call('startEngine', o);
    return engine(true);
  }
  async reinit() {
    this.call('reinit', null);
    return operation('reinit-n2-1', 'reinit');
  }
  async join(o: { clusterAddress: string; kind: MemberKind }) {
    this.call('join', o);
    return record('n2', 'joining', o.kind);
  }
}

/** The admin routes never touch the rest of the API's deps. */
const notUsed = (): never => assert.fail('ApiDeps is not used by the admin routes');
const apiDeps: ApiDeps = {
  nodeId: 'n2', now: () => 0, health: notUsed, clusterView: notUsed, nodeView: notUsed, history: notUsed, requestFailover: notUsed, operation: notUsed,
};

function setup() {
  const admin = new FakeAdmin();
  return { admin, app: buildApp(apiDeps, { admin }) };
}

type Inject = Awaited<ReturnType<ReturnType<typeof buildApp>['inject']>>;

function errorOf(res: Inject, code: keyof typeof API_ERRORS): { message: string; details?: Record<string, unknown> } {
  assert.equal(res.statusCode, API_ERRORS[code].status, res.body);
  const body = res.json() as { error: { code: string; message: string; details?: Record<string, unknown> } };
  assert.equal(body.error.code, code);
  return body.error;
}

const NEW = { id: 'n4', kind: 'voter', api_url: 'http://127.0.0.1:7004', pg: '127.0.0.1:6004', cluster: 'demo' };

test('POST /v1/members: 201 when created, 200 when the member existed; the body reaches addMember (region defaults)', async () => {
  const { admin, app } = setup();
  let res = await app.inject({ method: 'POST', url: '/v1/members', payload: NEW });
  assert.equal(res.statusCode, 201, res.body);
  assert.deepEqual(res.json(), { member: record('n4', 'joining'), created: true });
  assert.deepEqual(admin.calls, [['addMember', { id: 'n4', kind: 'voter', apiUrl: 'http://127.0.0.1:7004', pg: '127.0.0.1:6004', region: 'default', cluster: 'demo' }]]);

  admin.existing.add('w1');
  res = await app.inject({ method: 'POST', url: '/v1/members', payload: { ...NEW, id: 'w1', kind: 'witness', pg: null, region: 'eu' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().created, false);
  assert.deepEqual(admin.calls[1], ['addMember', { id: 'w1', kind: 'witness', apiUrl: 'http://127.0.0.1:7004', pg: null, region: 'eu', cluster: 'demo' }]);
});

test('schema validation: unknown fields, bad node ids, bad values and missing fields are 400 RDB_ERR_INVALID, and reach no procedure', async () => {
  const { admin, app } = setup();
  let e = errorOf(await app.inject({ method: 'POST', url: '/v1/members', payload: { ...NEW, colour: 'red' } }), 'RDB_ERR_INVALID');
  assert.match(e.message, /unknown field "colour" in the request body: remove it \(accepted: id, kind, api_url, pg, region, cluster, csr\)/);

  e = errorOf(await app.inject({ method: 'POST', url: '/v1/members', payload: { ...NEW, id: 'N4' } }), 'RDB_ERR_INVALID');
  assert.equal(e.details?.field, 'id');
  e = errorOf(await app.inject({ method: 'GET', url: '/v1/members/N4' }), 'RDB_ERR_INVALID');
  assert.deepEqual(e.details, { field: 'id', location: 'path' });
  errorOf(await app.inject({ method: 'POST', url: '/v1/members/4n/fence', payload: {} }), 'RDB_ERR_INVALID');
  errorOf(await app.inject({ method: 'DELETE', url: `/v1/members/${'n'.repeat(64)}` }), 'RDB_ERR_INVALID');

  const { pg: _pg, ...noPg } = NEW;
  e = errorOf(await app.inject({ method: 'POST', url: '/v1/members', payload: noPg }), 'RDB_ERR_INVALID');
  assert.match(e.message, /missing field "pg"/);
  errorOf(await app.inject({ method: 'POST', url: '/v1/members', payload: { ...NEW, api_url: 'ftp://x' } }), 'RDB_ERR_INVALID');
  errorOf(await app.inject({ method: 'POST', url: '/v1/members', payload: { ...NEW, kind: 'leader' } }), 'RDB_ERR_INVALID');
  e = errorOf(await app.inject({ method: 'POST', url: '/v1/node/drain', payload: { timeout_ms: 5 } }), 'RDB_ERR_INVALID');
  assert.equal(e.details?.field, 'timeout_ms');
  e = errorOf(await app.inject({ method: 'POST', url: '/v1/node/stop', payload: { force: true, now: true } }), 'RDB_ERR_INVALID');
  assert.match(e.message, /unknown field "now"/);
  errorOf(await app.inject({ method: 'POST', url: '/v1/node/start', payload: { timeout_ms: 'soon' } }), 'RDB_ERR_INVALID');
  e = errorOf(await app.inject({ method: 'POST', url: '/v1/node/join', payload: { kind: 'voter' } }), 'RDB_ERR_INVALID');
  assert.match(e.message, /missing field "cluster_address"/);
  assert.deepEqual(admin.calls, []);
});

test('LeaderElsewhere: 307 with Location = the leader URL + the same path and query', async () => {
  const { admin, app } = setup();
  admin.fail.addMember = new LeaderElsewhere(LEADER);
  let res = await app.inject({ method: 'POST', url: '/v1/members', payload: NEW });
  assert.equal(res.statusCode, 307, res.body);
  assert.equal(res.headers.location, `${LEADER}/v1/members`);

  admin.fail.removeMember = new LeaderElsewhere(`${LEADER}/`);
  // (No /v1 route takes an undeclared query parameter any more: ?reason=… is a 400, so the redirect is shown without one.)
  res = await app.inject({ method: 'DELETE', url: '/v1/members/n3' });
  assert.equal(res.statusCode, 307, res.body);
  assert.equal(res.headers.location, `${LEADER}/v1/members/n3`, 'no doubled slash');

  admin.fail.promoteMember = new LeaderElsewhere(LEADER);
  res = await app.inject({ method: 'POST', url: '/v1/members/n4/promote', payload: {} });
  assert.equal(res.statusCode, 307, res.body);
  assert.equal(res.headers.location, `${LEADER}/v1/members/n4/promote`);
});

test('LeaderElsewhere(null): no leader known is 503 RDB_ERR_NO_QUORUM, not a redirect', async () => {
  const { admin, app } = setup();
  admin.fail.removeMember = new LeaderElsewhere(null);
  const res = await app.inject({ method: 'DELETE', url: '/v1/members/n3' });
  const e = errorOf(res, 'RDB_ERR_NO_QUORUM');
  assert.equal(res.headers.location, undefined);
  assert.match(e.message, /no Raft leader is known right now: retry/);
});

test('member routes: a tombstone is 200, a never-member 404 naming it; promote, delete, fence, unfence, undrain call their procedure with the id', async () => {
  const { admin, app } = setup();
  let res = await app.inject({ method: 'GET', url: '/v1/members/n9' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { member: record('n9', 'removed') });
  const e = errorOf(await app.inject({ method: 'GET', url: '/v1/members/n7' }), 'RDB_ERR_NOT_FOUND');
  assert.match(e.message, /n7 is not and never was a member/);

  admin.calls = [];
  const want: [string, string, Method, MemberRecord][] = [
    ['POST', '/v1/members/n3/promote', 'promoteMember', record('n3')],
    ['DELETE', '/v1/members/n3', 'removeMember', record('n3', 'removed')],
    ['POST', '/v1/members/n3/fence', 'fence', record('n3', 'fenced')],
    ['POST', '/v1/members/n3/unfence', 'unfence', record('n3')],
    ['POST', '/v1/members/n3/undrain', 'undrain', record('n3')],
  ];
  for (const [method, url, fn, member] of want) {
    res = await app.inject({ method: method as 'POST' | 'DELETE', url, ...(method === 'POST' && { payload: {} }) });
    assert.equal(res.statusCode, 200, `${method} ${url}: ${res.body}`);
    assert.deepEqual(res.json(), { member }, `${method} ${url}`);
  }
  assert.deepEqual(admin.calls, want.map(([, , fn]) => [fn, 'n3']));
});

test('POST /v1/node/drain and /v1/node/reinit: 202 with the operation and a Location to follow it; an empty drain body means the defaults', async () => {
  const { admin, app } = setup();
  let res = await app.inject({ method: 'POST', url: '/v1/node/drain' });
  assert.equal(res.statusCode, 202, res.body);
  assert.equal(res.headers.location, '/v1/operations/drain-n2-1');
  assert.deepEqual(res.json(), operation('drain-n2-1', 'drain'));
  res = await app.inject({ method: 'POST', url: '/v1/node/drain', payload: { timeout_ms: 120_000, terminate: false } });
  assert.equal(res.statusCode, 202, res.body);
  assert.deepEqual(admin.calls, [
    ['drain', { timeoutMs: 60_000, terminate: true }],
    ['drain', { timeoutMs: 120_000, terminate: false }],
  ]);

  res = await app.inject({ method: 'POST', url: '/v1/node/reinit', payload: {} });
  assert.equal(res.statusCode, 202, res.body);
  assert.equal(res.headers.location, '/v1/operations/reinit-n2-1');
  assert.equal(res.json().kind, 'reinit');
});

test('POST /v1/node/stop and /start: an empty body works (defaults); given values pass through; join defaults to a voter', async () => {
  const { admin, app } = setup();
  let res = await app.inject({ method: 'POST', url: '/v1/node/stop' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), engine(false));
  res = await app.inject({ method: 'POST', url: '/v1/node/stop', payload: { force: true, timeout_ms: 1000 } });
  assert.equal(res.statusCode, 200, res.body);
  res = await app.inject({ method: 'POST', url: '/v1/node/start' });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), engine(true));
  res = await app.inject({ method: 'POST', url: '/v1/node/join', payload: { cluster_address: 'http://127.0.0.1:7001' } });
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(res.json(), { member: record('n2', 'joining') });
  res = await app.inject({ method: 'POST', url: '/v1/node/join', payload: { cluster_address: 'http://127.0.0.1:7001', kind: 'witness' } });
  assert.equal(res.json().member.kind, 'witness');
  assert.deepEqual(admin.calls, [
    ['stopEngine', { force: false, timeoutMs: 60_000 }],
    ['stopEngine', { force: true, timeoutMs: 1000 }],
    ['startEngine', { timeoutMs: 60_000 }],
    ['join', { clusterAddress: 'http://127.0.0.1:7001', kind: 'voter' }],
    ['join', { clusterAddress: 'http://127.0.0.1:7001', kind: 'witness' }],
  ]);
});

test('an ApiError from a procedure is answered with its status, code, message and details; anything else is a 500 that leaks nothing', async () => {
  const { admin, app } = setup();
  admin.fail.fence = new ApiError('RDB_ERR_PRECONDITION', 'n1 is the primary: switch over first', { node: 'n1' });
  let e = errorOf(await app.inject({ method: 'POST', url: '/v1/members/n1/fence', payload: {} }), 'RDB_ERR_PRECONDITION');
  assert.equal(e.message, 'n1 is the primary: switch over first');
  assert.deepEqual(e.details, { node: 'n1' });

  admin.fail.drain = new ApiError('RDB_ERR_CONFLICT', 'reinit reinit-n2-1 is running on n2', { operation: 'reinit-n2-1' });
  const res = await app.inject({ method: 'POST', url: '/v1/node/drain', payload: {} });
  e = errorOf(res, 'RDB_ERR_CONFLICT');
  assert.equal(res.headers.location, undefined);
  assert.deepEqual(e.details, { operation: 'reinit-n2-1' });

  admin.fail.stopEngine = new ApiError('RDB_ERR_NO_QUORUM');
  errorOf(await app.inject({ method: 'POST', url: '/v1/node/stop', payload: {} }), 'RDB_ERR_NO_QUORUM');
  admin.fail.removeMember = new ApiError('RDB_ERR_NOT_FOUND', 'n8 is not a member of this cluster');
  errorOf(await app.inject({ method: 'DELETE', url: '/v1/members/n8' }), 'RDB_ERR_NOT_FOUND');

  admin.fail.reinit = new Error('pg_basebackup: secret path /var/lib/x');
  const boom = await app.inject({ method: 'POST', url: '/v1/node/reinit', payload: {} });
  errorOf(boom, 'RDB_ERR_INTERNAL');
  assert.doesNotMatch(boom.body, /secret path/);
});
