import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, parseConfigText, ConfigError, type AgentConfig, type ConfigProblem } from '../../agent/config/load.ts';
import { indexKeyLines, formatKey } from '../../agent/config/lines.ts';
import { closest, levenshtein } from '../../agent/config/suggest.ts';

const FILE = '/etc/rustydb/rustydb.conf';
const EXAMPLE = new URL('../../docs/rustydb.conf.example', import.meta.url).pathname;

const MINIMAL = `[cluster]
node_id = "n1"
cluster_name = "test"
node_address = "127.0.0.1"

[engine]
data_dir = "/var/lib/rustydb/pgdata"
`;

/** MINIMAL plus `extra` appended (extra starts at line 9). */
const withExtra = (extra: string): string => `${MINIMAL}\n${extra}`;

/** 1-based line of the first line of `text` containing `needle`. */
function lineOf(text: string, needle: string): number {
  const i = text.split('\n').findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `test text contains ${needle}`);
  return i + 1;
}

function problemsOf(text: string, overrides?: { dataDir?: string; logLevel?: string }): ConfigProblem[] {
  try {
    parseConfigText(text, FILE, overrides);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    // The message is the problems, one line each, in the documented format.
    assert.deepEqual(
      err.message.split('\n'),
      err.problems.map((p) => `${p.line === null ? p.file : `${p.file}:${p.line}`}: ${p.key === '' ? '' : `${p.key}: `}${p.message}`),
    );
    for (const p of err.problems) assert.equal(p.file, FILE);
    return err.problems;
  }
  assert.fail('expected the config to be rejected');
}

/** The single problem with `key` (there must be exactly one). */
function problemAt(text: string, key: string, overrides?: { dataDir?: string; logLevel?: string }): ConfigProblem {
  const all = problemsOf(text, overrides);
  const found = all.filter((p) => p.key === key);
  assert.equal(found.length, 1, `one problem with ${key}; got ${JSON.stringify(all, null, 1)}`);
  return found[0];
}

const ok = (text: string, overrides?: { dataDir?: string; logLevel?: string }): AgentConfig => parseConfigText(text, FILE, overrides);

const DEFAULT_CONFIG: AgentConfig = {
  file: FILE,
  cluster: {
    enabled: true,
    nodeId: 'n1',
    nodeAddress: '127.0.0.1',
    raftPort: 5433,
    clusterName: 'test',
    replicationFactor: 3,
    joinExisting: false,
    raft: {
      electionTimeoutMs: 5000,
      heartbeatIntervalMs: 1000,
      snapshotInterval: 10000,
      maxLogEntries: 50000,
      retentionLogs: 5000,
      maxInflightMsgs: 256,
      maxMsgBytes: 1048576,
    },
    nodes: {},
    regions: {},
  },
  ha: {
    mode: null,
    autoFailover: true,
    minQuorumSize: null,
    failoverTimeoutMs: 7000,
    leaseMs: 5000,
    fencingMode: 'read_only',
    durability: 'strict',
  },
  loadBalancing: { mode: 'round_robin', weights: {}, readFromFollowers: false },
  engine: {
    kind: 'postgres',
    binDir: null,
    release: null,
    releases: {},
    dataDir: '/var/lib/rustydb/pgdata',
    port: 5432,
    listenAddress: '127.0.0.1',
    engineUser: 'postgres',
    parameters: {},
    stopOnExit: true, secretsFile: null,
  },
  api: { listenAddress: '127.0.0.1', port: 5433 },
  tls: { enabled: false, certFile: null, keyFile: null, caFile: null, caKeyFile: null },
  security: { bootstrapTokenFile: null },
  agent: { stateDir: '/var/lib/rustydb/agent', logLevel: 'info' },
};

