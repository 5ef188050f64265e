/**
 * `node upgrade` through the real binary against a real 3-node sandbox started
 * on PostgreSQL 15.17 (the embedded npm build): a standby moves to the system's
 * 15.18 (the server says so, it streams, a drained node stays drained, an
 * agent restart keeps the release); the primary is refused (exit 5, "switch
 * over first"); a release whose postgres exits 1 is rolled back (exit 5, the
 * node back on its old release and streaming); a major version, and a release
 * that is not installed, are refused before anything changes.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import type { ClusterView, NodeView, OperationView } from '../../agent/api/wire.ts';
import type { UpgradeNodeResult } from '../../agent/api/wire-admin.ts';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { adminEnv, closeTestSandbox, makeTestRoot, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

const SYSTEM_BIN = '/usr/lib/postgresql/15/bin';

let box: TestSandbox;
let sb: Sandbox;
let primary = '';
let standby = '';
let other = '';

const cli = (args: string[]) => runAdmin(args, adminEnv(box), 300_000);

async function ok<T>(args: string[]): Promise<T> {
  const r = await cli([...args, '-o', 'json']);
  assert.equal(r.code, 0, `${args.join(' ')} failed (exit ${r.code}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

async function sql<T extends Record<string, unknown>>(id: string, text: string): Promise<T[]> {
  const c = new pg.Client(sb.pgConfigFor(id));
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** `SHOW server_version`, without a packager's suffix ("15.18 (Debian 15.18-0+deb12u1)" -> "15.18"). */
const serverVersion = async (id: string) => (await sql<{ server_version: string }>(id, 'SHOW server_version'))[0].server_version.split(' ')[0];
const startTime = async (id: string) => String((await sql<{ t: Date }>(id, 'SELECT pg_postmaster_start_time() AS t'))[0].t.toISOString());
const member = async (id: string) => (await ok<ClusterView>(['cluster', 'status'])).members.find((m) => m.id === id)!;

