/**
 * The real `rustydb-agent` binary refuses bad config files: each case below
 * changes one thing in a valid file and expects exit code 2, a message on
 * stderr of the form `<file>:<line>: <key>: ...` naming the file, the line the
 * offending key (or its table) is written on, and the key — and no side
 * effect (no state dir, no data dir, nothing listening).
 */

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../../agent/config/load.ts';

const AGENT_BIN = fileURLToPath(new URL('../../bin/rustydb-agent', import.meta.url));

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-config-test-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A valid config (checked below); ports are never bound because every case fails validation. */
function validConfig(d: string): string {
  return `[cluster]
node_id = "n1"
node_address = "127.0.0.1"
raft_port = 17999
cluster_name = "cfgtest"

[cluster.raft]
election_timeout_ms = 1000
heartbeat_interval_ms = 100

[cluster.nodes.n1]
api = "127.0.0.1:17999"
pg = "127.0.0.1:17998"

[engine]
port = 17998
data_dir = "${d}/pgdata"

[agent]
state_dir = "${d}/agent"
`;
}

interface Case {
  name: string;
  /** Turns the valid text into the bad one (must change it). */
  edit: (text: string) => string;
  /** Dotted key the message must name. */
  key: string;
  /** Text of the line the message must point at (its 1-based number is computed from the bad file). */
  lineText: string;
  /** Words the message must contain besides file, line and key. */
  mentions: RegExp;
}

const CASES: Case[] = [
  {
    name: 'unknown key',
    edit: (t) => t.replace('cluster_name = "cfgtest"\n', 'cluster_name = "cfgtest"\nnode_adress = "127.0.0.2"\n'),
    key: 'cluster.node_adress',
    lineText: 'node_adress = ',
    mentions: /unknown key/,
  },
  {
    name: 'wrong type',
    edit: (t) => t.replace('raft_port = 17999', 'raft_port = "17999"'),
    key: 'cluster.raft_port',
    lineText: 'raft_port = "17999"',
    mentions: /integer/,
  },
  {
    // A missing key has no line of its own: the message points at its table's header.
    name: 'missing node_id',
    edit: (t) => t.replace('node_id = "n1"\n', ''),
    key: 'cluster.node_id',
    lineText: '[cluster]',
    mentions: /missing/,
  },
  {
    name: 'heartbeat_interval_ms equal to election_timeout_ms',
    edit: (t) => t.replace('heartbeat_interval_ms = 100', 'heartbeat_interval_ms = 1000'),
    key: 'cluster.raft.heartbeat_interval_ms',
    lineText: 'heartbeat_interval_ms = 1000',
    mentions: /election_timeout_ms/,
  },
  {
    name: 'heartbeat_interval_ms greater than election_timeout_ms',
    edit: (t) => t.replace('heartbeat_interval_ms = 100', 'heartbeat_interval_ms = 3000'),
    key: 'cluster.raft.heartbeat_interval_ms',
    lineText: 'heartbeat_interval_ms = 3000',
    mentions: /election_timeout_ms/,
  },
];

function lineNumberOf(text: string, lineText: string): number {
  const lines = text.split('\n');
  const i = lines.findIndex((l) => l.startsWith(lineText));
  assert.ok(i >= 0, `the test file contains a line starting with ${lineText}`);
  assert.equal(lines.filter((l) => l.startsWith(lineText)).length, 1, `exactly one line starts with ${lineText}`);
  return i + 1;
}

test('the base file is valid (so each case below fails for its one change only)', () => {
  const d = join(dir, 'valid');
  const file = join(dir, 'valid.conf');
  writeFileSync(file, validConfig(d));
  const cfg = loadConfig(file);
  assert.equal(cfg.cluster.nodeId, 'n1');
  assert.equal(cfg.cluster.raft.heartbeatIntervalMs, 100);
});

describe('rustydb-agent --config <bad file> exits 2 naming the file, the line and the key', () => {
  CASES.forEach((c, i) => {
    test(c.name, () => {
      const d = join(dir, `case${i}`);
      const good = validConfig(d);
      const bad = c.edit(good);
      assert.notEqual(bad, good, 'the edit changed the file');
      const file = join(dir, `case${i}.conf`);
      writeFileSync(file, bad);
      const line = lineNumberOf(bad, c.lineText);

      const r = spawnSync(process.execPath, [AGENT_BIN, '--config', file], { encoding: 'utf8', timeout: 30_000 });
      assert.equal(r.error, undefined, `the agent ran: ${String(r.error)}`);
      assert.equal(r.status, 2, `exit code 2; stderr:\n${r.stderr}`);
      assert.equal(r.stdout, '', 'nothing on stdout');

      const problem = r.stderr.split('\n').find((l) => l.startsWith(`${file}:${line}: ${c.key}: `));
      assert.ok(problem, `stderr has a line "${file}:${line}: ${c.key}: ..."; got:\n${r.stderr}`);
      assert.match(problem, c.mentions);
      // Refused before doing anything: no state, no data directory.
      assert.equal(existsSync(join(d, 'agent')), false, 'no state dir created');
      assert.equal(existsSync(join(d, 'pgdata')), false, 'no data dir created');
    });
  });
});