describe('valid files', () => {
  test('a minimal file gets every documented default', () => {
    assert.deepEqual(ok(MINIMAL), DEFAULT_CONFIG);
  });

  test('a full file with every key set round-trips to the expected typed config', () => {
    const text = `# every key, none at its default
[cluster]
enabled = false
node_id = "db-1"
cluster_name = "prod"
node_address = "10.0.0.1"
raft_port = 6433
replication_factor = 2

[cluster.raft]
election_timeout_ms = 2000
heartbeat_interval_ms = 200
snapshot_interval = 100
max_log_entries = 1000
retention_logs = 10
max_inflight_msgs = 16
max_msg_bytes = 4096

[cluster.nodes.db-1]
api = "10.0.0.1:6433"
pg = "10.0.0.1:6432"
kind = "voter"
region = "eu"
weight = 2.5
tags = ["noloadbalance"]

[cluster.nodes.db-2]
api = "[fd00::2]:6433"
pg = "[fd00::2]:6432"
kind = "observer"
region = "us"
tags = ["nofailover", "noloadbalance", "nofailover"]

[cluster.nodes.w]
api = "witness.example:6433"
kind = "witness"
region = "us"

[cluster.regions]
eu = { priority = 2 }
us = {}

[ha]
mode = "active_passive"
auto_failover = false
min_quorum_size = 1
failover_timeout_ms = 3000
lease_ms = 2500
fencing_mode = "stop"
durability = "available"

[load_balancing]
mode = "weighted"
weights = { db-1 = 3, db-2 = 0.5 }
read_from_followers = true

[engine]
kind = "postgres"
release = "pg16"
releases = { pg15 = "/opt/pg15/bin", pg16 = "releases/16/bin" }
data_dir = "data/pg"
port = 6432
listen_address = "0.0.0.0"
engine_user = "rustydb"
stop_on_exit = false

[engine.parameters]
work_mem = "64MB"
max_connections = 50
random_page_cost = 1.1
"auto_explain.log_min_duration" = "250ms"
jit = false

[api]
listen_address = "10.0.0.1"
port = 7443

[tls]
enabled = true
cert_file = "tls/agent.crt"
key_file = "/etc/rustydb/tls/agent.key"
ca_file = "tls/ca.crt"

[agent]
state_dir = "/srv/rustydb/state"
log_level = "debug"
`;
    const expected: AgentConfig = {
      file: FILE,
      cluster: {
        enabled: false,
        nodeId: 'db-1',
        nodeAddress: '10.0.0.1',
        raftPort: 6433,
        clusterName: 'prod',
        replicationFactor: 2,
        joinExisting: false,
        raft: { electionTimeoutMs: 2000, heartbeatIntervalMs: 200, snapshotInterval: 100, maxLogEntries: 1000, retentionLogs: 10, maxInflightMsgs: 16, maxMsgBytes: 4096 },
        nodes: {
          'db-1': { api: '10.0.0.1:6433', pg: '10.0.0.1:6432', kind: 'voter', region: 'eu', weight: 2.5, tags: ['noloadbalance'] },
          'db-2': { api: '[fd00::2]:6433', pg: '[fd00::2]:6432', kind: 'observer', region: 'us', weight: 1, tags: ['nofailover', 'noloadbalance'] },
          w: { api: 'witness.example:6433', pg: null, kind: 'witness', region: 'us', weight: 1, tags: [] },
        },
        regions: { eu: { priority: 2 }, us: { priority: 0 } },
      },
      ha: { mode: 'active_passive', autoFailover: false, minQuorumSize: 1, failoverTimeoutMs: 3000, leaseMs: 2500, fencingMode: 'stop', durability: 'available' },
      loadBalancing: { mode: 'weighted', weights: { 'db-1': 3, 'db-2': 0.5 }, readFromFollowers: true },
      engine: {
        kind: 'postgres',
        binDir: null,
        release: 'pg16',
        // Relative paths are anchored at the config file's directory.
        releases: { pg15: '/opt/pg15/bin', pg16: '/etc/rustydb/releases/16/bin' },
        dataDir: '/etc/rustydb/data/pg',
        port: 6432,
        listenAddress: '0.0.0.0',
        engineUser: 'rustydb',
        parameters: { work_mem: '64MB', max_connections: 50, random_page_cost: 1.1, 'auto_explain.log_min_duration': '250ms', jit: false },
        stopOnExit: false, secretsFile: null,
      },
      api: { listenAddress: '10.0.0.1', port: 7443 },
      tls: { enabled: true, certFile: '/etc/rustydb/tls/agent.crt', keyFile: '/etc/rustydb/tls/agent.key', caFile: '/etc/rustydb/tls/ca.crt', caKeyFile: null },
      security: { bootstrapTokenFile: null },
      agent: { stateDir: '/srv/rustydb/state', logLevel: 'debug' },
    };
    const config = ok(text);
    assert.deepEqual(config, expected);
    assert.equal(typeof config.engine.parameters.max_connections, 'number', 'TOML integers come back as numbers, not bigint');
  });

  test('bin_dir alone is accepted and resolved', () => {
    assert.equal(ok(MINIMAL.replace('[engine]', '[engine]\nbin_dir = "/usr/lib/postgresql/16/bin"')).engine.binDir, '/usr/lib/postgresql/16/bin');
  });

  test('the documented example loads, and the defaults it documents are the real defaults', () => {
    const example = loadConfig(EXAMPLE);
    const minimal = parseConfigText(
      `[cluster]\nnode_id = "n1"\ncluster_name = "prod"\nnode_address = "10.0.0.1"\n[engine]\ndata_dir = "/var/lib/rustydb/pgdata"\n`,
      EXAMPLE,
    );
    assert.equal(example.file, EXAMPLE);
    assert.deepEqual(example.cluster.raft, minimal.cluster.raft);
    assert.deepEqual(example.ha, minimal.ha);
    assert.deepEqual(example.api, minimal.api);
    assert.deepEqual(example.tls, minimal.tls);
    assert.deepEqual(example.agent, minimal.agent);
    const { nodes, regions, ...cluster } = example.cluster;
    const { nodes: _n, regions: _r, ...minimalCluster } = minimal.cluster;
    assert.deepEqual(cluster, minimalCluster);
    const pick = (e: AgentConfig['engine']) => ({ ...e, release: null, releases: {}, parameters: {} });
    assert.deepEqual(pick(example.engine), pick(minimal.engine));
    assert.deepEqual({ ...example.loadBalancing, weights: {} }, minimal.loadBalancing);
    // The example entries themselves.
    assert.deepEqual(Object.keys(nodes), ['n1', 'n2', 'n3']);
    assert.deepEqual(nodes.n1, { api: '10.0.0.1:5433', pg: '10.0.0.1:5432', kind: 'voter', region: 'eu-west', weight: 1, tags: [] });
    assert.deepEqual(regions, { 'eu-west': { priority: 1 }, 'eu-central': { priority: 0 } });
    assert.equal(example.engine.release, '16');
    assert.deepEqual(example.engine.parameters, { shared_buffers: '256MB', max_connections: 200, wal_log_hints: true });
  });
});

