/**
 * Tests named after sentences of the Raft paper (Ongaro & Ousterhout 2014) and
 * of Ongaro's thesis (2014), modelled on etcd-io/raft's raft_paper_test.go.
 *
 * Cores are driven by hand through the test environment (in-memory disk and
 * network, nothing moves unless a test says so): electionTicks 10,
 * heartbeatTicks 1, a seeded random source. Each test asserts observable
 * behaviour: roles, terms, messages sent, what was persisted, commit indexes.
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Env, type Disk, type EnvEvent, type NodeConfig } from './raft-interaction/env.ts';
import { emptyMessage, NONE, type Entry, type Message, type MessageType, type NodeId } from '../../agent/raft/types.ts';

const ELECTION = 10;

// ---------------------------------------------------------------- helpers

/** A bootstrapped cluster of `n` voters (plus `learners`), ids 1..n+learners. */
function cluster(n: number, config: Partial<NodeConfig> = {}, learners = 0): Env {
  const env = new Env(7);
  const voters = Array.from({ length: n }, (_, i) => String(i + 1));
  const ls = Array.from({ length: learners }, (_, i) => String(n + i + 1));
  env.addNodes(n + learners, { voters, learners: ls }, config);
  return env;
}

/** A cluster with node 1 elected and its no-op committed everywhere. */
function withLeader(n: number, config: Partial<NodeConfig> = {}, learners = 0): Env {
  const env = cluster(n, config, learners);
  env.campaign('1');
  env.stabilize();
  assert.equal(env.core('1').role, 'leader', 'setup: node 1 should have won the election');
  env.takeEvents();
  return env;
}

function entries(terms: number[]): Entry[] {
  return terms.map((term, i) => ({ index: i + 1, term, type: 'normal' as const, data: `e${i + 1}` }));
}

/** A disk holding `terms` as the log (index 1..), for voters `voters`. */
function diskWith(terms: number[], term: number, voters: NodeId[], commit = 0, vote: NodeId = NONE): Disk {
  return {
    hardState: { term, vote, commit },
    snapshot: { meta: { index: 0, term: 0, membership: { voters, learners: [] } }, data: '[]' },
    entries: entries(terms),
  };
}

function msg(type: MessageType, from: NodeId, to: NodeId, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(type, from, to, term), ...fields };
}

/** Messages of the events: `send`s (whether or not they got through), optionally filtered. */
function sent(events: readonly EnvEvent[], pred: (m: Message) => boolean = () => true): Message[] {
  return events.flatMap((e) => (e.kind === 'send' && pred(e.msg) ? [e.msg] : []));
}

function delivered(events: readonly EnvEvent[], pred: (m: Message) => boolean = () => true): Message[] {
  return events.flatMap((e) => (e.kind === 'deliver' && e.dropped === null && pred(e.msg) ? [e.msg] : []));
}

function termsOf(env: Env, id: NodeId): number[] {
  return env.node(id).disk.entries.map((e) => e.term);
}

function appliedData(env: Env, id: NodeId): string[] {
  return env.node(id).applied.map((a) => a.data);
}

/** Tick every live node and deliver, until `done` holds; returns the rounds it took. */
function tickUntil(env: Env, done: () => boolean, maxRounds: number, dropIf?: (m: Message) => boolean): number {
  for (let r = 1; r <= maxRounds; r++) {
    for (const id of env.liveIds()) env.tick(id);
    env.stabilize(dropIf);
    if (done()) return r;
  }
  assert.fail(`condition not reached within ${maxRounds} rounds`);
}

// ---------------------------------------------------------------- §5.1, §5.2 elections

