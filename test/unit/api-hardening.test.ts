/**
 * Malformed requests against the API as the agent wires it: wrong types,
 * unknown fields (on every route that takes a body, including those that
 * take none), huge payloads, invalid UTF-8, deeply nested JSON, prototype
 * poisoning. Each is a 400/413 with an RDB_ERR_* body, reaches no procedure,
 * and the app keeps serving.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { API_BODY_LIMIT, MAX_JSON_DEPTH } from '../../agent/api/app.ts';
import { ROUTE_RULES } from '../../agent/security/roles.ts';
import { sampleBody, sampleUrl, securedApp } from './helpers/secured-app.ts';

type Res = Awaited<ReturnType<Awaited<ReturnType<typeof securedApp>>['app']['inject']>>;

function assertClientError(res: Res, status: number, what: string): void {
  assert.equal(res.statusCode, status, `${what}: ${res.body}`);
  const body = res.json() as { error: { code: string; message: string } };
  assert.match(body.error.code, /^RDB_ERR_/, what);
  assert.doesNotMatch(res.body, /at .*\.ts:\d+|node_modules/, 'no stack trace');
}

const mutating = ROUTE_RULES.filter((r) => r.method !== 'GET' && r.url !== '/v1/pki/ca');

test('an unknown field is a 400 naming it on every route that takes a body (and on those that take none)', async () => {
  const s = await securedApp();
  for (const r of mutating) {
    const base = (sampleBody(r) as Record<string, unknown> | undefined) ?? {};
    const res = await s.app.inject({ method: r.method, url: sampleUrl(r.url), headers: s.bearer('admin'), payload: { ...base, surprise: 1 } });
    assertClientError(res, 400, `${r.method} ${r.url}`);
    assert.match(res.json().error.message, /unknown field "surprise"/, `${r.method} ${r.url}`);
  }
  assert.deepEqual(s.calls, [], 'no procedure ran');
  await s.app.close();
});

// Ajv coerces scalars the JSON-schema way ("5" ↔ 5, "true" ↔ true), as Fastify does for query strings; a type that cannot be coerced is a 400.
test('wrong types → 400 naming the field', async () => {
  const s = await securedApp();
  const cases: [string, string, unknown, RegExp][] = [
    ['POST', '/v1/cluster/failover', { to: { id: 'n2' } }, /field "to"/],
    ['POST', '/v1/cluster/failover', { to: 'n2', force: 'yes' }, /field "force"/],
    ['POST', '/v1/node/drain', { timeout_ms: 'soon' }, /field "timeout_ms"/],
    ['POST', '/v1/tokens', { name: 'x', role: 'root' }, /field "role"/],
    ['POST', '/v1/tokens', { name: {}, role: 'admin' }, /field "name"/],
    ['PUT', '/v1/config/lease_ms', { value: [1, 2] }, /field "value"/],
    ['POST', '/v1/cluster/switchover', [1, 2], /request body/],
    ['POST', '/v1/cluster/switchover', 'n2', /./],
  ];
  for (const [method, url, payload, msg] of cases) {
    const res = await s.app.inject({ method: method as 'POST', url, headers: { ...s.bearer('admin'), 'content-type': 'application/json' }, payload: JSON.stringify(payload) });
    assertClientError(res, 400, `${url} ${JSON.stringify(payload)}`);
    assert.match(res.json().error.message, msg);
  }
  assert.deepEqual(s.calls, []);
  await s.app.close();
});

test('a body over the limit → 413; invalid UTF-8 → 400; nesting deeper than the limit → 400; __proto__ → 400', async () => {
  const s = await securedApp();
  const h = { ...s.bearer('admin'), 'content-type': 'application/json' };
  const post = (payload: string | Buffer) => s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: h, payload });

  const huge = await post(JSON.stringify({ to: 'n2', request_id: 'x'.repeat(API_BODY_LIMIT) }));
  assertClientError(huge, 413, 'huge');

  const badUtf8 = Buffer.concat([Buffer.from('{"to":"n'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]);
  const bad = await post(badUtf8);
  assertClientError(bad, 400, 'invalid UTF-8');
  assert.match(bad.json().error.message, /UTF-8/);

  for (const depth of [MAX_JSON_DEPTH + 1, 5000, 30_000]) {
    const deep = await post('{"to":' + '['.repeat(depth) + ']'.repeat(depth) + '}');
    assertClientError(deep, 400, `depth ${depth}`);
    assert.match(deep.json().error.message, /nested/);
  }
  // Brackets inside strings (escaped quotes included) are not nesting.
  const inString = await post(JSON.stringify({ to: 'n2', request_id: '\\"['.repeat(30) }));
  assert.equal(inString.statusCode, 202, inString.body);
  s.calls.length = 0;

  assertClientError(await post('{"to":"n2","__proto__":{"x":1}}'), 400, '__proto__');
  assertClientError(await post('{"to":'), 400, 'truncated JSON');
  assertClientError(await post(''), 400, 'empty JSON body');
  const text = await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: { ...s.bearer('admin'), 'content-type': 'text/plain' }, payload: 'to=n2' });
  assertClientError(text, 400, 'text/plain');

  assert.deepEqual(s.calls, []);
  // Still serving.
  assert.equal((await s.app.inject({ method: 'POST', url: '/v1/cluster/switchover', headers: h, payload: '{"to":"n2"}' })).statusCode, 202);
  assert.equal((await s.app.inject({ method: 'GET', url: '/primary' })).statusCode, 200);
  await s.app.close();
});

test('unknown query parameters → 400 on every GET', async () => {
  const s = await securedApp();
  for (const r of ROUTE_RULES.filter((x) => x.method === 'GET')) {
    const res = await s.app.inject({ method: 'GET', url: `${sampleUrl(r.url)}?bogus=1`, headers: s.bearer('admin') });
    assertClientError(res, 400, r.url);
  }
  await s.app.close();
});
