/**
 * `config show|get|set` and `cluster health` through the real binary against
 * a real 3-node sandbox: a knob set through one agent is read back through
 * another, every refusal class has its exit code and changes nothing, the
 * agent re-validates what it is sent, read_from_followers turns a replica's
 * /replica check off and on, and a standby whose agent is SIGKILLed scores
 * lower with the reason named.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'undici';
import {
  clusterHealthSchema,
  configEntrySchema,
  configViewSchema,
  healthComponentSchema,
  nodeHealthSchema,
  type ClusterHealthView,
  type ConfigView,
} from '../../agent/api/wire.ts';
import type { Sandbox } from '../../src/sandbox/cluster.ts';
import { adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type RunResult, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;
let sb: Sandbox;

/** Run the real CLI against one agent (or all), stdin/stdout not terminals; never rejects. */
function cli(args: string[], endpoints: string[] = sb.nodes().map((n) => n.apiUrl)): Promise<RunResult> {
  return runAdmin(args, adminEnv(box, { RUSTYDB_ENDPOINTS: endpoints.join(',') }), 60_000);
}

function assertFields(value: object, schema: { required: readonly string[] }, what: string): void {
  assert.deepEqual(Object.keys(value).sort(), [...schema.required].sort(), `${what} fields`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Poll `probe` until it returns a value, or fail naming `what` and the last thing seen. */
async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(200);
  }
}

before(async () => {
  box = await openTestSandbox('cli-config-test');
  sb = box.sb;
});

after(() => closeTestSandbox(box));

