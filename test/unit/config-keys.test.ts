/**
 * The runtime knobs' table (agent/api/config-keys.ts), which the CLI and the
 * agent both validate with: every key maps to what it says, every class of
 * refusal (unknown key, bad value, read-only key, broken rule) says what is
 * wrong and what is allowed, and the timing rules agree with rustydb.conf's [ha].
 * Then the agent's side of the same table: `RuntimeViews.setConfig`'s
 * compare-and-set with one retry, and the routes' answers through
 * `buildApp().inject()` (status codes, RDB_ERR_* codes, unknown fields).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CONFIG_KEY_NAMES,
  CONFIG_KEYS,
  configFromValues,
  configKey,
  ConfigKeyError,
  configValues,
  haTimingProblems,
  parseConfigValue,
  planConfigChange,
  type ConfigValue,
  type RaftTiming,
} from '../../agent/api/config-keys.ts';
import { parseConfigText, ConfigError } from '../../agent/config/load.ts';
import { buildApp } from '../../agent/api/app.ts';
import type { ApiDeps } from '../../agent/api/deps.ts';
import { ApiError } from '../../agent/api/errors.ts';
import type { ConfigSetView, ConfigView } from '../../agent/api/wire.ts';
import { RuntimeViews } from '../../agent/runtime-views.ts';
import { StaleRecordError, type ClusterState } from '../../agent/state/cluster-state.ts';
import type { RaftNode } from '../../agent/raft/node.ts';
import { KEY, type ClusterConfigRecord } from '../../agent/state/records.ts';

const RECORD: ClusterConfigRecord = {
  haMode: 'active_active',
  autoFailover: true,
  minQuorumSize: null,
  failoverTimeoutMs: 7000,
  leaseMs: 5000,
  durability: 'strict',
};
const RAFT: RaftTiming = { electionTimeoutMs: 5000, heartbeatIntervalMs: 1000 };

/** The ConfigKeyError `fn` throws (it must throw one). */
function refusal(fn: () => unknown): ConfigKeyError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigKeyError, `expected a ConfigKeyError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a refusal');
}

test('the table lists every key once, in order, each naming itself and a record field or a reason it has none', () => {
  assert.deepEqual(Object.keys(CONFIG_KEYS), [...CONFIG_KEY_NAMES]);
  for (const name of CONFIG_KEY_NAMES) {
    const spec = CONFIG_KEYS[name];
    assert.equal(spec.name, name);
    assert.ok(spec.description.length > 10 && spec.allowed.length > 3, `${name} is described`);
    if (spec.field !== null) assert.ok(spec.field in { ...RECORD, readFromFollowers: true }, `${name} maps to a ClusterConfigRecord field`);
  }
  assert.deepEqual(
    CONFIG_KEY_NAMES.filter((k) => CONFIG_KEYS[k].readOnly !== null),
    ['election_timeout_ms', 'heartbeat_interval_ms'],
  );
});

test('values come from the record, the Raft timings and the built-in fencing; configFromValues inverts it', () => {
  const v = configValues(RECORD, RAFT);
  assert.deepEqual(v, {
    ha_mode: 'active_active',
    min_quorum_size: 'auto',
    read_from_followers: true, // absent from an older record: standbys keep serving reads
    failover_mode: 'automatic',
    failover_timeout_ms: 7000,
    lease_ms: 5000,
    durability: 'strict',
    fencing_mode: 'lease',
    election_timeout_ms: 5000,
    heartbeat_interval_ms: 1000,
  });
  const back = configFromValues(configValues({ ...RECORD, minQuorumSize: 2, autoFailover: false, readFromFollowers: false }, RAFT));
  assert.deepEqual(back, { record: { ...RECORD, minQuorumSize: 2, autoFailover: false, readFromFollowers: false }, raft: RAFT });
});

test('unknown key: lists the known keys and suggests the closest', () => {
  for (const [typed, near] of [
    ['lease', 'lease_ms'],
    ['leese_ms', 'lease_ms'],
    ['ha-mode', 'ha_mode'],
    ['failover_timeout', 'failover_timeout_ms'],
  ]) {
    const e = refusal(() => configKey(typed));
    assert.equal(e.kind, 'unknown-key');
    assert.match(e.message, new RegExp(`unknown config key "${typed}"; did you mean ${near}\\?`));
    assert.match(e.message, /known keys: ha_mode, min_quorum_size, .*heartbeat_interval_ms\)/);
  }
  const far = refusal(() => configKey('shared_buffers'));
  assert.doesNotMatch(far.message, /did you mean/);
  assert.match(far.message, /known keys: /);
});

test('values parse from command-line text or typed JSON', () => {
  const p = (k: string, raw: ConfigValue) => parseConfigValue(configKey(k), raw);
  assert.equal(p('lease_ms', '3000'), 3000);
  assert.equal(p('lease_ms', 3000), 3000);
  assert.equal(p('read_from_followers', 'off'), false);
  assert.equal(p('read_from_followers', 'TRUE'), true);
  assert.equal(p('read_from_followers', false), false);
  assert.equal(p('min_quorum_size', 'auto'), 'auto');
  assert.equal(p('min_quorum_size', '0'), 0);
  assert.equal(p('min_quorum_size', 2), 2);
  assert.equal(p('ha_mode', 'active_passive'), 'active_passive');
  assert.equal(p('fencing_mode', 'lease'), 'lease');
});

test('bad value: names the key, the value and what is allowed', () => {
  const cases: [string, ConfigValue, RegExp][] = [
    ['lease_ms', '5s', /^lease_ms cannot be "5s": it must be an integer number of milliseconds from 1 to 86400000 \(write milliseconds as a bare number, e\.g\. 5000\)$/],
    ['lease_ms', '0', /lease_ms cannot be "0": it must be an integer number of milliseconds from 1 to/],
    ['lease_ms', 1.5, /lease_ms cannot be 1\.5/],
    ['failover_timeout_ms', '-1', /failover_timeout_ms cannot be "-1"/],
    ['failover_timeout_ms', '86400001', /must be an integer number of milliseconds from 1 to 86400000$/],
    ['min_quorum_size', 'many', /min_quorum_size cannot be "many": it must be auto, or an integer from 0 to 64$/],
    ['min_quorum_size', '65', /min_quorum_size cannot be "65"/],
    ['read_from_followers', 'maybe', /read_from_followers cannot be "maybe": it must be true or false$/],
    ['read_from_followers', 1, /read_from_followers cannot be 1/],
    ['ha_mode', 'active_pasive', /ha_mode cannot be "active_pasive": it must be active_active or active_passive; did you mean active_passive\?$/],
    ['ha_mode', true, /ha_mode cannot be true/],
    ['failover_mode', 'auto', /failover_mode cannot be "auto": it must be automatic or manual$/],
    ['durability', 'strict ish', /durability cannot be "strict ish": it must be strict or available/],
  ];
  for (const [key, raw, want] of cases) {
    const e = refusal(() => parseConfigValue(configKey(key), raw));
    assert.equal(e.kind, 'bad-value', `${key}=${String(raw)}`);
    assert.equal(e.key, key);
    assert.match(e.message, want);
  }
});

test('fencing_mode: only lease exists; it is accepted as a no-op, anything else is refused saying so', () => {
  const same = planConfigChange(RECORD, RAFT, 'fencing_mode', 'lease');
  assert.equal(same.changed, false);
  assert.deepEqual(same.record, RECORD);
  const e = refusal(() => planConfigChange(RECORD, RAFT, 'fencing_mode', 'stop'));
  assert.equal(e.kind, 'bad-value');
  assert.match(e.message, /fencing_mode cannot be "stop": it must be lease \(the only fencing that exists/);
});

test('read-only keys are refused before their value is looked at, saying to edit rustydb.conf and restart one at a time', () => {
  for (const key of ['election_timeout_ms', 'heartbeat_interval_ms']) {
    for (const raw of ['3000', 'garbage']) {
      const e = refusal(() => planConfigChange(RECORD, RAFT, key, raw));
      assert.equal(e.kind, 'read-only');
      assert.match(e.message, new RegExp(`^${key} is \\[cluster\\.raft\\] ${key} in rustydb\\.conf .*on every node, then restart the agents one at a time`));
    }
  }
});

test('rules between knobs: the change is refused naming both keys and both values', () => {
  let e = refusal(() => planConfigChange(RECORD, RAFT, 'lease_ms', '7000'));
  assert.equal(e.kind, 'rule');
  assert.match(e.message, /^cannot set lease_ms to 7000: lease_ms \(7000\) must be less than failover_timeout_ms \(7000\)/);
  e = refusal(() => planConfigChange(RECORD, RAFT, 'failover_timeout_ms', '4000'));
  assert.match(e.message, /lease_ms \(5000\) must be less than failover_timeout_ms \(4000\)/);
  e = refusal(() => planConfigChange({ ...RECORD, leaseMs: 1500 }, RAFT, 'failover_timeout_ms', '1800'));
  assert.match(e.message, /failover_timeout_ms \(1800\) must be at least 2 × heartbeat_interval_ms \(2 × 1000 = 2000\)/);
  e = refusal(() => planConfigChange(RECORD, RAFT, 'lease_ms', '1000'));
  assert.match(e.message, /lease_ms \(1000\) must be greater than heartbeat_interval_ms \(1000\)/);
  // A knob that is not a timing is not held to a rule an older record may break.
  const old = { ...RECORD, leaseMs: 9000 };
  assert.equal(planConfigChange(old, RAFT, 'ha_mode', 'active_passive').record.haMode, 'active_passive');
});

test('a valid change: previous and new value, the record to write, and whether anything changes', () => {
  const c = planConfigChange(RECORD, RAFT, 'lease_ms', '3000');
  assert.deepEqual([c.key, c.previous, c.value, c.changed], ['lease_ms', 5000, 3000, true]);
  assert.deepEqual(c.record, { ...RECORD, leaseMs: 3000 });
  const m = planConfigChange({ ...RECORD, minQuorumSize: 2 }, RAFT, 'min_quorum_size', 'auto');
  assert.deepEqual([m.previous, m.value, m.record.minQuorumSize], [2, 'auto', null]);
  const f = planConfigChange(RECORD, RAFT, 'failover_mode', 'manual');
  assert.deepEqual([f.previous, f.value, f.record.autoFailover], ['automatic', 'manual', false]);
  const r = planConfigChange(RECORD, RAFT, 'read_from_followers', 'false');
  assert.deepEqual([r.previous, r.value, r.record.readFromFollowers], [true, false, false]);
  assert.equal(planConfigChange(RECORD, RAFT, 'ha_mode', 'active_active').changed, false);
});

test("the timing rules agree with rustydb.conf's [ha] validation", () => {
  const hb = 500;
  const base = `[cluster]\nnode_id = "n1"\ncluster_name = "t"\nnode_address = "127.0.0.1"\n\n[cluster.raft]\nelection_timeout_ms = 5000\nheartbeat_interval_ms = ${hb}\n\n[engine]\ndata_dir = "/var/lib/rustydb/pgdata"\n`;
  const combos: [number, number][] = [
    [3000, 7000],
    [7000, 7000],
    [8000, 7000],
    [500, 7000],
    [501, 7000],
    [600, 999],
    [600, 1000],
  ];
  for (const [lease, failover] of combos) {
    let fileOk = true;
    try {
      parseConfigText(`${base}\n[ha]\nlease_ms = ${lease}\nfailover_timeout_ms = ${failover}\n`, '/etc/rustydb/rustydb.conf');
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      fileOk = false;
    }
    assert.equal(haTimingProblems(lease, failover, hb).length === 0, fileOk, `lease ${lease}, failover ${failover}`);
  }
});

// ---------------------------------------------------------------------------
// The agent's side: RuntimeViews over a fake store, and the routes.

/** A config record in a fake store; `interfere` runs before each compare-and-set (a concurrent writer). */
class FakeStore {
  record: ClusterConfigRecord | null = { ...RECORD };
  version = 7;
  writes: { value: ClusterConfigRecord; expect: number }[] = [];
  interfere: (() => void)[] = [];

  raft = {
    get: async (key: string) => {
      assert.equal(key, KEY.config);
      return this.record === null ? null : { key, value: JSON.stringify(this.record), version: this.version };
    },
    status: () => ({ role: 'leader', leader: 'n1', commit: 10, progress: {}, appliedMembership: { voters: ['n1'], learners: [] } }),
    leader: () => ({ id: 'n1', term: 2 }),
  };

  state = {
    read: async () => ({ identity: null, config: this.record, primary: null, members: [], failoverRequest: null }),
    replace: async (key: string, value: ClusterConfigRecord, expect: number) => {
      assert.equal(key, KEY.config);
      this.interfere.shift()?.();
      if (expect !== this.version) throw new StaleRecordError(key, this.version);
      this.writes.push({ value, expect });
      this.record = value;
      return ++this.version;
    },
  };

  views(): RuntimeViews {
    return new RuntimeViews({
      nodeId: 'n1',
      state: this.state as unknown as ClusterState,
      raft: this.raft as unknown as RaftNode,
      raftTiming: RAFT,
      defaults: () => ({ ...RECORD, leaseMs: 4000 }),
      peerTimeoutMs: 100,
    });
  }
}

async function rejection(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof ApiError, `expected an ApiError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

