/**
 * The CLI's API client (undici MockAgent: no network, unused stubs fail) and
 * its contexts: resolution order, atomic 0600 writes, bad files.
 */

import { afterEach, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useMockAgent } from './helpers/mock-http.ts';
import { ApiClient, ApiRequestError } from '../../src/api/client.ts';
import { contextsPath, DEFAULT_ENDPOINT, readContexts, resolveTarget, saveContext, writeContexts } from '../../src/contexts.ts';
import { CliError } from '../../src/errors.ts';

const A = 'http://127.0.0.1:7001';
const B = 'http://127.0.0.1:7002';
const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });

describe('ApiClient', () => {
  const agent = useMockAgent();

  test('GET returns the parsed body; POST sends the JSON body', async () => {
    agent().get(A).intercept({ path: '/v1/cluster', method: 'GET' }).reply(200, { name: 'c1' });
    agent()
      .get(A)
      .intercept({ path: '/v1/cluster/switchover', method: 'POST', body: JSON.stringify({ to: 'n2' }) })
      .reply(202, { id: 'op1' }, { headers: { location: '/v1/operations/op1' } });
    const c = new ApiClient([A], { timeoutMs: 1000 });
    assert.deepEqual(await c.get('/v1/cluster'), { name: 'c1' });
    const r = await c.send('POST', '/v1/cluster/switchover', { to: 'n2' });
    assert.equal(r.status, 202);
    assert.equal(r.location, '/v1/operations/op1');
    assert.deepEqual(r.body, { id: 'op1' });
  });

  test('a refused connection moves on to the next endpoint', async () => {
    agent().get(A).intercept({ path: '/v1/node' }).replyWithError(refused());
    agent().get(B).intercept({ path: '/v1/node' }).reply(200, { id: 'n2' });
    const r = await new ApiClient([A, B], { timeoutMs: 1000 }).send('GET', '/v1/node', undefined);
    assert.equal(r.endpoint, B);
    assert.deepEqual(r.body, { id: 'n2' });
  });

  test('all endpoints unreachable: kind unreachable (exit 8), naming each endpoint', async () => {
    agent().get(A).intercept({ path: '/v1/node' }).replyWithError(refused());
    agent().get(B).intercept({ path: '/v1/node' }).replyWithError(refused());
    const err = await new ApiClient([A, B], { timeoutMs: 1000 }).get('/v1/node').then(
      () => assert.fail('resolved'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof CliError);
    assert.equal(err.kind, 'unreachable');
    assert.equal(err.exitCode, 8);
    assert.match(err.message, new RegExp(`${A}.*ECONNREFUSED.*${B}`));
  });

  test('a 503 on a read moves on to the next endpoint; if none answers, the first 503 is reported', async () => {
    agent().get(A).intercept({ path: '/v1/cluster' }).reply(503, { error: { code: 'RDB_ERR_NO_QUORUM', message: 'no quorum: bring voters back' } });
    agent().get(B).intercept({ path: '/v1/cluster' }).reply(200, { name: 'demo' });
    assert.deepEqual(await new ApiClient([A, B], { timeoutMs: 1000 }).get('/v1/cluster'), { name: 'demo' });

    agent().get(A).intercept({ path: '/v1/cluster' }).reply(503, { error: { code: 'RDB_ERR_NO_QUORUM', message: 'no quorum: bring voters back' } });
    agent().get(B).intercept({ path: '/v1/cluster' }).reply(503, { error: { code: 'RDB_ERR_UNAVAILABLE', message: 'catching up' } });
    await assert.rejects(new ApiClient([A, B], { timeoutMs: 1000 }).get('/v1/cluster'), (e: unknown) => {
      assert.ok(e instanceof ApiRequestError);
      assert.equal(e.kind, 'precondition');
      assert.equal(e.code, 'RDB_ERR_NO_QUORUM');
      assert.equal(e.message, 'no quorum: bring voters back');
      return true;
    });
  });

  test('other HTTP errors, and any error on a write, are not retried on the next endpoint', async () => {
    agent().get(A).intercept({ path: '/v1/cluster', method: 'POST' }).reply(503, { error: { code: 'RDB_ERR_NO_QUORUM', message: 'no quorum' } });
    agent().get(A).intercept({ path: '/v1/cluster' }).reply(412, { error: { code: 'RDB_ERR_PRECONDITION', message: 'unsafe' } });
    // B has no interceptor: a request to it would fail the test (net connect disabled).
    await assert.rejects(new ApiClient([A, B], { timeoutMs: 1000 }).post('/v1/cluster', {}), (e: unknown) => e instanceof ApiRequestError && e.code === 'RDB_ERR_NO_QUORUM');
    await assert.rejects(new ApiClient([A, B], { timeoutMs: 1000 }).get('/v1/cluster'), (e: unknown) => e instanceof ApiRequestError && e.code === 'RDB_ERR_PRECONDITION');
  });

  const cases: [string, number, string, number][] = [
    ['RDB_ERR_INVALID', 400, 'usage', 2],
    ['RDB_ERR_UNAUTHORIZED', 401, 'auth', 4],
    ['RDB_ERR_FORBIDDEN', 403, 'auth', 4],
    ['RDB_ERR_PRECONDITION', 412, 'precondition', 5],
    ['RDB_ERR_NO_QUORUM', 503, 'precondition', 5],
    ['RDB_ERR_CONFLICT', 409, 'conflict', 6],
    ['RDB_ERR_NOT_FOUND', 404, 'precondition', 5],
    ['RDB_ERR_UNAVAILABLE', 503, 'failed', 1],
    ['RDB_ERR_INTERNAL', 500, 'failed', 1],
  ];
  for (const [code, status, kind, exit] of cases) {
    test(`${code} → ${kind} (exit ${exit})`, async () => {
      agent().get(A).intercept({ path: '/v1/history?limit=5' }).reply(status, { error: { code, message: `says ${code}` } });
      await assert.rejects(new ApiClient([A], { timeoutMs: 1000 }).get('/v1/history?limit=5'), (e: unknown) => {
        assert.ok(e instanceof CliError);
        assert.equal(e.kind, kind);
        assert.equal(e.exitCode, exit);
        assert.equal(e.message, `says ${code}`);
        return true;
      });
    });
  }

  test('a non-API error body is described by its status', async () => {
    agent().get(A).intercept({ path: '/v1/node' }).reply(502, 'bad gateway');
    await assert.rejects(new ApiClient([A], { timeoutMs: 1000 }).get('/v1/node'), (e: unknown) => e instanceof CliError && e.kind === 'failed' && /HTTP 502/.test(e.message));
  });

  test('a 307/308 leader redirect is followed with the same method and body, relative or absolute', async () => {
    const body = JSON.stringify({ to: 'n2', request_id: 'r1' });
    agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST', body }).reply(307, '', { headers: { location: `${B}/v1/cluster/switchover` } });
    agent().get(B).intercept({ path: '/v1/cluster/switchover', method: 'POST', body }).reply(308, '', { headers: { location: '/v1/cluster/switchover?x=1' } });
    agent().get(B).intercept({ path: '/v1/cluster/switchover?x=1', method: 'POST', body }).reply(202, { id: 'op1' });
    const r = await new ApiClient([A], { timeoutMs: 1000 }).send('POST', '/v1/cluster/switchover', { to: 'n2', request_id: 'r1' });
    assert.equal(r.status, 202);
    assert.equal(r.endpoint, B, 'the endpoint that answered');
    assert.deepEqual(r.body, { id: 'op1' });
  });

  test('an error naming the leader URL in its details is retried there; PUT and DELETE send their bodies', async () => {
    agent().get(A).intercept({ path: '/v1/config/ha_mode', method: 'PUT', body: '{"value":"active_active"}' })
      .reply(421, { error: { code: 'RDB_ERR_UNAVAILABLE', message: 'not the leader', details: { leaderUrl: B } } });
    agent().get(B).intercept({ path: '/v1/config/ha_mode', method: 'PUT', body: '{"value":"active_active"}' }).reply(200, { ok: true });
    assert.deepEqual(await new ApiClient([A], { timeoutMs: 1000 }).put('/v1/config/ha_mode', { value: 'active_active' }), { ok: true });
    agent().get(A).intercept({ path: '/v1/members/n3', method: 'DELETE', body: '{"request_id":"r2"}' }).reply(200, { removed: 'n3' });
    assert.deepEqual(await new ApiClient([A], { timeoutMs: 1000 }).delete('/v1/members/n3', { request_id: 'r2' }), { removed: 'n3' });
  });

  test('redirects stop after 3 hops (exit 1, says the agents disagree)', async () => {
    for (let i = 0; i < 4; i++) agent().get(A).intercept({ path: '/v1/cluster/failover', method: 'POST' }).reply(307, '', { headers: { location: '/v1/cluster/failover' } });
    await assert.rejects(new ApiClient([A], { timeoutMs: 1000 }).post('/v1/cluster/failover', { to: 'n2' }), (e: unknown) => {
      assert.ok(e instanceof CliError);
      assert.equal(e.exitCode, 1);
      assert.match(e.message, /redirected more than 3 times.*disagree about the leader/);
      return true;
    });
  });

  test('per-request timeout (AbortSignal.timeout) moves on to the next endpoint; a caller signal is exit 130', async () => {
    agent().get(A).intercept({ path: '/v1/node' }).reply(200, { id: 'n1' }).delay(2000);
    agent().get(B).intercept({ path: '/v1/node' }).reply(200, { id: 'n2' });
    const r = await new ApiClient([A, B], { timeoutMs: 10_000 }).send('GET', '/v1/node', undefined, { timeoutMs: 50 });
    assert.deepEqual(r.body, { id: 'n2' });
    agent().get(A).intercept({ path: '/v1/node' }).reply(200, { id: 'n1' }).delay(2000);
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 20);
    await assert.rejects(new ApiClient([A, B], { timeoutMs: 10_000 }).get('/v1/node', { signal: ac.signal }), (e: unknown) => e instanceof CliError && e.exitCode === 130);
  });
});

