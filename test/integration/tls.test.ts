/**
 * TLS on a real 3-node sandbox (agents + PostgreSQL):
 * - the agent port speaks TLS 1.3 only (a TLS 1.2 client cannot connect);
 * - peer routes (/raft/*, /internal/*) refuse callers without a client
 *   certificate or with one from another CA, and a fake "node" with a
 *   self-signed certificate cannot make a node vote or append entries;
 * - `cluster rotate-certs` (the real CLI) re-issues every node's certificate
 *   while a writer keeps writing and Raft keeps its leader; the old
 *   certificates stay valid through the switch (same CA).
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect, type PeerCertificate } from 'node:tls';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import { PEER_PATHS } from '../../agent/raft/transport.ts';
import type { Message } from '../../agent/raft/types.ts';
import type { NodePositionView, RotateCertsAnswer } from '../../agent/api/wire-admin.ts';
import { createCa, createKeyAndCsr, issueNodeCert, selfSignedCert } from '../../agent/security/pki.ts';
import { Writer } from './helpers/writer.ts';
import { createTables, pgNodeOf } from './helpers/trials.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;
let dir: string;
let sb: Sandbox;
let caPem: string;

before(async () => {
  box = await openTestSandbox('tls-test');
  ({ dir, sb } = box);
  caPem = readFileSync(sb.caFile(), 'utf8');
});

after(() => closeTestSandbox(box));

const cli = (args: string[]) => runAdmin(args, adminEnv(box), 120_000);

const port = (id: string) => sb.node(id).apiPort;

/** A request as a TLS client with the given identity (or none); resolves to status and body. */
async function call(id: string, method: 'GET' | 'POST', path: string, identity: { cert: string; key: string } | null, body?: unknown): Promise<{ status: number; text: string }> {
  const dispatcher = new Agent({ connect: { ca: caPem, ...(identity ?? {}) } });
  try {
    const res = await request(`${sb.node(id).apiUrl}${path}`, {
      method,
      dispatcher,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    });
    return { status: res.statusCode, text: await res.body.text() };
  } finally {
    await dispatcher.close();
  }
}

/** The node's own certificate and key as the sandbox wrote them (what the agent uses right now). */
function nodeIdentity(id: string): { cert: string; key: string } {
  return { cert: readFileSync(join(dir, id, 'tls', 'node.pem'), 'utf8'), key: readFileSync(join(dir, id, 'tls', 'node-key.pem'), 'utf8') };
}

/** The certificate the node's listener presents now. */
function presented(id: string): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: port(id), ca: caPem, minVersion: 'TLSv1.3' }, () => {
      const c = s.getPeerCertificate();
      s.end();
      resolve(c);
    });
    s.on('error', reject);
  });
}

async function position(id: string): Promise<NodePositionView> {
  const res = await sb.apiFetch(`${sb.node(id).apiUrl}/v1/node/position`);
  assert.equal(res.status, 200);
  return (await res.json()) as NodePositionView;
}