test('setConfig writes by compare-and-set on the version read and answers the new config', async () => {
  const st = new FakeStore();
  const r = await st.views().setConfig('lease_ms', '3000');
  assert.deepEqual(st.writes, [{ value: { ...RECORD, leaseMs: 3000 }, expect: 7 }]);
  assert.deepEqual([r.key, r.previous, r.value, r.changed, r.config.version], ['lease_ms', 5000, 3000, true, 8]);
  assert.equal(r.config.keys.find((k) => k.key === 'lease_ms')?.value, 3000);
  // Same value again: nothing is written.
  const again = await st.views().setConfig('lease_ms', 3000);
  assert.equal(again.changed, false);
  assert.equal(st.writes.length, 1);
});

test('setConfig: a concurrent change is re-read and re-validated once; twice is a conflict', async () => {
  const st = new FakeStore();
  st.interfere.push(() => {
    st.record = { ...st.record!, haMode: 'active_passive' };
    st.version++;
  });
  const r = await st.views().setConfig('durability', 'available');
  assert.deepEqual(st.record, { ...RECORD, haMode: 'active_passive', durability: 'available' }, 'the other writer\'s change is kept');
  assert.equal(r.config.version, 9);

  // The concurrent change makes ours break a rule: refused on the retry, nothing written.
  const st2 = new FakeStore();
  st2.interfere.push(() => {
    st2.record = { ...st2.record!, failoverTimeoutMs: 3500, leaseMs: 3000 };
    st2.version++;
  });
  const rule = await rejection(st2.views().setConfig('lease_ms', '4000'));
  assert.equal(rule.code, 'RDB_ERR_INVALID');
  assert.match(rule.message, /lease_ms \(4000\) must be less than failover_timeout_ms \(3500\)/);
  assert.deepEqual(st2.writes, []);

  const st3 = new FakeStore();
  const bump = () => void st3.version++;
  st3.interfere.push(bump, bump);
  const conflict = await rejection(st3.views().setConfig('lease_ms', '3000'));
  assert.equal(conflict.code, 'RDB_ERR_CONFLICT');
  assert.match(conflict.message, /changed twice while lease_ms was being set \(now version 9\): run `rustydb-admin config show` and retry/);
});

