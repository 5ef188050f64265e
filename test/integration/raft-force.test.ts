/**
 * Forced reconfiguration on real Raft nodes (`RaftNode.forceNewConfiguration`,
 * behind `cluster force-quorum`): real sockets on 127.0.0.1 (Fastify + undici),
 * real SQLite files in a temp dir, short timings. Each test builds its own group,
 * loses a majority of it for good, and brings the survivors back to work.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import { RAFT_DEFAULTS, type RaftSettings } from '../../agent/raft/config.ts';
import { PEER_ADDRESS_PREFIX, RaftNode } from '../../agent/raft/node.ts';
import { openSqliteStorage } from '../../agent/raft/storage.ts';
import { StoreError } from '../../agent/raft/store.ts';
import { HttpTransport, raftPeerRoutes } from '../../agent/raft/transport.ts';
import { waitFor as pollUntil } from './helpers/checker.ts';

const settings: RaftSettings = { ...RAFT_DEFAULTS, heartbeatIntervalMs: 50, electionTimeoutMs: 500 };

interface Running {
  id: string;
  node: RaftNode;
  app: FastifyInstance;
}

const roots: string[] = [];
const fatal: Error[] = [];

after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
  assert.deepEqual(fatal.map((e) => e.message), [], 'no node hit a broken invariant');
});

/** A group of real nodes that all start as founders. */
class Group {
  readonly root = mkdtempSync(join(tmpdir(), 'raft-force-test-'));
  readonly ids: string[];
  readonly urls: Record<string, string> = {};
  readonly running = new Map<string, Running>();

  private constructor(ids: string[]) {
    this.ids = ids;
    roots.push(this.root);
  }

  static async start(n: number): Promise<Group> {
    const g = new Group(Array.from({ length: n }, (_, i) => `n${i + 1}`));
    const ports = await findFreePorts(n);
    g.ids.forEach((id, i) => (g.urls[id] = `http://127.0.0.1:${ports[i]}`));
    for (const id of g.ids) await g.startNode(id);
    return g;
  }

  async startNode(id: string): Promise<Running> {
    const node = new RaftNode({
      id,
      storage: openSqliteStorage(join(this.root, id, 'raft.db')),
      transport: new HttpTransport({ selfId: id, messageTimeoutMs: 500 }),
      settings,
      peers: { ...this.urls },
      bootstrap: { voters: this.ids },
      seed: id.charCodeAt(1) * 7919,
      requestTimeoutMs: 5000,
      onFatal: (e) => fatal.push(e),
    });
    const app = Fastify({ logger: false });
    await app.register(raftPeerRoutes(node));
    await app.listen({ host: '127.0.0.1', port: Number(new URL(this.urls[id]).port) });
    node.start();
    const r = { id, node, app };
    this.running.set(id, r);
    return r;
  }

  async stopNode(id: string): Promise<void> {
    const r = this.running.get(id);
    if (!r) return;
    this.running.delete(id);
    await r.node.stop();
    await r.app.close();
  }

  async stopAll(): Promise<void> {
    for (const id of [...this.running.keys()]) await this.stopNode(id);
  }

  get(id: string): RaftNode {
    return this.running.get(id)!.node;
  }

  /** The leader every running node agrees on, once they do. */
  agreedLeader(): string | undefined {
    const views = [...this.running.values()].map((r) => r.node.leader());
    const first = views[0];
    if (!first || !views.every((v) => v && v.id === first.id && v.term === first.term)) return undefined;
    return first.id;
  }
}

/** Poll the in-process nodes every 20 ms (the shared poller, synchronous checks). */
const waitFor = <T>(what: string, check: () => T | undefined | false, ms = 10_000): Promise<T> => pollUntil(what, async () => check(), ms, 20);

/** Raft's "more up to date" order on (lastTerm, lastIndex): the survivor that must force. */
function mostUpToDate(nodes: RaftNode[]): RaftNode {
  return nodes.reduce((best, n) => {
    const a = n.logPosition();
    const b = best.logPosition();
    return a.lastTerm > b.lastTerm || (a.lastTerm === b.lastTerm && a.lastIndex > b.lastIndex) ? n : best;
  });
}

const isStoreError = (code: string, message?: RegExp) => (e: unknown) =>
  e instanceof StoreError && e.code === code && (message === undefined || message.test(e.message));

