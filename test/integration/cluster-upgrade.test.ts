/**
 * `cluster upgrade` through the real binary on real 3-node sandboxes that
 * start on PostgreSQL 15.17 (the embedded package) and move to the system's
 * 15.18, with a writer recording acknowledged ids:
 *
 *  - one run: every node reports 15.18 by `SHOW server_version`, the same
 *    nodes are healthy, no acknowledged id is lost, exactly one switchover
 *    (one new history record);
 *  - the CLI SIGKILLed while the second node upgrades: `cluster upgrade
 *    status` shows the journal still running, `cluster upgrade resume`
 *    finishes it by following the same node-upgrade operation, and no node
 *    is upgraded twice (a finished node's postmaster was not restarted again).
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ClusterView, HistoryView } from '../../agent/api/wire.ts';
import type { UpgradeJournal, UpgradeJournalAnswer } from '../../agent/upgrade-journal.ts';
import { missing, readIds, waitFor } from './helpers/checker.ts';
import { ADMIN_BIN, adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';
import { queryOnce } from './helpers/pg.ts';
import { ACKED_TABLE, createTables, pgNodeOf, pgNodesOf } from './helpers/trials.ts';
import { Writer } from './helpers/writer.ts';

const boxes: TestSandbox[] = [];
after(async () => {
  for (const b of boxes) await closeTestSandbox(b);
});

async function open(name: string): Promise<{ box: TestSandbox; writer: Writer }> {
  const box = await openTestSandbox(name, { release: '15.17' }, 180_000);
  boxes.push(box);
  const primary = (await box.sb.primary())!;
  await createTables(box.sb, primary);
  const writer = new Writer({ nodes: pgNodesOf(box.sb), firstId: 1, pauseMs: 10 });
  writer.start();
  await writer.waitForAck(() => true, 30_000);
  return { box, writer };
}

async function api<T>(box: TestSandbox, path: string): Promise<T> {
  const res = await box.sb.apiFetch(box.sb.nodes()[0].apiUrl + path);
  assert.equal(res.status, 200, `${path}: ${res.status}`);
  return (await res.json()) as T;
}

const versions = async (box: TestSandbox) =>
  Object.fromEntries(await Promise.all(box.sb.nodes().map(async (n) => [n.id, (await queryOnce<{ server_version: string }>(pgNodeOf(box.sb, n.id), 'SHOW server_version'))[0].server_version.split(' ')[0]])));

const startedAt = async (box: TestSandbox, id: string) => (await queryOnce<{ t: string }>(pgNodeOf(box.sb, id), 'SELECT pg_postmaster_start_time()::text AS t'))[0].t;

/** Every node on 15.18, all healthy, the writer lost nothing, one more history record (the switchover). */
async function assertUpgraded(box: TestSandbox, writer: Writer, historyBefore: number): Promise<void> {
  assert.deepEqual(await versions(box), { n1: '15.18', n2: '15.18', n3: '15.18' });
  const view = await api<ClusterView>(box, '/v1/cluster');
  assert.deepEqual(view.members.map((m) => `${m.id}:${m.health}`).sort(), ['n1:healthy', 'n2:healthy', 'n3:healthy']);
  const report = await writer.stop();
  const present = await readIds(pgNodeOf(box.sb, view.primary!), ACKED_TABLE);
  assert.deepEqual(missing(report.acked.map((a) => a.id), present), [], 'no acknowledged id lost');
  assert.ok(report.acked.length > 50, `the writer kept writing (${report.acked.length} acks)`);
  const history = (await api<HistoryView>(box, '/v1/history')).history;
  assert.equal(history.length, historyBefore + 1, `exactly one switchover: ${JSON.stringify(history.slice(0, 3))}`);
}

test('cluster upgrade --version 15.18 --yes: every node on 15.18, same nodes healthy, nothing lost, one switchover', async () => {
  const { box, writer } = await open('cluster-upgrade');
  assert.deepEqual(await versions(box), { n1: '15.17', n2: '15.17', n3: '15.17' });
  const historyBefore = (await api<HistoryView>(box, '/v1/history')).history.length;
  const r = await runAdmin(['cluster', 'upgrade', '--version', '15.18', '--yes', '-o', 'json'], adminEnv(box), 600_000);
  assert.equal(r.code, 0, `exit ${r.code}\n${r.stderr}`);
  const report = JSON.parse(r.stdout) as { state: string; switchover: { from: string; to: string } | null; nodes: { node: string; to: string }[] };
  assert.equal(report.state, 'succeeded');
  assert.ok(report.switchover, 'the report names the switchover');
  assert.deepEqual(report.nodes.map((n) => n.to), ['15.18', '15.18', '15.18']);
  await assertUpgraded(box, writer, historyBefore);
  const status = await runAdmin(['cluster', 'upgrade', 'status', '-o', 'json'], adminEnv(box));
  assert.equal((JSON.parse(status.stdout) as UpgradeJournalAnswer).journal?.state, 'succeeded');
});

test('the CLI killed during the second node: resume finishes it, following the same operation; no node is upgraded twice', async () => {
  const { box, writer } = await open('cluster-upgrade-resume');
  const historyBefore = (await api<HistoryView>(box, '/v1/history')).history.length;
  const child = spawn(process.execPath, [ADMIN_BIN, 'cluster', 'upgrade', '--version', '15.18', '--yes'], { env: adminEnv(box), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const journal = () => api<UpgradeJournalAnswer>(box, '/v1/procedures/upgrade').then((a) => a.journal);
  // The second node is in flight with its operation recorded: kill -9.
  const inFlight = await waitFor(
    'the second node upgrading',
    async () => {
      const j = await journal();
      return j && j.plan[1].step === 'upgrading' && j.plan[1].operation !== null ? j : null;
    },
    120_000,
    50,
  ).catch((err: Error) => assert.fail(`${err.message}\nCLI stderr:\n${stderr}`));
  child.kill('SIGKILL');
  assert.equal(await exited, null, 'killed by the signal');
  const first = inFlight.plan[0].node;
  const firstStarted = await startedAt(box, first);

  const status = await runAdmin(['cluster', 'upgrade', 'status', '-o', 'json'], adminEnv(box));
  assert.equal((JSON.parse(status.stdout) as UpgradeJournalAnswer).journal?.state, 'running');
  const again = await runAdmin(['cluster', 'upgrade', '--version', '15.18', '--yes'], adminEnv(box));
  assert.equal(again.code, 6, again.stderr);
  assert.match(again.stderr, new RegExp(`upgrade ${inFlight.id} to 15\\.18 is running`));

  const r = await runAdmin(['cluster', 'upgrade', 'resume', '-o', 'json'], adminEnv(box), 600_000);
  assert.equal(r.code, 0, `resume: exit ${r.code}\n${r.stderr}`);
  const end = (await journal()) as UpgradeJournal;
  assert.equal(end.state, 'succeeded');
  assert.equal(end.plan[1].operation, inFlight.plan[1].operation, 'the second node: its operation was followed, not asked again');
  assert.equal(end.plan[0].operation, inFlight.plan[0].operation);
  assert.equal(await startedAt(box, first), firstStarted, `${first} was not restarted again`);
  await assertUpgraded(box, writer, historyBefore);
});
