/**
 * The PostgreSQL driver against real PostgreSQL on 127.0.0.1: bootstrap a
 * primary, clone a standby, synchronous commit, stop streaming, promote,
 * rewind the old primary after an unclean stop. The tests run in order on one
 * pair of servers; every server is stopped and the temp dir removed in after().
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { EngineError, type EngineSettings, type EngineStatus, type PrimaryEndpoint } from '../../agent/engine/driver.ts';
import { findBinDir, findTools, PostgresDriver, slotNameFor, type EngineLogger } from '../../agent/engine/postgres/index.ts';
import { parseProgress } from '../../agent/engine/postgres/replication.ts';
import { postmasterPid } from '../../agent/engine/postgres/status.ts';

const root = mkdtempSync(join(tmpdir(), 'pg-driver-test-'));
// The engine user (not root) must be able to reach the node directories below.
chmodSync(root, 0o755);

const binDir = findBinDir({ releases: {} });
// A quote, a backslash and a colon: quoting must hold everywhere. The random tokens are what the log checks look for.
const suToken = randomBytes(8).toString('hex');
const replToken = randomBytes(8).toString('hex');
const suPassword = `su'pw\\:${suToken}`;
const replPassword = `repl'pw\\:${replToken}`;

const logs: { level: string; obj: object; msg: string }[] = [];
const logger: EngineLogger = {
  debug: (obj, msg) => logs.push({ level: 'debug', obj, msg }),
  info: (obj, msg) => logs.push({ level: 'info', obj, msg }),
  warn: (obj, msg) => logs.push({ level: 'warn', obj, msg }),
  error: (obj, msg) => logs.push({ level: 'error', obj, msg }),
};


function settingsFor(nodeId: string, port: number): EngineSettings {
  return {
    nodeId,
    dataDir: join(root, nodeId, 'data'),
    host: '127.0.0.1',
    port,
    binDir,
    engineUser: 'postgres',
    superuser: { name: 'rdb_admin', password: suPassword },
    replicationUser: { name: 'rdb_repl', password: replPassword },
    replicationPeers: ['127.0.0.1'],
    // `port` is managed by the driver: it must be ignored (with a warning), not applied.
    parameters: { shared_buffers: '16MB', max_connections: 30, port: 1 },
  };
}

const nodes: { settings: EngineSettings; driver: PostgresDriver }[] = [];
let s1: EngineSettings;
let s2: EngineSettings;
let n1: PostgresDriver;
let n2: PostgresDriver;
const ep = (s: EngineSettings): PrimaryEndpoint => ({ nodeId: s.nodeId, host: s.host, port: s.port });

after(async () => {
  for (const { settings, driver } of nodes) {
    await driver.stop('immediate').catch(() => {});
    // Belt and braces: a postmaster the driver could not stop gets an immediate shutdown signal.
    const pid = postmasterPid(settings.dataDir);
    if (pid !== null) process.kill(pid, 'SIGQUIT');
  }
  rmSync(root, { recursive: true, force: true });
});

async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(s: EngineSettings, text: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ host: s.host, port: s.port, user: s.superuser.name, password: s.superuser.password, database: 'postgres', connectionTimeoutMillis: 5000, statement_timeout: 20_000 });
  await c.connect();
  try {
    return (await c.query<R>(text, params)).rows;
  } finally {
    await c.end();
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const streamingFrom = (d: PostgresDriver, from: string) => waitFor(`streaming from ${from}`, async () => ((await d.status()).streamingFrom === from ? d.status() : null));
const hasRow = async (s: EngineSettings, v: string) => (await sql(s, 'SELECT 1 FROM t WHERE v = $1', [v])).length === 1;

test('binaries: found on this machine; a missing bin dir is binary-missing naming the places searched', () => {
  assert.ok(existsSync(join(binDir, 'postgres')));
  const tools = findTools(binDir);
  assert.ok(tools.pg_rewind.endsWith('/pg_rewind'));

  assert.throws(
    () => findBinDir({ binDir: '/nonexistent/pg/bin', releases: {} }),
    (err: unknown) => err instanceof EngineError && err.code === 'binary-missing' && err.message.includes('/nonexistent/pg/bin') && err.message.includes('postgres'),
  );
  assert.throws(
    () => findBinDir({ releases: {}, pgConfig: '/nonexistent/pg_config', systemRoot: join(root, 'no-system-install') }),
    (err: unknown) =>
      err instanceof EngineError && err.code === 'binary-missing' && err.message.includes('/nonexistent/pg_config') && err.message.includes(join(root, 'no-system-install')),
  );
  assert.throws(
    () => findBinDir({ release: 'pg99', releases: { pg15: binDir } }),
    (err: unknown) => err instanceof EngineError && err.code === 'binary-missing' && err.message.includes('pg99') && err.message.includes('pg15'),
  );
  assert.equal(findBinDir({ release: 'pg15', releases: { pg15: binDir } }), binDir);
});

test('helpers: slot names, pg_basebackup progress lines', () => {
  assert.equal(slotNameFor('n1'), 'n1');
  assert.equal(slotNameFor('DB-node.2'), 'db_node_2');
  assert.deepEqual(parseProgress('  1024/4096 kB (25%), 0/1 tablespace'), { done: 1024 * 1024, total: 4096 * 1024 });
  assert.deepEqual(parseProgress('30000/29000 kB (100%), 1/1 tablespace'), { done: 30000 * 1024, total: 30000 * 1024 });
  assert.equal(parseProgress('pg_basebackup: write-ahead log end point: 0/2000100'), null);
});

test('init + start + status: a primary on timeline 1, version 15', async () => {
  const [p1, p2] = await findFreePorts(2);
  s1 = settingsFor('n1', p1);
  s2 = settingsFor('n2', p2);
  n1 = new PostgresDriver(s1, logger);
  n2 = new PostgresDriver(s2, logger);
  nodes.push({ settings: s1, driver: n1 }, { settings: s2, driver: n2 });

  const before = await n1.status();
  assert.equal(before.running, false);
  assert.equal(before.initialized, false);
  await assert.rejects(n1.start(), (err: unknown) => err instanceof EngineError && err.code === 'not-initialized');

  await n1.init();
  await n1.init(); // idempotent
  const st = statSync(s1.dataDir);
  assert.equal(st.mode & 0o777, 0o700);
  if (process.getuid?.() === 0) assert.equal(st.uid, Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()));
  assert.equal((await n1.status()).running, false, 'init leaves it stopped');

  await n1.start();
  await n1.start(); // idempotent
  const s = await n1.status();
  assert.equal(s.running, true);
  assert.equal(s.inRecovery, false);
  assert.equal(s.initialized, true);
  assert.equal(s.timeline, 1);
  assert.match(s.version ?? '', /^15\./);
  assert.match(s.flushLsn ?? '', /^[0-9A-F]+\/[0-9A-F]+$/);
  assert.equal(s.syncStandbyNames, '');
  assert.deepEqual(s.replicas, []);

  // The replication role exists after the first start as primary; data checksums are on; [engine.parameters] applied.
  const [role] = await sql(s1, 'SELECT rolreplication, rolcanlogin FROM pg_roles WHERE rolname = $1', ['rdb_repl']);
  assert.deepEqual(role, { rolreplication: true, rolcanlogin: true });
  const [settings] = await sql(s1, "SELECT current_setting('data_checksums') AS checksums, current_setting('shared_buffers') AS sb, current_setting('port') AS port");
  assert.deepEqual(settings, { checksums: 'on', sb: '16MB', port: String(s1.port) });
  assert.ok(logs.some((l) => l.level === 'warn' && l.msg.includes('port')), 'the ignored managed parameter is reported');
  await sql(s1, 'CREATE TABLE t (v text PRIMARY KEY)');
  await sql(s1, "INSERT INTO t VALUES ('initial')");
});

test('clone a standby with progress, start it, it streams from the primary', async () => {
  const progress: [number, number][] = [];
  await n2.clone(ep(s1), { onProgress: (done, total) => progress.push([done, total]) });
  assert.ok(progress.length > 0, 'progress reported');
  const [done, total] = progress[progress.length - 1];
  assert.ok(done > 0 && total >= done, `progress ${done}/${total}`);

  await assert.rejects(n1.clone(ep(s2)), (err: unknown) => err instanceof EngineError && err.code === 'clone-failed' && /running/.test(err.message));
  await assert.rejects(n2.promote(), (err: unknown) => err instanceof EngineError && err.code === 'promote-failed' && /not running/.test(err.message));

  // Cloning again reuses the slot made by the first clone and keeps the old copy aside.
  await n2.clone(ep(s1));
  assert.ok(existsSync(`${s2.dataDir}.previous`));
  await n2.discardPrevious();
  assert.ok(!existsSync(`${s2.dataDir}.previous`));

  await n2.start();
  const st = await streamingFrom(n2, 'n1');
  assert.equal(st.inRecovery, true);
  assert.equal(st.timeline, 1);
  assert.match(st.version ?? '', /^15\./);
  assert.match(st.replayLsn ?? '', /\//);
  const primary = await waitFor('n2 in pg_stat_replication', async () => {
    const p = await n1.status();
    // flush_lsn (and so the lag) is known once the standby sent its first reply.
    return p.replicas.some((r) => r.nodeId === 'n2' && r.state === 'streaming' && r.lagBytes !== null) ? p : null;
  });
  const r = primary.replicas.find((x) => x.nodeId === 'n2')!;
  assert.equal(r.syncState, 'async');
  assert.equal(typeof r.lagBytes, 'number');
  assert.ok(await waitFor('initial row on n2', () => hasRow(s2, 'initial')));
  const slots = await sql(s1, "SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'");
  assert.deepEqual(slots, [{ slot_name: 'n2', active: true }]);
});

test('synchronous commit: completes while the standby streams, blocks while it is stopped', async () => {
  await assert.rejects(n1.setSyncStandbys('ANY 1 ('), (err: unknown) => err instanceof EngineError && err.code === 'command-failed');
  await n1.setSyncStandbys('ANY 1 ("n2")');
  assert.equal((await n1.status()).syncStandbyNames, 'ANY 1 ("n2")');
  await waitFor('n2 a quorum standby', async () => (await n1.status()).replicas.some((r) => r.nodeId === 'n2' && r.syncState === 'quorum'));
  await sql(s1, "INSERT INTO t VALUES ('sync-ok')");
  assert.ok(await hasRow(s1, 'sync-ok'));

  await n2.stop('fast');
  assert.equal((await n2.status()).running, false);
  const c = new pg.Client({ host: s1.host, port: s1.port, user: s1.superuser.name, password: s1.superuser.password, database: 'postgres', application_name: 'blocked-writer' });
  c.on('error', () => {});
  await c.connect();
  let settled = false;
  const pending = c.query("INSERT INTO t VALUES ('sync-blocked')").finally(() => {
    settled = true;
  });
  try {
    // The commit waits for the synchronous standby (wait event SyncRep) and does not return.
    await waitFor('the commit waiting on SyncRep', async () => {
      const rows = await sql(s1, "SELECT wait_event FROM pg_stat_activity WHERE application_name = 'blocked-writer' AND state = 'active'");
      return rows.length === 1 && rows[0].wait_event === 'SyncRep';
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(settled, false, 'the commit must not complete without the synchronous standby');

    await n2.start();
    await pending; // released once the standby is back
    assert.ok(await waitFor('blocked row on n2', () => hasRow(s2, 'sync-blocked')));
  } finally {
    await pending.catch(() => {});
    await c.end();
  }
});

test('follow(null) stops streaming; a running primary refuses to follow', async () => {
  await n1.setSyncStandbys('');
  await sql(s1, "INSERT INTO t VALUES ('before-failover')");
  await waitFor('before-failover on n2', () => hasRow(s2, 'before-failover'));

  await assert.rejects(n1.follow(ep(s2)), (err: unknown) => err instanceof EngineError && err.code === 'command-failed' && /running as primary/.test(err.message));

  await n2.follow(null);
  const st = await n2.status();
  assert.equal(st.running, true);
  assert.equal(st.inRecovery, true);
  assert.equal(st.streamingFrom, null);
  assert.deepEqual(await sql(s2, 'SELECT count(*)::int AS n FROM pg_stat_wal_receiver'), [{ n: 0 }]);
  await waitFor('n2 gone from pg_stat_replication', async () => !(await n1.status()).replicas.some((r) => r.nodeId === 'n2'));

  // Following again resumes streaming; the failover below turns it off once more.
  await n2.follow(ep(s1));
  await streamingFrom(n2, 'n1');
  await n2.follow(null);
  assert.equal((await n2.status()).streamingFrom, null);
});

test('promote the standby: writable on timeline 2, stamped with its epoch; the old primary diverges and stops uncleanly', async () => {
  // Rows record the epoch of the server that committed them (rustydb.epoch, set by the driver):
  // n1 was made by init (epoch 1), n2 is promoted for epoch 2.
  const stamped = "CREATE TABLE stamped (v text, epoch bigint DEFAULT NULLIF(current_setting('rustydb.epoch', true), '')::bigint)";
  await sql(s1, stamped);
  await sql(s1, "INSERT INTO stamped VALUES ('on-n1')");
  assert.deepEqual(await sql(s1, 'SELECT v, epoch::int AS epoch FROM stamped'), [{ v: 'on-n1', epoch: 1 }]);
  await n2.promote(2);
  const st: EngineStatus = await n2.status();
  assert.equal(st.inRecovery, false);
  assert.equal(st.timeline, 2);
  await sql(s2, "INSERT INTO t VALUES ('after-failover')");
  await sql(s2, stamped);
  await sql(s2, "INSERT INTO stamped VALUES ('on-n2')");
  assert.deepEqual(await sql(s2, 'SELECT v, epoch::int AS epoch FROM stamped'), [{ v: 'on-n2', epoch: 2 }]);
  await n2.promote(); // idempotent on a primary
  assert.deepEqual(await sql(s2, "SELECT current_setting('rustydb.epoch') AS e"), [{ e: '2' }], 'a repeated promote keeps the stamp');

  // The old primary takes a write the new one never sees, then crashes.
  await sql(s1, "INSERT INTO t VALUES ('n1-diverged')");
  await n1.stop('immediate');
  assert.equal((await n1.status()).running, false);
  const control = execFileSync(findTools(binDir).pg_controldata, ['-D', s1.dataDir], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } });
  assert.match(control, /Database cluster state:\s+in production/, 'stopped uncleanly');
});

test('slots on the new primary follow the standby list', async () => {
  await n2.syncSlots(['n1', 'n3', 'n2']);
  const names = async () => (await sql(s2, "SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY 1")).map((r) => r.slot_name);
  assert.deepEqual(await names(), ['n1', 'n3'], 'no slot for the primary itself');
  await n2.syncSlots(['n1']);
  assert.deepEqual(await names(), ['n1']);
});

test('pg_hba.conf follows the members: replication is allowed from member hosts only (file rewritten, server reloaded)', async () => {
  const rules = async () =>
    (await sql(s2, "SELECT address, netmask FROM pg_hba_file_rules WHERE 'replication' = ANY(database) AND auth_method <> 'reject' ORDER BY 1")).map((r) => String(r.address));
  await n2.setReplicationPeers(['127.0.0.1', '10.9.8.7']);
  assert.ok((await rules()).includes('10.9.8.7'), 'a new member host is allowed');
  await n2.setReplicationPeers(['127.0.0.1']);
  assert.equal((await rules()).includes('10.9.8.7'), false, 'a removed member host is not');
  await sql(s2, 'SELECT 1'); // still serving after the reloads
});

test('rewind the old primary onto the new one: it streams from it, with the right data', async () => {
  await assert.rejects(n2.rewind(ep(s1)), (err: unknown) => err instanceof EngineError && err.code === 'rewind-failed' && /running/.test(err.message));
  await n1.rewind(ep(s2));
  await n1.start();
  const st = await streamingFrom(n1, 'n2');
  assert.equal(st.inRecovery, true);
  assert.equal(st.timeline, 2);
  await waitFor('n1 in n2 pg_stat_replication', async () => (await n2.status()).replicas.some((r) => r.nodeId === 'n1' && r.state === 'streaming'));

  await sql(s2, "INSERT INTO t VALUES ('after-rewind')");
  assert.ok(await waitFor('after-rewind on n1', () => hasRow(s1, 'after-rewind')));
  for (const v of ['initial', 'sync-ok', 'sync-blocked', 'before-failover', 'after-failover']) assert.ok(await hasRow(s1, v), `${v} on n1`);
  assert.equal(await hasRow(s1, 'n1-diverged'), false, 'the diverged write is rewound away');
  assert.equal(await hasRow(s2, 'n1-diverged'), false);
});

test('passwords never reach the logs or the configuration', () => {
  const driverLogs = JSON.stringify(logs);
  for (const s of [s1, s2]) {
    const serverLog = readFileSync(`${s.dataDir}.log`, 'utf8');
    const conf = ['postgresql.conf', 'rustydb.auto.conf', 'postgresql.auto.conf', 'pg_hba.conf'].map((f) => readFileSync(join(s.dataDir, f), 'utf8')).join('\n');
    for (const token of [suToken, replToken]) {
      assert.ok(!serverLog.includes(token), `server log of ${s.nodeId} holds a password`);
      assert.ok(!driverLogs.includes(token), 'driver log holds a password');
      assert.ok(!conf.includes(token), `configuration of ${s.nodeId} holds a password`);
    }
  }
  // The replication password lives in the passfile only, readable by the engine user alone.
  const passfile = `${s1.dataDir}.pgpass`;
  assert.equal(statSync(passfile).mode & 0o777, 0o600);
  assert.ok(readFileSync(passfile, 'utf8').includes(replToken));
});
