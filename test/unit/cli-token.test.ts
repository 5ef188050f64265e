/**
 * The CLI side of API tokens: which token is sent (--token-file >
 * RUSTYDB_TOKEN > the context's token_file), that it goes out as
 * `Authorization: Bearer`, never into a message, and the `token` and
 * `cluster audit` commands against undici MockAgent stubs.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useMockAgent } from './helpers/mock-http.ts';
import type { AuditView, CreatedTokenView } from '../../agent/api/wire-security.ts';
import { main, type Factory } from '../../src/cli.ts';
import { resolveToken, saveContext } from '../../src/contexts.ts';
import { CliError } from '../../src/errors.ts';

const A = 'http://127.0.0.1:7001';
const TOKEN = `rdbt_0123456789ab_${'c'.repeat(40)}`;
const agent = useMockAgent();

async function run(args: string[], env: NodeJS.ProcessEnv, tty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const f: Factory = { io: { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color: false }, env, cwd: '/' };
  const code = await main(args, f);
  return { code, out, err };
}

test('token precedence: --token-file, then RUSTYDB_TOKEN, then the token_file of the context that chose the endpoints', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rdb-tok-'));
  const env: NodeJS.ProcessEnv = { RUSTYDB_CONFIG_DIR: dir };
  const f1 = join(dir, 't1');
  const f2 = join(dir, 't2');
  writeFileSync(f1, 'from-flag\n');
  writeFileSync(f2, '  from-context \n');
  saveContext(env, 'prod', { endpoints: [A], caFile: null, tokenFile: f2 }, true);
  assert.equal(resolveToken({}, env), 'from-context');
  assert.equal(resolveToken({}, { ...env, RUSTYDB_TOKEN: 'from-env' }), 'from-env');
  assert.equal(resolveToken({ tokenFile: f1 }, { ...env, RUSTYDB_TOKEN: 'from-env' }), 'from-flag');
  // Endpoints from elsewhere: the context's token is not sent to them.
  assert.equal(resolveToken({ endpoint: 'http://10.9.9.9:5433' }, env), null);
  assert.equal(resolveToken({}, { ...env, RUSTYDB_ENDPOINTS: 'http://10.9.9.9:5433' }), null);
  assert.throws(
    () => resolveToken({ tokenFile: join(dir, 'missing') }, env),
    (e: unknown) => e instanceof CliError && e.kind === 'usage' && /cannot read the API token file .*missing \(--token-file\)/.test(e.message),
  );
});

test('token create: the Authorization header carries RUSTYDB_TOKEN; table output is the bare token, JSON the whole answer', async () => {
  const created: CreatedTokenView = { id: 'aaaaaaaaaaaa', name: 'ci', role: 'operator', createdAt: '2026-01-01T00:00:00Z', createdBy: 'admin', revokedAt: null, token: 'rdbt_new' };
  for (const output of ['table', 'json']) {
    agent()
      .get(A)
      .intercept({ path: '/v1/tokens', method: 'POST', headers: { authorization: `Bearer ${TOKEN}` }, body: JSON.stringify({ name: 'ci', role: 'operator' }) })
      .reply(201, created);
    const r = await run(['token', 'create', '--role', 'operator', '--name', 'ci', '-o', output], { RUSTYDB_ENDPOINTS: A, RUSTYDB_TOKEN: TOKEN, RUSTYDB_CONFIG_DIR: '/nonexistent' });
    assert.equal(r.code, 0, r.err);
    if (output === 'table') {
      assert.equal(r.out, 'rdbt_new\n');
      assert.match(r.err, /shown only this once/);
    } else assert.deepEqual(JSON.parse(r.out), created);
  }
  const bad = await run(['token', 'create', '--role', 'root', '--name', 'ci'], { RUSTYDB_ENDPOINTS: A });
  assert.equal(bad.code, 2);
});

test('a 401/403 exits 4 and the message never holds the token', async () => {
  agent().get(A).intercept({ path: '/v1/tokens', method: 'GET' }).reply(403, { error: { code: 'RDB_ERR_FORBIDDEN', message: 'token "ro" has role read-only, but GET /v1/tokens needs admin' } });
  const r = await run(['token', 'list'], { RUSTYDB_ENDPOINTS: A, RUSTYDB_TOKEN: TOKEN, RUSTYDB_CONFIG_DIR: '/nonexistent' });
  assert.equal(r.code, 4);
  assert.match(r.err, /needs admin/);
  assert.ok(!r.err.includes(TOKEN) && !r.out.includes(TOKEN));
});

test('token revoke and cluster audit', async () => {
  agent().get(A).intercept({ path: '/v1/tokens/ci', method: 'DELETE' }).reply(200, { id: 'aaaaaaaaaaaa', name: 'ci', role: 'operator', createdAt: 'x', createdBy: 'admin', revokedAt: '2026-01-02T00:00:00Z' });
  const env = { RUSTYDB_ENDPOINTS: A, RUSTYDB_TOKEN: TOKEN, RUSTYDB_CONFIG_DIR: '/nonexistent' };
  const rv = await run(['token', 'revoke', 'ci', '-o', 'table'], env);
  assert.equal(rv.code, 0, rv.err);
  assert.equal(rv.out, 'token aaaaaaaaaaaa "ci" (operator) revoked at 2026-01-02T00:00:00Z\n');

  const audit: AuditView = {
    records: [{ at: '2026-01-01T00:00:00Z', principal: 'op', role: 'operator', method: 'POST', route: '/v1/cluster/switchover', target: 'n2', status: 202, outcome: 'ok', node: 'n1' }],
  };
  agent().get(A).intercept({ path: '/v1/audit?limit=5', method: 'GET' }).reply(200, audit);
  const a = await run(['cluster', 'audit', '--limit', '5', '-o', 'table'], env);
  assert.equal(a.code, 0, a.err);
  assert.equal(a.out, '2026-01-01T00:00:00Z\top\toperator\tPOST /v1/cluster/switchover\tn2\t202\tok\tn1\n');
  assert.equal((await run(['cluster', 'audit', '--limit', '0'], env)).code, 2);
});

test('node init --bootstrap prints the first admin token once and writes only its hash (0600), named by [security] in the config', async () => {
  const { readFileSync, statSync } = await import('node:fs');
  const { loadConfig } = await import('../../agent/config/load.ts');
  const { readBootstrapTokenFile, bootstrapRecord } = await import('../../agent/security/bootstrap.ts');
  const { tokenMatches } = await import('../../agent/security/tokens.ts');
  const dir = mkdtempSync(join(tmpdir(), 'rdb-init-'));
  const config = join(dir, 'rustydb.conf');
  const r = await run(['node', 'init', '--node-id', 'n1', '--cluster', 'prod', '--address', '127.0.0.1:7101', '--data-dir', join(dir, 'data'), '--config', config, '--bootstrap', '-o', 'json'], { RUSTYDB_CONFIG_DIR: '/nonexistent' });
  assert.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { adminToken: string };
  assert.match(out.adminToken, /^rdbt_[0-9a-f]{12}_[0-9a-f]{40}$/);
  const cfg = loadConfig(config);
  const file = cfg.security.bootstrapTokenFile!;
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.ok(!readFileSync(file, 'utf8').includes(out.adminToken.split('_')[2]), 'no plaintext on disk');
  const f = readBootstrapTokenFile(file);
  assert.equal(await tokenMatches(out.adminToken, bootstrapRecord(f, new Date())), true);

  const plain = await run(['node', 'init', '--node-id', 'n2', '--cluster', 'prod', '--address', '127.0.0.1:7102', '--data-dir', join(dir, 'data2'), '--config', join(dir, 'n2.conf'), '-o', 'json'], { RUSTYDB_CONFIG_DIR: '/nonexistent' });
  assert.equal(plain.code, 0, plain.err);
  assert.equal((JSON.parse(plain.out) as { adminToken?: string }).adminToken, undefined, 'a joining node makes no token');
});