describe('Raft paper §5.1–5.2: terms and leader election', () => {
  test('§5.1 a node that discovers a higher term becomes follower', () => {
    const setups: Record<string, (env: Env) => void> = {
      follower: () => {},
      'pre-candidate': (env) => env.campaign('1'),
      candidate: (env) => {
        env.campaign('1'); // with pre-vote off, straight to candidate
      },
      leader: (env) => {
        env.campaign('1');
        env.act('1', (c) => c.step(msg('vote-resp', '2', '1', c.term)));
      },
    };
    for (const [role, setup] of Object.entries(setups)) {
      const env = cluster(3, { preVote: role === 'pre-candidate' });
      env.isolate('1');
      setup(env);
      const core = env.core('1');
      assert.equal(core.role, role, `setup should make node 1 a ${role}`);
      const higher = core.term + 5;
      env.takeEvents();
      env.act('1', (c) => c.step(msg('heartbeat', '2', '1', higher)));
      assert.equal(core.role, 'follower', `a ${role} hearing term ${higher} becomes follower`);
      assert.equal(core.term, higher, `a ${role} adopts the higher term`);
      assert.equal(core.leader, '2', `a ${role} follows the sender of the heartbeat`);
      assert.equal(env.node('1').disk.hardState.term, higher, 'the new term is persisted');
      assert.equal(env.node('1').disk.hardState.vote, NONE, 'no vote in the new term yet');
    }
    // A higher-term reply (not only a request) also deposes a leader.
    const env = withLeader(3);
    env.act('1', (c) => c.step(msg('app-resp', '2', '1', c.term + 1)));
    assert.equal(env.core('1').role, 'follower');
    assert.equal(env.core('1').term, 2);
    assert.equal(env.core('1').leader, NONE);
  });

  test('§5.2 a follower that hears nothing for an election timeout starts an election', () => {
    for (const preVote of [false, true]) {
      const env = cluster(3, { preVote });
      env.isolate('1');
      env.tick('1', ELECTION - 1);
      assert.equal(env.core('1').role, 'follower', 'no election before the election timeout');
      assert.equal(sent(env.takeEvents()).length, 0, 'a quiet follower sends nothing');
      let ticks = ELECTION - 1;
      while (env.core('1').role === 'follower' && ticks < 2 * ELECTION) {
        env.tick('1');
        ticks++;
      }
      // Randomized timeout in [electionTicks, 2 * electionTicks).
      assert.ok(ticks < 2 * ELECTION, `campaigned after ${ticks} ticks, want < ${2 * ELECTION}`);
      const core = env.core('1');
      const requests = sent(env.takeEvents());
      if (preVote) {
        assert.equal(core.role, 'pre-candidate');
        assert.equal(core.term, 0, 'a pre-candidate does not raise its term');
        assert.deepEqual(requests.map((m) => [m.type, m.to, m.term]), [
          ['prevote', '2', 1],
          ['prevote', '3', 1],
        ]);
      } else {
        assert.equal(core.role, 'candidate');
        assert.equal(core.term, 1, 'a candidate increments its term');
        assert.deepEqual(env.node('1').disk.hardState, { term: 1, vote: '1', commit: 0 }, 'it votes for itself, durably');
        assert.deepEqual(requests.map((m) => [m.type, m.to, m.term]), [
          ['vote', '2', 1],
          ['vote', '3', 1],
        ]);
      }
    }
  });

  test('§5.2 a candidate wins with votes from a majority', () => {
    const cases: { size: number; votes: Record<NodeId, boolean>; want: string }[] = [
      { size: 1, votes: {}, want: 'leader' },
      { size: 3, votes: { 2: true, 3: true }, want: 'leader' },
      { size: 3, votes: { 2: true }, want: 'leader' },
      { size: 5, votes: { 2: true, 3: true, 4: true, 5: true }, want: 'leader' },
      { size: 5, votes: { 2: true, 3: true }, want: 'leader' },
      { size: 3, votes: {}, want: 'candidate' },
      { size: 5, votes: { 2: true }, want: 'candidate' },
      { size: 5, votes: { 2: false, 3: false }, want: 'candidate' },
      { size: 3, votes: { 2: false, 3: false }, want: 'follower' },
      { size: 5, votes: { 2: false, 3: false, 4: false }, want: 'follower' },
      { size: 5, votes: { 2: true, 3: false, 4: false, 5: false }, want: 'follower' },
    ];
    for (const c of cases) {
      const env = cluster(c.size, { preVote: false });
      env.isolate('1');
      env.campaign('1');
      for (const [from, granted] of Object.entries(c.votes)) {
        env.act('1', (core) => core.step(msg('vote-resp', from, '1', 1, { reject: !granted })));
      }
      const what = `${c.size} voters, votes ${JSON.stringify(c.votes)}`;
      assert.equal(env.core('1').role, c.want, what);
      assert.equal(env.core('1').term, 1, `${what}: still term 1`);
    }
  });

  test('§5.2 each node votes for at most one candidate per term', () => {
    const env = cluster(3, { preVote: false });
    const answer = (from: NodeId, type: 'vote' | 'prevote' = 'vote'): Message => {
      env.takeEvents();
      env.act('1', (c) => c.step(msg(type, from, '1', 1)));
      const events = env.takeEvents();
      const [r] = sent(events, (m) => m.type === `${type}-resp`);
      assert.ok(r, `node 1 answers the ${type} request of ${from}`);
      return r;
    };
    assert.equal(answer('2').reject, false, 'first candidate of term 1 gets the vote');
    assert.deepEqual(env.node('1').disk.hardState, { term: 1, vote: '2', commit: 0 }, 'the vote is durable before the reply is sent');
    assert.equal(answer('3').reject, true, 'a second candidate of the same term is refused');
    assert.equal(answer('2').reject, false, 'the same candidate asking again gets the same answer');
    assert.equal(env.node('1').disk.hardState.vote, '2');
  });

  test('§5.4.1 a vote is refused to a candidate with a less up-to-date log', () => {
    // The voter's log ends at index 2, term 2.
    const cases: { lastIndex: number; lastTerm: number; grant: boolean }[] = [
      { lastIndex: 1, lastTerm: 1, grant: false },
      { lastIndex: 3, lastTerm: 1, grant: false }, // longer, but of an older term
      { lastIndex: 1, lastTerm: 2, grant: false }, // same last term, shorter
      { lastIndex: 2, lastTerm: 2, grant: true },
      { lastIndex: 3, lastTerm: 2, grant: true },
      { lastIndex: 1, lastTerm: 3, grant: true }, // shorter, but of a newer term
    ];
    for (const type of ['vote', 'prevote'] as const) {
      for (const c of cases) {
        const env = new Env();
        env.addNodeWithDisk('1', diskWith([1, 2], 2, ['1', '2', '3']), { preVote: false });
        env.act('1', (core) => core.step(msg(type, '2', '1', 3, { index: c.lastIndex, logTerm: c.lastTerm })));
        const [r] = sent(env.takeEvents(), (m) => m.type === `${type}-resp`);
        assert.ok(r, 'the voter answers');
        assert.equal(!r.reject, c.grant, `${type} for a log ending at ${c.lastIndex}/${c.lastTerm} vs voter's 2/2`);
      }
    }
  });
});

// ---------------------------------------------------------------- §5.3 log replication