test('the agent port speaks TLS 1.3 only: a TLS 1.2 client cannot connect, a 1.3 one can', async () => {
  const outcome = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
    new Promise<string>((resolve) => {
      const s = connect({ host: '127.0.0.1', port: port('n1'), ca: caPem, maxVersion, minVersion: 'TLSv1.2' }, () => {
        const v = s.getProtocol() ?? 'unknown';
        s.end();
        resolve(v);
      });
      s.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? err.message}`));
    });
  assert.match(await outcome('TLSv1.2'), /^error: /);
  assert.equal(await outcome('TLSv1.3'), 'TLSv1.3');
  // Health checks stay open (no token, no client certificate) but are served over TLS.
  assert.equal((await call('n1', 'GET', '/liveness', null)).status, 200);
});

test('peer routes refuse callers without a cluster client certificate', async () => {
  const otherCa = createCa({ clusterName: 'elsewhere' });
  const foreign = issueNodeCert(otherCa, { commonName: 'n2', sans: ['IP:127.0.0.1'] });
  const foreignId = { cert: foreign.certPem, key: foreign.keyPem };
  for (const identity of [null, foreignId]) {
    const who = identity ? 'a certificate from another CA' : 'no client certificate';
    const observe = await call('n1', 'GET', '/internal/v1/observe', identity);
    assert.equal(observe.status, 401, `observe with ${who}`);
    assert.match(observe.text, /RDB_ERR_UNAUTHORIZED/);
    assert.equal((await call('n1', 'POST', PEER_PATHS.messages, identity, [])).status, 401, `raft messages with ${who}`);
    assert.equal((await call('n1', 'GET', '/internal/v1/raft-info', identity)).status, 401, `raft-info with ${who}`);
  }
  // A member's certificate passes.
  assert.equal((await call('n1', 'GET', '/internal/v1/observe', nodeIdentity('n2'))).status, 200);
});

test('a fake node with a self-signed certificate cannot make a node vote or append entries', async () => {
  const { keyPem } = createKeyAndCsr('n2');
  const fake = { cert: selfSignedCert(keyPem, { commonName: 'n2', sans: ['IP:127.0.0.1'] }), key: keyPem };
  const view = await sb.clusterView();
  const victim = view!.members.find((m) => m.id !== view!.leader)!.id;
  const before = await position(victim);
  const base = { from: view!.leader!, to: victim, commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: '' };
  const term = before.raft.term + 50;
  const batch: Message[] = [
    { ...base, type: 'vote', term, index: before.raft.lastIndex + 100, logTerm: term, entries: [] } as Message,
    {
      ...base,
      type: 'app',
      term,
      index: before.raft.lastIndex,
      logTerm: before.raft.lastTerm,
      entries: [{ index: before.raft.lastIndex + 1, term, type: 'normal', data: Buffer.from('{"op":"put","key":"/rustydb/evil","value":"x"}').toString('base64') }],
      commit: before.raft.lastIndex + 1,
    } as Message,
  ];
  const r = await call(victim, 'POST', PEER_PATHS.messages, fake, batch);
  assert.equal(r.status, 401, r.text);
  await new Promise((res) => setTimeout(res, 500));
  const afterPos = await position(victim);
  assert.equal(afterPos.raft.term, before.raft.term, "the victim's term did not move");
  assert.ok(afterPos.raft.lastTerm < term, 'no entry of the fake term reached its log');
  assert.equal((await sb.clusterView())!.leader, view!.leader, 'the leader stayed');
});

test('cluster rotate-certs re-issues every certificate without downtime; old and new are valid during the switch', { timeout: 180_000 }, async () => {
  const view = await sb.clusterView();
  const primary = view!.primary!;
  const leader = view!.leader!;
  const termBefore = (await position(leader)).raft.term;
  await createTables(sb, primary);
  const writer = new Writer({ nodes: sb.nodes().map((n) => pgNodeOf(sb, n.id)), firstId: 1 });
  const old = Object.fromEntries(await Promise.all(sb.nodes().map(async (n) => [n.id, { fp: (await presented(n.id)).fingerprint256, identity: nodeIdentity(n.id) }] as const)));
  writer.start();
  try {
    await writer.waitForAck(() => true, 30_000);
    const r = await cli(['cluster', 'rotate-certs', '-o', 'json']);
    assert.equal(r.code, 0, `rotate-certs failed (exit ${r.code}):\n${r.stderr}`);
    const answer = JSON.parse(r.stdout) as RotateCertsAnswer;
    assert.deepEqual(answer.nodes.map((n) => [n.node, n.ok]).sort(), sb.nodes().map((n) => [n.id, true]));
    const acksAtRotation = writer.ackCount();
    await writer.waitForAck((a) => a.id > acksAtRotation + 20, 30_000);
  } finally {
    const report = await writer.stop();
    assert.ok(report.acked.length > 20, `the writer kept writing (acked ${report.acked.length}; events: ${report.events.join(' | ')})`);
  }
  for (const n of sb.nodes()) {
    const now = await presented(n.id);
    assert.notEqual(now.fingerprint256, old[n.id].fp, `${n.id} presents a new certificate`);
    const x = new X509Certificate(readFileSync(join(dir, n.id, 'tls', 'node.pem')));
    assert.ok(x.checkIssued(new X509Certificate(caPem)), `${n.id}'s new certificate is the cluster CA's`);
    // The certificate it had before the rotation still opens the peer routes (same CA).
    assert.equal((await call(n.id === 'n1' ? 'n2' : 'n1', 'GET', '/internal/v1/observe', old[n.id].identity)).status, 200, `${n.id}'s old certificate is still accepted`);
  }
  const after = await sb.clusterView();
  assert.equal(after!.leader, leader, 'Raft kept its leader');
  assert.equal((await position(leader)).raft.term, termBefore, 'no election happened');
  assert.equal(after!.writable, true);
});
