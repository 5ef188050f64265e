/**
 * `node upgrade` robustness against real agents and PostgreSQL (a 3-node
 * sandbox on 15.17):
 *
 * - A standby that leads Raft hands leadership away before it upgrades (its
 *   HA loop decides nothing while it upgrades, and the leader's loop is the
 *   one that would fail the primary over). To get a standby to lead, the
 *   primary's agent is frozen (SIGSTOP) until another node wins an election;
 *   the primary's engine keeps running and the failover timeout is long, so
 *   nothing fails over.
 * - An agent killed (SIGKILL) while its node is `upgrading` puts the node back
 *   when it starts again: the admin state it had (drained), streaming, the
 *   operation failed saying the agent restarted, and the node can be upgraded
 *   again.
 */

import { after, before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { ClusterView, NodeView, OperationView } from '../../agent/api/wire.ts';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { adminEnv, closeTestSandbox, makeTestRoot, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';
import { queryOnce } from './helpers/pg.ts';

let box: TestSandbox;
let sb: Sandbox;
let primary = '';
let standbys: string[] = [];

const cli = (args: string[]) => runAdmin(args, adminEnv(box), 300_000);

const sql = <T extends Record<string, unknown>>(id: string, text: string): Promise<T[]> => queryOnce<T>({ id, config: sb.pgConfigFor(id) }, text, [], 30_000);

const serverVersion = async (id: string) => (await sql<{ server_version: string }>(id, 'SHOW server_version'))[0].server_version.split(' ')[0];
const streams = async (id: string) => (await sql<{ status: string }>(id, 'SELECT status FROM pg_stat_wal_receiver'))[0]?.status === 'streaming';

async function getJson<T>(url: string): Promise<T> {
  const res = await sb.apiFetch(url);
  assert.ok(res.ok, `GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

const nodeView = (id: string) => getJson<NodeView>(`${sb.node(id).apiUrl}/v1/node`);
const operation = (via: string, id: string) => getJson<OperationView>(`${sb.node(via).apiUrl}/v1/operations/${id}`);

async function eventually(what: string, check: () => Promise<boolean>, ms = 90_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function waitOperationEnd(via: string, id: string, ms = 240_000): Promise<OperationView> {
  let end: OperationView | null = null;
  await eventually(`operation ${id} ended`, async () => {
    const op = await operation(via, id);
    if (op.state === 'succeeded' || op.state === 'failed') end = op;
    return end !== null;
  }, ms);
  return end!;
}

before(async () => {
  const root = makeTestRoot('upgrade-recovery');
  box = { root, dir: join(root, 'sb'), sb: undefined as unknown as Sandbox };
  // A long failover timeout: freezing the primary's agent must not fail it over.
  sb = await Sandbox.open({ dir: box.dir, nodes: 3, release: '15.17', ha: { failoverTimeoutMs: 120_000, leaseMs: 30_000 } });
  box.sb = sb;
  await sb.up({ timeoutMs: 180_000 });
  const v = await sb.waitHealthy(90_000);
  primary = v.primary!;
  standbys = v.members.map((m) => m.id).filter((id) => id !== primary);
});

after(() => closeTestSandbox(box));

test('a standby that leads Raft hands leadership to another voter before its upgrade starts', { timeout: 400_000 }, async (t: TestContext) => {
  // Freeze the primary's agent (its engine keeps serving) until a standby wins an election.
  let frozen = true;
  sb.signalAgent(primary, 'SIGSTOP');
  try {
    let leader = '';
    await eventually('a standby leads Raft', async () => {
      for (const id of standbys) {
        const n = await nodeView(id);
        if (n.raft.role === 'leader') leader = id;
      }
      return leader !== '';
    }, 60_000);
    const other = standbys.find((id) => id !== leader)!;
    t.diagnostic(`${leader} leads Raft while ${primary}'s agent is frozen`);

    const res = await sb.apiFetch(`${sb.node(leader).apiUrl}/v1/node/upgrade`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ version: '15.18' }),
    });
    const started = (await res.json()) as OperationView;
    assert.equal(res.status, 202, JSON.stringify(started));
    // The answer comes after the hand-off: another node leads already.
    const after = await nodeView(other);
    assert.notEqual(after.raft.leader, leader, `${leader} still leads Raft after its upgrade started`);
    assert.equal((await nodeView(leader)).raft.role !== 'leader', true);
    t.diagnostic(`leadership moved from ${leader} to ${after.raft.leader}`);

    sb.signalAgent(primary, 'SIGCONT');
    frozen = false;
    const end = await waitOperationEnd(other, started.id);
    assert.equal(end.state, 'succeeded', end.message);
    assert.equal(await serverVersion(leader), '15.18');
    await eventually(`${leader} streams`, () => streams(leader));
    const view = await getJson<ClusterView>(`${sb.node(other).apiUrl}/v1/cluster`);
    assert.equal(view.primary, primary, 'no failover happened');
  } finally {
    if (frozen) sb.signalAgent(primary, 'SIGCONT');
  }
});

test('an agent killed mid-upgrade puts its node back at start-up: admin state restored, streaming, operation failed, upgradable again', { timeout: 600_000 }, async (t: TestContext) => {
  await sb.waitHealthy(120_000);
  // The standby the first test did not upgrade.
  const node = (await serverVersion(standbys[0])) === '15.17' ? standbys[0] : standbys[1];
  let r = await cli(['node', 'drain', node, '--timeout', '1s']);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['node', 'upgrade', node, '--version', '15.18', '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const started = JSON.parse(r.stdout) as OperationView;

  await eventually(`${node} is upgrading`, async () => (await nodeView(node)).adminState === 'upgrading', 60_000);
  sb.signalAgent(node, 'SIGKILL');
  await eventually(`${node}'s agent is gone`, async () => sb.node(node).agentPid === null, 30_000);
  const during = await getJson<ClusterView>(`${sb.node(primary).apiUrl}/v1/cluster`);
  assert.equal(during.members.find((m) => m.id === node)?.adminState, 'upgrading', 'killed while upgrading');

  await sb.startAgent(node);
  await eventually(`${node} is drained again`, async () => {
    const v = await getJson<ClusterView>(`${sb.node(primary).apiUrl}/v1/cluster`);
    return v.members.find((m) => m.id === node)?.adminState === 'drained';
  });
  await eventually(`${node} streams again`, () => streams(node));
  const op = await waitOperationEnd(primary, started.id, 60_000);
  assert.equal(op.state, 'failed');
  assert.match(op.message, /the agent restarted during the upgrade; .* runs PostgreSQL 15\.1[78]/);
  t.diagnostic(`after the restart: ${op.message}`);

  // Nothing is left stuck: back in service, and the upgrade can be done again.
  r = await cli(['node', 'start', node]);
  assert.equal(r.code, 0, r.stderr);
  r = await cli(['node', 'upgrade', node, '--version', '15.18']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await serverVersion(node), '15.18');
  await eventually(`${node} streams on 15.18`, () => streams(node));
});