describe('TOML syntax errors', () => {
  test('name the file and the parser line, once', () => {
    const text = `[cluster]\nnode_id = "n1"\ncluster_name = \nnode_address = "x"\n`;
    const problems = problemsOf(text);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 3);
    assert.equal(problems[0].key, '');
    assert.match(problems[0].message, /^invalid TOML: .+ \(column \d+\)$/);
    assert.throws(() => parseConfigText(text, FILE), (e: Error) => e.message.startsWith(`${FILE}:3: invalid TOML: `) && !e.message.includes('\n'));
  });

  test('a duplicated key is a syntax error on its line', () => {
    const text = `[cluster]\nnode_id = "n1"\nnode_id = "n2"\n`;
    const problems = problemsOf(text);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 3);
  });

  test('keys that could poison objects (__proto__) are refused', () => {
    const p = problemsOf(withExtra('[engine.parameters]\n__proto__ = "x"\n'));
    assert.equal(p.length, 1);
    assert.equal(p[0].line, 10);
    assert.match(p[0].message, /invalid TOML/);
  });
});

describe('unknown keys', () => {
  test('name file, line and dotted key, and suggest the closest known key', () => {
    const text = `[cluster]\nnodeid = "n1"\ncluster_name = "t"\nnode_address = "h"\n[engine]\ndata_dir = "/d"\n`;
    const problems = problemsOf(text);
    const unknown = problems.find((p) => p.key === 'cluster.nodeid');
    assert.ok(unknown);
    assert.equal(unknown.line, 2);
    assert.equal(unknown.message, 'unknown key; did you mean "node_id"?');
    assert.ok(
      (() => {
        try {
          parseConfigText(text, FILE);
        } catch (e) {
          return (e as Error).message.split('\n').includes(`${FILE}:2: cluster.nodeid: unknown key; did you mean "node_id"?`);
        }
        return false;
      })(),
    );
  });

  test('in [cluster.raft] (checked by the Raft module) they are placed on their line, with a suggestion', () => {
    const text = withExtra('[cluster.raft]\n# timings\nheartbeat_interval = 100\n');
    const p = problemAt(text, 'cluster.raft.heartbeat_interval');
    assert.equal(p.line, lineOf(text, 'heartbeat_interval ='));
    assert.equal(p.message, 'unknown key; did you mean "heartbeat_interval_ms"?');
  });

  test('an unknown section suggests the known one', () => {
    const text = withExtra('[clustr]\nfoo = 1\n');
    const p = problemAt(text, 'clustr');
    assert.equal(p.line, lineOf(text, '[clustr]'));
    assert.match(p.message, /did you mean "cluster"\?/);
  });

  test('a key in the wrong section points to the right one', () => {
    const text = `raft_port = 5433\n${MINIMAL}`;
    const p = problemAt(text, 'raft_port');
    assert.equal(p.line, 1);
    assert.equal(p.message, 'unknown key at the top level; did you mean "cluster.raft_port"?');
  });

  test('without a close match the accepted keys are listed', () => {
    const text = withExtra('[api]\ncolour = "blue"\n');
    const p = problemAt(text, 'api.colour');
    assert.equal(p.line, lineOf(text, 'colour'));
    assert.equal(p.message, 'unknown key; [api] accepts listen_address, port');
  });

  test('inside node entries, inline tables and dotted keys', () => {
    const text = withExtra(
      [
        '[cluster.nodes.n1]',
        'api = "127.0.0.1:5433"',
        'pg = "127.0.0.1:5432"',
        'wieght = 2',
        '[cluster.nodes]',
        'n2 = { api = "127.0.0.1:6433", pg = "127.0.0.1:6432",',
        '       kindd = "voter" }',
        '[ha]',
        'x.y = 1',
      ].join('\n'),
    );
    assert.equal(problemAt(text, 'cluster.nodes.n1.wieght').line, lineOf(text, 'wieght'));
    assert.match(problemAt(text, 'cluster.nodes.n1.wieght').message, /did you mean "weight"/);
    assert.equal(problemAt(text, 'cluster.nodes.n2.kindd').line, lineOf(text, 'kindd'));
    assert.equal(problemAt(text, 'ha.x').line, lineOf(text, 'x.y = 1'));
  });
});

