/**
 * Join tokens against a real sandbox and a real new node (node init + cluster
 * join through the real CLI, the node's agent and PostgreSQL):
 * no token, an expired token, a reused token and a token for another role are
 * refused with RDB_ERR_UNAUTHORIZED (CLI exit 4) and leave the membership as
 * it was; a valid token lets the node join, with a certificate the cluster CA signed.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import type { JoinTokenAnswer } from '../../agent/api/wire-admin.ts';
import { createKeyAndCsr } from '../../agent/security/pki.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, stopEverythingUnder, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;
let root: string;
let sb: Sandbox;
let newConfig: string;

const cli = (args: string[]) => runAdmin(args, adminEnv(box), 240_000);

before(async () => {
  box = await openTestSandbox('join-token-test', { nodes: 1 });
  ({ root, sb } = box);
  const [api, pg] = await findFreePorts(2);
  newConfig = join(root, 'n9', 'rustydb.conf');
  const r = await cli(['node', 'init', '--node-id', 'n9', '--cluster', 'sandbox', '--data-dir', join(root, 'n9'), '--address', `127.0.0.1:${api}`, '--pg-port', String(pg), '--config', newConfig]);
  assert.equal(r.code, 0, r.stderr);
});

after(async () => {
  try {
    // The joined node's agent was started by `cluster join`, not by the sandbox.
    if (box) await stopEverythingUnder(join(box.root, 'n9'));
  } finally {
    await closeTestSandbox(box);
  }
});

const members = async () => (await sb.clusterView())!.members.map((m) => m.id).sort();

async function createToken(body: object): Promise<JoinTokenAnswer> {
  const res = await sb.apiFetch(`${sb.node('n1').apiUrl}/v1/join-tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()) as JoinTokenAnswer;
}

const join9 = (token: string | null, role = 'follower') =>
  cli(['cluster', 'join', '--node-id', 'n9', '--cluster-address', `127.0.0.1:${sb.node('n1').apiPort}`, '--config', newConfig, '--timeout', '3m', '--role', role, ...(token ? ['--token', token] : [])]);

test('a node without a join token cannot join (CLI exit 4, and the API refuses a member without one)', async () => {
  const r = await join9(null);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /needs a join token/);
  // Straight to the API: an admin API token is not a join token.
  const res = await sb.apiFetch(`${sb.node('n1').apiUrl}/v1/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ id: 'n10', kind: 'voter', api_url: 'https://127.0.0.1:1', pg: '127.0.0.1:2', cluster: 'sandbox', csr: createKeyAndCsr('n10').csrPem }),
  });
  assert.equal(res.status, 401);
  assert.match(await res.text(), /RDB_ERR_UNAUTHORIZED.*without a join token/);
  assert.deepEqual(await members(), ['n1']);
});

test('an expired token and a token for another role are refused; membership unchanged', async () => {
  const short = await createToken({ ttl_seconds: 1 });
  await new Promise((r) => setTimeout(r, 1500));
  let r = await join9(short.token);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /expired/);
  const witnessOnly = await createToken({ role: 'witness', ttl_seconds: 600 });
  r = await join9(witnessOnly.token);
  assert.equal(r.code, 4, r.stderr);
  assert.match(r.stderr, /admits a witness/);
  assert.deepEqual(await members(), ['n1']);
});

test('a valid token lets the node join with a CA-signed certificate; the same token cannot be used again', { timeout: 240_000 }, async () => {
  const t = await createToken({ ttl_seconds: 600 });
  const r = await join9(t.token);
  assert.equal(r.code, 0, `join failed (exit ${r.code}):\n${r.stderr}`);
  assert.deepEqual(await members(), ['n1', 'n9']);
  const cert = new X509Certificate(readFileSync(join(root, 'n9', 'agent', 'tls', 'node.pem')));
  assert.ok(cert.checkIssued(new X509Certificate(readFileSync(sb.caFile()))), "n9's certificate is now the cluster CA's");

  // Reuse by another node: refused, nothing added.
  const res = await fetchWithJoinToken(t.token, { id: 'n10', kind: 'voter', api_url: 'https://127.0.0.1:1', pg: '127.0.0.1:2', cluster: 'sandbox', csr: createKeyAndCsr('n10').csrPem });
  assert.equal(res.status, 401);
  assert.match(res.text, /already used \(by n9/);
  assert.deepEqual(await members(), ['n1', 'n9']);
});

async function fetchWithJoinToken(token: string, body: object): Promise<{ status: number; text: string }> {
  const res = await sb.apiFetch(`${sb.node('n1').apiUrl}/v1/members`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return { status: res.status, text: await res.text() };
}
