/**
 * The seed's rolling-upgrade shell procedure (scripts/rolling-upgrade.sh),
 * run by bash with `set -e` against a real 3-node sandbox on 15.17 with a
 * writer running: the script exits 0 and ends where `cluster upgrade` ends —
 * every node on 15.18, n2 primary, every node active and healthy, no
 * acknowledged id lost.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import type { ClusterView } from '../../agent/api/wire.ts';
import { missing, readIds } from './helpers/checker.ts';
import { ADMIN_BIN, adminEnv, closeTestSandbox, openTestSandbox, runAdmin, runCommand, type TestSandbox } from './helpers/cli-sandbox.ts';
import { queryOnce } from './helpers/pg.ts';
import { ACKED_TABLE, createTables, pgNodeOf, pgNodesOf } from './helpers/trials.ts';
import { Writer } from './helpers/writer.ts';

const SCRIPT = fileURLToPath(new URL('./scripts/rolling-upgrade.sh', import.meta.url));
let box: TestSandbox | undefined;
after(() => closeTestSandbox(box));

test('the seed rolling-upgrade script runs under set -e and leaves every node on 15.18 with nothing lost', { timeout: 300_000 }, async () => {
  box = await openTestSandbox('upgrade-seed', { release: '15.17' }, 180_000);
  const { sb } = box;
  // The script assumes n1 is the primary, as in the seed.
  if ((await sb.primary()) !== 'n1') {
    const r = await runAdmin(['cluster', 'failover', '--to', 'n1'], adminEnv(box));
    assert.equal(r.code, 0, r.stderr);
  }
  // The switchover's operation ends when the record names n1; wait until n1 also accepts writes.
  const healthy = await sb.waitHealthy(60_000);
  assert.equal(healthy.primary, 'n1');
  await createTables(sb, 'n1');
  const writer = new Writer({ nodes: pgNodesOf(sb), firstId: 1, pauseMs: 10 });
  writer.start();
  await writer.waitForAck(() => true, 30_000);

  const run = await runCommand('bash', [SCRIPT], adminEnv(box, { ADMIN: ADMIN_BIN, PAUSE: '2' }), 240_000);
  assert.equal(run.code, 0, `the script failed (exit ${run.code}):\n${run.stderr.slice(-3000)}`);

  const versions = Object.fromEntries(
    await Promise.all(sb.nodes().map(async (n) => [n.id, (await queryOnce<{ server_version: string }>(pgNodeOf(sb, n.id), 'SHOW server_version'))[0].server_version.split(' ')[0]])),
  );
  assert.deepEqual(versions, { n1: '15.18', n2: '15.18', n3: '15.18' });
  const view = (await (await sb.apiFetch(`${sb.nodes()[0].apiUrl}/v1/cluster`)).json()) as ClusterView;
  assert.equal(view.primary, 'n2');
  assert.deepEqual(view.members.map((m) => `${m.id}:${m.adminState}:${m.health}`), ['n1:active:healthy', 'n2:active:healthy', 'n3:active:healthy']);
  const report = await writer.stop();
  const present = await readIds(pgNodeOf(sb, 'n2'), ACKED_TABLE);
  assert.deepEqual(missing(report.acked.map((a) => a.id), present), [], 'no acknowledged id lost');
});
