import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decide, type HaInput } from '../../agent/ha/decide.ts';
import type { EngineStatus } from '../../agent/engine/driver.ts';
import type { ClusterConfigRecord, MemberRecord, PrimaryRecord } from '../../agent/state/records.ts';

const config: ClusterConfigRecord = {
  haMode: 'active_active',
  autoFailover: true,
  minQuorumSize: null,
  failoverTimeoutMs: 7000,
  leaseMs: 5000,
  durability: 'strict',
};

function member(id: string, over: Partial<MemberRecord> = {}): MemberRecord {
  return { id, kind: 'voter', apiUrl: `http://127.0.0.1/${id}`, pgHost: '127.0.0.1', pgPort: 5432, region: 'local', weight: 1, tags: [], adminState: 'active', ...over };
}

const members = [member('n1'), member('n2'), member('n3')];

function engine(over: Partial<EngineStatus> = {}): EngineStatus {
  return {
    running: true,
    inRecovery: true,
    timeline: 1,
    flushLsn: '0/3000000',
    replayLsn: '0/3000000',
    streamingFrom: 'n1',
    following: 'n1',
    version: '15.18',
    syncStandbyNames: null,
    replicas: [],
    initialized: true,
    problem: null,
    startedAt: null,
    ...over,
  };
}

const record = (node: string, epoch = 1): PrimaryRecord => ({ node, epoch, since: '', reason: 'test', sync: { k: 1, standbys: ['n2', 'n3'].filter((s) => s !== node).concat(node === 'n1' ? [] : ['n1']).sort() } });

function input(over: Partial<HaInput> = {}): HaInput {
  return {
    now: 100_000,
    self: { id: 'n2', kind: 'voter' },
    state: { primary: record('n1'), primaryVersion: 3, members, config, failoverRequest: null },
    config,
    lastKnownMembers: members,
    raft: { isLeader: false, leader: 'n1' },
    engine: engine(),
    leaseConfirmedAt: null,
    leaseMarginMs: 500,
    lastPrimaryEpoch: null,
    holdStreamingUntil: null,
    primaryHealth: null,
    syncCaughtUp: [],
    notStreamingForMs: 0,
    rewindFailed: false,
    busy: null,
    engineHeld: false,
    ...over,
  };
}

const streamingReplicas = [
  { nodeId: 'n2', state: 'streaming', syncState: 'quorum', flushLsn: '0/3000000', replayLsn: '0/3000000', lagBytes: 0, lagMs: null },
  { nodeId: 'n3', state: 'streaming', syncState: 'quorum', flushLsn: '0/3000000', replayLsn: '0/3000000', lagBytes: 0, lagMs: null },
];

test('a streaming standby of the recorded primary does nothing, and says so', () => {
  const d = decide(input());
  assert.equal(d.action.kind, 'none');
  assert.match(d.sentence, /standby streaming from n1, the primary of epoch 1/);
});

test('a primary that lost the quorum keeps serving within its lease, then fences itself', () => {
  const primaryEngine = engine({ inRecovery: false, streamingFrom: null });
  const within = decide(input({ self: { id: 'n1', kind: 'voter' }, state: null, engine: primaryEngine, leaseConfirmedAt: 97_000 }));
  assert.equal(within.action.kind, 'none');
  assert.match(within.sentence, /lease is valid \(1500 ms left\)/);
  // Fenced before the lease's end, by the margin one more check would take.
  const nearEnd = decide(input({ self: { id: 'n1', kind: 'voter' }, state: null, engine: primaryEngine, leaseConfirmedAt: 95_400 }));
  assert.equal(nearEnd.action.kind, 'fence');
  assert.match(nearEnd.sentence, /lost contact with the quorum for 4600 ms; my 5000 ms lease ends before the next check/);
  const never = decide(input({ self: { id: 'n1', kind: 'voter' }, state: null, engine: primaryEngine, leaseConfirmedAt: null }));
  assert.equal(never.action.kind, 'fence');
});

test('a standby without quorum stays as it is; a 2-node pair says it needs a witness', () => {
  const d = decide(input({ state: null }));
  assert.equal(d.action.kind, 'none');
  assert.match(d.sentence, /no quorum: staying a standby until the cluster is reachable$/);
  const pair = decide(input({ state: null, lastKnownMembers: [member('n1'), member('n2')] }));
  assert.match(pair.sentence, /a 2-node cluster without a witness cannot fail over automatically/);
  const witnessed = decide(input({ state: null, lastKnownMembers: [member('n1'), member('n2'), member('w', { kind: 'witness' })] }));
  assert.doesNotMatch(witnessed.sentence, /witness/);
});