describe('Raft paper §5.3–5.4: log replication and commitment', () => {
  test('§5.3 the leader appends a no-op and replicates it', () => {
    const env = cluster(3);
    env.campaign('1');
    env.stabilize();
    const events = env.takeEvents();
    const leader = env.core('1');
    assert.equal(leader.role, 'leader');
    const noop = { index: 1, term: leader.term, type: 'noop', data: '' };
    assert.deepEqual(env.node('1').disk.entries, [noop], 'the leader persisted a no-op of its term');
    for (const f of ['2', '3']) {
      const apps = sent(events, (m) => m.type === 'app' && m.to === f && m.entries.length > 0);
      assert.deepEqual(apps[0]?.entries, [noop], `the no-op is sent to ${f}`);
      assert.deepEqual(env.node(f).disk.entries, [noop], `${f} persisted the no-op`);
    }
    for (const id of ['1', '2', '3']) assert.equal(env.core(id).commitIndex, 1, `${id} committed the no-op`);

    const r = env.propose('1', 'x');
    assert.deepEqual(r, { ok: true, index: 2, term: leader.term });
    const out = sent(env.takeEvents(), (m) => m.type === 'app');
    assert.deepEqual(out.map((m) => [m.to, m.index, m.logTerm, m.entries.map((e) => e.data)]), [
      ['2', 1, leader.term, ['x']],
      ['3', 1, leader.term, ['x']],
    ]);
    assert.equal(leader.commitIndex, 1, 'not committed before a majority has it');
    env.stabilize();
    for (const id of ['1', '2', '3']) assert.deepEqual(appliedData(env, id), ['x'], `${id} applied x`);
  });

  test('§5.3 a follower rejects AppendEntries whose prev entry does not match, and the leader backs up (fast: by term)', () => {
    const voters = ['1', '2', '3'];
    const env = new Env();
    env.addNodeWithDisk('1', diskWith([1, 1, 3, 3, 3], 3, voters, 2), { preVote: false });
    env.addNodeWithDisk('2', diskWith([1, 1, 2, 2, 2], 3, voters, 2), { preVote: false });
    env.addNodeWithDisk('3', diskWith([1, 1], 3, voters, 2), { preVote: false });
    env.campaign('1');
    env.stabilize();
    assert.equal(env.core('1').role, 'leader');
    const events = env.takeEvents();
    const rejects = delivered(events, (m) => m.type === 'app-resp' && m.from === '2' && m.reject);
    assert.equal(rejects.length, 1, 'one round trip finds the match point (a naive leader would need three)');
    assert.deepEqual([rejects[0].index, rejects[0].rejectHint, rejects[0].hintTerm], [5, 5, 2], "2 rejects prev 5 and hints at its last entry's term");
    const apps = delivered(events, (m) => m.type === 'app' && m.to === '2' && m.entries.length > 0);
    assert.deepEqual(apps.map((m) => [m.index, m.logTerm]), [
      [5, 3],
      [2, 1],
    ], 'after the rejection the leader skips the whole term-2 run');
    assert.deepEqual(termsOf(env, '2'), [1, 1, 3, 3, 3, 4], "2's conflicting entries are replaced by the leader's");
    assert.equal(env.core('2').commitIndex, 6);
  });

  test('§5.3 conflicting entries are truncated and replaced', () => {
    const env = new Env();
    env.addNodeWithDisk('2', diskWith([1, 1, 2, 2], 2, ['1', '2', '3'], 2));
    // Entries 3 and 4 (term 2) were never committed; a term-3 leader has a different entry 3.
    env.act('2', (c) => c.step(msg('app', '1', '2', 3, { index: 2, logTerm: 1, commit: 2, entries: [{ index: 3, term: 3, type: 'normal', data: 'new' }] })));
    assert.deepEqual(termsOf(env, '2'), [1, 1, 3], 'entry 3 replaced, entry 4 after it deleted');
    assert.equal(env.node('2').disk.entries[2].data, 'new');
    assert.equal(env.core('2').lastIndex, 3);
    const [ack] = sent(env.takeEvents(), (m) => m.type === 'app-resp');
    assert.deepEqual([ack.reject, ack.index], [false, 3]);

    // A stale, duplicated append that agrees with the log must not truncate what follows
    // (here the leader's first append arrives again after its second).
    const e3 = { index: 3, term: 3, type: 'normal' as const, data: 'new' };
    const e4 = { index: 4, term: 3, type: 'normal' as const, data: 'newer' };
    env.act('2', (c) => c.step(msg('app', '1', '2', 3, { index: 3, logTerm: 3, commit: 2, entries: [e4] })));
    assert.deepEqual(termsOf(env, '2'), [1, 1, 3, 3]);
    env.act('2', (c) => c.step(msg('app', '1', '2', 3, { index: 2, logTerm: 1, commit: 2, entries: [e3] })));
    assert.deepEqual(termsOf(env, '2'), [1, 1, 3, 3], 'a matching prefix keeps later entries');
    assert.equal(env.core('2').lastIndex, 4);
  });

  test('§5.4.2 a leader never commits an entry of an earlier term by counting replicas (Figure 8)', () => {
    // One entry per AppendEntries so that replication can be cut between entries.
    const config = { preVote: false, checkQuorum: false, maxMsgBytes: 1 };
    /** Builds Figure 8 (c): S1 leads term 3 and entry 2 (term 1) is on S1, S2, S3. */
    const figure8c = (): { env: Env; holdNoop: (m: Message) => boolean } => {
      const env = cluster(5, config);
      // (a) S1 leads term 1 and replicates entry 2 only to S2.
      env.campaign('1');
      env.stabilize();
      env.partition([['1', '2'], ['3', '4', '5']]);
      assert.deepEqual(env.propose('1', 'a'), { ok: true, index: 2, term: 1 });
      env.stabilize();
      assert.equal(env.core('1').commitIndex, 1, '(a) entry 2 is on 2 of 5 servers: not committed');
      // (b) S1 crashes; S5 is elected for term 2 by S3, S4, S5 and appends its own entry 2.
      env.crash('1');
      env.campaign('5');
      env.stabilize((m) => m.from === '5' && m.type === 'app'); // its entries reach nobody
      assert.equal(env.core('5').role, 'leader');
      assert.deepEqual(termsOf(env, '5'), [1, 2]);
      // (c) S5 crashes; S1 restarts, is elected for term 3 and replicates entry 2 to S3,
      // but the term-3 no-op does not reach S3 (once S3 could accept it, it is lost).
      env.crash('5');
      env.restart('1');
      env.partition([['1', '2', '3'], ['4'], ['5']]);
      const holdNoop = (m: Message) =>
        m.to === '3' && m.type === 'app' && m.entries.some((e) => e.term === 3) && env.node('3').disk.entries.length >= 2;
      env.campaign('1'); // term 2: S3 already voted for S5 in term 2, so no majority yet
      env.stabilize(holdNoop);
      env.campaign('1'); // term 3
      env.stabilize(holdNoop);
      assert.equal(env.core('1').role, 'leader');
      assert.equal(env.core('1').term, 3);
      return { env, holdNoop };
    };

    {
      const { env, holdNoop } = figure8c();
      assert.deepEqual(termsOf(env, '1'), [1, 1, 3]);
      assert.deepEqual(termsOf(env, '2'), [1, 1, 3]);
      assert.deepEqual(termsOf(env, '3'), [1, 1], '(c) entry 2 of term 1 is now on a majority (S1, S2, S3)');
      assert.equal(env.core('1').commitIndex, 1, '(c) ...and still must not be committed: its term is not the current one');
      for (let i = 0; i < 5; i++) {
        env.tick('1');
        env.stabilize(holdNoop);
        assert.equal(env.core('1').commitIndex, 1, '(c) heartbeats and retries do not commit it either');
      }
      for (const id of ['2', '3']) assert.equal(env.core(id).commitIndex, 1, `(c) ${id} was not told entry 2 is committed`);
      // (d) Why: if S1 crashes now, S5 can win term 4 with S3 and S4 (its last term, 2, beats their 1)
      // and replace entry 2 everywhere. Had it been committed, a committed entry would be lost.
      env.crash('1');
      env.heal();
      env.restart('5');
      env.campaign('5'); // term 3: S2 and S3 voted for S1 in term 3
      env.stabilize();
      env.campaign('5'); // term 4
      env.stabilize();
      assert.equal(env.core('5').role, 'leader', '(d) S5 wins with S3 and S4');
      for (const id of ['2', '3', '4', '5']) {
        assert.deepEqual(termsOf(env, id), [1, 2, 4], `(d) ${id} holds S5's entry 2`);
        assert.equal(env.core(id).commitIndex, 3);
      }
    }
    {
      // (e) If instead S1 gets an entry of its own term onto a majority, entry 2 is committed with it.
      const { env } = figure8c();
      env.stabilize();
      env.tick('1');
      env.stabilize();
      assert.deepEqual(termsOf(env, '3'), [1, 1, 3]);
      assert.equal(env.core('1').commitIndex, 3, '(e) the term-3 no-op on a majority commits it and entry 2');
      for (const id of ['1', '2', '3']) assert.deepEqual(appliedData(env, id), ['a'], `(e) ${id} applied entry 2`);
    }
  });
});

