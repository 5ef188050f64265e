/**
 * `config show | get | set` and `cluster health` through main() with a fake
 * IO (terminal and not) and an undici MockAgent that fails on unused stubs:
 * output shapes, the bare value of `config get` for scripts, local
 * validation before any request (exit 2 / 5 and no request), and the
 * agent's refusals mapped to exit codes.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useMockAgent } from './helpers/mock-http.ts';
import { configValues, CONFIG_KEY_NAMES, CONFIG_KEYS } from '../../agent/api/config-keys.ts';
import type { ClusterHealthView, ConfigSetView, ConfigView } from '../../agent/api/wire.ts';
import { main, type Factory } from '../../src/cli.ts';

const A = 'http://127.0.0.1:7101';
const B = 'http://127.0.0.1:7102';

function configView(over: Partial<Record<string, string | number | boolean>> = {}, version = 4): ConfigView {
  const values = {
    ...configValues({ haMode: 'active_active', autoFailover: true, minQuorumSize: null, failoverTimeoutMs: 1200, leaseMs: 1000, durability: 'strict', readFromFollowers: true }, { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 }),
    ...over,
  };
  return {
    version,
    raftFrom: 'n1',
    keys: CONFIG_KEY_NAMES.map((key) => ({
      key,
      value: values[key],
      source: CONFIG_KEYS[key].readOnly ? 'rustydb.conf' : CONFIG_KEYS[key].field === null ? 'built-in' : 'cluster',
      settable: CONFIG_KEYS[key].readOnly === null,
      allowed: CONFIG_KEYS[key].allowed,
      description: CONFIG_KEYS[key].description,
    })),
  };
}

const HEALTH: ClusterHealthView = {
  name: 'demo',
  epoch: 3,
  primary: 'n1',
  leader: 'n1',
  computedBy: 'n2',
  raftFrom: 'n1',
  nodes: [
    {
      id: 'n1', kind: 'voter', role: 'primary', score: 100, status: 'healthy', problems: [],
      components: [{ name: 'agent', weight: 20, value: 1, points: 20, detail: 'the agent answered at http://127.0.0.1:7101' }],
    },
    {
      id: 'n3', kind: 'voter', role: 'unknown', score: 35, status: 'unhealthy', problems: ['agent: the agent did not answer at http://127.0.0.1:7103: check that rustydb-agent runs on n3'],
      components: [{ name: 'agent', weight: 20, value: 0, points: 0, detail: 'the agent did not answer at http://127.0.0.1:7103: check that rustydb-agent runs on n3' }],
    },
  ],
};

const agent = useMockAgent();

async function run(args: string[], tty = false, color = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const f: Factory = {
    io: { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color },
    env: { RUSTYDB_ENDPOINTS: [A, B].join(','), RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
  };
  const code = await main(args, f);
  return { code, out, err };
}

const stubConfig = (view: ConfigView = configView(), origin = A) => agent().get(origin).intercept({ path: '/v1/config' }).reply(200, view);

test('config show -o json prints the ConfigView as the agent sent it', async () => {
  stubConfig();
  const r = await run(['config', 'show', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), configView());
});

test('config show on a terminal: version line, then key, value, source and description per knob', async () => {
  stubConfig();
  const r = await run(['config', 'show'], true);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /config version 4; Raft timings from n1's rustydb\.conf/);
  assert.match(r.out, /KEY +VALUE +SOURCE +DESCRIPTION/);
  assert.match(r.out, /lease_ms +1000 +cluster +a primary that cannot confirm/);
  assert.match(r.out, /election_timeout_ms +1000 +rustydb\.conf, read-only/);
  assert.match(r.out, /fencing_mode +lease +built-in/);
});

test('config show piped in table mode: tab-separated rows, no header', async () => {
  stubConfig();
  const r = await run(['config', 'show', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.ok(r.out.split('\n')[0].startsWith('ha_mode\tactive_active\tcluster\t'));
  assert.doesNotMatch(r.out, /KEY/);
});

test('config get KEY -o table prints the bare value, on a terminal or not; -o json the entry', async () => {
  stubConfig();
  assert.deepEqual(await run(['config', 'get', 'lease_ms', '-o', 'table']), { code: 0, out: '1000\n', err: '' });
  stubConfig();
  assert.deepEqual(await run(['config', 'get', 'min_quorum_size'], true), { code: 0, out: 'auto\n', err: '' });
  stubConfig();
  const r = await run(['config', 'get', 'read_from_followers']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), configView().keys.find((k) => k.key === 'read_from_followers'));
});

test('config get with an unknown key exits 2 naming the closest key, without a request', async () => {
  const r = await run(['config', 'get', 'lease']);
  assert.equal(r.code, 2);
  assert.match(r.err, /unknown config key "lease"; did you mean lease_ms\? \(known keys: ha_mode, /);
  assert.equal(r.out, '');
});

test('config set KEY VALUE: checks against the current config, PUTs the typed value, prints old → new', async () => {
  stubConfig();
  const answer: ConfigSetView = { key: 'lease_ms', previous: 1000, value: 800, changed: true, config: configView({ lease_ms: 800 }, 5) };
  agent()
    .get(A)
    .intercept({ path: '/v1/config/lease_ms', method: 'PUT', body: (b) => JSON.stringify(JSON.parse(b)) === '{"value":800}' })
    .reply(200, answer);
  let r = await run(['config', 'set', 'lease_ms', '800']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), answer);

  stubConfig();
  agent()
    .get(A)
    .intercept({ path: '/v1/config/failover_mode', method: 'PUT', body: (b) => JSON.parse(b).value === 'manual' })
    .reply(200, { key: 'failover_mode', previous: 'automatic', value: 'manual', changed: true, config: configView({ failover_mode: 'manual' }, 5) });
  r = await run(['config', 'set', 'failover_mode', 'manual', '-o', 'table']);
  assert.deepEqual(r, { code: 0, out: 'failover_mode: automatic → manual\n', err: '' });

  stubConfig();
  agent()
    .get(A)
    .intercept({ path: '/v1/config/ha_mode', method: 'PUT' })
    .reply(200, { key: 'ha_mode', previous: 'active_active', value: 'active_active', changed: false, config: configView() });
  r = await run(['config', 'set', 'ha_mode', 'active_active'], true);
  assert.deepEqual(r, { code: 0, out: 'ha_mode: already active_active (unchanged)\n', err: '' });
});

test('config set refuses locally: unknown key 2, bad value 2, read-only key 5 — no request at all', async () => {
  let r = await run(['config', 'set', 'leas_ms', '100']);
  assert.equal(r.code, 2);
  assert.match(r.err, /did you mean lease_ms\?/);
  r = await run(['config', 'set', 'read_from_followers', 'sometimes']);
  assert.equal(r.code, 2);
  assert.match(r.err, /read_from_followers cannot be "sometimes": it must be true or false/);
  r = await run(['config', 'set', 'fencing_mode', 'stonith']);
  assert.equal(r.code, 2);
  assert.match(r.err, /it must be lease/);
  r = await run(['config', 'set', 'election_timeout_ms', '3000']);
  assert.equal(r.code, 5);
  assert.match(r.err, /change it in rustydb\.conf on every node, then restart the agents one at a time/);
  r = await run(['config', 'set', 'heartbeat_interval_ms', '50']);
  assert.equal(r.code, 5);
  assert.equal(r.out, '');
});

test('config set breaking a rule against the current config exits 2 before the PUT', async () => {
  stubConfig();
  const r = await run(['config', 'set', 'lease_ms', '1500']);
  assert.equal(r.code, 2);
  assert.match(r.err, /cannot set lease_ms to 1500: lease_ms \(1500\) must be less than failover_timeout_ms \(1200\)/);
});

test("config set: the agent's refusals keep their exit codes (invalid 2, precondition 5, conflict 6)", async () => {
  const refuse = (status: number, code: string, message: string) => {
    stubConfig();
    agent().get(A).intercept({ path: '/v1/config/lease_ms', method: 'PUT' }).reply(status, { error: { code, message } });
  };
  refuse(400, 'RDB_ERR_INVALID', 'cannot set lease_ms to 900: lease_ms (900) must be less than failover_timeout_ms (800)');
  let r = await run(['config', 'set', 'lease_ms', '900']);
  assert.equal(r.code, 2);
  assert.match(r.err, /failover_timeout_ms \(800\)/);
  refuse(503, 'RDB_ERR_NO_QUORUM', 'no Raft leader is known');
  assert.equal((await run(['config', 'set', 'lease_ms', '900'])).code, 5);
  refuse(409, 'RDB_ERR_CONFLICT', 'the cluster config changed twice');
  r = await run(['config', 'set', 'lease_ms', '900']);
  assert.equal(r.code, 6);
  assert.match(r.err, /changed twice/);
});

test('cluster health -o json prints the ClusterHealthView; on a terminal a row per node with its first problem', async () => {
  agent().get(A).intercept({ path: '/v1/cluster/health' }).reply(200, HEALTH);
  let r = await run(['cluster', 'health', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), HEALTH);

  agent().get(A).intercept({ path: '/v1/cluster/health' }).reply(200, HEALTH);
  r = await run(['cluster', 'health', '--components'], true, true);
  assert.equal(r.code, 0, r.err);
  const plain = r.out.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(plain, /cluster demo: primary n1 \(epoch 3\), leader n1; scored by n2, Raft progress from n1/);
  assert.match(plain, /ID +KIND +ROLE +SCORE +STATUS +FIRST PROBLEM/);
  assert.match(plain, /n3 +voter +unknown +35 +unhealthy +agent: the agent did not answer/);
  assert.match(r.out, /\x1b\[31munhealthy/, 'the status in colour on a terminal');
  assert.match(plain, /n1 +agent +20 +1 +the agent answered/, 'components table');

  agent().get(A).intercept({ path: '/v1/cluster/health' }).reply(200, HEALTH);
  r = await run(['cluster', 'health', '-o', 'table']);
  assert.equal(r.out, 'n1\tvoter\tprimary\t100\thealthy\t-\nn3\tvoter\tunknown\t35\tunhealthy\tagent: the agent did not answer at http://127.0.0.1:7103: check that rustydb-agent runs on n3\n');
});

test('every new command has --help with an example', async () => {
  for (const args of [['config', 'show'], ['config', 'get'], ['config', 'set'], ['cluster', 'health']]) {
    const r = await run([...args, '--help']);
    assert.equal(r.code, 0);
    assert.match(r.out, /Example/, args.join(' '));
  }
});