test('an engine running as primary that the record does not name is fenced at once, even on the leader', () => {
  const d = decide(input({ engine: engine({ inRecovery: false, streamingFrom: null }), raft: { isLeader: true, leader: 'n2' } }));
  assert.deepEqual(d.action, { kind: 'fence', reason: d.sentence });
  assert.match(d.sentence, /n1 is the primary of epoch 1: stopping my engine/);
});

test('bootstrap: the leader names itself the first primary with a majority quorum commit; the others wait', () => {
  const base = input({ state: { primary: null, primaryVersion: 0, members, config, failoverRequest: null }, engine: engine({ initialized: false, running: false }) });
  const leader = decide({ ...base, self: { id: 'n1', kind: 'voter' }, raft: { isLeader: true, leader: 'n1' } });
  assert.equal(leader.action.kind, 'create-primary-record');
  if (leader.action.kind === 'create-primary-record') {
    assert.equal(leader.action.record.node, 'n1');
    assert.equal(leader.action.record.epoch, 1);
    assert.deepEqual(leader.action.record.sync, { k: 1, standbys: ['n2', 'n3'] });
  }
  const follower = decide(base);
  assert.equal(follower.action.kind, 'none');
  assert.match(follower.sentence, /waiting for the leader \(n1\)/);
});

test('the named first primary initializes its database; a standby without data clones', () => {
  const fresh = engine({ initialized: false, running: false, inRecovery: false, streamingFrom: null });
  assert.equal(decide(input({ self: { id: 'n1', kind: 'voter' }, engine: fresh })).action.kind, 'init-engine');
  assert.deepEqual(decide(input({ engine: fresh })).action, { kind: 'clone', primary: 'n1' });
  // Named primary of a later epoch with no data: never initdb over a cluster that has data elsewhere.
  const later = decide(input({ self: { id: 'n1', kind: 'voter' }, engine: fresh, state: { primary: record('n1', 4), primaryVersion: 9, members, config, failoverRequest: null } }));
  assert.equal(later.action.kind, 'none');
  assert.match(later.sentence, /no data directory/);
});

test('the node named primary promotes its standby engine only through the committed record', () => {
  const d = decide(input({ state: { primary: record('n2', 2), primaryVersion: 5, members, config, failoverRequest: null } }));
  assert.deepEqual(d.action, { kind: 'promote', epoch: 2 });
});

test('a former primary rewinds onto the new primary before following it', () => {
  const stopped = engine({ running: false, inRecovery: false, streamingFrom: null });
  const d = decide(input({ self: { id: 'n1', kind: 'voter' }, engine: stopped, lastPrimaryEpoch: 1, state: { primary: record('n2', 2), primaryVersion: 5, members, config, failoverRequest: null } }));
  assert.deepEqual(d.action, { kind: 'rewind', primary: 'n2' });
  const failed = decide(input({ self: { id: 'n1', kind: 'voter' }, engine: stopped, lastPrimaryEpoch: 1, rewindFailed: true, state: { primary: record('n2', 2), primaryVersion: 5, members, config, failoverRequest: null } }));
  assert.deepEqual(failed.action, { kind: 'clone', primary: 'n2' });
  assert.match(failed.sentence, /pg_rewind onto n2 failed: cloning afresh/);
  const plain = decide(input({ engine: stopped }));
  assert.deepEqual(plain.action, { kind: 'follow', primary: 'n1' });
});

test('a standby streaming from the wrong node re-points to the recorded primary', () => {
  const d = decide(input({ self: { id: 'n3', kind: 'voter' }, engine: engine({ streamingFrom: 'n2', following: 'n2' }) }));
  assert.deepEqual(d.action, { kind: 'follow', primary: 'n1' });
  assert.match(d.sentence, /was streaming from n2/);
});

test('a standby that follows the primary but gets no WAL waits, then rewinds, then clones', () => {
  const stuck = engine({ streamingFrom: null, following: 'n1' });
  const wait = decide(input({ engine: stuck, notStreamingForMs: 1000 }));
  assert.equal(wait.action.kind, 'none');
  assert.match(wait.sentence, /waiting for WAL streaming from n1 to start/);
  assert.deepEqual(decide(input({ engine: stuck, notStreamingForMs: 6000 })).action, { kind: 'rewind', primary: 'n1' });
  assert.deepEqual(decide(input({ engine: stuck, notStreamingForMs: 6000, rewindFailed: true })).action, { kind: 'clone', primary: 'n1' });
});