test('config view: sources say where each value comes from; before the record exists, the defaults', async () => {
  const st = new FakeStore();
  const v = await st.views().config();
  const src = Object.fromEntries(v.keys.map((k) => [k.key, k.source]));
  assert.deepEqual(src, {
    ha_mode: 'cluster',
    min_quorum_size: 'cluster',
    read_from_followers: 'default',
    failover_mode: 'cluster',
    failover_timeout_ms: 'cluster',
    lease_ms: 'cluster',
    durability: 'cluster',
    fencing_mode: 'built-in',
    election_timeout_ms: 'rustydb.conf',
    heartbeat_interval_ms: 'rustydb.conf',
  });
  assert.deepEqual([v.version, v.raftFrom], [7, 'n1']);
  st.record = null;
  const none = await st.views().config();
  assert.equal(none.version, 0);
  assert.equal(none.keys.find((k) => k.key === 'lease_ms')?.value, 4000);
  assert.ok(none.keys.every((k) => k.source !== 'cluster'));
});

/** The routes over RuntimeViews; the other ApiDeps methods are not called by these tests. */
function appOver(st: FakeStore) {
  const rv = st.views();
  const deps = {
    nodeId: 'n1',
    config: () => rv.config(),
    setConfig: (k: string, v: string | number | boolean) => rv.setConfig(k, v),
  } as unknown as ApiDeps;
  return buildApp(deps);
}

