import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseRaftSettings, ticksFor, RAFT_DEFAULTS, type ConfigIssue, type RaftSettings } from '../../agent/raft/config.ts';

const WHERE = '/etc/rustydb.conf [cluster.raft]';

function settingsOf(section: Record<string, unknown> | undefined): RaftSettings {
  const r = parseRaftSettings(section, WHERE);
  assert.ok(r.ok, `expected valid settings, got ${JSON.stringify(r)}`);
  return r.settings;
}

function issuesOf(section: Record<string, unknown>): ConfigIssue[] {
  const r = parseRaftSettings(section, WHERE);
  assert.ok(!r.ok, 'expected issues');
  for (const i of r.issues) assert.ok(i.message.startsWith(WHERE), `message names where: ${i.message}`);
  return r.issues;
}

describe('parseRaftSettings', () => {
  test('an absent or empty section gives the documented defaults', () => {
    const expected: RaftSettings = {
      electionTimeoutMs: 5000,
      heartbeatIntervalMs: 1000,
      snapshotInterval: 10000,
      maxLogEntries: 50000,
      retentionLogs: 5000,
      maxInflightMsgs: 256,
      maxMsgBytes: 1048576,
    };
    assert.deepEqual(settingsOf(undefined), expected);
    assert.deepEqual(settingsOf({}), expected);
    assert.deepEqual({ ...RAFT_DEFAULTS }, expected);
  });

  test('every key is read into its field', () => {
    assert.deepEqual(
      settingsOf({
        election_timeout_ms: 1000,
        heartbeat_interval_ms: 100,
        snapshot_interval: 500,
        max_log_entries: 2000,
        retention_logs: 100,
        max_inflight_msgs: 8,
        max_msg_bytes: 65536,
      }),
      { electionTimeoutMs: 1000, heartbeatIntervalMs: 100, snapshotInterval: 500, maxLogEntries: 2000, retentionLogs: 100, maxInflightMsgs: 8, maxMsgBytes: 65536 },
    );
  });

  test('integers given as bigint (some TOML parsers) are accepted', () => {
    assert.equal(settingsOf({ max_msg_bytes: 2048n }).maxMsgBytes, 2048);
  });

  test('an unknown key is an error naming the key', () => {
    const issues = issuesOf({ election_timeout: 3000 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, 'cluster.raft.election_timeout');
    assert.match(issues[0].message, /unknown key election_timeout; known keys are .*election_timeout_ms/);
  });

  test('inherited names like toString are unknown keys, not crashes', () => {
    const issues = issuesOf({ toString: 1 });
    assert.equal(issues[0].key, 'cluster.raft.toString');
  });

  test('wrong types name the key and what was given', () => {
    const cases: [string, unknown, RegExp][] = [
      ['election_timeout_ms', '5000', /election_timeout_ms must be a positive integer \(milliseconds\), got the string "5000"/],
      ['heartbeat_interval_ms', 1.5, /heartbeat_interval_ms must be a positive integer \(milliseconds\), got 1\.5/],
      ['snapshot_interval', -1, /snapshot_interval must be a positive integer \(entries\), got -1/],
      ['max_log_entries', 0, /max_log_entries must be a positive integer \(entries\), got 0/],
      ['max_inflight_msgs', true, /max_inflight_msgs must be a positive integer \(messages\), got true/],
      ['max_msg_bytes', null, /max_msg_bytes must be a positive integer \(bytes\), got null/],
      ['max_msg_bytes', [1], /got an array/],
      ['max_msg_bytes', { a: 1 }, /got a table/],
      ['max_msg_bytes', Number.NaN, /got NaN/],
      ['max_msg_bytes', 2 ** 60, new RegExp(`got ${String(2 ** 60)}`)],
      ['retention_logs', -5, /retention_logs must be a non-negative integer \(entries\), got -5/],
    ];
    for (const [key, value, pattern] of cases) {
      const issues = issuesOf({ [key]: value });
      assert.equal(issues.length, 1, `${key}=${String(value)}: ${JSON.stringify(issues)}`);
      assert.equal(issues[0].key, `cluster.raft.${key}`);
      assert.match(issues[0].message, pattern);
    }
  });

  test('retention_logs may be zero (compact right up to the snapshot)', () => {
    assert.equal(settingsOf({ retention_logs: 0 }).retentionLogs, 0);
  });

  test('all issues are reported at once', () => {
    const issues = issuesOf({ bogus: 1, election_timeout_ms: 'x', max_inflight_msgs: 0 });
    assert.deepEqual(issues.map((i) => i.key).sort(), ['cluster.raft.bogus', 'cluster.raft.election_timeout_ms', 'cluster.raft.max_inflight_msgs']);
  });

  test('heartbeat must be at most one fifth of the election timeout; the message names both keys', () => {
    const issues = issuesOf({ heartbeat_interval_ms: 2000 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, 'cluster.raft.heartbeat_interval_ms');
    assert.equal(
      issues[0].message,
      `${WHERE}: heartbeat_interval_ms (2000) must be at most one fifth of election_timeout_ms (5000) so a follower hears several heartbeats per election timeout`,
    );
    // The boundary itself is allowed.
    assert.equal(settingsOf({ heartbeat_interval_ms: 1000, election_timeout_ms: 5000 }).heartbeatIntervalMs, 1000);
    assert.equal(issuesOf({ heartbeat_interval_ms: 1001 }).length, 1);
    // Lowering the election timeout alone can break the rule as well.
    assert.match(issuesOf({ election_timeout_ms: 4000 })[0].message, /heartbeat_interval_ms \(1000\).*election_timeout_ms \(4000\)/);
  });

  test('heartbeat must be at least 20 ms (two ticks of the 10 ms minimum)', () => {
    const issues = issuesOf({ heartbeat_interval_ms: 19, election_timeout_ms: 1000 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, 'cluster.raft.heartbeat_interval_ms');
    assert.match(issues[0].message, /heartbeat_interval_ms \(19\) must be at least 20/);
    assert.equal(settingsOf({ heartbeat_interval_ms: 20, election_timeout_ms: 100 }).heartbeatIntervalMs, 20);
  });

  test('snapshot_interval must be at most max_log_entries', () => {
    const issues = issuesOf({ snapshot_interval: 60000 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, 'cluster.raft.snapshot_interval');
    assert.match(issues[0].message, /snapshot_interval \(60000\) must be at most max_log_entries \(50000\)/);
    assert.equal(settingsOf({ snapshot_interval: 50000 }).snapshotInterval, 50000);
  });

  test('retention_logs must be less than max_log_entries', () => {
    const issues = issuesOf({ retention_logs: 50000 });
    assert.equal(issues.length, 1);
    assert.equal(issues[0].key, 'cluster.raft.retention_logs');
    assert.match(issues[0].message, /retention_logs \(50000\) must be less than max_log_entries \(50000\)/);
    // Both rules can fire from one bad max_log_entries.
    const both = issuesOf({ max_log_entries: 100 });
    assert.deepEqual(both.map((i) => i.key).sort(), ['cluster.raft.retention_logs', 'cluster.raft.snapshot_interval']);
  });

  test('cross-key rules are not reported against a key that is itself invalid', () => {
    const issues = issuesOf({ election_timeout_ms: 'soon', heartbeat_interval_ms: 3000 });
    assert.deepEqual(issues.map((i) => i.key), ['cluster.raft.election_timeout_ms']);
  });

  test('a section that is not a table is one issue on the section', () => {
    const r = parseRaftSettings([] as unknown as Record<string, unknown>, WHERE);
    assert.ok(!r.ok);
    assert.deepEqual(r.issues.map((i) => i.key), ['cluster.raft']);
  });
});

describe('ticksFor', () => {
  test('seed defaults: tick every 100 ms, heartbeat 10 ticks, election 50 ticks spread over 1 s', () => {
    assert.deepEqual(ticksFor(settingsOf(undefined)), { tickMs: 100, heartbeatTicks: 10, electionTicks: 50, electionJitterTicks: 10 });
  });

  test('fast settings used by the benchmark', () => {
    assert.deepEqual(ticksFor(settingsOf({ heartbeat_interval_ms: 100, election_timeout_ms: 1000 })), { tickMs: 50, heartbeatTicks: 2, electionTicks: 20, electionJitterTicks: 10 });
  });

  test('the tick never drops below 10 ms', () => {
    assert.deepEqual(ticksFor(settingsOf({ heartbeat_interval_ms: 20, election_timeout_ms: 100 })), { tickMs: 10, heartbeatTicks: 2, electionTicks: 10, electionJitterTicks: 10 });
    assert.deepEqual(ticksFor({ ...RAFT_DEFAULTS, heartbeatIntervalMs: 5, electionTimeoutMs: 25 }), { tickMs: 10, heartbeatTicks: 1, electionTicks: 3, electionJitterTicks: 3 });
  });

  test('odd heartbeats round to whole ticks', () => {
    assert.deepEqual(ticksFor(settingsOf({ heartbeat_interval_ms: 101, election_timeout_ms: 1000 })), { tickMs: 50, heartbeatTicks: 2, electionTicks: 20, electionJitterTicks: 10 });
  });

  test('valid settings always give 1 <= heartbeatTicks < electionTicks with a spread of at least 10 ticks', () => {
    for (let hb = 20; hb <= 3000; hb += 7) {
      for (const mult of [5, 6, 10, 37]) {
        const t = ticksFor(settingsOf({ heartbeat_interval_ms: hb, election_timeout_ms: hb * mult }));
        assert.ok(t.heartbeatTicks >= 1 && t.electionTicks > t.heartbeatTicks, `hb=${hb} x${mult}: ${JSON.stringify(t)}`);
        assert.ok(t.electionTicks >= 10, `hb=${hb} x${mult}: ${JSON.stringify(t)}`);
        assert.ok(t.tickMs >= 10 && t.tickMs <= 100);
        assert.ok(t.electionJitterTicks >= Math.min(10, t.electionTicks) && t.electionJitterTicks <= t.electionTicks);
      }
    }
  });

  test('unvalidated settings are clamped rather than producing zero ticks', () => {
    const t = ticksFor({ ...RAFT_DEFAULTS, heartbeatIntervalMs: 1000, electionTimeoutMs: 100 });
    assert.equal(t.heartbeatTicks, 10);
    assert.equal(t.electionTicks, 11);
  });
});