async function eventually(what: string, check: () => Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) assert.fail(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

async function streams(id: string): Promise<boolean> {
  const rows = await sql<{ status: string }>(id, 'SELECT status FROM pg_stat_wal_receiver');
  return rows[0]?.status === 'streaming';
}

/**
 * A bin dir whose `postgres --version` prints `versionLine` and which exits 1
 * for anything else, with copies (not symlinks: pg_ctl finds postgres beside
 * its resolved path) of the system's pg_ctl and initdb.
 */
function fakeRelease(dir: string, versionLine: string): string {
  mkdirSync(dir, { recursive: true });
  const script = `#!/bin/sh
case "$1" in -V|--version) printf '%s\\n' '${versionLine}'; exit 0;; esac
echo "FATAL:  this test release is broken on purpose" >&2
exit 1
`;
  writeFileSync(join(dir, 'postgres'), script);
  chmodSync(join(dir, 'postgres'), 0o755);
  for (const b of ['pg_ctl', 'initdb']) copyFileSync(join(SYSTEM_BIN, b), join(dir, b));
  chmodSync(dir, 0o755);
  return dir;
}

before(async () => {
  const root = makeTestRoot('node-upgrade');
  const dir = join(root, 'sb');
  box = { root, dir, sb: undefined as unknown as Sandbox };
  mkdirSync(join(root, 'fake'), { mode: 0o755 });
  const systemVersionLine = execFileSync(join(SYSTEM_BIN, 'postgres'), ['--version'], { encoding: 'utf8' }).trim();
  const extraReleases = {
    broken: fakeRelease(join(root, 'fake', 'broken'), systemVersionLine),
    '16.1': fakeRelease(join(root, 'fake', 'pg16'), 'postgres (PostgreSQL) 16.1'),
  };
  sb = await Sandbox.open({ dir, nodes: 3, release: '15.17', extraReleases });
  box.sb = sb;
  await sb.up({ timeoutMs: 180_000 });
  const v = await sb.waitHealthy(60_000);
  primary = v.primary!;
  [standby, other] = v.members.map((m) => m.id).filter((id) => id !== primary);
});

after(() => closeTestSandbox(box));

test('the sandbox started on 15.17 and cluster status shows each node release in short form', async () => {
  for (const id of [primary, standby, other]) assert.equal(await serverVersion(id), '15.17');
  const view = await ok<ClusterView>(['cluster', 'status']);
  assert.deepEqual(
    view.members.map((m) => m.release),
    view.members.map(() => '15.17'),
  );
});

test('a drained standby moves to 15.18: upgrading while it runs, streaming after, still drained, data replicated', async (t) => {
  await ok(['node', 'drain', standby, '--timeout', '1s']);
  const started = await ok<OperationView>(['node', 'upgrade', standby, '--version', '15.18', '--no-wait']);
  assert.equal(started.kind, 'upgrade');
  // GET /v1/node on the node's agent shows the upgrade while it runs.
  let sawUpgrading = false;
  let end: OperationView | null = null;
  const deadline = Date.now() + 240_000;
  while (Date.now() < deadline) {
    const node = (await (await sb.apiFetch(`${sb.node(standby).apiUrl}/v1/node`)).json()) as NodeView;
    if (node.adminState === 'upgrading') sawUpgrading = true;
    const op = (await (await sb.apiFetch(`${sb.node(primary).apiUrl}/v1/operations/${started.id}`)).json()) as OperationView;
    if (op.state === 'succeeded' || op.state === 'failed') {
      end = op;
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(end, 'the upgrade ended');
  assert.equal(end.state, 'succeeded', end.message);
  assert.ok(sawUpgrading, 'the node was upgrading while the operation ran');
  const result = end.result as unknown as UpgradeNodeResult;
  assert.deepEqual({ node: result.node, from: result.from, to: result.to, rolledBack: result.rolledBack }, { node: standby, from: '15.17', to: '15.18', rolledBack: false });
  assert.ok(result.durationMs > 0);
  t.diagnostic(`upgrade of ${standby}: ${result.durationMs} ms; ${end.message}`);

  assert.equal(await serverVersion(standby), '15.18');
  assert.ok(await streams(standby), `${standby} streams from the primary`);
  const m = await member(standby);
  assert.equal(m.adminState, 'drained', 'a drained node stays drained');
  assert.equal(m.release, '15.18');

  await sql(primary, 'CREATE TABLE IF NOT EXISTS upgrade_probe (v int); INSERT INTO upgrade_probe VALUES (42)');
  await eventually(`${standby} has the row written after its upgrade`, async () => (await sql<{ n: string }>(standby, 'SELECT count(*) AS n FROM upgrade_probe'))[0].n === '1');

  // `node start` returns it to service; the same upgrade again is a no-op with exit 0.
  await ok(['node', 'start', standby]);
  assert.equal((await member(standby)).adminState, 'active');
  const again = await ok<OperationView>(['node', 'upgrade', standby, '--version', '15.18']);
  assert.equal(again.state, 'succeeded');
  assert.match(again.message, /already on 15\.18/);
});

test('the upgraded release survives an agent restart', async () => {
  sb.signalAgent(standby, 'SIGTERM');
  await eventually(`${standby}'s agent stopped`, async () => sb.node(standby).agentPid === null && sb.node(standby).enginePid === null, 30_000);
  await sb.startAgent(standby);
  await eventually(`${standby} streams again`, () => streams(standby));
  assert.equal(await serverVersion(standby), '15.18');
});

test('the primary is refused: exit 5, switch over first', async () => {
  const r = await cli(['node', 'upgrade', primary, '--version', '15.18']);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /switch over first/);
  assert.equal(await serverVersion(primary), '15.17');
});

test('a release whose postgres exits 1 is rolled back: exit 5, the node on its old release and streaming', async (t) => {
  const before = await serverVersion(other);
  const r = await cli(['node', 'upgrade', other, '--version', 'broken', '-o', 'json']);
  assert.equal(r.code, 5, r.stderr);
  assert.match(r.stderr, /release broken .*did not start on .*rolled back/s);
  assert.match(r.stderr, /server log/);
  const op = JSON.parse(r.stdout) as OperationView;
  assert.equal(op.state, 'failed');
  assert.equal((op.result as unknown as UpgradeNodeResult).rolledBack, true);
  t.diagnostic(`rollback of ${other}: ${(op.result as unknown as UpgradeNodeResult).durationMs} ms; ${r.stderr.trim()}`);
  assert.equal(await serverVersion(other), before);
  await eventually(`${other} streams again`, () => streams(other));
  assert.equal((await member(other)).adminState, 'active', 'its admin state is restored');
});

test('a major version and a release that is not installed are refused before anything changes', async () => {
  const since = await startTime(other);
  const major = await cli(['node', 'upgrade', other, '--version', '16.1']);
  assert.equal(major.code, 5, major.stderr);
  assert.match(major.stderr, /a major upgrade needs pg_upgrade; RustyDB does minor upgrades only/);
  const missing = await cli(['node', 'upgrade', other, '--version', '15.99']);
  assert.equal(missing.code, 5, missing.stderr);
  assert.match(missing.stderr, /release "15\.99" is not installed on .*installed: .*15\.17.*15\.18/);
  assert.equal(await startTime(other), since, 'the engine was not restarted');
  assert.equal((await member(other)).adminState, 'active');
});