test('a candidate holding WAL streaming for a failover comparison does not re-follow the old primary', () => {
  const d = decide(input({ engine: engine({ streamingFrom: null }), holdStreamingUntil: 103_000 }));
  assert.equal(d.action.kind, 'none');
  assert.match(d.sentence, /holding WAL streaming/);
});

test('leader: waits out the failover timeout, then fails over; never with auto_failover off', () => {
  const leader = { raft: { isLeader: true, leader: 'n2' } };
  const early = decide(input({ ...leader, primaryHealth: { healthy: false, unhealthySince: 95_000, detail: 'agent unreachable' } }));
  assert.equal(early.action.kind, 'none');
  assert.match(early.sentence, /failing over after 7000 ms/);
  const due = decide(input({ ...leader, primaryHealth: { healthy: false, unhealthySince: 92_000, detail: 'agent unreachable' } }));
  assert.equal(due.action.kind, 'failover');
  const off = decide(input({ ...leader, state: { primary: record('n1'), primaryVersion: 3, members, config: { ...config, autoFailover: false }, failoverRequest: null }, primaryHealth: { healthy: false, unhealthySince: 0, detail: 'engine down' } }));
  assert.equal(off.action.kind, 'none');
  assert.match(off.sentence, /automatic failover is off/);
});

test('leader: a healthy primary gets Raft leadership; a requested switchover runs only for the current epoch', () => {
  const leader = { raft: { isLeader: true, leader: 'n2' } };
  assert.deepEqual(decide(input({ ...leader, primaryHealth: { healthy: true, unhealthySince: null, detail: '' } })).action, { kind: 'transfer-leadership', to: 'n1' });
  const req = { requestId: 'r1', to: 'n3', force: false, fromEpoch: 1, requestedAt: '' };
  const run = decide(input({ ...leader, state: { primary: record('n1'), primaryVersion: 3, members, config, failoverRequest: req } }));
  assert.equal(run.action.kind, 'failover');
  const stale = decide(input({ ...leader, state: { primary: record('n1', 2), primaryVersion: 3, members, config, failoverRequest: req } }));
  assert.notEqual(stale.action.kind, 'failover');
});

test('primary: brings synchronous replication in step, widening the record before the engine', () => {
  const self = { id: 'n1', kind: 'voter' as const };
  const noSync: PrimaryRecord = { ...record('n1'), sync: { k: 0, standbys: [] } };
  const primaryEngine = engine({ inRecovery: false, streamingFrom: null, replicas: streamingReplicas, syncStandbyNames: '' });
  const first = decide(input({ self, engine: primaryEngine, state: { primary: noSync, primaryVersion: 3, members, config, failoverRequest: null } }));
  // Raising k: the engine first (the record must never promise more than the engine enforced).
  assert.equal(first.action.kind, 'sync-step');
  if (first.action.kind === 'sync-step') assert.deepEqual(first.action.step, { kind: 'engine', value: 'ANY 1 ("n2", "n3")', why: first.sentence });
  const inStep = decide(input({ self, engine: { ...primaryEngine, syncStandbyNames: 'ANY 1 ("n2", "n3")' } }));
  assert.equal(inStep.action.kind, 'none');
  assert.match(inStep.sentence, /commits wait for ANY 1 of \(n2, n3\)/);
});

test('primary in strict mode with its standbys down keeps k and says writes wait', () => {
  const self = { id: 'n1', kind: 'voter' as const };
  const d = decide(input({ self, engine: engine({ inRecovery: false, streamingFrom: null, replicas: [], syncStandbyNames: 'ANY 1 ("n2", "n3")' }) }));
  assert.equal(d.action.kind, 'none');
  assert.match(d.sentence, /writes wait: 0 of the 1 synchronous standbys needed are streaming \(n2, n3 not streaming\)/);
  assert.match(d.warning ?? '', /writes on n1 wait/);
  assert.equal(decide(input({ self, engine: engine({ inRecovery: false, streamingFrom: null, replicas: streamingReplicas, syncStandbyNames: 'ANY 1 ("n2", "n3")' }) })).warning, undefined);
});