describe('wrong types name the line', () => {
  const cases: [string, string, string, RegExp][] = [
    ['cluster.raft_port', '[cluster]', 'raft_port = "5433"', /expected an integer 1\.\.65535, got the string "5433"/],
    ['engine.port', '[engine]', 'port = 5432.0', /expected an integer 1\.\.65535, got the float 5432\.0/],
    ['ha.auto_failover', '', '[ha]\nauto_failover = "yes"', /expected true or false, got the string "yes"/],
    ['ha.lease_ms', '', '[ha]\nlease_ms = 1979-05-27', /expected an integer 1\.\.86400000 \(milliseconds\), got the date-time 1979-05-27/],
    ['cluster.raft.election_timeout_ms', '', '[cluster.raft]\nelection_timeout_ms = "5s"', /election_timeout_ms must be a positive integer/],
    ['tls.enabled', '', '[tls]\nenabled = 1', /expected true or false, got the integer 1/],
    ['load_balancing.read_from_followers', '', '[load_balancing]\nread_from_followers = [true]', /got an array/],
    ['agent.log_level', '', '[agent]\nlog_level = "verbose"', /must be one of "trace", "debug", "info", "warn", "error", got "verbose"/],
  ];
  for (const [key, section, line, message] of cases) {
    test(key, () => {
      const text = section === '' ? withExtra(line) : MINIMAL.replace(section, `${section}\n${line}`);
      const p = problemAt(text, key);
      assert.equal(p.line, lineOf(text, line.split('\n').at(-1) as string));
      assert.match(p.message, message);
    });
  }

  test('a section that is not a table', () => {
    const text = `cluster = "prod"\n[engine]\ndata_dir = "/d"\n`;
    const problems = problemsOf(text);
    assert.deepEqual(
      problems.map((p) => [p.key, p.line]),
      [['cluster', 1]],
      'the keys of a non-table section are not also reported missing',
    );
    assert.match(problems[0].message, /expected a table/);
  });

  test('a table where a value belongs is placed at its header', () => {
    const text = withExtra('[engine.port]\nx = 1\n');
    const p = problemAt(text, 'engine.port');
    assert.equal(p.line, lineOf(text, '[engine.port]'));
    assert.match(p.message, /got a table/);
  });

  test('array elements are checked one by one', () => {
    const text = withExtra('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\ntags = [\n  "nofailover",\n  7,\n]\n');
    const p = problemAt(text, 'cluster.nodes.n1.tags[1]');
    assert.equal(p.line, lineOf(text, '  7,'));
    assert.match(p.message, /expected a string, got the integer 7/);
  });
});

describe('required keys', () => {
  test('missing node_id names the key, at the [cluster] header', () => {
    const text = MINIMAL.replace('node_id = "n1"\n', '');
    const p = problemAt(text, 'cluster.node_id');
    assert.equal(p.line, 1);
    assert.match(p.message, /^required key is missing; add node_id = /);
    assert.equal(problemsOf(text).length, 1);
  });

  test('without a [cluster] section every required key is reported, with no line', () => {
    const text = '[engine]\ndata_dir = "/d"\n';
    const problems = problemsOf(text);
    assert.deepEqual(
      problems.map((p) => [p.key, p.line]),
      [
        ['cluster.node_id', null],
        ['cluster.cluster_name', null],
        ['cluster.node_address', null],
      ],
    );
    assert.throws(() => parseConfigText(text, FILE), (e: Error) => e.message.split('\n')[0].startsWith(`${FILE}: cluster.node_id: required key is missing`));
  });

  test('engine.data_dir is required unless --data-dir is given', () => {
    const text = MINIMAL.replace('data_dir = "/var/lib/rustydb/pgdata"\n', '');
    const p = problemAt(text, 'engine.data_dir');
    assert.equal(p.line, lineOf(text, '[engine]'));
    assert.match(p.message, /--data-dir/);
    assert.equal(ok(text, { dataDir: '/srv/n1' }).engine.dataDir, '/srv/n1/pgdata');
  });

  test('empty strings do not count', () => {
    const text = MINIMAL.replace('cluster_name = "test"', 'cluster_name = "  "');
    assert.match(problemAt(text, 'cluster.cluster_name').message, /must not be empty/);
  });
});

describe('node ids', () => {
  const withId = (id: string): string => MINIMAL.replace('"n1"', JSON.stringify(id));
  test('valid ids', () => {
    for (const id of ['a', 'n1', 'db_2', 'eu-west-1', `a${'b'.repeat(62)}`]) assert.equal(ok(withId(id)).cluster.nodeId, id);
  });
  test('invalid ids name the rule', () => {
    for (const id of ['N1', '1n', '_a', 'a.b', 'a b', `a${'b'.repeat(63)}`]) {
      const p = problemAt(withId(id), 'cluster.node_id');
      assert.equal(p.line, 2);
      assert.match(p.message, /must match \^\[a-z\]\[a-z0-9_-\]\{0,62\}\$.*replication slot/);
    }
  });
  test('member ids in [cluster.nodes] follow the same rule', () => {
    const text = withExtra('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\n[cluster.nodes.Bad]\napi = "h:3"\npg = "h:4"\n');
    const p = problemAt(text, 'cluster.nodes.Bad');
    assert.equal(p.line, lineOf(text, '[cluster.nodes.Bad]'));
  });
});

