/**
 * The node procedures through the real binary against a real 3-node sandbox:
 * drain (sessions waited for, then terminated; --no-terminate times out with
 * exit 7; the primary refused without --switchover), undrain, stop/start
 * (the primary refused; start is a no-op on a node in service), fence and
 * unfence, reinit (refused without --yes off a terminal), remove (refused
 * for the primary and when it would break quorum; the slot is dropped), and
 * the JSON each prints. Exit codes are the documented ones.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ClusterView, NodeView, OperationView } from '../../agent/api/wire.ts';
import type { EngineAnswerView, MemberAnswer } from '../../agent/api/wire-admin.ts';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;
let sb: Sandbox;

const cli = (args: string[]) => runAdmin(args, adminEnv(box), 120_000);

async function ok<T>(args: string[]): Promise<T> {
  const r = await cli([...args, '-o', 'json']);
  assert.equal(r.code, 0, `${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function view(): Promise<ClusterView> {
  return ok<ClusterView>(['cluster', 'status']);
}

async function nodeView(id: string): Promise<NodeView> {
  return ok<NodeView>(['node', 'status', id]);
}

async function eventually(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

let primary = '';
let standby = '';
let other = '';

before(async () => {
  box = await openTestSandbox('cli-node-admin-test');
  sb = box.sb;
  const v = await sb.waitHealthy(60_000);
  primary = v.primary!;
  [standby, other] = v.members.map((m) => m.id).filter((id) => id !== primary);
});

after(() => closeTestSandbox(box));

test('drain waits for client sessions, terminates the rest, turns the read checks 503; undrain restores them', async () => {
  const client = new pg.Client(sb.pgConfigFor(standby));
  await client.connect();
  client.on('error', () => {}); // terminated by the drain
  const replicaUrl = `${sb.node(standby).apiUrl}/replica`;
  assert.equal((await sb.apiFetch(replicaUrl)).status, 200);

  const op = await ok<OperationView>(['node', 'drain', standby, '--timeout', '1s']);
  assert.equal(op.kind, 'drain');
  assert.equal(op.state, 'succeeded');
  assert.deepEqual({ atStart: op.result?.sessionsAtStart, terminated: op.result?.terminated }, { atStart: 1, terminated: 1 });
  await assert.rejects(client.query('SELECT 1'), 'the session was terminated');
  assert.equal((await view()).members.find((m) => m.id === standby)?.adminState, 'drained');
  assert.equal((await sb.apiFetch(replicaUrl)).status, 503);
  assert.equal((await sb.apiFetch(`${sb.node(standby).apiUrl}/read-only`)).status, 503);

  const back = await ok<MemberAnswer>(['node', 'undrain', standby]);
  assert.equal(back.member.adminState, 'active');
  await eventually('the replica check answers 200 again', async () => (await sb.apiFetch(replicaUrl)).status === 200);
});

test('drain --no-terminate leaves sessions alone and exits 7; the primary is refused without --switchover (exit 5)', async () => {
  const client = new pg.Client(sb.pgConfigFor(other));
  await client.connect();
  try {
    const r = await cli(['node', 'drain', other, '--timeout', '500ms', '--no-terminate']);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /still connected/);
    assert.deepEqual((await client.query('SELECT 1 AS one')).rows, [{ one: 1 }], 'the session was left alone');
    assert.equal((await view()).members.find((m) => m.id === other)?.adminState, 'draining');
  } finally {
    await client.end();
  }
  assert.equal((await ok<MemberAnswer>(['node', 'undrain', other])).member.adminState, 'active');

  const p = await cli(['node', 'drain', primary]);
  assert.equal(p.code, 5);
  assert.match(p.stderr, /is the primary.*--switchover/);
  assert.equal((await view()).members.find((m) => m.id === primary)?.adminState, 'active', 'nothing changed');
});

test('stop keeps a standby stopped until start; start is a no-op (exit 0) on a node in service; the primary needs --force and a confirmation', async () => {
  const stopped = await ok<EngineAnswerView>(['node', 'stop', standby]);
  assert.deepEqual({ running: stopped.running, held: stopped.held }, { running: false, held: true });
  assert.equal((await nodeView(standby)).engine.running, false);
  // Still stopped a few HA cycles later: the agent does not restart it on its own.
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal((await nodeView(standby)).engine.running, false);

  const started = await ok<EngineAnswerView>(['node', 'start', standby]);
  assert.equal(started.running, true);
  await eventually(`${standby} streams again`, async () => (await nodeView(standby)).engine.streamingFrom !== null);
  const again = await ok<EngineAnswerView>(['node', 'start', standby]);
  assert.match(again.message, /already in service/);

  const refused = await cli(['node', 'stop', primary]);
  assert.equal(refused.code, 5);
  assert.match(refused.stderr, /is the primary: switch over first/);
  const noTerminal = await cli(['node', 'stop', primary, '--force']);
  assert.equal(noTerminal.code, 3, 'no terminal to confirm on and no --yes');
  assert.equal((await nodeView(primary)).engine.running, true, 'the primary still runs');
});

test('fence stops a standby and keeps it out of failover; unfence brings it back', async () => {
  const fenced = await ok<MemberAnswer>(['node', 'fence', other]);
  assert.equal(fenced.member.adminState, 'fenced');
  assert.equal((await nodeView(other)).engine.running, false);
  const startRefused = await cli(['node', 'start', other]);
  assert.equal(startRefused.code, 5);
  const prepare = await cli(['cluster', 'failover', '--prepare', '--to', other]);
  assert.equal(prepare.code, 5, 'a fenced node is not a failover candidate');

  assert.equal((await ok<MemberAnswer>(['node', 'unfence', other])).member.adminState, 'active');
  await eventually(`${other} streams again`, async () => (await nodeView(other)).engine.streamingFrom !== null, 60_000);
});

test('reinit needs --yes off a terminal (exit 3), is refused on the primary (5), and re-copies a standby', async () => {
  assert.equal((await cli(['node', 'reinit', standby])).code, 3);
  assert.equal((await cli(['node', 'reinit', primary, '--yes'])).code, 5);
  const op = await ok<OperationView>(['node', 'reinit', standby, '--yes']);
  assert.equal(op.kind, 'reinit');
  assert.equal(op.state, 'succeeded');
  await eventually(`${standby} streams after the reinit`, async () => (await nodeView(standby)).engine.streamingFrom !== null, 60_000);
});

test('remove: refused for the primary and when it would break quorum; otherwise the member and its slot go', async () => {
  assert.equal((await cli(['cluster', 'remove', primary, '--yes'])).code, 5);
  // With `other` down, removing `standby` would leave 1 of 2 voters reachable.
  sb.signalAgent(other, 'SIGSTOP');
  try {
    const r = await cli(['cluster', 'remove', standby, '--yes']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`unreachable: ${other}`));
  } finally {
    sb.signalAgent(other, 'SIGCONT');
  }
  // The resumed agent may answer the first endpoint's reads only once it has caught up.
  await eventually('the cluster answers linearizable reads again', async () => (await cli(['cluster', 'status', '-o', 'json'])).code === 0);
  assert.equal((await cli(['cluster', 'remove', standby])).code, 3, 'no --yes off a terminal');
  assert.deepEqual((await view()).members.map((m) => m.id).sort(), [primary, standby, other].sort(), 'nothing removed yet');

  const gone = await ok<MemberAnswer>(['cluster', 'remove', standby, '--yes']);
  assert.equal(gone.member.adminState, 'removed');
  const v = await view();
  assert.deepEqual(v.members.map((m) => m.id).sort(), [primary, other].sort());
  assert.equal(v.quorum.voters, 2);
  // Stopping the removed node still works (its tombstone names its agent), and then its slot goes.
  await ok<EngineAnswerView>(['node', 'stop', standby]);
  const c = new pg.Client(sb.pgConfigFor(primary));
  await c.connect();
  try {
    await eventually(`the primary drops ${standby}'s slot`, async () => {
      const rows = (await c.query<{ slot_name: string }>('SELECT slot_name FROM pg_replication_slots')).rows.map((x) => x.slot_name);
      return !rows.includes(standby);
    });
  } finally {
    await c.end();
  }
});