// ---------------------------------------------------------------- membership (thesis ch. 4, §6 of the paper)

describe('Raft membership: learners and single-server changes', () => {
  test('§6 a learner receives entries but does not vote or count for quorum', () => {
    const env = withLeader(3, {}, 2); // voters 1,2,3; learners 4,5
    assert.equal(env.core('4').commitIndex, 1, 'the learner got the no-op');
    assert.equal(env.propose('1', 'x').ok, true);
    env.stabilize();
    assert.deepEqual(appliedData(env, '4'), ['x'], 'the learner receives and applies entries');

    // It never campaigns, however long it hears nothing.
    env.isolate('4');
    env.takeEvents();
    env.tick('4', 10 * ELECTION);
    assert.equal(env.core('4').role, 'follower');
    assert.deepEqual(sent(env.takeEvents()), [], 'a learner sends no (pre)vote requests');
    env.heal();
    env.tickAll(1);

    // Leader + two learners are 3 of 5 members but 1 of 3 voters: nothing commits.
    env.partition([['1', '4', '5'], ['2', '3']]);
    const commit = env.core('1').commitIndex;
    assert.equal(env.propose('1', 'y').ok, true);
    env.stabilize();
    assert.equal(env.core('4').lastIndex, env.core('1').lastIndex, 'the learners hold the entry');
    assert.equal(env.core('5').lastIndex, env.core('1').lastIndex);
    assert.equal(env.core('1').commitIndex, commit, 'learner acks do not count toward the quorum');
    // Nor do learners keep a leader in power (CheckQuorum counts voters only).
    for (let i = 0; i < ELECTION; i++) {
      env.tick('1');
      env.stabilize();
    }
    assert.equal(env.core('1').role, 'follower', 'a leader that hears only from learners steps down');

    // Candidates do not ask learners for votes, and a leader is elected without them.
    env.heal();
    env.takeEvents();
    tickUntil(env, () => env.leaders().length === 1, 10 * ELECTION);
    const asked = sent(env.takeEvents(), (m) => (m.type === 'vote' || m.type === 'prevote') && (m.to === '4' || m.to === '5'));
    assert.deepEqual(asked, [], 'no vote request is sent to a learner');
    assert.ok(['1', '2', '3'].includes(env.leaders()[0]));
    env.stabilize();
    const leader = env.leaders()[0];
    assert.equal(env.core(leader).commitIndex, env.core(leader).lastIndex, 'with the voters back, everything commits');
  });

  test('§4.1 (thesis) one membership change at a time', () => {
    const env = withLeader(3);
    env.addNodes(2, null); // 4 and 5, not yet members
    const first = env.proposeConf('1', { op: 'add-learner', node: '4' });
    assert.equal(first.ok, true);
    assert.deepEqual(env.core('1').membership, { voters: ['1', '2', '3'], learners: ['4'] }, 'a configuration applies when appended (thesis §4.1)');
    const second = env.proposeConf('1', { op: 'add-learner', node: '5' });
    assert.equal(second.ok, false);
    assert.equal(!second.ok && second.code, 'membership-change-pending', 'a second change waits until the first is committed');
    assert.equal(env.core('1').lastIndex, 2, 'the refused change appended nothing');
    env.stabilize();
    assert.equal(env.core('1').commitIndex, 2);
    const third = env.proposeConf('1', { op: 'add-learner', node: '5' });
    assert.equal(third.ok, true, 'after the first change commits the next one is accepted');
    env.stabilize();
    for (const id of ['1', '2', '3', '4', '5']) {
      assert.deepEqual(env.core(id).membership, { voters: ['1', '2', '3'], learners: ['4', '5'] }, `${id} knows the configuration`);
    }
  });

  test('§4.1 a new leader may not change membership before committing an entry of its term (2015 bug)', () => {
    const env = cluster(3);
    env.addNodes(1, null);
    env.campaign('1');
    env.deliverUntil(() => env.core('1').role === 'leader');
    assert.equal(env.core('1').role, 'leader');
    assert.equal(env.core('1').commitIndex, 0, 'its no-op is not committed yet');
    const early = env.proposeConf('1', { op: 'add-learner', node: '4' });
    assert.equal(!early.ok && early.code, 'leader-not-ready');
    assert.equal(env.core('1').lastIndex, 1, 'nothing appended');
    assert.deepEqual(env.core('1').membership.learners, []);
    env.stabilize();
    assert.equal(env.core('1').commitIndex, 1, 'the no-op of its term is committed now');
    const later = env.proposeConf('1', { op: 'add-learner', node: '4' });
    assert.deepEqual(later, { ok: true, index: 2, term: env.core('1').term });
  });

  test('§4.2.2 a leader that removes itself but steps down before the removal commits can be elected again (liveness)', () => {
    // Voters 1 and 2; leader 1 appends "remove 1" while 2 is cut off, so the
    // removal cannot commit. CheckQuorum makes 1 step down. Now 2 (whose latest
    // configuration is still 1,2) needs 1's vote, but 1's log is more up to date
    // (it holds the removal), so 1 must be able to campaign, win, and finish the
    // change. If 1 refuses to campaign because its *uncommitted* latest
    // configuration excludes it, nobody is ever elected again.
    const env = new Env(3);
    env.addNodes(2, { voters: ['1', '2'], learners: [] });
    env.campaign('1');
    env.stabilize();
    assert.equal(env.core('1').role, 'leader');
    env.isolate('2');
    assert.equal(env.proposeConf('1', { op: 'remove', node: '1' }).ok, true);
    for (let i = 0; i < ELECTION; i++) {
      env.tick('1');
      env.stabilize();
    }
    assert.equal(env.core('1').role, 'follower', 'setup: 1 stepped down before the removal committed');
    assert.equal(env.core('1').commitIndex, 1, 'setup: the removal (index 2) is not committed');
    env.heal();
    // Faults have stopped: a leader must be elected and the change must complete.
    let rounds = 0;
    while (rounds < 30 * ELECTION && !(env.leaders().length === 1 && env.core('2').commitIndex >= 2)) {
      env.tickAll(1);
      rounds++;
    }
    const state = env.ids().map((id) => `${id}: ${env.core(id).role} term=${env.core(id).term} last=${env.core(id).lastIndex} voters=${env.core(id).membership.voters}`);
    assert.equal(env.leaders().length, 1, `no leader ${30 * ELECTION} rounds after the partition healed (${state.join('; ')})`);
    assert.ok(env.core('2').commitIndex >= 2, 'the removal of 1 is committed');
    tickUntil(env, () => env.leaders()[0] === '2', 10 * ELECTION);
    assert.deepEqual(env.core('2').membership, { voters: ['2'], learners: [] });
  });

  test('§4.2.1 (thesis) a learner is promoted only once it has caught up', () => {
    const env = withLeader(3, {}, 1); // voters 1,2,3; learner 4
    env.isolate('4');
    for (const d of ['a', 'b']) assert.equal(env.propose('1', d).ok, true);
    env.stabilize();
    const early = env.proposeConf('1', { op: 'promote', node: '4' });
    assert.equal(!early.ok && early.code, 'invalid-membership-change', 'a lagging learner is not promoted');
    assert.deepEqual(env.core('1').membership, { voters: ['1', '2', '3'], learners: ['4'] });
    env.heal();
    env.tickAll(1);
    assert.equal(env.core('4').commitIndex, env.core('1').commitIndex, 'the learner caught up');
    const later = env.proposeConf('1', { op: 'promote', node: '4' });
    assert.equal(later.ok, true);
    env.stabilize();
    for (const id of ['1', '2', '3', '4']) assert.deepEqual(env.core(id).membership, { voters: ['1', '2', '3', '4'], learners: [] });
  });

  test('a promoted learner votes', () => {
    // Voters 1,2,3 and learner 4; 4 is promoted, but the promotion never reaches 4
    // before the leader dies. Quorum of {1,2,3,4} is 3, so 2 or 3 can only win
    // with 4's vote: 4 must vote even though it still believes it is a learner.
    const env = withLeader(3, {}, 1);
    const r = env.proposeConf('1', { op: 'promote', node: '4' });
    assert.equal(r.ok, true);
    env.stabilize((m) => m.to === '4');
    assert.equal(env.core('1').commitIndex, 2, 'the promotion is committed by 1, 2 and 3');
    assert.deepEqual(env.core('4').membership, { voters: ['1', '2', '3'], learners: ['4'] }, '4 has not heard of it');
    env.crash('1');
    tickUntil(env, () => env.leaders().length === 1, 20 * ELECTION);
    const leader = env.leaders()[0];
    assert.ok(leader === '2' || leader === '3', `a new leader among 2 and 3 (got ${leader})`);
    const events = env.takeEvents();
    const votesBy4 = delivered(events, (m) => m.type === 'vote-resp' && m.from === '4' && !m.reject);
    assert.ok(votesBy4.length > 0, '4 granted its vote');
    env.tickAll(1);
    assert.deepEqual(env.core('4').membership, { voters: ['1', '2', '3', '4'], learners: [] }, '4 learns it is a voter');

    // Now a voter, 4 campaigns on its own when it hears nothing.
    env.isolate('4');
    env.takeEvents();
    for (let i = 0; i < 2 * ELECTION && env.core('4').role === 'follower'; i++) env.tick('4');
    assert.equal(env.core('4').role, 'pre-candidate');
    assert.deepEqual(sent(env.takeEvents()).map((m) => m.type), ['prevote', 'prevote', 'prevote']);
  });
});

