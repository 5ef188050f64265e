/**
 * The health score (agent/ha/health-score.ts): which components apply to
 * which member, how each is graded, that unknown counts as failing, and
 * that the problems name what cost the points.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { notRunning, type EngineStatus } from '../../agent/engine/driver.ts';
import { DEFAULT_HEALTH_THRESHOLDS, HEALTH_WEIGHTS, scoreNode, type NodeHealthInput } from '../../agent/ha/health-score.ts';
import type { NodeHealthView } from '../../agent/api/wire.ts';

const PRIMARY_ENGINE: EngineStatus = {
  ...notRunning(true, null),
  running: true,
  inRecovery: false,
  timeline: 2,
  flushLsn: '0/5000000',
  version: '15.18',
  replicas: [
    { nodeId: 'n2', state: 'streaming', syncState: 'quorum', flushLsn: '0/5000000', replayLsn: '0/5000000', lagBytes: 0, lagMs: null },
    { nodeId: 'n3', state: 'catchup', syncState: 'async', flushLsn: '0/4000000', replayLsn: '0/4000000', lagBytes: 16_777_216, lagMs: null },
  ],
};
const STANDBY_ENGINE: EngineStatus = {
  ...notRunning(true, null),
  running: true,
  inRecovery: true,
  timeline: 2,
  flushLsn: '0/5000000',
  replayLsn: '0/5000000',
  streamingFrom: 'n1',
  following: 'n1',
  version: '15.18',
};

const raft = (match: number | null, over: Partial<NodeHealthInput['raft'] & object> = {}) => ({ leader: 'n1', voter: true, learner: false, match, commit: 100, ...over });

function standby(over: Partial<NodeHealthInput> = {}): NodeHealthInput {
  return {
    id: 'n2',
    kind: 'voter',
    adminState: 'active',
    apiUrl: 'http://127.0.0.1:7002',
    role: 'replica',
    observed: { engine: STANDBY_ENGINE, writable: false },
    recordedPrimary: { node: 'n1', epoch: 3 },
    primaryEngine: PRIMARY_ENGINE,
    lagBytes: 0,
    lagMs: null,
    raft: raft(100),
    ...over,
  };
}

function primary(over: Partial<NodeHealthInput> = {}): NodeHealthInput {
  return standby({ id: 'n1', role: 'primary', apiUrl: 'http://127.0.0.1:7001', observed: { engine: PRIMARY_ENGINE, writable: true }, lagBytes: null, raft: raft(100), ...over });
}

const component = (v: NodeHealthView, name: string) => {
  const c = v.components.find((x) => x.name === name);
  assert.ok(c, `component ${name} present in ${v.components.map((x) => x.name).join(',')}`);
  return c;
};

test('a healthy streaming standby scores 100 with every standby component, weights adding up to 100', () => {
  const v = scoreNode(standby());
  assert.equal(v.score, 100);
  assert.equal(v.status, 'healthy');
  assert.deepEqual(v.problems, []);
  assert.deepEqual(v.components.map((c) => c.name), ['agent', 'engine', 'role', 'replication', 'lag', 'raft', 'admin']);
  assert.equal(v.components.reduce((s, c) => s + c.weight, 0), 100);
  for (const c of v.components) {
    assert.equal(c.value, 1);
    assert.equal(c.points, c.weight);
    assert.equal(c.weight, HEALTH_WEIGHTS[c.name]);
  }
  assert.match(component(v, 'replication').detail, /streams WAL from n1 \(quorum\)/);
  assert.match(component(v, 'engine').detail, /PostgreSQL 15\.18, timeline 2/);
});

test('the primary: lease instead of replication and lag; a stale lease costs its weight', () => {
  const ok = scoreNode(primary());
  assert.deepEqual(ok.components.map((c) => c.name), ['agent', 'engine', 'role', 'lease', 'raft', 'admin']);
  assert.equal(ok.score, 100);
  assert.match(component(ok, 'role').detail, /runs as primary, as the primary record \(epoch 3\) says/);
  assert.match(component(ok, 'raft').detail, /the Raft leader/);
  const stale = scoreNode(primary({ observed: { engine: PRIMARY_ENGINE, writable: false } }));
  assert.equal(component(stale, 'lease').value, 0);
  assert.equal(stale.score, Math.round((100 * (90 - 10)) / 90));
  assert.match(stale.problems[0], /^lease: its lease is not fresh/);
});

test('a witness is scored on its agent, Raft and admin state only', () => {
  const v = scoreNode(standby({ id: 'w1', kind: 'witness', role: 'witness', observed: { engine: notRunning(false, null), writable: false } }));
  assert.deepEqual(v.components.map((c) => c.name), ['agent', 'raft', 'admin']);
  assert.equal(v.score, 100);
});

test('an unreachable agent scores low: unknown counts as failing, and the problems name the agent first', () => {
  const v = scoreNode(standby({ observed: null, lagBytes: null, lagMs: null }));
  assert.equal(component(v, 'agent').value, 0);
  assert.match(component(v, 'engine').detail, /unknown: the agent did not answer/);
  assert.equal(component(v, 'engine').value, 0);
  assert.equal(component(v, 'role').value, 0);
  // The primary still sees n2 stream: that much is known without its agent.
  assert.equal(component(v, 'replication').value, 1);
  assert.equal(component(v, 'lag').value, 0);
  assert.equal(v.score, 10 + 15 + 10); // replication, raft, admin
  assert.equal(v.status, 'unhealthy');
  assert.match(v.problems[0], /^agent: the agent did not answer at http:\/\/127\.0\.0\.1:7002: check that rustydb-agent runs on n2/);
});

test('role consistency with the primary record', () => {
  const twoPrimaries = scoreNode(standby({ observed: { engine: PRIMARY_ENGINE, writable: false } }));
  assert.equal(component(twoPrimaries, 'role').value, 0);
  assert.match(component(twoPrimaries, 'role').detail, /runs as a writable primary, but the primary record \(epoch 3\) names n1/);
  const recordedButStandby = scoreNode(primary({ observed: { engine: STANDBY_ENGINE, writable: false } }));
  assert.match(component(recordedButStandby, 'role').detail, /names n1, but its engine runs as a standby/);
  const wrongUpstream = scoreNode(standby({ observed: { engine: { ...STANDBY_ENGINE, following: 'n3', streamingFrom: 'n3' }, writable: false } }));
  assert.equal(component(wrongUpstream, 'role').value, 0.5);
  assert.match(component(wrongUpstream, 'role').detail, /following n3, but the primary of epoch 3 is n1/);
  const stopped = scoreNode(standby({ observed: { engine: { ...notRunning(true, null), problem: 'pg_ctl start failed' }, writable: false } }));
  assert.match(component(stopped, 'engine').detail, /the engine is stopped: pg_ctl start failed/);
  assert.equal(component(stopped, 'role').value, 0);
});

test('replication and lag grades against the thresholds', () => {
  const t = DEFAULT_HEALTH_THRESHOLDS;
  const notStreaming = scoreNode(standby({ id: 'n4', observed: { engine: { ...STANDBY_ENGINE, streamingFrom: null }, writable: false } }));
  assert.equal(component(notStreaming, 'replication').value, 0);
  assert.match(component(notStreaming, 'replication').detail, /does not stream WAL from the primary n1/);
  const catchup = scoreNode(standby({ id: 'n3', observed: { engine: { ...STANDBY_ENGINE, streamingFrom: null }, writable: false } }));
  assert.equal(component(catchup, 'replication').value, 0.5);
  assert.match(component(catchup, 'replication').detail, /catchup, not streaming yet/);

  assert.equal(component(scoreNode(standby({ lagBytes: t.lagBytesOk, lagMs: null })), 'lag').value, 1);
  assert.equal(component(scoreNode(standby({ lagBytes: t.lagBytesOk + 1, lagMs: null })), 'lag').value, 0.5);
  assert.equal(component(scoreNode(standby({ lagBytes: t.lagBytesBad + 1, lagMs: null })), 'lag').value, 0);
  assert.match(component(scoreNode(standby({ lagBytes: 3 * 1024 * 1024, lagMs: null })), 'lag').detail, /3\.0 MiB behind \(fine up to 1\.0 MiB, bad above 16\.0 MiB\)/);
  // The worse of bytes and time counts.
  assert.equal(component(scoreNode(standby({ lagBytes: 0, lagMs: t.lagMsBad + 1 })), 'lag').value, 0);
  const unknown = scoreNode(standby({ lagBytes: null, lagMs: null }));
  assert.equal(component(unknown, 'lag').value, 0);
  assert.match(component(unknown, 'lag').detail, /lag unknown/);
});

test('Raft: out of the configuration, behind the commit index, a voter still learning, no leader', () => {
  const out = scoreNode(standby({ raft: raft(null, { voter: false }) }));
  assert.equal(component(out, 'raft').value, 0);
  assert.match(component(out, 'raft').detail, /not in the Raft configuration of leader n1/);
  const behind = scoreNode(standby({ raft: raft(100 - DEFAULT_HEALTH_THRESHOLDS.raftEntriesOk - 1) }));
  assert.equal(component(behind, 'raft').value, 0.5);
  assert.match(component(behind, 'raft').detail, /6 log entries behind the commit index 100/);
  assert.equal(component(scoreNode(standby({ raft: raft(100 - DEFAULT_HEALTH_THRESHOLDS.raftEntriesOk) })), 'raft').value, 1);
  const learning = scoreNode(standby({ raft: raft(100, { voter: false, learner: true }) }));
  assert.equal(component(learning, 'raft').value, 0.5);
  assert.match(component(learning, 'raft').detail, /still a learner: a voter should vote/);
  assert.equal(component(scoreNode(standby({ kind: 'observer', raft: raft(100, { voter: false, learner: true }) })), 'raft').value, 1);
  const noLeader = scoreNode(standby({ raft: null }));
  assert.equal(component(noLeader, 'raft').value, 0);
  assert.match(component(noLeader, 'raft').detail, /no Raft leader answered/);
});

test('admin state: draining is half, fenced is nothing; problems are ordered by points lost', () => {
  assert.equal(component(scoreNode(standby({ adminState: 'draining' })), 'admin').value, 0.5);
  const fenced = scoreNode(standby({ adminState: 'fenced', lagBytes: 2 * 1024 * 1024, lagMs: null }));
  assert.equal(component(fenced, 'admin').value, 0);
  assert.equal(fenced.score, 85);
  assert.equal(fenced.status, 'degraded');
  assert.deepEqual(
    fenced.problems.map((p) => p.split(':')[0]),
    ['admin', 'lag'],
  );
});