test('routes: GET /v1/config and PUT /v1/config/:key answer the wire shapes; refusals carry their codes', async () => {
  const st = new FakeStore();
  const app = appOver(st);
  try {
    const get = await app.inject({ method: 'GET', url: '/v1/config' });
    assert.equal(get.statusCode, 200);
    assert.equal((get.json() as ConfigView).keys.length, CONFIG_KEY_NAMES.length);

    const put = await app.inject({ method: 'PUT', url: '/v1/config/ha_mode', payload: { value: 'active_passive' } });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual([(put.json() as ConfigSetView).previous, (put.json() as ConfigSetView).value], ['active_active', 'active_passive']);

    const cases: [string, unknown, number, string, RegExp][] = [
      ['/v1/config/lease', { value: 1 }, 400, 'RDB_ERR_INVALID', /did you mean lease_ms\?/],
      ['/v1/config/lease_ms', { value: 'soon' }, 400, 'RDB_ERR_INVALID', /lease_ms cannot be "soon"/],
      ['/v1/config/lease_ms', { value: 9000 }, 400, 'RDB_ERR_INVALID', /must be less than failover_timeout_ms/],
      ['/v1/config/election_timeout_ms', { value: 100 }, 412, 'RDB_ERR_PRECONDITION', /restart the agents one at a time/],
      ['/v1/config/lease_ms', { value: 100, force: true }, 400, 'RDB_ERR_INVALID', /unknown field "force" in the request body/],
      ['/v1/config/lease_ms', {}, 400, 'RDB_ERR_INVALID', /missing field "value"/],
      ['/v1/config/lease_ms', { value: { ms: 1 } }, 400, 'RDB_ERR_INVALID', /field "value" in the request body must be/],
    ];
    for (const [url, payload, status, code, message] of cases) {
      const r = await app.inject({ method: 'PUT', url, payload: payload as object });
      assert.equal(r.statusCode, status, `${url} ${JSON.stringify(payload)}: ${r.body}`);
      const body = r.json() as { error: { code: string; message: string } };
      assert.equal(body.error.code, code);
      assert.match(body.error.message, message);
    }
    assert.equal(st.writes.length, 1, 'only the valid PUT wrote');
  } finally {
    await app.close();
  }
});