// ---------------------------------------------------------------- reads, liveness extensions

describe('Raft thesis: reads, PreVote, CheckQuorum, leadership transfer', () => {
  test('§6.4 ReadIndex waits for a quorum heartbeat round; a leader cut from the quorum never answers', () => {
    const env = cluster(3);
    env.campaign('1');
    env.deliverUntil(() => env.core('1').role === 'leader');
    // Step 1: until the leader commits an entry of its term it does not know the commit index.
    assert.equal(env.readIndex('1', 'early'), null);
    assert.deepEqual(env.node('1').readStates, [], 'no answer before the no-op commits');
    env.stabilize();
    assert.deepEqual(env.node('1').readStates, [{ context: 'early', index: 1 }], 'answered once the no-op committed and a quorum confirmed');

    // Steps 2-3: a heartbeat round carries the read; the answer needs a quorum of acks.
    env.takeEvents();
    assert.equal(env.readIndex('1', 'r1'), null);
    const hbs = sent(env.takeEvents(), (m) => m.type === 'heartbeat');
    assert.deepEqual(hbs.map((m) => [m.to, m.context]), [
      ['2', 'r1'],
      ['3', 'r1'],
    ]);
    assert.equal(env.node('1').readStates.length, 1, 'no answer before any ack');
    env.deliver((m) => m.type === 'heartbeat' && m.to === '2');
    assert.equal(env.node('1').readStates.length, 1, 'no answer before the ack is back');
    env.deliver((m) => m.type === 'heartbeat-resp' && m.from === '2');
    assert.deepEqual(env.node('1').readStates[1], { context: 'r1', index: 1 }, 'leader + 2 are a quorum of 3');
    env.stabilize();

    // A follower's read goes through the leader.
    assert.equal(env.readIndex('2', 'f1'), null);
    env.stabilize();
    assert.deepEqual(env.node('2').readStates, [{ context: 'f1', index: 1 }]);

    // A leader cut off from the quorum never answers, even while it still thinks it leads.
    env.isolate('1');
    assert.equal(env.readIndex('1', 'cut'), null);
    for (let i = 0; i < 3 * ELECTION; i++) {
      env.tick('1');
      env.stabilize();
    }
    assert.ok(!env.node('1').readStates.some((r) => r.context === 'cut'), 'the read is never answered');
    assert.notEqual(env.core('1').role, 'leader', 'and the leader stepped down (CheckQuorum)');
  });

  test('§9.6 PreVote: a partitioned node that returns does not disrupt the leader and does not raise its term', () => {
    for (const preVote of [true, false]) {
      const env = withLeader(3, { preVote });
      const term = env.core('1').term;
      env.isolate('3');
      env.tickAll(5 * ELECTION);
      if (!preVote) {
        // Without PreVote the same partition makes 3 raise its term on every timeout:
        // the assertions below would fail.
        assert.ok(env.core('3').term > term, 'control: without PreVote the isolated node raises its term');
        continue;
      }
      assert.equal(env.core('3').term, term, 'pre-campaigns do not raise the term');
      assert.notEqual(env.core('3').role, 'candidate');
      assert.equal(env.core('1').role, 'leader', 'the majority side keeps its leader');
      env.heal();
      // 3 pre-campaigns again before it hears from the leader. Its log is as up to
      // date as theirs, so only the leader lease (CheckQuorum) makes 1 and 2 refuse.
      env.takeEvents();
      for (let i = 0; i < 2 * ELECTION && sent(env.peekEvents(), (m) => m.type === 'prevote').length === 0; i++) env.tick('3');
      assert.equal(sent(env.peekEvents(), (m) => m.type === 'prevote').length, 2, '3 pre-campaigns after the partition heals');
      env.stabilize();
      const granted = delivered(env.takeEvents(), (m) => m.type === 'prevote-resp' && !m.reject);
      assert.deepEqual(granted, [], 'nodes that hear from a leader do not pre-vote for a challenger');
      env.tickAll(3 * ELECTION);
      assert.equal(env.core('1').role, 'leader', 'the leader was not deposed');
      assert.equal(env.core('1').term, term, 'no term was raised anywhere');
      assert.equal(env.core('3').term, term);
      assert.equal(env.core('3').role, 'follower');
      assert.equal(env.core('3').leader, '1', 'the returning node follows the leader');
    }
  });

  test('CheckQuorum: a leader that hears from no quorum steps down within one election timeout', () => {
    const env = withLeader(3);
    env.tickAll(3 * ELECTION);
    assert.equal(env.core('1').role, 'leader', 'control: a leader in contact with its quorum stays');
    env.isolate('1');
    let ticks = 0;
    while (env.core('1').role === 'leader' && ticks < 3 * ELECTION) {
      env.tick('1');
      env.stabilize();
      ticks++;
    }
    assert.equal(env.core('1').role, 'follower');
    assert.ok(ticks <= ELECTION, `stepped down after ${ticks} ticks, want at most ${ELECTION}`);
    assert.ok(ticks > 1, 'not on the first missed heartbeat');
    assert.equal(env.core('1').leader, NONE);

    // One follower left: still no quorum of 3, still steps down.
    const env2 = withLeader(3);
    env2.crash('2');
    env2.crash('3');
    let t2 = 0;
    while (env2.core('1').role === 'leader' && t2 < 3 * ELECTION) {
      env2.tick('1');
      env2.stabilize();
      t2++;
    }
    assert.ok(t2 <= ELECTION, `stepped down after ${t2} ticks`);
  });

  test('pre-candidate forgets its leader (PreVote+CheckQuorum liveness)', () => {
    const env = withLeader(3);
    env.crash('1');
    while (env.core('2').role === 'follower') env.tick('2');
    assert.equal(env.core('2').role, 'pre-candidate');
    assert.equal(env.core('2').leader, NONE, 'a pre-candidate forgets the leader it had');
    env.drop(); // 2's pre-votes are lost
    // 3 now pre-campaigns and asks 2: a pre-candidate that kept its leader would think
    // itself in the leader's lease and ignore the request, and with 1 gone nobody could win.
    env.takeEvents();
    const t = env.core('3').term;
    env.act('2', (c) => c.step(msg('prevote', '3', '2', t + 1, { index: env.core('3').lastIndex, logTerm: t })));
    const [r] = sent(env.takeEvents(), (m) => m.type === 'prevote-resp');
    assert.ok(r, '2 answers the pre-vote');
    assert.equal(r.reject, false, '2 grants it');
    // And the cluster does elect a new leader.
    tickUntil(env, () => env.leaders().length === 1, 10 * ELECTION);
  });

  test('§3.10 leadership transfer: TimeoutNow makes the target campaign and win; proposals are refused during the transfer', () => {
    const env = withLeader(3);
    assert.equal(env.propose('1', 'x').ok, true);
    env.stabilize();
    const term = env.core('1').term;
    env.takeEvents();
    assert.equal(env.transfer('1', '2'), null);
    assert.deepEqual(sent(env.takeEvents()).map((m) => [m.type, m.to]), [['timeout-now', '2']], 'a caught-up target gets TimeoutNow at once');
    const refused = env.propose('1', 'y');
    assert.equal(!refused.ok && refused.code, 'transfer-in-progress');
    env.stabilize();
    const events = env.takeEvents();
    assert.equal(env.core('2').role, 'leader');
    assert.equal(env.core('2').term, term + 1, 'the target campaigns at once, skipping pre-vote');
    assert.equal(env.core('1').role, 'follower');
    assert.equal(env.core('1').leader, '2');
    const votes = delivered(events, (m) => m.type === 'vote');
    assert.ok(votes.length > 0 && votes.every((m) => m.transfer === true), 'its vote requests say they are a transfer');
    assert.ok(delivered(events, (m) => m.type === 'vote-resp' && m.from === '3' && !m.reject).length === 1, '3 votes although it heard from 1 recently');
    assert.equal(env.propose('2', 'y').ok, true);
    env.stabilize();
    for (const id of ['1', '2', '3']) assert.deepEqual(appliedData(env, id), ['x', 'y']);

    // A target that is behind is caught up first, then told to campaign.
    env.isolate('3');
    assert.equal(env.propose('2', 'z').ok, true);
    env.stabilize();
    env.heal();
    env.takeEvents();
    assert.equal(env.transfer('2', '3'), null);
    env.stabilize();
    const order = delivered(env.takeEvents(), (m) => m.from === '2' && m.to === '3').map((m) => m.type);
    assert.ok(order.indexOf('app') >= 0 && order.indexOf('app') < order.indexOf('timeout-now'), `append before TimeoutNow: ${order.join(',')}`);
    assert.equal(env.core('3').role, 'leader');
    assert.deepEqual(appliedData(env, '3'), ['x', 'y', 'z']);

    // A transfer that does not finish within an election timeout is abandoned.
    env.isolate('1');
    assert.equal(env.transfer('3', '1'), null);
    assert.equal(env.propose('3', 'w').ok, false);
    for (let i = 0; i < ELECTION; i++) {
      env.tick('3');
      env.stabilize();
      env.tick('2');
      env.stabilize();
    }
    assert.equal(env.core('3').role, 'leader');
    assert.equal(env.propose('3', 'w').ok, true, 'proposals are accepted again');
  });
});