test('3 nodes, 2 lost: the survivor forces a group of one and takes writes again', async (t) => {
  const g = await Group.start(3);
  t.after(() => g.stopAll());
  const leader = await waitFor('a leader', () => g.agreedLeader());
  const survivor = g.ids.find((id) => id !== leader)!;
  assert.deepEqual(await g.get(survivor).put('/before', 'kept'), { ok: true, version: 1 });
  for (const id of g.ids) if (id !== survivor) await g.stopNode(id);

  const node = g.get(survivor);
  await assert.rejects(node.put('/stuck', 'x', { timeoutMs: 1500 }), isStoreError('no-leader'), 'one of three cannot write');
  await assert.rejects(node.forceNewConfiguration(['n9']), isStoreError('invalid', /does not include/), 'a bad voter list is refused');
  await assert.rejects(node.forceNewConfiguration([survivor, 'n9']), isStoreError('invalid', /n9 is not a member/));

  const termBefore = node.logPosition().term;
  await node.forceNewConfiguration([survivor], { timeoutMs: 5000 });
  assert.equal(node.isLeader(), true);
  assert.ok(node.logPosition().term > termBefore, 'a new term');
  assert.deepEqual(node.status().appliedMembership, { voters: [survivor], learners: [] }, 'the forced configuration is committed and applied');
  assert.deepEqual(await node.put('/after', 'works', { timeoutMs: 3000 }), { ok: true, version: 1 });
  assert.equal((await node.get('/before'))?.value, 'kept', 'data written before the loss is still there');
  assert.equal((await node.get('/after'))?.value, 'works', 'linearizable reads work again');
});

test('5 nodes, 3 lost: the better survivor forces, and both survivors serve writes', async (t) => {
  const g = await Group.start(5);
  t.after(() => g.stopAll());
  const leader = await waitFor('a leader', () => g.agreedLeader());
  // A replicated address for a node that will be lost: forcing must drop it.
  const lostIds = [leader, ...g.ids.filter((id) => id !== leader).slice(0, 2)];
  const survivors = g.ids.filter((id) => !lostIds.includes(id));
  assert.ok((await g.get(leader).put(`${PEER_ADDRESS_PREFIX}${lostIds[1]}`, g.urls[lostIds[1]])).ok);
  for (let i = 0; i < 10; i++) assert.ok((await g.get(survivors[i % 2]).put(`/k/${i}`, `v${i}`)).ok);
  for (const id of lostIds) await g.stopNode(id);

  const positions = survivors.map((id) => g.get(id).logPosition());
  for (const p of positions) assert.ok(p.lastIndex > 10 && p.lastTerm > 0 && p.term >= p.lastTerm, `a plausible log position: ${JSON.stringify(p)}`);
  const forcer = mostUpToDate(survivors.map((id) => g.get(id)));
  const other = survivors.find((id) => id !== forcer.id)!;
  await forcer.forceNewConfiguration(survivors, { timeoutMs: 5000 });

  const voters = [...survivors];
  assert.deepEqual(forcer.status().appliedMembership.voters, voters);
  await waitFor(`${other} applying the forced configuration`, () => g.get(other).status().appliedMembership.voters.length === 2);
  assert.deepEqual(g.get(other).status().appliedMembership.voters, voters);
  await waitFor('both survivors agreeing on the forcer as leader', () => g.agreedLeader() === forcer.id);

  for (const id of survivors) {
    assert.deepEqual(await g.get(id).put(`/after/${id}`, id, { timeoutMs: 3000 }), { ok: true, version: 1 }, `a write through ${id}`);
  }
  for (const id of survivors) {
    const node = g.get(id);
    assert.deepEqual((await node.list('/after/')).map((r) => r.value), [...survivors].sort(), `both writes visible on ${id}`);
    assert.deepEqual((await node.list('/k/')).length, 10, `every entry committed before the loss is on ${id}`);
  }
  // Best effort, after the commit: poll the survivors' local copies until it is gone.
  const key = `${PEER_ADDRESS_PREFIX}${lostIds[1]}`;
  for (let i = 0; ; i++) {
    const left = await Promise.all(survivors.map((id) => g.get(id).get(key, { consistency: 'local' })));
    if (left.every((r) => r === null)) break;
    if (i >= 250) assert.fail(`${key} was not deleted after the forced configuration`);
    await new Promise((r) => setTimeout(r, 20));
  }
});

test('forcing with a survivor that is not there times out and says what to check', async (t) => {
  const g = await Group.start(3);
  t.after(() => g.stopAll());
  const leader = await waitFor('a leader', () => g.agreedLeader());
  const [survivor, absent] = g.ids.filter((id) => id !== leader);
  for (const id of g.ids) if (id !== survivor) await g.stopNode(id);
  await assert.rejects(
    g.get(survivor).forceNewConfiguration([survivor, absent], { timeoutMs: 1500 }),
    isStoreError('timeout', new RegExp(`check that ${absent} is running and reachable from ${survivor}.*logPosition`)),
  );
  // Once the missing survivor is back, the forced configuration commits after all.
  await g.startNode(absent);
  await waitFor(`${absent} applying the forced configuration`, () => g.get(absent).status().appliedMembership.voters.length === 2);
  assert.deepEqual(g.get(absent).status().appliedMembership.voters.sort(), [survivor, absent].sort());
  assert.deepEqual(await g.get(absent).put('/back', 'yes', { timeoutMs: 3000 }), { ok: true, version: 1 });
});