async function configOf(apiUrl: string): Promise<ConfigView> {
  const r = await cli(['config', 'show', '-o', 'json'], [apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ConfigView;
}

const apiOf = (id: string) => sb.node(id).apiUrl;

test('config show -o json: every knob with the wire fields; Raft timings from the leader', async () => {
  const c = await configOf(apiOf('n2'));
  assertFields(c, configViewSchema, 'ConfigView');
  for (const k of c.keys) assertFields(k, configEntrySchema, `entry ${k.key}`);
  const byKey = Object.fromEntries(c.keys.map((k) => [k.key, k]));
  assert.deepEqual(byKey.election_timeout_ms.value, 1000);
  assert.deepEqual(byKey.heartbeat_interval_ms.value, 100);
  assert.equal(byKey.election_timeout_ms.source, 'rustydb.conf');
  assert.equal(byKey.fencing_mode.value, 'lease');
  assert.ok(c.version > 0, 'the first leader wrote the config record');
  const view = await sb.clusterView();
  assert.equal(c.raftFrom, view?.leader, 'the leader gave the Raft timings');
});

test('config set through one agent, config get through another: ha_mode and lease_ms', async () => {
  const before = await configOf(apiOf('n1'));
  const old = before.keys.find((k) => k.key === 'ha_mode')!.value;
  const target = old === 'active_passive' ? 'active_active' : 'active_passive';
  let r = await cli(['config', 'set', 'ha_mode', target, '-o', 'table'], [apiOf('n1')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `ha_mode: ${old} → ${target}\n`);
  r = await cli(['config', 'get', 'ha_mode', '-o', 'table'], [apiOf('n3')]);
  assert.deepEqual([r.code, r.stdout], [0, `${target}\n`], r.stderr);

  r = await cli(['config', 'set', 'lease_ms', '900', '-o', 'json'], [apiOf('n2')]);
  assert.equal(r.code, 0, r.stderr);
  const set = JSON.parse(r.stdout) as { previous: number; value: number; changed: boolean; config: ConfigView };
  assert.deepEqual([set.previous, set.value, set.changed], [1000, 900, true]);
  assert.ok(set.config.version > before.version);
  r = await cli(['config', 'get', 'lease_ms', '-o', 'table'], [apiOf('n1')]);
  assert.deepEqual([r.code, r.stdout], [0, '900\n'], r.stderr);
  r = await cli(['config', 'get', 'lease_ms'], [apiOf('n3')]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { value: number; source: string }).value, 900);
  // The cluster view reports the new mode as well.
  assert.equal((await sb.clusterView())?.haMode, target);
});

test('refusals: unknown key 2, bad value 2, broken rule 2, read-only key 5; nothing changes', async () => {
  const before = await configOf(apiOf('n1'));
  const cases: [string[], number, RegExp][] = [
    [['config', 'set', 'lease_timeout', '100'], 2, /unknown config key "lease_timeout".*known keys: /],
    [['config', 'get', 'leas_ms'], 2, /did you mean lease_ms\?/],
    [['config', 'set', 'lease_ms', 'soon'], 2, /lease_ms cannot be "soon": it must be an integer number of milliseconds/],
    [['config', 'set', 'failover_mode', 'sometimes'], 2, /failover_mode cannot be "sometimes": it must be automatic or manual/],
    [['config', 'set', 'lease_ms', '5000'], 2, /lease_ms \(5000\) must be less than failover_timeout_ms \(1200\)/],
    [['config', 'set', 'election_timeout_ms', '2000'], 5, /change it in rustydb\.conf on every node, then restart the agents one at a time/],
  ];
  for (const [args, code, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.equal(r.stdout, '');
  }
  const now = await configOf(apiOf('n2'));
  assert.equal(now.version, before.version, 'no refused change was written');
});

test('the agent validates again: a PUT that skips the CLI gets RDB_ERR_INVALID / RDB_ERR_PRECONDITION', async () => {
  const put = async (key: string, body: unknown) => {
    const res = await request(`${apiOf('n3')}/v1/config/${key}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...sb.authHeaders() }, body: JSON.stringify(body), dispatcher: sb.dispatcher() });
    return { status: res.statusCode, body: (await res.body.json()) as { error: { code: string; message: string } } };
  };
  let r = await put('lease_ms', { value: 1500 });
  assert.deepEqual([r.status, r.body.error.code], [400, 'RDB_ERR_INVALID']);
  assert.match(r.body.error.message, /must be less than failover_timeout_ms/);
  r = await put('heartbeat_interval_ms', { value: 50 });
  assert.deepEqual([r.status, r.body.error.code], [412, 'RDB_ERR_PRECONDITION']);
  r = await put('lease_ms', { value: 800, why: 'test' });
  assert.deepEqual([r.status, r.body.error.code], [400, 'RDB_ERR_INVALID']);
  assert.match(r.body.error.message, /unknown field "why"/);
});

test("read_from_followers false turns a replica's /replica and /read-only checks to 503; true turns them back", async () => {
  const view = await sb.clusterView();
  const replica = view!.members.find((m) => m.role === 'replica')!;
  const status = async (path: string) => (await request(`${replica.apiUrl}${path}`, { dispatcher: sb.dispatcher() })).statusCode;
  await until('the replica to serve reads', async () => ((await status('/replica')) === 200 ? true : null));

  let r = await cli(['config', 'set', 'read_from_followers', 'false'], [replica.apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  await until('/replica to answer 503', async () => ((await status('/replica')) === 503 ? true : null));
  assert.equal(await status('/read-only'), 503);
  assert.equal(await status('/health'), 200, 'the engine still runs');

  r = await cli(['config', 'set', 'read_from_followers', 'true'], [replica.apiUrl]);
  assert.equal(r.code, 0, r.stderr);
  await until('/replica to answer 200 again', async () => ((await status('/replica')) === 200 ? true : null));
  assert.equal(await status('/read-only'), 200);
});

async function health(endpoint: string): Promise<ClusterHealthView> {
  const r = await cli(['cluster', 'health', '-o', 'json'], [endpoint]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterHealthView;
}

test('cluster health -o json: every member with its components; a healthy sandbox scores high everywhere', async () => {
  const h = await until('every member to score healthy', async () => {
    const v = await health(apiOf('n2'));
    return v.nodes.every((n) => n.status === 'healthy') ? v : null;
  });
  assertFields(h, clusterHealthSchema, 'ClusterHealthView');
  assert.deepEqual(h.nodes.map((n) => n.id), ['n1', 'n2', 'n3']);
  assert.equal(h.computedBy, 'n2');
  assert.equal(h.raftFrom, h.leader);
  for (const n of h.nodes) {
    assertFields(n, nodeHealthSchema, `node ${n.id}`);
    for (const c of n.components) assertFields(c, healthComponentSchema, `${n.id}.${c.name}`);
    const names = n.components.map((c) => c.name);
    assert.deepEqual(names, n.id === h.primary ? ['agent', 'engine', 'role', 'lease', 'raft', 'admin'] : ['agent', 'engine', 'role', 'replication', 'lag', 'raft', 'admin'], n.id);
    assert.ok(n.score >= 90, `${n.id} scores ${n.score}: ${n.problems.join('; ')}`);
  }
});

test('a standby whose agent is SIGKILLed scores lower, and the agent is named as the reason', async () => {
  const view = await sb.clusterView();
  const victim = view!.members.find((m) => m.role === 'replica')!.id;
  const primary = view!.primary!;
  sb.signalAgent(victim, 'SIGKILL');
  try {
    const h = await until(`${victim}'s agent to be seen as gone`, async () => {
      const v = await health(apiOf(primary));
      const n = v.nodes.find((x) => x.id === victim);
      return n && n.components.find((c) => c.name === 'agent')?.value === 0 ? v : null;
    });
    const hurt = h.nodes.find((n) => n.id === victim)!;
    const others = h.nodes.filter((n) => n.id !== victim);
    for (const o of others) assert.ok(hurt.score < o.score, `${victim} (${hurt.score}) scores below ${o.id} (${o.score})`);
    assert.notEqual(hurt.status, 'healthy');
    assert.match(hurt.problems[0], new RegExp(`^agent: the agent did not answer at ${sb.node(victim).apiUrl.replace(/\./g, '\\.')}`));
    assert.match(hurt.components.find((c) => c.name === 'engine')!.detail, /unknown: the agent did not answer/);

    const table = await cli(['cluster', 'health', '-o', 'table'], [apiOf(primary)]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, new RegExp(`^${victim}\\tvoter\\t[a-z]+\\t${hurt.score}\\t(degraded|unhealthy)\\tagent: the agent did not answer`, 'm'));
  } finally {
    await sb.startAgent(victim);
  }
});