// ---------------------------------------------------------------- snapshots, flow control, recovery

describe('Raft: snapshots, flow control and recovery', () => {
  test('§7 a follower behind the compacted log gets InstallSnapshot and catches up', () => {
    const env = withLeader(3);
    env.isolate('3');
    for (const d of ['a', 'b', 'c', 'd']) assert.equal(env.propose('1', d).ok, true);
    env.stabilize();
    assert.equal(env.core('1').commitIndex, 5);
    const { snapshot, firstIndexToKeep } = env.compact('1', 5);
    assert.deepEqual([snapshot.meta.index, snapshot.meta.term, firstIndexToKeep], [5, env.core('1').term, 6]);
    assert.equal(env.core('1').firstIndex, 6, 'the leader forgot entries up to the snapshot');
    env.heal();
    env.takeEvents();
    tickUntil(env, () => env.core('3').commitIndex === 5, 3 * ELECTION);
    const events = env.takeEvents();
    const snaps = delivered(events, (m) => m.type === 'snap' && m.to === '3');
    assert.equal(snaps.length, 1, 'one InstallSnapshot');
    assert.deepEqual(snaps[0].snapshot?.meta, { index: 5, term: env.core('1').term, membership: { voters: ['1', '2', '3'], learners: [] } });
    assert.ok(events.some((e) => e.kind === 'install' && e.node === '3' && e.meta.index === 5), 'Ready.snapshot handed to the state machine');
    assert.equal(env.node('3').disk.snapshot?.meta.index, 5, 'persisted');
    assert.deepEqual(appliedData(env, '3'), ['a', 'b', 'c', 'd'], 'state machine restored from the snapshot');
    assert.equal(env.propose('1', 'e').ok, true);
    env.stabilize();
    assert.deepEqual(appliedData(env, '3'), ['a', 'b', 'c', 'd', 'e'], 'and it follows the log after it');
    assert.equal(env.core('3').firstIndex, 6);
    // A restart from the installed snapshot recovers the same state.
    env.crash('3');
    env.restart('3');
    assert.deepEqual(appliedData(env, '3'), ['a', 'b', 'c', 'd', 'e']);
    assert.equal(env.core('3').lastIndex, 6);
  });

  test('flow control: no more than maxInflight appends in flight; maxMsgBytes bounds a message', () => {
    const maxInflight = 2;
    const maxMsgBytes = 60; // the core counts data length + 16 per entry: 2 entries of 10 bytes fit, 3 do not
    const env = withLeader(3, { maxInflight, maxMsgBytes });
    const appsTo2 = () => env.inflight.filter((m) => m.type === 'app' && m.to === '2' && m.entries.length > 0);
    for (let i = 0; i < 10; i++) assert.equal(env.propose('1', `cmd-${String(i).padStart(6, '0')}`).ok, true);
    assert.equal(appsTo2().length, maxInflight, 'the leader stops at maxInflight unacknowledged appends');
    let maxSeen = 0;
    const all: Message[] = [];
    while (env.inflight.length > 0) {
      const m = env.inflight[0];
      if (m.type === 'app') all.push(m);
      env.deliver((x) => x === m);
      maxSeen = Math.max(maxSeen, appsTo2().length);
    }
    assert.ok(maxSeen <= maxInflight, `at most ${maxInflight} appends in flight to 2, saw ${maxSeen}`);
    for (const m of all) {
      const bytes = m.entries.reduce((n, e) => n + e.data.length + 16, 0);
      assert.ok(m.entries.length <= 1 || bytes <= maxMsgBytes, `an append of ${m.entries.length} entries has ${bytes} bytes > ${maxMsgBytes}`);
    }
    assert.ok(all.some((m) => m.entries.length === 2), 'entries are batched up to the byte limit');
    for (const id of ['1', '2', '3']) assert.equal(env.core(id).commitIndex, 11, `${id} committed everything`);
    // A single entry larger than the limit still goes (alone).
    assert.equal(env.propose('1', 'x'.repeat(200)).ok, true);
    env.stabilize();
    assert.equal(env.core('2').commitIndex, 12);
  });

  test('restart from recovered state keeps term, vote, log and commit', () => {
    const env = withLeader(3);
    for (const d of ['x', 'y']) env.propose('1', d);
    env.stabilize();
    for (const id of ['2', '1']) {
      const before = env.core(id).status();
      const disk = structuredClone(env.node(id).disk);
      env.crash(id);
      env.restart(id);
      const after = env.core(id);
      assert.equal(after.term, before.term, `${id}: term`);
      assert.equal(after.commitIndex, before.commit, `${id}: commit`);
      assert.equal(after.lastIndex, before.lastIndex, `${id}: log`);
      assert.equal(after.role, 'follower', `${id} restarts as a follower`);
      assert.deepEqual(env.node(id).disk, disk, `${id}: restarting writes nothing new`);
      assert.deepEqual(appliedData(env, id), ['x', 'y'], `${id}: committed entries are applied again from the log`);
    }
    // The vote survives: 2 voted for 1 in this term and refuses anyone else in it.
    const term = env.core('2').term;
    assert.equal(env.node('2').disk.hardState.vote, '1');
    env.takeEvents();
    env.act('2', (c) => c.step(msg('vote', '3', '2', term, { index: 10, logTerm: term })));
    const [r] = sent(env.takeEvents(), (m) => m.type === 'vote-resp');
    assert.equal(r?.reject, true, 'no second vote in the same term after a restart');
    // And the restarted cluster goes on.
    tickUntil(env, () => env.leaders().length === 1, 10 * ELECTION);
    const leader = env.leaders()[0];
    assert.equal(env.propose(leader, 'z').ok, true);
    env.stabilize();
    for (const id of ['1', '2', '3']) assert.deepEqual(appliedData(env, id), ['x', 'y', 'z']);
  });
});