describe('[cluster.raft] through the Raft module', () => {
  test('heartbeat >= election timeout is an error naming both keys, on the heartbeat line', () => {
    const text = withExtra('[cluster.raft]\nelection_timeout_ms = 1000\nheartbeat_interval_ms = 1000\n');
    const p = problemAt(text, 'cluster.raft.heartbeat_interval_ms');
    assert.equal(p.line, lineOf(text, 'heartbeat_interval_ms ='));
    assert.match(p.message, /heartbeat_interval_ms \(1000\).*election_timeout_ms \(1000\)/);
    assert.ok(!p.message.includes(FILE), 'the file is named once, by the problem line, not again in the message');
  });

  test('[cluster.raft] that is not a table', () => {
    const text = MINIMAL.replace('[cluster]', '[cluster]\nraft = 5');
    assert.equal(problemAt(text, 'cluster.raft').line, 2);
  });
});

describe('[ha] timing rules', () => {
  test('defaults follow the Raft timings: lease = election, failover = election + 2 x heartbeat', () => {
    const c = ok(withExtra('[cluster.raft]\nelection_timeout_ms = 1000\nheartbeat_interval_ms = 150\n'));
    assert.equal(c.ha.leaseMs, 1000);
    assert.equal(c.ha.failoverTimeoutMs, 1300);
  });

  test('lease_ms >= failover_timeout_ms names both keys', () => {
    const text = withExtra('[ha]\nfailover_timeout_ms = 4000\nlease_ms = 4000\n');
    const p = problemAt(text, 'ha.lease_ms');
    assert.equal(p.line, lineOf(text, 'lease_ms ='));
    assert.match(p.message, /ha\.lease_ms \(4000\) must be less than ha\.failover_timeout_ms \(4000\)/);
  });

  test('a lease longer than the default failover timeout says where that default comes from', () => {
    const p = problemAt(withExtra('[ha]\nlease_ms = 9000\n'), 'ha.lease_ms');
    assert.match(p.message, /ha\.failover_timeout_ms \(7000, the default: cluster\.raft\.election_timeout_ms \+ 2 × heartbeat_interval_ms\)/);
  });

  test('failover_timeout_ms < 2 x heartbeat names both keys', () => {
    const text = withExtra('[cluster.raft]\nheartbeat_interval_ms = 500\n[ha]\nfailover_timeout_ms = 900\nlease_ms = 600\n');
    const p = problemAt(text, 'ha.failover_timeout_ms');
    assert.equal(p.line, lineOf(text, 'failover_timeout_ms ='));
    assert.match(p.message, /ha\.failover_timeout_ms \(900\).*2 × cluster\.raft\.heartbeat_interval_ms \(2 × 500 = 1000\)/);
  });

  test('lease_ms must outlast a heartbeat', () => {
    const p = problemAt(withExtra('[ha]\nlease_ms = 1000\n'), 'ha.lease_ms');
    assert.match(p.message, /greater than cluster\.raft\.heartbeat_interval_ms \(1000\)/);
  });

  test('the timing rules are skipped when [cluster.raft] is itself wrong (no follow-on noise)', () => {
    const problems = problemsOf(withExtra('[cluster.raft]\nheartbeat_interval_ms = 5000\n[ha]\nlease_ms = 9000\n'));
    assert.deepEqual(problems.map((p) => p.key), ['cluster.raft.heartbeat_interval_ms']);
  });

  test('enumerations suggest the intended value', () => {
    assert.match(problemAt(withExtra('[ha]\nmode = "active-active"\n'), 'ha.mode').message, /did you mean "active_active"\?/);
    assert.match(problemAt(withExtra('[ha]\nfencing_mode = "readonly"\n'), 'ha.fencing_mode').message, /did you mean "read_only"\?/);
    assert.equal(problemAt(withExtra('[ha]\nmin_quorum_size = 0\n'), 'ha.min_quorum_size').message, 'must be an integer >= 1, got 0');
  });
});

describe('ports and addresses', () => {
  test('ports must be 1..65535', () => {
    for (const [section, key] of [
      ['[cluster]', 'raft_port'],
      ['[engine]', 'port'],
    ] as const) {
      for (const bad of [0, 65536, -1]) {
        const p = problemAt(MINIMAL.replace(section, `${section}\n${key} = ${bad}`), `${section.slice(1, -1)}.${key}`);
        assert.equal(p.message, `must be an integer 1..65535, got ${bad}`);
      }
    }
    assert.equal(ok(MINIMAL.replace('[engine]', '[engine]\nport = 65535')).engine.port, 65535);
  });

  test('api.port defaults to raft_port', () => {
    assert.equal(ok(MINIMAL.replace('[cluster]', '[cluster]\nraft_port = 7000')).api.port, 7000);
  });

  test('the engine cannot share a port with the agent', () => {
    const p = problemAt(MINIMAL.replace('[engine]', '[engine]\nport = 5433'), 'engine.port');
    assert.match(p.message, /also cluster\.raft_port/);
    assert.match(problemAt(withExtra('[api]\nport = 5432\n'), 'engine.port').message, /also api\.port/);
  });

  test('member addresses are host:port', () => {
    const node = (api: string, pg = '"h:2"'): string => withExtra(`[cluster.nodes.n1]\napi = ${api}\npg = ${pg}\n`);
    for (const bad of ['"127.0.0.1"', '"h:0"', '"h:70000"', '":5433"', '"http://h:5433"', '"::1:5433"']) {
      const p = problemAt(node(bad), 'cluster.nodes.n1.api');
      assert.equal(p.line, lineOf(node(bad), 'api = '));
      assert.match(p.message, /must be "host:port"/);
    }
    assert.equal(ok(node('"[::1]:5433"')).cluster.nodes.n1.api, '[::1]:5433');
    assert.match(problemAt(node('"h:1"', '"h"'), 'cluster.nodes.n1.pg').message, /must be "host:port"/);
  });

  test('node_address is a host without a port', () => {
    assert.match(problemAt(MINIMAL.replace('"127.0.0.1"', '"127.0.0.1:5433"'), 'cluster.node_address').message, /without a port/);
    assert.equal(ok(MINIMAL.replace('"127.0.0.1"', '"fd00::1"')).cluster.nodeAddress, 'fd00::1');
  });
});

