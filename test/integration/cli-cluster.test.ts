/**
 * `cluster status | failover` through the real binary against a real
 * 3-node sandbox: JSON with the wire schema's fields, a planned switchover
 * that makes the target primary, a --force without --yes that exits 3 and
 * changes nothing, and an unreachable endpoint that exits 8.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterViewSchema, memberViewSchema, type ClusterView } from '../../agent/api/wire.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;

/** Run the real CLI with stdin/stdout not terminals; never rejects. */
const cli = (args: string[]) => runAdmin(args, adminEnv(box), 60_000);

/** The schema's required fields are exactly the object's keys (closed objects). */
function assertFields(value: Record<string, unknown>, schema: { required: readonly string[] }, what: string): void {
  assert.deepEqual(Object.keys(value).sort(), [...schema.required].sort(), `${what} fields`);
}

before(async () => {
  box = await openTestSandbox('cli-cluster-test');
});

after(() => closeTestSandbox(box));

async function status(): Promise<ClusterView> {
  const r = await cli(['cluster', 'status', '-o', 'json']);
  assert.equal(r.code, 0, `cluster status failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as ClusterView;
}

test('cluster status -o json: one ClusterView document with the wire schema fields', async () => {
  const c = await status();
  assertFields(c as unknown as Record<string, unknown>, clusterViewSchema, 'ClusterView');
  assertFields(c.quorum as unknown as Record<string, unknown>, clusterViewSchema.properties.quorum, 'quorum');
  assert.equal(c.members.length, 3);
  for (const m of c.members) assertFields(m as unknown as Record<string, unknown>, memberViewSchema, `member ${m.id}`);
  assert.equal(c.writable, true);
  assert.deepEqual(c.quorum, { voters: 3, healthy: 3, hasQuorum: true });
});

test('cluster failover --force --to X without --yes and without a terminal exits 3 and changes nothing', async () => {
  const before = await status();
  const replica = before.members.find((m) => m.role === 'replica')!.id;
  const r = await cli(['cluster', 'failover', '--force', '--to', replica]);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /--yes/);
  const now = await status();
  assert.equal(now.primary, before.primary);
  assert.equal(now.epoch, before.epoch);
});

test('cluster failover --to <replica> switches over: exit 0, the target is primary after', async () => {
  const before = await status();
  const target = before.members.find((m) => m.role === 'replica')!.id;
  const r = await cli(['cluster', 'failover', '--to', target, '--timeout', '45s', '-o', 'json']);
  assert.equal(r.code, 0, `failover failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  const opDone = JSON.parse(r.stdout) as { state: string; kind: string };
  assert.deepEqual([opDone.kind, opDone.state], ['switchover', 'succeeded']);
  const after = await status();
  assert.equal(after.primary, target);
  assert.ok(after.epoch > before.epoch, 'a new epoch');
  assert.equal(after.members.find((m) => m.id === target)?.role, 'primary');
});

test('an unreachable --endpoint exits 8 and names it', async () => {
  const r = await cli(['cluster', 'status', '--endpoint', 'http://127.0.0.1:1']);
  assert.equal(r.code, 8);
  assert.match(r.stderr, /127\.0\.0\.1:1 \(ECONNREFUSED\)/);
  assert.equal(r.stdout, '');
});

test('cluster history lists the switchover; node status ID answers from that node', async () => {
  const c = await status();
  const h = await cli(['cluster', 'history', '-o', 'json']);
  assert.equal(h.code, 0, h.stderr);
  const history = (JSON.parse(h.stdout) as { history: { epoch: number; to: string }[] }).history;
  assert.equal(history[0]?.to, c.primary, 'newest record is the switchover to the current primary');
  const replica = c.members.find((m) => m.role === 'replica')!.id;
  const n = await cli(['node', 'status', replica, '-o', 'json']);
  assert.equal(n.code, 0, n.stderr);
  const node = JSON.parse(n.stdout) as { id: string; role: string; raft: { leader: string | null } };
  assert.deepEqual([node.id, node.role], [replica, 'replica']);
});
