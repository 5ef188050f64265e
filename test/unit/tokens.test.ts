/**
 * API tokens, roles, the authentication gate and the audit log, through
 * `app.inject()` on the API as main.ts wires it (helpers/secured-app.ts):
 * the token format and hash, the verifier's cache and revocation, the route →
 * role table (every registered /v1 route must have a rule), 401/403/429, the
 * token routes, and what the audit log records (and never records).
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { RouteOptions } from 'fastify';
import { formatRouteRoleTable, hasRouteRule, routeRule, ROUTE_RULES } from '../../agent/security/roles.ts';
import { createToken, parseToken, roleAtLeast, tokenKey, tokenMatches, TokenVerifier } from '../../agent/security/tokens.ts';
import { readBootstrapTokenFile, newBootstrapToken, importBootstrapToken } from '../../agent/security/bootstrap.ts';
import type { AuditView, CreatedTokenView, TokenListView } from '../../agent/api/wire-security.ts';
import { MemoryStore, sampleBody, sampleUrl, securedApp } from './helpers/secured-app.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('token format and hash', () => {
  test('a new token parses back to its id; the record holds a salted hash, never the token', async () => {
    const { token, record } = await createToken({ name: 'ci', role: 'operator', createdBy: 'admin' });
    assert.match(token, /^rdbt_[0-9a-f]{12}_[0-9a-f]{40}$/);
    assert.deepEqual(parseToken(token), { id: record.id, secret: token.split('_')[2] });
    assert.ok(!JSON.stringify(record).includes(token.split('_')[2]), 'the secret is not stored');
    assert.equal(await tokenMatches(token, record), true);
    assert.equal(await tokenMatches(token.slice(0, -1) + (token.endsWith('0') ? '1' : '0'), record), false);
    const other = await createToken({ name: 'ci2', role: 'operator', createdBy: 'admin' });
    assert.notEqual(other.record.salt, record.salt, 'a salt per token');
  });

  test('malformed tokens are refused without a lookup', () => {
    for (const t of ['', 'rdbt_', 'rdbt_abc_def', 'rdbj_0123456789ab_' + 'a'.repeat(40), 'rdbt_0123456789ab_' + 'A'.repeat(40), ' rdbt_0123456789ab_' + 'a'.repeat(40)]) {
      assert.equal(parseToken(t), null, t);
    }
  });

  test('roles are ordered read-only < operator < admin', () => {
    assert.ok(roleAtLeast('admin', 'operator') && roleAtLeast('operator', 'read-only') && roleAtLeast('operator', 'operator'));
    assert.ok(!roleAtLeast('read-only', 'operator') && !roleAtLeast('operator', 'admin'));
  });
});

describe('TokenVerifier', () => {
  test('a success is cached per record version: a revocation (a new version) is seen at once', async () => {
    const store = new MemoryStore();
    const { token, record } = await createToken({ name: 'ci', role: 'operator', createdBy: 't' });
    await store.put(tokenKey(record.id), JSON.stringify(record));
    const v = new TokenVerifier(store);
    assert.deepEqual(await v.verify(token), { ok: true, principal: { kind: 'token', id: record.id, name: 'ci', role: 'operator' } });

    // Same version, damaged hash: the cache answers (scrypt did not run again).
    const kv = store.data.get(tokenKey(record.id))!;
    store.data.set(kv.key, { ...kv, value: JSON.stringify({ ...record, hash: '00'.repeat(32) }) });
    assert.equal((await v.verify(token)).ok, true);

    // Any write makes a new version: checked afresh.
    await store.put(tokenKey(record.id), JSON.stringify({ ...record, hash: '00'.repeat(32) }));
    assert.deepEqual(await v.verify(token), { ok: false, why: 'mismatch' });
    await store.put(tokenKey(record.id), JSON.stringify({ ...record, revokedAt: '2025-01-01T00:00:00.000Z' }));
    assert.deepEqual(await v.verify(token), { ok: false, why: 'revoked' });
    assert.deepEqual(await v.verify(token.replace(record.id, '0'.repeat(12))), { ok: false, why: 'unknown' });
  });
});

describe('bootstrap token', () => {
  test('the file holds the hash only; the leader imports it once, and a revoked import stays revoked', async () => {
    const { token, file } = await newBootstrapToken('first-admin');
    const dir = mkdtempSync(join(tmpdir(), 'rdb-boot-'));
    const path = join(dir, 'bootstrap.json');
    writeFileSync(path, JSON.stringify(file));
    assert.ok(!JSON.stringify(file).includes(token.split('_')[2]));
    const read = readBootstrapTokenFile(path);
    const store = new MemoryStore();
    await importBootstrapToken({ store, file: read, stopping: () => false });
    assert.equal((await new TokenVerifier(store).verify(token)).ok, true);
    const kv = (await store.get(tokenKey(file.id)))!;
    await store.put(kv.key, JSON.stringify({ ...JSON.parse(kv.value), revokedAt: '2025-01-01T00:00:00.000Z' }));
    await importBootstrapToken({ store, file: read, stopping: () => false });
    assert.deepEqual(await new TokenVerifier(store).verify(token), { ok: false, why: 'revoked' });

    writeFileSync(path, JSON.stringify({ ...file, role: 'operator' }));
    assert.throws(() => readBootstrapTokenFile(path), /must hold \{"id", "name", "role": "admin"/);
  });
});

describe('route → role table', () => {
  test('every registered /v1 route has a rule (a new route cannot be added without a role)', async () => {
    const { app } = await securedApp();
    const routes: string[] = [];
    app.addHook('onRoute', (r: RouteOptions) => {
      for (const m of [r.method].flat()) if (r.url.startsWith('/v1/') && m !== 'HEAD') routes.push(`${m} ${r.url}`);
    });
    await app.ready();
    assert.ok(routes.length >= 25, `routes seen: ${routes.length}`);
    const missing = routes.filter((k) => !hasRouteRule(k.split(' ')[0], k.split(' ')[1]));
    assert.deepEqual(missing, [], 'add these routes to ROUTE_RULES in agent/security/roles.ts');
    const stale = ROUTE_RULES.filter((r) => !routes.includes(`${r.method} ${r.url}`)).map((r) => `${r.method} ${r.url}`);
    assert.deepEqual(stale, [], 'rules for routes that do not exist');
    await app.close();
  });

  test('an unlisted route needs admin; the printed table lists every rule', () => {
    assert.equal(routeRule('POST', '/v1/something-new').role, 'admin');
    assert.equal(routeRule('GET', '/v1/something-new').role, 'admin');
    assert.equal(routeRule('HEAD', '/v1/cluster').role, 'read-only');
    const table = formatRouteRoleTable();
    for (const r of ROUTE_RULES) assert.match(table, new RegExp(`^${r.method} ${r.url.replace(/[/:]/g, (c) => `\\${c}`)} +${r.role}`, 'm'));
    assert.match(table, /POST \/v1\/cluster\/failover +operator +\(admin with "force": true\)/);
  });
});

describe('authentication and roles on the API', () => {
  const gets = ROUTE_RULES.filter((r) => r.method === 'GET' && r.role === 'read-only');
  const mutating = ROUTE_RULES.filter((r) => r.method !== 'GET');

  test('no token, a malformed one or an unknown one → 401 RDB_ERR_UNAUTHORIZED; health checks and the CA stay open', async () => {
    const { app } = await securedApp();
    for (const headers of [{}, { authorization: 'Basic abc' }, { authorization: 'Bearer nope' }, { authorization: `Bearer rdbt_${'0'.repeat(12)}_${'a'.repeat(40)}` }]) {
      const res = await app.inject({ method: 'GET', url: '/v1/cluster', headers });
      assert.equal(res.statusCode, 401, JSON.stringify(headers));
      assert.equal(res.json().error.code, 'RDB_ERR_UNAUTHORIZED');
    }
    assert.equal((await app.inject({ method: 'GET', url: '/primary' })).statusCode, 200);
    assert.notEqual((await app.inject({ method: 'GET', url: '/v1/pki/ca' })).statusCode, 401);
    await app.close();
  });

  test('read-only: every read-only GET answers 200; every POST/PUT/DELETE 403 before reaching anything', async () => {
    const s = await securedApp();
    for (const r of gets) {
      const res = await s.app.inject({ method: 'GET', url: sampleUrl(r.url), headers: s.bearer('read-only') });
      assert.equal(res.statusCode, 200, `${r.url}: ${res.body}`);
    }
    s.calls.length = 0;
    for (const r of mutating) {
      const res = await s.app.inject({ method: r.method, url: sampleUrl(r.url), headers: s.bearer('read-only'), payload: sampleBody(r) as object });
      assert.equal(res.statusCode, 403, `${r.method} ${r.url}: ${res.body}`);
      assert.equal(res.json().error.code, 'RDB_ERR_FORBIDDEN');
      assert.match(res.json().error.message, /has role read-only, but .* needs (operator|admin)/);
    }
    assert.deepEqual(s.calls, [], 'no procedure ran');
    await s.app.close();
  });

  test('operator: switchover, failover, drain, fence allowed; forced failover, force-quorum, reinit, config set, member removal and token management 403', async () => {
    const s = await securedApp();
    const h = s.bearer('operator');
    const ok: [string, string, unknown][] = [
      ['POST', '/v1/cluster/switchover', { to: 'n2' }],
      ['POST', '/v1/cluster/failover', { to: 'n2' }],
      ['POST', '/v1/node/drain', {}],
      ['POST', '/v1/members/n2/fence', undefined],
      ['POST', '/v1/node/stop', {}],
    ];
    for (const [method, url, payload] of ok) {
      const res = await s.app.inject({ method: method as 'POST', url, headers: h, payload: payload as object });
      assert.ok(res.statusCode >= 200 && res.statusCode < 300, `${method} ${url}: ${res.statusCode} ${res.body}`);
    }
    const refused: [string, string, unknown][] = [
      ['POST', '/v1/cluster/failover', { to: 'n2', force: true }],
      ['POST', '/v1/node/force-quorum', sampleBody({ method: 'POST', url: '/v1/node/force-quorum' })],
      ['POST', '/v1/node/reinit', undefined],
      ['PUT', '/v1/config/lease_ms', { value: 2000 }],
      ['DELETE', '/v1/members/n2', undefined],
      ['POST', '/v1/tokens', { name: 'x', role: 'admin' }],
      ['GET', '/v1/tokens', undefined],
      ['GET', '/v1/audit', undefined],
    ];
    s.calls.length = 0;
    for (const [method, url, payload] of refused) {
      const res = await s.app.inject({ method: method as 'POST', url, headers: h, payload: payload as object });
      assert.equal(res.statusCode, 403, `${method} ${url}: ${res.body}`);
    }
    assert.deepEqual(s.calls, []);
    await s.app.close();
  });

  test('admin may do everything; a forced failover reaches the procedure', async () => {
    const s = await securedApp();
    const res = await s.app.inject({ method: 'POST', url: '/v1/cluster/failover', headers: s.bearer('admin'), payload: { to: 'n2', force: true } });
    assert.equal(res.statusCode, 202);
    assert.deepEqual(s.calls, ['requestFailover']);
    await s.app.close();
  });

  test('a join token passes only on the join routes', async () => {
    const s = await securedApp();
    const join = { authorization: 'Bearer rdbj_abc_def_0123' };
    assert.equal((await s.app.inject({ method: 'POST', url: '/v1/node/join', headers: join, payload: { cluster_address: '127.0.0.1:7001' } })).statusCode, 200);
    assert.equal((await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: join })).statusCode, 401);
    assert.equal((await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: join, payload: {} })).statusCode, 401);
    await s.app.close();
  });

  test('too many failures from one address → 429 with Retry-After, even with a good token, until the window passes', async () => {
    const s = await securedApp({ rateLimit: { maxFailures: 3, windowMs: 60_000 } });
    for (let i = 0; i < 3; i++) assert.equal((await s.app.inject({ method: 'GET', url: '/v1/cluster' })).statusCode, 401);
    const res = await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: s.bearer('admin') });
    assert.equal(res.statusCode, 429);
    assert.equal(res.json().error.code, 'RDB_ERR_RATE_LIMITED');
    assert.equal(res.headers['retry-after'], '60');
    assert.equal((await s.app.inject({ method: 'GET', url: '/primary' })).statusCode, 200, 'health checks are not limited');
    s.clock.now += 60_001;
    assert.equal((await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: s.bearer('admin') })).statusCode, 200);
    await s.app.close();
  });
});

describe('token routes', () => {
  test('create shows the token once; list shows no secret; revoke refuses it at once; the last admin cannot be revoked', async () => {
    const s = await securedApp();
    const admin = s.bearer('admin');
    const created = await s.app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { name: 'ci', role: 'operator' } });
    assert.equal(created.statusCode, 201);
    const t = created.json() as CreatedTokenView;
    assert.deepEqual([t.name, t.role, t.createdBy, t.revokedAt], ['ci', 'operator', 'admin', null]);
    const ci = { authorization: `Bearer ${t.token}` };
    assert.equal((await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: ci, payload: {} })).statusCode, 202);

    assert.equal((await s.app.inject({ method: 'POST', url: '/v1/tokens', headers: admin, payload: { name: 'ci', role: 'admin' } })).statusCode, 409, 'names are unique');

    const list = await s.app.inject({ method: 'GET', url: '/v1/tokens', headers: admin });
    assert.equal(list.statusCode, 200);
    assert.deepEqual((list.json() as TokenListView).tokens.map((x) => x.name).sort(), ['admin', 'ci', 'operator', 'read-only']);
    assert.doesNotMatch(list.body, /rdbt_|salt|hash/);

    const revoked = await s.app.inject({ method: 'DELETE', url: '/v1/tokens/ci', headers: admin });
    assert.equal(revoked.statusCode, 200);
    assert.ok(revoked.json().revokedAt);
    const after = await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: ci });
    assert.equal(after.statusCode, 401);
    assert.equal((await s.app.inject({ method: 'DELETE', url: `/v1/tokens/${t.id}`, headers: admin })).statusCode, 200, 'revoking twice is a no-op');
    assert.equal((await s.app.inject({ method: 'DELETE', url: '/v1/tokens/nobody', headers: admin })).statusCode, 404);

    const last = await s.app.inject({ method: 'DELETE', url: '/v1/tokens/admin', headers: admin });
    assert.equal(last.statusCode, 412);
    assert.match(last.json().error.message, /last valid admin token/);
    await s.app.close();
  });
});

describe('audit log', () => {
  test('each mutating call is recorded with its principal, route, target and outcome; reads, 401s and secrets are not', async () => {
    const s = await securedApp();
    await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: s.bearer('operator'), payload: { to: 'n2' } });
    await s.app.inject({ method: 'POST', url: '/v1/node/force-quorum', headers: s.bearer('operator'), payload: sampleBody({ method: 'POST', url: '/v1/node/force-quorum' }) as object });
    await s.app.inject({ method: 'POST', url: '/v1/members/n3/fence', headers: s.bearer('admin') });
    await s.app.inject({ method: 'POST', url: '/v1/tokens', headers: s.bearer('admin'), payload: { name: 'ci', role: 'read-only' } });
    await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', payload: { to: 'n2' } });
    await s.app.inject({ method: 'POST', url: '/v1/cluster/failover', headers: s.bearer('admin'), payload: { to: 'n2', bogus: 1 } });
    await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: s.bearer('admin') });
    await s.audit.drain();
    const res = await s.app.inject({ method: 'GET', url: '/v1/audit?limit=50', headers: s.bearer('admin') });
    assert.equal(res.statusCode, 200);
    const records = (res.json() as AuditView).records.reverse();
    assert.deepEqual(
      records.map((r) => [r.principal, r.role, r.method, r.route, r.target, r.status, r.outcome, r.node]),
      [
        ['operator', 'operator', 'POST', '/v1/cluster/switchover', 'n2', 202, 'ok', 'n1'],
        // Refused before the body was read: no target.
        ['operator', 'operator', 'POST', '/v1/node/force-quorum', null, 403, 'denied', 'n1'],
        ['admin', 'admin', 'POST', '/v1/members/:id/fence', 'n3', 200, 'ok', 'n1'],
        ['admin', 'admin', 'POST', '/v1/tokens', 'ci', 201, 'ok', 'n1'],
        ['admin', 'admin', 'POST', '/v1/cluster/failover', 'n2', 400, 'failed', 'n1'],
      ],
    );
    assert.doesNotMatch(JSON.stringify(records), /rdbt_|Bearer/);
    assert.ok(records.every((r) => !Number.isNaN(Date.parse(r.at))));
    await s.app.close();
  });
});