describe('[cluster.nodes]', () => {
  const nodes = (body: string): string => withExtra(body);

  test("the node's own id must be listed when the table is not empty", () => {
    const text = nodes('[cluster.nodes.n2]\napi = "h:1"\npg = "h:2"\n[cluster.nodes.n3]\napi = "h:3"\npg = "h:4"\n');
    const p = problemAt(text, 'cluster.nodes');
    assert.equal(p.line, lineOf(text, '[cluster.nodes.n2]'));
    assert.match(p.message, /this node \(cluster\.node_id = "n1"\) is not listed; did you mean "n2"\?/);
    assert.deepEqual(ok(MINIMAL).cluster.nodes, {}, 'no [cluster.nodes] at all is fine (joining an existing cluster)');
  });

  test('kinds: invalid, witness without pg, witness with pg, voter without pg', () => {
    assert.match(problemAt(nodes('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\nkind = "arbiter"\n'), 'cluster.nodes.n1.kind').message, /must be one of "voter", "observer", "witness"/);
    assert.equal(ok(nodes('[cluster.nodes.n1]\napi = "h:1"\nkind = "witness"\n')).cluster.nodes.n1.pg, null);
    const text = nodes('[cluster.nodes.n1]\napi = "h:1"\nkind = "witness"\npg = "h:2"\n');
    const p = problemAt(text, 'cluster.nodes.n1.pg');
    assert.equal(p.line, lineOf(text, 'pg = "h:2"'));
    assert.match(p.message, /a witness runs no engine/);
    const noPg = nodes('[cluster.nodes.n1]\napi = "h:1"\n');
    const missing = problemAt(noPg, 'cluster.nodes.n1.pg');
    assert.equal(missing.line, lineOf(noPg, '[cluster.nodes.n1]'), 'a missing key is placed at its table header');
    assert.match(missing.message, /required key is missing; add pg = "host:port"/);
    assert.match(problemAt(nodes('[cluster.nodes.n1]\npg = "h:1"\n'), 'cluster.nodes.n1.api').message, /required key is missing/);
  });

  test('regions must be defined when [cluster.regions] is not empty', () => {
    const text = nodes('[cluster.regions.eu]\npriority = 1\n[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\nregion = "ue"\n');
    const p = problemAt(text, 'cluster.nodes.n1.region');
    assert.equal(p.line, lineOf(text, 'region = "ue"'));
    assert.match(p.message, /region "ue" is not defined in \[cluster\.regions\] \(defined: eu\); did you mean "eu"\?/);
    const noRegion = problemAt(nodes('[cluster.regions.eu]\n[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\n'), 'cluster.nodes.n1.region');
    assert.match(noRegion.message, /no region given \(default "default"\)/);
    assert.match(problemAt(nodes('[cluster.regions.eu]\npriority = "high"\n'), 'cluster.regions.eu.priority').message, /expected an integer >= 0/);
  });

  test('tags are nofailover / noloadbalance', () => {
    const text = nodes('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\ntags = ["no_failover"]\n');
    assert.match(problemAt(text, 'cluster.nodes.n1.tags[0]').message, /unknown tag "no_failover"; known tags are nofailover, noloadbalance; did you mean "nofailover"\?/);
  });

  test('two members cannot share an address', () => {
    const text = nodes('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\n[cluster.nodes.n2]\napi = "h:1"\npg = "h:3"\n');
    const p = problemAt(text, 'cluster.nodes.n2.api');
    assert.equal(p.line, lineOf(text, 'api = "h:1"') + 3);
    assert.match(p.message, /also cluster\.nodes\.n1\.api/);
  });

  test('weights must name members and be numbers >= 0', () => {
    const text = nodes('[cluster.nodes.n1]\napi = "h:1"\npg = "h:2"\n[load_balancing.weights]\nn1 = 1\nn9 = 2\n');
    assert.match(problemAt(text, 'load_balancing.weights.n9').message, /no member "n9" in \[cluster\.nodes\]/);
    assert.match(problemAt(withExtra('[load_balancing.weights]\nn1 = -1\n'), 'load_balancing.weights.n1').message, /must be a number >= 0, got -1/);
    assert.match(problemAt(withExtra('[load_balancing.weights]\nn1 = "x"\n'), 'load_balancing.weights.n1').message, /expected a number >= 0, got the string "x"/);
  });
});

