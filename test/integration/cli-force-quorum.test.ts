/**
 * `cluster force-quorum` through the real binary on a real 3-node sandbox
 * that loses two nodes for good (the primary and one standby: agent and
 * engine SIGKILLed). Refusals first (a dropped member that still runs: 5;
 * not a member: 2), then on the lost majority: --dry-run shows the plan and
 * changes nothing, no --confirm-data-loss exits 3 and changes nothing, and
 * the real run makes the surviving standby a writable primary in a new epoch
 * with every row it held, and the cluster a 1-voter cluster with a quorum.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { ClusterView } from '../../agent/api/wire.ts';
import type { NodePositionView } from '../../agent/api/wire-admin.ts';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import type { ForceQuorumResult } from '../../src/commands/cluster/force-quorum.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

const ROWS = 200;

let box: TestSandbox;
let sb: Sandbox;

/** Run the real CLI with stdin/stdout not terminals; never rejects. */
const cli = (args: string[]) => runAdmin(args, adminEnv(box), 180_000);

async function query<T extends pg.QueryResultRow>(id: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ ...sb.pgConfigFor(id), connectionTimeoutMillis: 3000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end().catch(() => {});
  }
}

async function until<T>(what: string, fn: () => Promise<T | null>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== null) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
}

async function position(id: string): Promise<NodePositionView> {
  const res = await sb.apiFetch(`${sb.node(id).apiUrl}/v1/node/position`, { signal: AbortSignal.timeout(5000) });
  assert.equal(res.status, 200, `position of ${id}`);
  return (await res.json()) as NodePositionView;
}

before(async () => {
  box = await openTestSandbox('cli-fq-test', { electionTimeoutMs: 1000 });
  sb = box.sb;
});

after(() => closeTestSandbox(box));

let primary: string;
let survivor: string;
let lost: string[];
let epochBefore: number;

test('refusals while every node runs: a dropped member that answers exits 5 naming it; a non-member exits 2', async () => {
  const view = (await sb.clusterView())!;
  assert.equal(view.writable, true);
  primary = view.primary!;
  survivor = view.members.find((m) => m.role === 'replica')!.id;
  lost = view.members.map((m) => m.id).filter((id) => id !== survivor).sort();
  epochBefore = view.epoch;

  const r = await cli(['cluster', 'force-quorum', '--nodes', survivor, '--confirm-data-loss', '-o', 'json']);
  assert.equal(r.code, 5, r.stderr);
  for (const id of lost) assert.match(r.stderr, new RegExp(`${id} answers at ${sb.node(id).apiUrl.replace(/\./g, '\\.')}: it is not lost`));
  assert.equal(r.stdout, '');

  const bad = await cli(['cluster', 'force-quorum', '--nodes', 'n9', '--dry-run']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /n9, not a member.*members: n1, n2, n3/);

  const after = (await sb.clusterView())!;
  assert.deepEqual([after.primary, after.epoch, after.quorum.voters], [primary, epochBefore, 3], 'nothing changed');
});

test('the survivor holds the rows acknowledged before the loss; then the primary and the other standby are lost for good', async () => {
  await query(primary, 'CREATE TABLE fq_rows (id int PRIMARY KEY, note text)');
  await query(primary, `INSERT INTO fq_rows SELECT g, 'before the loss' FROM generate_series(1, ${ROWS}) g`);
  // Synchronous replication waits for ANY 1 standby: make sure the survivor is the one that has them.
  await until(`${survivor} to replay the rows`, async () => {
    const [{ n }] = await query<{ n: string }>(survivor, 'SELECT count(*) AS n FROM fq_rows');
    return Number(n) === ROWS ? true : null;
  });
  for (const id of lost) {
    sb.signalAgent(id, 'SIGKILL');
    sb.killEngine(id);
  }
  // The survivor's engine stays a standby: without a quorum nothing is decided.
  const [{ recovery }] = await query<{ recovery: boolean }>(survivor, 'SELECT pg_is_in_recovery() AS recovery');
  assert.equal(recovery, true);
});

