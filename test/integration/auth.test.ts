/**
 * API tokens, roles and the audit log against a real 3-node sandbox over
 * its real TLS listener: no token → 401; a read-only token may GET
 * everything it is meant to and no POST/PUT/DELETE; an operator may switch
 * over but not force; a revoked token is refused at once; malformed bodies
 * are 400/413 and the agent keeps serving; `cluster audit -o json` shows
 * each mutating call with the right principal and no secret.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fetch as undiciFetch } from 'undici';
import type { ClusterView, OperationView } from '../../agent/api/wire.ts';
import type { AuditRecord, AuditView, CreatedTokenView } from '../../agent/api/wire-security.ts';
import { ROUTE_RULES } from '../../agent/security/roles.ts';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type EnvOverrides, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;
let root: string;
let sb: Sandbox;
const tokens: Record<string, string> = {};

const cli = (args: string[], extraEnv: EnvOverrides = {}) => runAdmin(args, adminEnv(box, extraEnv), 60_000);

/** A request to node `id` with `token` (null: no Authorization header at all). */
async function call(id: string, method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = {};
  if (token !== null) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await undiciFetch(`${sb.node(id).apiUrl}${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    dispatcher: sb.dispatcher(),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch {
    json = text;
  }
  return { status: res.status, json };
}

const code = (r: { json: unknown }) => (r.json as { error?: { code?: string } }).error?.code;

async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for ${what}`);
}

