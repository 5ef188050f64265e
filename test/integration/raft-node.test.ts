/**
 * Real Raft nodes: real sockets on 127.0.0.1 (Fastify + undici), real SQLite
 * files in a temp dir, short timings. The tests run in order on one cluster.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { RAFT_DEFAULTS, type RaftSettings } from '../../agent/raft/config.ts';
import { RaftNode } from '../../agent/raft/node.ts';
import { openSqliteStorage } from '../../agent/raft/storage.ts';
import { StoreError } from '../../agent/raft/store.ts';
import { HttpTransport, raftPeerRoutes } from '../../agent/raft/transport.ts';
import { fillDisk, freeDisk, mountSmallDisk, unmountSmallDisk } from '../faults/inject/disk.ts';

// Snapshot often and keep few entries behind it, so a node that was down
// catches up through InstallSnapshot rather than the log alone.
const settings: RaftSettings = { ...RAFT_DEFAULTS, heartbeatIntervalMs: 50, electionTimeoutMs: 500, snapshotInterval: 20, maxLogEntries: 60, retentionLogs: 5 };

interface Running {
  id: string;
  node: RaftNode;
  app: FastifyInstance;
}

const root = mkdtempSync(join(tmpdir(), 'raft-node-test-'));
const ports: Record<string, number> = {};
const urls: Record<string, string> = {};
const running = new Map<string, Running>();
const fatal: Error[] = [];
const founders = ['n1', 'n2', 'n3'];


async function startNode(id: string, opts: { bootstrap?: boolean; storageDir?: string } = {}): Promise<Running> {
  const transport = new HttpTransport({ selfId: id, messageTimeoutMs: 500 });
  const node = new RaftNode({
    id,
    storage: openSqliteStorage(join(root, id, 'raft.db')),
    transport,
    settings,
    peers: Object.fromEntries(founders.map((p) => [p, urls[p]])),
    bootstrap: opts.bootstrap ? { voters: founders } : undefined,
    seed: id.charCodeAt(1) * 7919,
    requestTimeoutMs: 5000,
    onFatal: (e) => fatal.push(e),
    storageDir: opts.storageDir,
  });
  const app = Fastify({ logger: false });
  await app.register(raftPeerRoutes(node));
  await app.listen({ host: '127.0.0.1', port: ports[id] });
  node.start();
  const r = { id, node, app };
  running.set(id, r);
  return r;
}

async function stopNode(id: string): Promise<void> {
  const r = running.get(id);
  if (!r) return;
  running.delete(id);
  await r.node.stop();
  await r.app.close();
}

/** Poll until `check` returns a value (not undefined/false); fail with `what` after `ms`. */
async function waitFor<T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> {
  const until = performance.now() + ms;
  for (;;) {
    const v = check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > until) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The leader all running nodes agree on (among `ids`), once they do. */
function agreedLeader(ids = [...running.keys()]): Running | undefined {
  const views = ids.map((id) => running.get(id)!.node.leader());
  const first = views[0];
  if (!first || !views.every((v) => v && v.id === first.id && v.term === first.term)) return undefined;
  return running.get(first.id);
}

const follower = (leader: Running): Running => [...running.values()].find((r) => r.id !== leader.id && r.node.status().membership.voters.includes(r.id))!;

before(async () => {
  for (const id of [...founders, 'n4']) {
    [ports[id]] = await findFreePorts(1);
    urls[id] = `http://127.0.0.1:${ports[id]}`;
  }
  for (const id of founders) await startNode(id, { bootstrap: true });
});

after(async () => {
  for (const id of [...running.keys()]) await stopNode(id);
  rmSync(root, { recursive: true, force: true });
  assert.deepEqual(fatal.map((e) => e.message), [], 'no node hit a broken invariant');
});

test('a leader is elected and known by every node', async () => {
  const leader = await waitFor('a leader all three nodes agree on', () => agreedLeader());
  assert.ok(founders.includes(leader.id));
  assert.equal(leader.node.isLeader(), true);
  assert.equal([...running.values()].filter((r) => r.node.isLeader()).length, 1);
});

test('put and get through a follower', async () => {
  const leader = agreedLeader()!;
  const f = follower(leader);
  assert.equal(f.node.isLeader(), false);
  assert.deepEqual(await f.node.put('/a', 'one'), { ok: true, version: 1 });
  // A forwarded write returns only once this follower applied it too (read-your-writes, even locally).
  assert.equal((await f.node.get('/a', { consistency: 'local' }))?.value, 'one');
  const rec = await f.node.get('/a');
  assert.equal(rec?.value, 'one');
  assert.equal(rec?.version, 1);
  for (const r of running.values()) assert.equal((await r.node.get('/a'))?.value, 'one', `linearizable read on ${r.id}`);
  assert.equal(await f.node.get('/missing'), null);
  await leader.node.put('/b/1', 'x');
  await f.node.put('/b/2', 'y');
  assert.deepEqual((await f.node.list('/b/')).map((r) => [r.key, r.value]), [['/b/1', 'x'], ['/b/2', 'y']]);
});

test('compare-and-set: a stale version is refused with version-mismatch', async () => {
  const leader = agreedLeader()!;
  const f = follower(leader);
  assert.deepEqual(await f.node.put('/a', 'two', { expectVersion: 1 }), { ok: true, version: 2 });
  assert.deepEqual(await f.node.put('/a', 'stale', { expectVersion: 1 }), { ok: false, version: 2, reason: 'version-mismatch' });
  assert.deepEqual(await leader.node.put('/new', 'v', { expectVersion: 1 }), { ok: false, version: 0, reason: 'version-mismatch' });
  assert.deepEqual(await leader.node.put('/new', 'v', { expectVersion: 0 }), { ok: true, version: 1 });
  assert.deepEqual(await f.node.delete('/new', { expectVersion: 5 }), { ok: false, version: 1, reason: 'version-mismatch' });
  assert.deepEqual(await f.node.delete('/new', { expectVersion: 1 }), { ok: true, version: 0 });
  assert.equal((await leader.node.get('/a'))?.value, 'two');
  assert.equal(await leader.node.get('/new'), null);
});

test('a retried write with the same requestId is applied once', async () => {
  const leader = agreedLeader()!;
  const f = follower(leader);
  const first = await f.node.put('/counter', 'first', { requestId: 'req-1' });
  assert.deepEqual(first, { ok: true, version: 1 });
  // The retry goes to another node and carries another value: it must get the first answer.
  const retry = await leader.node.put('/counter', 'second', { requestId: 'req-1' });
  assert.deepEqual(retry, first);
  const rec = await f.node.get('/counter');
  assert.equal(rec?.value, 'first');
  assert.equal(rec?.version, 1);
  // Concurrent duplicates as well.
  const dups = await Promise.all([...running.values()].map((r) => r.node.put('/dup', 'v', { requestId: 'req-2' })));
  assert.ok(dups.every((d) => d.ok && d.version === 1));
  assert.equal((await leader.node.get('/dup'))?.version, 1);
});

test('peer routes validate their input and serve reads', async () => {
  const leader = agreedLeader()!;
  const f = follower(leader);
  const post = (id: string, path: string, body: unknown) =>
    fetch(`${urls[id]}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const read = await post(f.id, '/raft/v1/read', { key: '/a', timeoutMs: 2000 });
  assert.equal(read.status, 200);
  assert.deepEqual(((await read.json()) as { records: { value: string }[] }).records.map((r) => r.value), ['two']);
  assert.equal((await post(f.id, '/raft/v1/read', { timeoutMs: 2000 })).status, 400);
  assert.equal((await post(f.id, '/raft/v1/messages', [{ type: 'bogus' }])).status, 400);
  const misrouted = await post(f.id, '/raft/v1/messages', [
    { type: 'heartbeat', from: 'n9', to: 'n8', term: 1, index: 0, logTerm: 0, entries: [], commit: 0, reject: false, rejectHint: 0, hintTerm: 0, context: '' },
  ]);
  assert.equal(misrouted.status, 400);
  assert.match(((await misrouted.json()) as { error: { message: string } }).error.message, /reached node/);
  // A follower refuses forwarded writes (no forwarding chains) and names the leader.
  const notLeader = await post(f.id, '/raft/v1/propose', { command: { op: 'put', key: '/x', value: 'y' }, timeoutMs: 1000 });
  assert.equal(notLeader.status, 421);
  assert.equal(((await notLeader.json()) as { error: { code: string; leader: string } }).error.leader, leader.id);
});

test('stopping the leader elects a new one, with the data intact', async () => {
  const old = agreedLeader()!;
  await stopNode(old.id);
  const leader = await waitFor('a new leader among the survivors', () => agreedLeader());
  assert.notEqual(leader.id, old.id);
  for (const r of running.values()) assert.equal((await r.node.get('/a'))?.value, 'two');
  // Enough writes to snapshot and compact past what the stopped node has.
  for (let i = 0; i < 30; i++) assert.equal((await follower(leader).node.put(`/down/${i}`, `v${i}`)).ok, true);
  assert.ok(leader.node.status().snapshotIndex > 0, 'the leader took a snapshot');
  await assert.rejects(old.node.get('/a'), (e: unknown) => e instanceof StoreError && e.code === 'stopped');
  (globalThis as { stoppedId?: string }).stoppedId = old.id;
});

test('a restarted node recovers from its SQLite dir and catches up', async () => {
  const id = (globalThis as { stoppedId?: string }).stoppedId!;
  const r = await startNode(id);
  const leader = await waitFor('all three nodes agreeing on a leader', () => agreedLeader());
  const target = leader.node.status().commit;
  await waitFor(`${id} applying up to ${target}`, () => r.node.status().applied >= target);
  const local = r.node.status();
  assert.ok(local.snapshotIndex > 0, 'caught up through a snapshot');
  const mine = (await r.node.list('', { consistency: 'local' })).map((x) => [x.key, x.value, x.version]);
  const theirs = (await leader.node.list('', { consistency: 'local' })).map((x) => [x.key, x.value, x.version]);
  assert.deepEqual(mine, theirs);
  assert.equal((await r.node.get('/down/29'))?.value, 'v29');
  assert.equal((await r.node.get('/a'))?.value, 'two');
});

test('a 4th node joins as a learner, is promoted, then removed', async () => {
  const leader = await waitFor('a leader', () => agreedLeader());
  const n4 = await startNode('n4');
  assert.equal(n4.node.isLeader(), false);
  await leader.node.addMember('n4', urls.n4);
  assert.deepEqual(leader.node.status().membership.learners, ['n4']);
  await waitFor('n4 catching up', () => n4.node.status().applied >= leader.node.status().commit && n4.node.status().applied > 0);
  assert.equal((await n4.node.get('/a'))?.value, 'two');
  await leader.node.promote('n4');
  assert.ok(leader.node.status().membership.voters.includes('n4'));
  await waitFor('n4 knowing it is a voter', () => n4.node.status().appliedMembership.voters.includes('n4'));
  // Every node now knows how to reach n4 (the address is replicated).
  assert.equal((await leader.node.get('/raft/peers/n4'))?.value, urls.n4);
  assert.deepEqual(await n4.node.put('/from-n4', 'hi'), { ok: true, version: 1 });
  await leader.node.remove('n4');
  assert.ok(!leader.node.status().membership.voters.includes('n4'));
  assert.deepEqual(leader.node.status().membership.learners, []);
  await stopNode('n4');
  assert.equal((await leader.node.get('/from-n4'))?.value, 'hi');
});

test('leadership transfer moves the leader to the chosen voter', async () => {
  const leader = await waitFor('a leader', () => agreedLeader());
  const to = follower(leader).id;
  await leader.node.transferLeadership(to);
  await waitFor(`all nodes following ${to}`, () => agreedLeader()?.id === to);
  assert.deepEqual(await leader.node.put('/after-transfer', 'ok'), { ok: true, version: 1 });
});

test('a full disk pauses a node (no exit, nothing acknowledged) and it catches up once there is room', { skip: process.getuid?.() === 0 ? false : 'needs root to mount a tmpfs' }, async () => {
  const leader = await waitFor('a leader', () => agreedLeader());
  const { id } = follower(leader);
  const dir = join(root, id);
  await stopNode(id);
  mountSmallDisk(dir, 16);
  try {
    const r = await startNode(id, { storageDir: dir });
    await waitFor(`${id} caught up`, () => r.node.status().applied >= leader.node.status().applied);
    fillDisk(dir);
    for (let i = 0; i < 200 && r.node.status().problem === null; i++) await leader.node.put(`/full/${i}`, 'x'.repeat(2000));
    assert.match(r.node.status().problem ?? '(not paused)', /is full/);
    assert.equal(r.node.leader(), null, 'a paused node knows no leader');
    assert.equal(running.has(id), true);
    // The two others are a majority: writes go on without it.
    await leader.node.put('/full/after', 'yes');
    freeDisk(dir);
    await waitFor(`${id} resumed`, () => r.node.status().problem === null);
    const until = performance.now() + 10_000;
    while ((await r.node.get('/full/after', { consistency: 'local' }))?.value !== 'yes') {
      if (performance.now() > until) assert.fail(`${id} did not catch up after its disk had room again`);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    await stopNode(id);
    unmountSmallDisk(dir);
    await startNode(id);
  }
});

test('a node cut off from the quorum refuses writes and linearizable reads, but serves local reads', async () => {
  const leader = await waitFor('a leader', () => agreedLeader());
  const lone = follower(leader);
  for (const id of [...running.keys()]) if (id !== lone.id) await stopNode(id);
  assert.equal((await lone.node.get('/a', { consistency: 'local' }))?.value, 'two');
  await assert.rejects(lone.node.put('/nope', 'x', { timeoutMs: 1500 }), (e: unknown) => e instanceof StoreError && ['no-leader', 'timeout'].includes(e.code));
  await assert.rejects(lone.node.get('/a', { timeoutMs: 1500 }), (e: unknown) => e instanceof StoreError && ['no-leader', 'timeout'].includes(e.code));
  assert.equal(lone.node.isLeader(), false);
});