test('--dry-run prints the plan (exit 0) and changes nothing', async () => {
  const r = await cli(['cluster', 'force-quorum', '--nodes', survivor, '--dry-run', '-o', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as ForceQuorumResult;
  assert.equal(doc.dryRun, true);
  assert.equal(doc.operation, null);
  assert.deepEqual(doc.plan.dropped.map((d) => d.id), lost);
  assert.equal(doc.plan.dropped.find((d) => d.id === primary)?.wasPrimary, true);
  assert.deepEqual(doc.plan.survivors.map((s) => s.id), [survivor]);
  assert.match(doc.plan.survivors[0].flushLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(doc.plan.forcer, survivor);
  assert.equal(doc.plan.primary, survivor);
  assert.equal(doc.plan.lastPrimary, primary);
  assert.match(doc.plan.mayLose, new RegExp(`writes acknowledged after LSN ${doc.plan.survivors[0].flushLsn} by the lost primary ${primary} may be lost`));

  // The table form on a pipe: tab-separated rows, and the plan's sentences.
  const t = await cli(['cluster', 'force-quorum', '--nodes', survivor, '--dry-run', '-o', 'table']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`^${primary}\\tvoter\\tprimary \\(epoch ${epochBefore}\\)`, 'm'));
  assert.match(t.stdout, /dry run: nothing was changed/);

  const p = await position(survivor);
  assert.deepEqual([...p.raft.voters].sort(), [...lost, survivor].sort(), 'the Raft configuration is unchanged');
  const [{ recovery }] = await query<{ recovery: boolean }>(survivor, 'SELECT pg_is_in_recovery() AS recovery');
  assert.equal(recovery, true, 'still a standby');
});

test('without --confirm-data-loss it exits 3, naming the flag, and changes nothing', async () => {
  const r = await cli(['cluster', 'force-quorum', '--nodes', survivor, '-o', 'json']);
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr, /add --confirm-data-loss/);
  assert.equal(r.stdout, '');
  const p = await position(survivor);
  assert.equal(p.raft.voters.length, 3, 'the Raft configuration is unchanged');
  assert.equal(p.epoch, epochBefore);
});

test('force-quorum --confirm-data-loss: the survivor is the writable primary of a new epoch, with the rows, and the cluster has 1 voter with quorum', async () => {
  const r = await cli(['cluster', 'force-quorum', '--nodes', survivor, '--confirm-data-loss', '--timeout', '90s', '-o', 'json']);
  assert.equal(r.code, 0, `force-quorum failed (exit ${r.code}):\n${r.stderr}\n${r.stdout}`);
  const doc = JSON.parse(r.stdout) as ForceQuorumResult;
  assert.equal(doc.dryRun, false);
  assert.equal(doc.operation?.kind, 'force-quorum');
  assert.equal(doc.operation?.state, 'succeeded');
  assert.deepEqual((doc.operation?.result as { dropped: string[] }).dropped, lost);
  assert.equal(doc.cluster?.writable, true);
  assert.equal(doc.cluster?.primary, survivor);
  assert.ok(doc.cluster!.epoch > epochBefore, `a new epoch (${doc.cluster!.epoch} > ${epochBefore})`);

  const [{ recovery }] = await query<{ recovery: boolean }>(survivor, 'SELECT pg_is_in_recovery() AS recovery');
  assert.equal(recovery, false, `${survivor} was promoted`);
  const [{ n }] = await query<{ n: string }>(survivor, 'SELECT count(*) AS n FROM fq_rows');
  assert.equal(Number(n), ROWS, 'every row the survivor held before the loss is there');
  await query(survivor, "INSERT INTO fq_rows VALUES (100000, 'after force-quorum')");

  const s = await cli(['cluster', 'status', '-o', 'json']);
  assert.equal(s.code, 0, s.stderr);
  const view = JSON.parse(s.stdout) as ClusterView;
  assert.deepEqual(view.quorum, { voters: 1, healthy: 1, hasQuorum: true });
  assert.equal(view.primary, survivor);
  assert.deepEqual(view.members.map((m) => m.id), [survivor], 'the dropped members are gone from the view');

  const h = await cli(['cluster', 'history', '-o', 'json']);
  assert.equal(h.code, 0, h.stderr);
  const newest = (JSON.parse(h.stdout) as { history: { epoch: number; from: string; to: string; reason: string }[] }).history[0];
  assert.deepEqual([newest.epoch, newest.from, newest.to, newest.reason], [view.epoch, primary, survivor, 'force-quorum']);
});
