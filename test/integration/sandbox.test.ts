/**
 * The sandbox end to end, with real agents and real PostgreSQL: `sandbox up
 * -o json` through the real binary, writes through the printed connection
 * string, `sandbox down` leaving nothing of the sandbox running, and `up`
 * again restarting the same cluster with its data. The tests run in order on
 * one sandbox; after() always stops and purges it.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { parse as parseToml } from 'smol-toml';
import { Sandbox } from '../../src/sandbox/cluster.ts';

const repo = fileURLToPath(new URL('../../', import.meta.url));
const admin = join(repo, 'bin', 'rustydb-admin');

let root: string;
let dir: string;
let configDir: string;

interface UpJson {
  cluster: { id: string; primary: string | null; writable: boolean };
  connection_string: string;
  nodes: { id: string; role: string; pg_port: number; api_url: string; agent_pid: number | null; engine_pid: number | null; data_dir: string }[];
}
/** What the first `up` printed; later tests compare against it. */
let first: UpJson;

/** Run the real CLI; never rejects (the exit code is part of the result). */
function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, RUSTYDB_CONFIG_DIR: configDir, NO_COLOR: '1' };
  delete env.NODE_TEST_CONTEXT;
  return new Promise((resolve) => {
    execFile(process.execPath, [admin, ...args], { env, cwd: root, timeout: 150_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Alive and not a zombie. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Every live process but this one: pid, parent pid, command line. */
function liveProcesses(): { pid: number; ppid: number; cmd: string }[] {
  const out: { pid: number; ppid: number; cmd: string }[] = [];
  for (const name of readdirSync('/proc')) {
    const pid = Number(name);
    if (!/^\d+$/.test(name) || pid === process.pid || !alive(pid)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      out.push({ pid, ppid: Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]), cmd });
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Live processes whose command line mentions `text`. */
const mentioning = (text: string) => liveProcesses().filter((p) => p.cmd.includes(text));

/** The hosts of a multi-host URL, tried in order like libpq with target_session_attrs=read-write. */
async function connectReadWrite(url: string): Promise<{ client: pg.Client; port: number }> {
  // WHATWG URL rejects a host list, so take the string apart by hand.
  const m = /^postgresql:\/\/([^:@]+):([^@]+)@([^/]+)\/([^?]+)\?(.*)$/.exec(url);
  assert.ok(m, `not a postgresql:// URL with user, password, hosts, database and parameters: ${url}`);
  const [, user, password, hostList, database, params] = m;
  assert.equal(new URLSearchParams(params).get('target_session_attrs'), 'read-write');
  const hosts = hostList.split(',').map((h) => ({ host: h.slice(0, h.lastIndexOf(':')), port: Number(h.slice(h.lastIndexOf(':') + 1)) }));
  for (const h of hosts) {
    const client = new pg.Client({ ...h, user: decodeURIComponent(user), password: decodeURIComponent(password), database: decodeURIComponent(database) });
    try {
      await client.connect();
      const r = await client.query<{ transaction_read_only: string }>('SHOW transaction_read_only');
      if (r.rows[0].transaction_read_only === 'off') return { client, port: h.port };
    } catch {
      // next host
    }
    await client.end().catch(() => {});
  }
  throw new Error(`no host of ${hostList} accepts writes`);
}

/** psql from PATH or the server's bin dir, or null: it proves libpq itself accepts the string. */
function findPsql(): string | null {
  for (const p of ['psql', ...readdirSafe('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin/psql`)]) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' });
      return p;
    } catch {
      // next
    }
  }
  return null;
}
function readdirSafe(d: string): string[] {
  try {
    return readdirSync(d);
  } catch {
    return [];
  }
}

async function query<T extends pg.QueryResultRow>(cfg: pg.ClientConfig, sql: string): Promise<T[]> {
  const c = new pg.Client(cfg);
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

before(() => {
  root = mkdtempSync('/tmp/rustydb-sandbox-test-');
  // PostgreSQL runs as `postgres` and must be able to reach the data dirs below.
  chmodSync(root, 0o755);
  dir = join(root, 'sb');
  configDir = join(root, 'config');
});

after(async () => {
  try {
    if (existsSync(join(dir, 'sandbox.json'))) await (await Sandbox.openExisting(dir)).down({ purge: true });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('sandbox up -o json (the real binary) starts 3 nodes: one writable primary, two streaming replicas; JSON only on stdout', async () => {
  const r = await cli(['sandbox', 'up', '-o', 'json', '--dir', dir]);
  assert.equal(r.code, 0, `sandbox up failed (exit ${r.code}):\n${r.stderr}`);
  first = JSON.parse(r.stdout) as UpJson; // all of stdout is one JSON document
  assert.equal(first.nodes.length, 3);
  for (const n of first.nodes) {
    for (const k of ['id', 'role', 'pg_port', 'api_url', 'agent_pid', 'engine_pid', 'data_dir']) assert.ok(k in n, `node field ${k} missing`);
    assert.equal(typeof n.agent_pid, 'number');
    assert.equal(typeof n.engine_pid, 'number');
  }
  assert.deepEqual(first.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
  const primary = first.nodes.find((n) => n.role === 'primary')!;
  assert.equal(first.cluster.primary, primary.id);
  assert.equal(first.cluster.writable, true);
  assert.match(first.connection_string, /^postgresql:\/\/rustydb:[^@]+@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\/postgres\?target_session_attrs=read-write$/);
  assert.match(r.stderr, /is the primary/, 'progress goes to stderr');

  // The health checks agree, seen from outside.
  const sb = await Sandbox.open({ dir });
  for (const n of first.nodes) {
    const path = n.role === 'primary' ? '/primary' : '/replica?replication_state=streaming';
    // Served over TLS 1.3: the sandbox's client trusts its CA.
    assert.equal((await sb.apiFetch(n.api_url + path)).status, 200, `${n.id} ${path}`);
  }
  assert.equal(await sb.primary(), primary.id);

  // The CLI context points at the sandbox.
  const ctx = parseToml(readFileSync(join(configDir, 'admin.toml'), 'utf8')) as unknown as { current: string; contexts: Record<string, { endpoints: string[] }> };
  assert.equal(ctx.current, 'sandbox');
  assert.deepEqual(ctx.contexts.sandbox.endpoints, first.nodes.map((n) => n.api_url));
});

test("writes through the connection string's hosts land on the primary; replicas are read-only and receive them", async () => {
  const sb = await Sandbox.open({ dir });
  const primary = first.nodes.find((n) => n.role === 'primary')!;
  const { client, port } = await connectReadWrite(first.connection_string);
  try {
    assert.equal(port, primary.pg_port);
    await client.query('CREATE TABLE sandbox_test (id int PRIMARY KEY, note text)');
    await client.query("INSERT INTO sandbox_test VALUES (1, 'before restart')");
  } finally {
    await client.end();
  }
  const psql = findPsql();
  if (psql) {
    // libpq itself picks the read-write host of the multi-host string.
    const out = execFileSync(psql, [first.connection_string, '-Atc', "INSERT INTO sandbox_test VALUES (2, 'psql') RETURNING inet_server_port()"], { encoding: 'utf8' });
    assert.equal(Number(out.trim().split('\n')[0]), primary.pg_port);
  }
  for (const n of first.nodes.filter((x) => x.role === 'replica')) {
    await assert.rejects(query(sb.pgConfigFor(n.id), "INSERT INTO sandbox_test VALUES (99, 'must fail')"), /read-only/);
    let rows: { n: string }[] = [];
    for (let i = 0; i < 50; i++) {
      rows = await query<{ n: string }>(sb.pgConfigFor(n.id), 'SELECT count(*) AS n FROM sandbox_test').catch(() => []);
      if (rows[0]?.n === (psql ? '2' : '1')) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(rows[0]?.n, psql ? '2' : '1', `replica ${n.id} has the rows`);
  }
});

test('sandbox down stops every agent and postgres process of the sandbox', async () => {
  const sb = await Sandbox.open({ dir });
  const postmasters = sb.nodes().map((n) => n.enginePid).filter((p): p is number => p !== null);
  const agents = sb.nodes().map((n) => n.agentPid).filter((p): p is number => p !== null);
  assert.equal(postmasters.length, 3);
  assert.equal(agents.length, 3);
  const engineProcs = liveProcesses().filter((p) => postmasters.includes(p.ppid)).map((p) => p.pid);
  assert.ok(engineProcs.length > 0, 'the postmasters have children (checkpointer, walsender, ...)');

  const r = await cli(['sandbox', 'down', '--dir', dir]);
  assert.equal(r.code, 0, r.stderr);
  for (const pid of [...agents, ...postmasters, ...engineProcs]) assert.equal(alive(pid), false, `pid ${pid} still runs after down`);
  assert.deepEqual(mentioning(dir), [], 'no process mentions the sandbox dir');
  const st = await sb.status();
  assert.deepEqual(st.nodes.map((n) => [n.running, n.role, n.enginePid]), [[false, 'stopped', null], [false, 'stopped', null], [false, 'stopped', null]]);
  assert.equal(st.cluster, null);
});

test('up again on the same dir restarts the same cluster, same ports, data kept', async () => {
  const sb = await Sandbox.open({ dir });
  await sb.up({ timeoutMs: 90_000 });
  const st = await sb.status();
  assert.equal(st.cluster?.id, first.cluster.id, 'same cluster identity');
  assert.deepEqual(
    sb.nodes().map((n) => [n.id, n.pgPort, n.apiUrl]),
    first.nodes.map((n) => [n.id, n.pg_port, n.api_url]),
  );
  assert.equal(sb.connectionString(), first.connection_string);
  assert.deepEqual(st.nodes.map((n) => n.role).sort(), ['primary', 'replica', 'replica']);
  const { client } = await connectReadWrite(sb.connectionString());
  try {
    const rows = (await client.query<{ note: string }>('SELECT note FROM sandbox_test WHERE id = 1')).rows;
    assert.deepEqual(rows, [{ note: 'before restart' }]);
  } finally {
    await client.end();
  }
});

test('down --purge stops everything and deletes the directory', async () => {
  const sb = await Sandbox.open({ dir });
  await sb.down({ purge: true });
  assert.equal(existsSync(dir), false);
  assert.deepEqual(mentioning(dir), []);
});