test('primary in available mode lowers k only after recording the weaker promise', () => {
  const self = { id: 'n1', kind: 'voter' as const };
  const avail = { ...config, durability: 'available' as const };
  const d = decide(input({ self, engine: engine({ inRecovery: false, streamingFrom: null, replicas: [], syncStandbyNames: 'ANY 1 ("n2", "n3")' }), state: { primary: record('n1'), primaryVersion: 3, members, config: avail, failoverRequest: null } }));
  assert.equal(d.action.kind, 'sync-step');
  if (d.action.kind === 'sync-step') {
    assert.equal(d.action.step.kind, 'record');
    if (d.action.step.kind === 'record') assert.deepEqual(d.action.step.sync, { k: 0, standbys: [] });
    assert.equal(d.action.expectVersion, 3);
  }
});

test('witness and busy agents take no action', () => {
  assert.match(decide(input({ self: { id: 'w', kind: 'witness' } })).sentence, /witness/);
  assert.match(decide(input({ busy: 'cloning from n1' })).sentence, /busy: cloning from n1/);
});

test('an engine the operator stopped is stopped, even without a quorum, and stays stopped', () => {
  const running = decide(input({ engineHeld: true, state: null }));
  assert.equal(running.action.kind, 'stop-engine');
  const stopped = decide(input({ engineHeld: true, engine: engine({ running: false, inRecovery: false, streamingFrom: null, following: null }) }));
  assert.equal(stopped.action.kind, 'none');
  assert.match(stopped.sentence, /node start n2/);
});

test('a fenced member stops its engine and does not follow or start it again', () => {
  const fencedMembers = members.map((m) => (m.id === 'n2' ? { ...m, adminState: 'fenced' as const } : m));
  const state = { primary: record('n1'), primaryVersion: 3, members: fencedMembers, config, failoverRequest: null };
  const running = decide(input({ state }));
  assert.equal(running.action.kind, 'fence');
  assert.match(running.sentence, /fenced by the operator/);
  const stopped = decide(input({ state, engine: engine({ running: false, inRecovery: false, streamingFrom: null, following: null }) }));
  assert.equal(stopped.action.kind, 'none');
  assert.match(stopped.sentence, /node unfence n2/);
});

test('a fenced primary that leads Raft stops its engine, then hands leadership away so another node fails over', () => {
  const fencedMembers = members.map((m) => (m.id === 'n1' ? { ...m, adminState: 'fenced' as const } : m));
  const state = { primary: record('n1'), primaryVersion: 3, members: fencedMembers, config, failoverRequest: null };
  const self = { id: 'n1', kind: 'voter' as const };
  const raft = { isLeader: true, leader: 'n1' };
  const first = decide(input({ self, raft, state, engine: engine({ running: true, inRecovery: false, streamingFrom: null, following: null }) }));
  assert.equal(first.action.kind, 'fence');
  const then = decide(input({ self, raft, state, engine: engine({ running: false, inRecovery: false, streamingFrom: null, following: null }) }));
  assert.deepEqual(then.action, { kind: 'transfer-leadership', to: 'n2' });
});

test('a primary that leads Raft and whose engine does not answer hands leadership away after the failover timeout, not before', () => {
  const self = { id: 'n1', kind: 'voter' as const };
  const raft = { isLeader: true, leader: 'n1' };
  const hung = engine({ running: false, inRecovery: false, streamingFrom: null, following: null, problem: 'postmaster is up but does not answer' });
  const early = decide(input({ self, raft, engine: hung, engineDownForMs: config.failoverTimeoutMs - 1 }));
  assert.equal(early.action.kind, 'start-engine', 'a fresh crash is first the agent\'s to restart');
  const late = decide(input({ self, raft, engine: hung, engineDownForMs: config.failoverTimeoutMs }));
  assert.deepEqual(late.action, { kind: 'transfer-leadership', to: 'n2' });
  assert.match(late.sentence, /does not answer/);
  // Not the leader: nothing to hand over; it keeps trying to start its engine.
  assert.equal(decide(input({ self, raft: { isLeader: false, leader: 'n2' }, engine: hung, engineDownForMs: 60_000 })).action.kind, 'start-engine');
});

test('a primary whose postmaster is alive but does not answer is not started again: it waits (the leader moves the primary if it lasts)', () => {
  const self = { id: 'n1', kind: 'voter' as const };
  const hung = engine({ running: false, inRecovery: false, streamingFrom: null, following: null, problem: 'postmaster is up but does not answer: timeout', unresponsive: true });
  const d = decide(input({ self, raft: { isLeader: false, leader: 'n2' }, engine: hung, engineDownForMs: 500 }));
  assert.equal(d.action.kind, 'none');
  assert.match(d.sentence, /does not answer/);
});