describe('[engine]', () => {
  test('bin_dir and release together name both keys', () => {
    const text = `${MINIMAL}bin_dir = "/a"\nrelease = "16"\nreleases = { 16 = "/b" }\n`;
    const p = problemAt(text, 'engine.release');
    assert.equal(p.line, lineOf(text, 'release = '));
    assert.match(p.message, /either engine\.bin_dir or engine\.release, not both/);
  });

  test('release must be a key of [engine.releases]', () => {
    const text = `${MINIMAL}release = "pg-16"\nreleases = { pg16 = "/b", pg15 = "/c" }\n`;
    const p = problemAt(text, 'engine.release');
    assert.equal(p.line, lineOf(text, 'release = '));
    assert.match(p.message, /release "pg-16" is not a key of \[engine\.releases\] \(defined: pg16, pg15\); did you mean "pg16"\?/);
    assert.match(problemAt(`${MINIMAL}release = "16"\n`, 'engine.release').message, /add \[engine\.releases\] with 16 = /);
    assert.match(problemAt(`${MINIMAL}releases = { a = 1 }\n`, 'engine.releases.a').message, /got the integer 1/);
  });

  test('[engine.parameters] values are strings, numbers or booleans', () => {
    const text = withExtra('[engine.parameters]\nok_string = "x"\nbad_array = [1]\nbad_date = 2024-01-01\nbad_table = { a = 1 }\n');
    const problems = problemsOf(text);
    assert.deepEqual(
      problems.map((p) => [p.key, p.line]),
      [
        ['engine.parameters.bad_array', lineOf(text, 'bad_array')],
        ['engine.parameters.bad_date', lineOf(text, 'bad_date')],
        ['engine.parameters.bad_table', lineOf(text, 'bad_table')],
      ],
    );
    for (const p of problems) assert.match(p.message, /expected a string, number or boolean/);
  });

  test('parameters the agent manages are refused with the key to use instead', () => {
    assert.match(problemAt(withExtra('[engine.parameters]\nport = 5000\n'), 'engine.parameters.port').message, /set engine\.port instead/);
    assert.match(problemAt(withExtra('[engine.parameters]\nsynchronous_standby_names = "*"\n'), 'engine.parameters.synchronous_standby_names').message, /managed by the agent/);
  });

  test('engine_user must be a user name', () => {
    assert.match(problemAt(MINIMAL.replace('[engine]', '[engine]\nengine_user = "root; rm"'), 'engine.engine_user').message, /operating-system user name/);
  });

  test('engine.kind is postgres', () => {
    assert.match(problemAt(MINIMAL.replace('[engine]', '[engine]\nkind = "mysql"'), 'engine.kind').message, /must be one of "postgres"/);
  });
});

describe('[tls]', () => {
  test('enabled needs cert_file, key_file and ca_file', () => {
    const text = withExtra('[tls]\nenabled = true\n');
    const problems = problemsOf(text);
    assert.deepEqual(problems.map((p) => [p.key, p.line]), [
      ['tls.cert_file', lineOf(text, '[tls]')],
      ['tls.key_file', lineOf(text, '[tls]')],
      ['tls.ca_file', lineOf(text, '[tls]')],
    ]);
    assert.match(problems[0].message, /required when tls\.enabled = true/);
  });
});

describe('overrides (command-line flags)', () => {
  const bare = MINIMAL.replace('data_dir = "/var/lib/rustydb/pgdata"\n', '');

  test('--data-dir sets engine.data_dir = DIR/pgdata and agent.state_dir = DIR/agent when absent', () => {
    const c = ok(bare, { dataDir: '/srv/rdb' });
    assert.equal(c.engine.dataDir, '/srv/rdb/pgdata');
    assert.equal(c.agent.stateDir, '/srv/rdb/agent');
  });

  test('--data-dir is relative to the working directory', () => {
    assert.equal(ok(bare, { dataDir: 'sandbox/n1' }).engine.dataDir, join(process.cwd(), 'sandbox/n1/pgdata'));
  });

  test('keys written in the file win over --data-dir', () => {
    const c = ok(withExtra('[agent]\nstate_dir = "/x/state"\n'), { dataDir: '/srv/rdb' });
    assert.equal(c.engine.dataDir, '/var/lib/rustydb/pgdata');
    assert.equal(c.agent.stateDir, '/x/state');
    assert.equal(ok(MINIMAL, { dataDir: '/srv/rdb' }).agent.stateDir, '/srv/rdb/agent');
  });

  test('--log-level replaces agent.log_level, and a bad one is reported as the flag', () => {
    assert.equal(ok(withExtra('[agent]\nlog_level = "warn"\n'), { logLevel: 'trace' }).agent.logLevel, 'trace');
    const p = problemAt(MINIMAL, '--log-level', { logLevel: 'verbose' });
    assert.equal(p.line, null);
    assert.match(p.message, /must be one of trace, debug, info, warn, error, got "verbose"/);
  });

  test('the state directory may not sit inside the data directory', () => {
    const text = withExtra('[agent]\nstate_dir = "/var/lib/rustydb/pgdata/agent"\n');
    const p = problemAt(text, 'agent.state_dir');
    assert.equal(p.line, lineOf(text, 'state_dir'));
    assert.match(p.message, /must not contain one another/);
  });
});

