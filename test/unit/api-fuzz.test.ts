/**
 * Property-based fuzz (fast-check) over the control API's request schemas:
 * for every /v1 route of the role table, random bodies (valid ones mutated,
 * arbitrary JSON, raw bytes), random path parameters and query strings, sent
 * with an admin token through `app.inject()` on fakes that answer validly.
 * Properties: never a 500; every 4xx is a JSON `{error:{code: RDB_ERR_*}}`
 * without a stack trace; the app keeps serving afterwards.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { API_ERROR_CODES } from '../../agent/api/wire.ts';
import { ROUTE_RULES, type RouteRule } from '../../agent/security/roles.ts';
import { sampleBody, sampleUrl, securedApp, type SecuredApp } from './helpers/secured-app.ts';

const RUNS = Number(process.env.FUZZ_RUNS ?? 60);
const codes = new Set<string>(API_ERROR_CODES);

/** A body: the route's valid one with fields added, removed or retyped; or any JSON; or raw bytes. */
function bodyArb(r: RouteRule): fc.Arbitrary<{ payload: string | Buffer; contentType: string }> {
  const valid = (sampleBody(r) ?? {}) as Record<string, unknown>;
  const mutated = fc
    .record({
      drop: fc.subarray(Object.keys(valid)),
      // Often nothing added or retyped, so that valid requests reach the procedures too.
      add: fc.oneof(fc.constant({}), fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 3 })),
      retype: fc.oneof(fc.constant({}), fc.dictionary(fc.constantFrom(...Object.keys(valid), 'to'), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 2 })),
    })
    .map(({ drop, add, retype }) => {
      const o: Record<string, unknown> = { ...valid, ...add, ...retype };
      for (const k of drop) delete o[k];
      return JSON.stringify(o);
    });
  const json = fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v));
  const deep = fc.integer({ min: 1, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n));
  const text = fc.oneof(mutated, json, deep, fc.string({ unit: 'binary', maxLength: 200 }));
  const bytes = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
  return fc.oneof(
    { weight: 6, arbitrary: text.map((payload) => ({ payload, contentType: 'application/json' })) },
    { weight: 2, arbitrary: bytes.map((payload) => ({ payload, contentType: 'application/json' })) },
    { weight: 1, arbitrary: fc.tuple(text, fc.constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml', '')).map(([payload, contentType]) => ({ payload, contentType })) },
  );
}

const paramArb = fc.oneof(fc.constantFrom('n1', 'switchover-1', 'lease_ms', 'admin'), fc.string({ maxLength: 80 }), fc.string({ unit: 'binary', maxLength: 20 }));
const queryArb = fc.dictionary(fc.constantFrom('limit', 'consistency', 'force', 'x', '__proto__', 'lag'), fc.oneof(fc.string({ maxLength: 10 }), fc.integer().map(String)), { maxKeys: 3 });

function urlFor(r: RouteRule, param: string, query: Record<string, string>): string {
  const path = r.url.replace(/:(id|key)/, encodeURIComponent(param) || 'x');
  const qs = new URLSearchParams(query).toString();
  return qs ? `${path}?${qs}` : path;
}

async function check(s: SecuredApp, method: string, url: string, payload: string | Buffer | undefined, contentType: string | undefined): Promise<void> {
  const headers: Record<string, string> = { ...s.bearer('admin') };
  if (contentType) headers['content-type'] = contentType;
  const res = await s.app.inject({ method: method as 'POST', url, headers, payload });
  assert.notEqual(res.statusCode, 500, `${method} ${url} ${String(payload).slice(0, 200)} → 500 ${res.body}`);
  if (res.statusCode >= 400) {
    let body: { error?: { code?: string; message?: string } };
    try {
      body = res.json();
    } catch {
      assert.fail(`${method} ${url} → ${res.statusCode} without a JSON body: ${res.body.slice(0, 200)}`);
    }
    assert.ok(body.error && codes.has(body.error.code ?? ''), `${method} ${url} → ${res.statusCode} ${res.body.slice(0, 300)}`);
    assert.doesNotMatch(res.body, /\.ts:\d+|node_modules|at async /, 'no stack trace');
  }
}

test('fuzzed requests on every /v1 route: never 500; every error a JSON RDB_ERR_* body', async () => {
  const s = await securedApp({ rateLimit: { maxFailures: 1e9, windowMs: 1000 } });
  for (const r of ROUTE_RULES) {
    if (r.method === 'GET') {
      await fc.assert(
        fc.asyncProperty(paramArb, queryArb, async (param, query) => check(s, 'GET', urlFor(r, param, query), undefined, undefined)),
        { numRuns: RUNS },
      );
    } else {
      await fc.assert(
        fc.asyncProperty(paramArb, queryArb, bodyArb(r), async (param, query, body) => check(s, r.method, urlFor(r, param, query), body.payload, body.contentType)),
        { numRuns: RUNS },
      );
    }
  }
  // Still serving, and the fakes were reached by some requests (the fuzz is not all refused at the gate).
  assert.ok(s.calls.length > 0, 'some fuzzed requests reached a procedure');
  const ok = await s.app.inject({ method: 'POST', url: sampleUrl('/v1/cluster/switchover'), headers: s.bearer('admin'), payload: { to: 'n2' } });
  assert.equal(ok.statusCode, 202);
  await s.app.close();
});

test('fuzzed Authorization headers: always 401 (or 429), never 500, never let through', async () => {
  const s = await securedApp({ rateLimit: { maxFailures: 1e9, windowMs: 1000 } });
  const header = fc.oneof(
    fc.string({ maxLength: 100 }).map((t) => `Bearer ${t}`),
    fc.tuple(fc.stringMatching(/^[0-9a-f]{12}$/), fc.stringMatching(/^[0-9a-f]{40}$/)).map(([id, sec]) => `Bearer rdbt_${id}_${sec}`),
    fc.constant(`Bearer ${s.tokens.admin.slice(0, -1)}0`),
    fc.string({ maxLength: 100 }),
  );
  await fc.assert(
    fc.asyncProperty(header, async (h) => {
      if (h.trim() === `Bearer ${s.tokens.admin}` || /[^\t\x20-\x7e]/.test(h)) return; // the real token; headers must be printable
      const res = await s.app.inject({ method: 'GET', url: '/v1/cluster', headers: { authorization: h } });
      assert.equal(res.statusCode, 401, `${JSON.stringify(h)} → ${res.statusCode}`);
    }),
    { numRuns: RUNS * 3 },
  );
  await s.app.close();
});