describe('contexts', () => {
  let dir: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rdb-ctx-'));
    env = { HOME: join(dir, 'home'), RUSTYDB_CONFIG_DIR: join(dir, 'cfg') };
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  test('the file lives in RUSTYDB_CONFIG_DIR, else $XDG_CONFIG_HOME/rustydb, else ~/.config/rustydb', () => {
    assert.equal(contextsPath(env), join(dir, 'cfg', 'admin.toml'));
    assert.equal(contextsPath({ HOME: '/h', XDG_CONFIG_HOME: '/x' }), '/x/rustydb/admin.toml');
    assert.equal(contextsPath({ HOME: '/h' }), '/h/.config/rustydb/admin.toml');
  });

  test('resolution: --endpoint > RUSTYDB_ENDPOINTS > --context > current context > default', () => {
    assert.deepEqual(resolveTarget({}, env).endpoints, [DEFAULT_ENDPOINT]);
    assert.equal(resolveTarget({}, env).source, 'default');
    saveContext(env, 'prod', { endpoints: ['http://10.0.0.1:5433'], caFile: '/ca.pem', tokenFile: null }, false);
    saveContext(env, 'sandbox', { endpoints: [A, B], caFile: null, tokenFile: null }, true);
    assert.deepEqual(resolveTarget({}, env), { endpoints: [A, B], source: 'context', context: 'sandbox', caFile: null, tokenFile: null });
    const prod = resolveTarget({ context: 'prod' }, env);
    assert.deepEqual([prod.endpoints, prod.context, prod.caFile], [['http://10.0.0.1:5433'], 'prod', '/ca.pem']);
    const withEnv = { ...env, RUSTYDB_ENDPOINTS: `${B}, ${A}/` };
    assert.deepEqual(resolveTarget({ context: 'prod' }, withEnv).endpoints, [B, A]);
    assert.equal(resolveTarget({}, withEnv).source, 'env');
    assert.deepEqual(resolveTarget({ endpoint: 'http://127.0.0.1:9', context: 'prod' }, withEnv).endpoints, ['http://127.0.0.1:9']);
  });

  test('an unknown context or a malformed endpoint is a usage error', () => {
    assert.throws(() => resolveTarget({ context: 'nope' }, env), (e: unknown) => e instanceof CliError && e.kind === 'usage' && /no context "nope"/.test(e.message));
    assert.throws(() => resolveTarget({ endpoint: 'localhost:5433' }, env), (e: unknown) => e instanceof CliError && e.kind === 'usage');
  });

  test('writes are atomic (no temp file left), mode 0600, and keep the other contexts', () => {
    const path = saveContext(env, 'a', { endpoints: [A], caFile: null, tokenFile: '/tok' }, true);
    saveContext(env, 'b', { endpoints: [B], caFile: null, tokenFile: null }, false);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.deepEqual(readdirSync(join(dir, 'cfg')), ['admin.toml']);
    const doc = readContexts(path);
    assert.equal(doc.current, 'a');
    assert.deepEqual(doc.contexts.a, { endpoints: [A], caFile: null, tokenFile: '/tok' });
    assert.deepEqual(doc.contexts.b.endpoints, [B]);
    assert.match(readFileSync(path, 'utf8'), /current = "a"/);
    // A failed write leaves the old file as it was.
    mkdirSync(`${path}.tmp-${process.pid}`);
    assert.throws(() => writeContexts(path, { current: null, contexts: {} }), CliError);
    assert.equal(readContexts(path).current, 'a');
    rmSync(`${path}.tmp-${process.pid}`, { recursive: true });
  });

  test('a malformed file is a usage error naming the file and the line', () => {
    mkdirSync(join(dir, 'cfg'));
    const path = contextsPath(env);
    writeFileSync(path, 'current = "x"\n[contexts.x]\nendpoints = [\n');
    assert.throws(() => resolveTarget({}, env), (e: unknown) => e instanceof CliError && e.kind === 'usage' && e.message.startsWith(`${path}:`) && /:\d+:\d+: /.test(e.message));
    writeFileSync(path, '[contexts.x]\nendpoints = "http://a"\n');
    assert.throws(() => readContexts(path), (e: unknown) => e instanceof CliError && e.kind === 'usage' && /\[contexts\.x\] needs endpoints/.test(e.message));
    assert.equal(existsSync(path), true);
  });
});