describe('reporting', () => {
  test('every problem is collected, one line each, in file order', () => {
    const text = `[cluster]
node_id = "N1"
cluster_name = "t"
node_address = "h"
raft_port = 0
[ha]
durability = "maybe"
[engine]
port = "x"
`;
    let message = '';
    try {
      parseConfigText(text, FILE);
    } catch (e) {
      assert.ok(e instanceof ConfigError);
      message = e.message;
      assert.equal(e.problems.length, 5);
    }
    const lines = message.split('\n');
    assert.equal(lines.length, 5);
    assert.deepEqual(
      lines.map((l) => l.split(': ').slice(0, 2).join(': ')),
      [
        `${FILE}:2: cluster.node_id`,
        `${FILE}:5: cluster.raft_port`,
        `${FILE}:7: ha.durability`,
        `${FILE}:8: engine.data_dir`,
        `${FILE}:9: engine.port`,
      ],
    );
  });

  test('loadConfig reads a file, names it in problems, and reports a missing file as a ConfigError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rustydb-conf-'));
    try {
      const file = join(dir, 'rustydb.conf');
      writeFileSync(file, MINIMAL.replace('node_id', 'nod_id'));
      assert.throws(() => loadConfig(file), (e: Error) => e instanceof ConfigError && e.message.includes(`${file}:2: cluster.nod_id: unknown key; did you mean "node_id"?`));
      writeFileSync(file, MINIMAL.replace('"/var/lib/rustydb/pgdata"', '"pgdata"'));
      assert.equal(loadConfig(file).engine.dataDir, join(dir, 'pgdata'), 'relative paths are anchored at the file');
      const missing = join(dir, 'absent.conf');
      assert.throws(() => loadConfig(missing), (e: Error) => e instanceof ConfigError && e.message === `${missing}: cannot read the config file (ENOENT); check the path given to --config`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('line index', () => {
  test('headers, dotted and quoted keys, inline tables, arrays of tables', () => {
    const text = [
      '# comment = 1', // 1
      'top = 1', // 2
      '[a.b]', // 3
      'c = "x # not a comment"', // 4
      '"quoted.key" = 2', // 5
      'd.e.f = 3', // 6
      "g = { h = 1, 'i j' = { k = 2 } }", // 7
      '[[arr]]', // 8
      'x = 1', // 9
      '[[arr]]', // 10
      'x = 2', // 11
      '  [ spaced . "header" ]  # c', // 12
      'when = 1979-05-27 07:32:00Z', // 13
    ].join('\n');
    const idx = indexKeyLines(text);
    assert.equal(idx.exact(['top']), 2);
    assert.equal(idx.exact(['a', 'b']), 3);
    assert.equal(idx.exact(['a']), 3);
    assert.equal(idx.exact(['a', 'b', 'c']), 4);
    assert.equal(idx.exact(['a', 'b', 'quoted.key']), 5);
    assert.equal(idx.exact(['a', 'b', 'd']), 6);
    assert.equal(idx.exact(['a', 'b', 'd', 'e', 'f']), 6);
    assert.equal(idx.exact(['a', 'b', 'g', 'i j', 'k']), 7);
    assert.equal(idx.exact(['arr', 0, 'x']), 9);
    assert.equal(idx.exact(['arr', 1, 'x']), 11);
    assert.equal(idx.exact(['spaced', 'header']), 12);
    assert.equal(idx.exact(['spaced', 'header', 'when']), 13);
    assert.equal(idx.exact(['comment']), null);
    assert.equal(idx.lineOf(['a', 'b', 'missing']), 3, 'a missing key falls back to its table');
    assert.equal(idx.lineOf(['nothing', 'here']), null);
  });

  test('multi-line strings and arrays do not hide or invent keys, and keep the line count', () => {
    const text = [
      's = """', // 1
      'fake = 1', // 2
      '[fake.table]', // 3
      '"""', // 4
      "t = '''x''''", // 5
      'arr = [', // 6
      '  "a",  # c', // 7
      '  { k = 1 },', // 8
      ']', // 9
      'u = """a\\\\"""', // 10: an escaped backslash, then the closing quotes
      'after = 1', // 11
    ].join('\n');
    const idx = indexKeyLines(text);
    assert.equal(idx.exact(['fake']), null);
    assert.equal(idx.exact(['fake', 'table']), null);
    assert.equal(idx.exact(['t']), 5);
    assert.equal(idx.exact(['arr', 1, 'k']), 8);
    assert.equal(idx.exact(['after']), 11);
  });

  test('formatKey quotes what is not bare', () => {
    assert.equal(formatKey(['cluster', 'nodes', 'n 1', 'tags', 0]), 'cluster.nodes."n 1".tags[0]');
  });
});

describe('suggestions', () => {
  test('Levenshtein distance and the closest candidate within 2', () => {
    assert.equal(levenshtein('kitten', 'sitting'), 3);
    assert.equal(levenshtein('', 'abc'), 3);
    assert.equal(closest('nodeid', ['node_id', 'node_address']), 'node_id');
    assert.equal(closest('NODE_ID', ['node_id']), 'node_id');
    assert.equal(closest('colour', ['listen_address', 'port']), null);
    assert.equal(closest('election_timeout', ['election_timeout_ms']), 'election_timeout_ms', 'a missing unit suffix is suggested');
  });
});