before(async () => {
  box = await openTestSandbox('auth-test');
  ({ root, sb } = box);
  for (const [name, role] of [['ro', 'read-only'], ['op', 'operator']]) {
    const r = await cli(['token', 'create', '--role', role, '--name', name, '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const t = JSON.parse(r.stdout) as CreatedTokenView;
    assert.equal(t.role, role);
    tokens[name] = t.token;
  }
});

after(() => closeTestSandbox(box));

test('without a token every /v1 route is 401; the health checks answer without one', async () => {
  for (const [method, path] of [['GET', '/v1/cluster'], ['GET', '/v1/node'], ['POST', '/v1/cluster/switchover'], ['DELETE', '/v1/members/n2']] as const) {
    const r = await call('n1', method, path, null, method === 'POST' ? {} : undefined);
    assert.equal(r.status, 401, `${method} ${path}`);
    assert.equal(code(r), 'RDB_ERR_UNAUTHORIZED');
  }
  assert.equal((await call('n1', 'GET', '/v1/cluster', `rdbt_${'0'.repeat(12)}_${'a'.repeat(40)}`)).status, 401);
  assert.equal((await call('n1', 'GET', '/health', null)).status, 200);
  const r = await cli(['cluster', 'status'], { RUSTYDB_TOKEN: '' , RUSTYDB_CONFIG_DIR: join(root, 'empty-config') });
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /no API token was given/);
});

test('read-only: every read-only GET is 200 on every node; every POST/PUT/DELETE is 403', async () => {
  const ro = tokens.ro;
  const view = (await call('n1', 'GET', '/v1/cluster', ro)).json as ClusterView;
  for (const n of sb.nodes()) {
    for (const r of ROUTE_RULES.filter((x) => x.method === 'GET' && x.role === 'read-only' && x.url !== '/v1/operations/:id')) {
      const res = await call(n.id, 'GET', r.url.replace(':id', view.primary!), ro);
      assert.equal(res.status, 200, `${n.id} GET ${r.url}: ${JSON.stringify(res.json)}`);
    }
  }
  for (const r of ROUTE_RULES.filter((x) => x.method !== 'GET')) {
    const res = await call('n2', r.method, r.url.replace(':id', 'n3').replace(':key', 'lease_ms'), ro, r.method === 'DELETE' ? undefined : {});
    assert.equal(res.status, 403, `${r.method} ${r.url}: ${JSON.stringify(res.json)}`);
    assert.equal(code(res), 'RDB_ERR_FORBIDDEN');
  }
  assert.equal((await cli(['token', 'list'], { RUSTYDB_TOKEN: ro })).code, 4);
});

test('operator: switchover allowed; force-quorum, forced failover, reinit and token create 403', async () => {
  const op = tokens.op;
  const before = (await call('n1', 'GET', '/v1/cluster', op)).json as ClusterView;
  const target = before.members.find((m) => m.role === 'replica')!.id;
  const refused: [string, string, unknown][] = [
    ['POST', '/v1/node/force-quorum', { cluster: 'sandbox', voters: ['n1'], dropped: ['n2'], primary: 'n1', request_id: 'fq1' }],
    ['POST', '/v1/cluster/failover', { to: target, force: true }],
    ['POST', '/v1/node/reinit', {}],
    ['POST', '/v1/tokens', { name: 'sneaky', role: 'admin' }],
    ['PUT', '/v1/config/lease_ms', { value: 3000 }],
  ];
  for (const [method, path, body] of refused) {
    const r = await call('n1', method, path, op, body);
    assert.equal(r.status, 403, `${method} ${path}: ${JSON.stringify(r.json)}`);
  }
  const r = await cli(['cluster', 'failover', '--to', target, '-o', 'json'], { RUSTYDB_TOKEN: op });
  assert.equal(r.code, 0, r.stderr);
  const opView = JSON.parse(r.stdout) as OperationView;
  assert.equal(opView.state, 'succeeded', r.stdout);
  await eventually(`${target} to be primary`, async () => ((await call('n1', 'GET', '/v1/cluster', op)).json as ClusterView).primary === target);
  // The operation is readable with a read-only token too.
  assert.equal((await call('n3', 'GET', `/v1/operations/${encodeURIComponent(opView.id)}`, tokens.ro)).status, 200);
});

test('a revoked token is refused at once by the agent that revoked it, and soon by every agent', async () => {
  const tokenFile = join(root, 'op-token');
  writeFileSync(tokenFile, tokens.op + '\n', { mode: 0o600 });
  assert.equal((await cli(['cluster', 'status', '--token-file', tokenFile], { RUSTYDB_TOKEN: '' })).code, 0);
  const r = await cli(['token', 'revoke', 'op', '--endpoint', sb.node('n2').apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  const res = await call('n2', 'GET', '/v1/cluster', tokens.op);
  assert.equal(res.status, 401);
  for (const n of ['n1', 'n3']) await eventually(`${n} to refuse the revoked token`, async () => (await call(n, 'GET', '/v1/cluster', tokens.op)).status === 401, 5000);
  const cliAfter = await cli(['cluster', 'status', '--token-file', tokenFile]);
  assert.equal(cliAfter.code, 4);
  assert.doesNotMatch(cliAfter.stderr, /rdbt_/, 'the CLI never prints the token');
  // The last admin token cannot be revoked.
  const last = await cli(['token', 'revoke', 'sandbox-admin']);
  assert.equal(last.code, 5, last.stderr);
});

test('malformed bodies are 400/413 with an error code, and the agent keeps serving', async () => {
  const adminToken = sb.adminToken();
  const cases: [string, unknown, number][] = [
    ['wrong type', { to: { id: 'n2' } }, 400],
    ['unknown field', { to: 'n2', colour: 'red' }, 400],
    ['huge', JSON.stringify({ to: 'n2', request_id: 'x'.repeat(200_000) }), 413],
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"to":"n'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), 400],
    ['deeply nested', '{"to":' + '['.repeat(20_000) + ']'.repeat(20_000) + '}', 400],
    ['truncated', '{"to":', 400],
  ];
  for (const [what, body, status] of cases) {
    const r = await call('n1', 'POST', '/v1/cluster/switchover', adminToken, body);
    assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json).slice(0, 300)}`);
    assert.match(String(code(r)), /^RDB_ERR_/, what);
  }
  assert.equal((await call('n1', 'POST', '/v1/members/n3/fence', adminToken, { now: true })).status, 400, 'a route without a body refuses fields');
  assert.equal((await call('n1', 'GET', '/v1/cluster', adminToken)).status, 200);
  assert.equal((await call('n1', 'GET', '/health', null)).status, 200);
});

test('cluster audit -o json shows each mutating call with its principal, route, target and outcome, and no secret', async () => {
  const r = await cli(['cluster', 'audit', '-o', 'json', '--limit', '500']);
  assert.equal(r.code, 0, r.stderr);
  const { records } = JSON.parse(r.stdout) as AuditView;
  const has = (what: string, p: (x: AuditRecord) => boolean) => assert.ok(records.some(p), `${what} in:\n${records.map((x) => JSON.stringify(x)).join('\n')}`);
  has('token ro created by the sandbox admin', (x) => x.principal === 'sandbox-admin' && x.route === '/v1/tokens' && x.method === 'POST' && x.target === 'ro' && x.outcome === 'ok');
  has('a refused POST by ro', (x) => x.principal === 'ro' && x.role === 'read-only' && x.outcome === 'denied' && x.status === 403);
  has('the switchover by op', (x) => x.principal === 'op' && x.route === '/v1/cluster/switchover' && x.status === 202 && x.outcome === 'ok' && x.target !== null);
  has('the refused force-quorum by op', (x) => x.principal === 'op' && x.route === '/v1/node/force-quorum' && x.outcome === 'denied');
  has('the revocation of op', (x) => x.principal === 'sandbox-admin' && x.method === 'DELETE' && x.route === '/v1/tokens/:id' && x.target === 'op' && x.outcome === 'ok');
  has('the refused revocation of the last admin token', (x) => x.method === 'DELETE' && x.target === 'sandbox-admin' && x.status === 412 && x.outcome === 'failed');
  has('a malformed body', (x) => x.principal === 'sandbox-admin' && x.status === 413 && x.outcome === 'failed');
  assert.ok(!records.some((x) => x.principal === 'anonymous'), 'no anonymous records');
  assert.doesNotMatch(r.stdout, /rdbt_|Bearer/);
  assert.ok(!r.stdout.includes(sb.pgConfigFor('n1').password), 'no engine password');
  assert.ok(!r.stdout.includes(tokens.ro) && !r.stdout.includes(tokens.op) && !r.stdout.includes(sb.adminToken()));
});
