/**
 * Forced reconfiguration (`RaftCore.forceNewConfiguration`, behind the
 * operator's `cluster force-quorum`): after a majority of voters is lost for
 * good, the survivors become a working group again without them.
 *
 * Pure cores driven by hand through the interaction environment (in-memory disk
 * and network; nothing moves unless the test says so): electionTicks 10,
 * heartbeatTicks 1, PreVote and CheckQuorum on.
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Env, type EnvEvent } from './raft-interaction/env.ts';
import { emptyMessage, type ConfEntryData, type Message, type MessageType, type NodeId } from '../../agent/raft/types.ts';

const VOTERS = ['1', '2', '3', '4', '5'];
const LOST = ['1', '2', '3'];

function msg(type: MessageType, from: NodeId, to: NodeId, term: number, fields: Partial<Message> = {}): Message {
  return { ...emptyMessage(type, from, to, term), ...fields };
}

function appliedData(env: Env, id: NodeId): string[] {
  return env.node(id).applied.map((a) => a.data);
}

/** Nodes that became leader in these events. */
function newLeaders(events: readonly EnvEvent[]): NodeId[] {
  return events.flatMap((e) => (e.kind === 'state' && e.role === 'leader' ? [e.node] : []));
}

/**
 * Five voters (plus learner 6 when asked). Node 1 leads; `a` and `b` are
 * committed everywhere; `c` is committed by 1, 2, 3 and 5 but never reaches 4.
 * Then 1, 2 and 3 (the leader among them) are lost: survivors 4 and 5, with 5
 * the more up to date.
 */
function majorityLost(opts: { learner?: boolean } = {}): Env {
  const env = new Env(11);
  env.addNodes(opts.learner ? 6 : 5, { voters: VOTERS, learners: opts.learner ? ['6'] : [] });
  env.campaign('1');
  env.stabilize();
  assert.equal(env.core('1').role, 'leader', 'setup: node 1 leads');
  for (const d of ['a', 'b']) {
    assert.ok(env.propose('1', d).ok);
    env.stabilize();
  }
  assert.ok(env.propose('1', 'c').ok);
  env.stabilize((m) => m.to === '4');
  assert.equal(env.core('1').commitIndex, 4, 'setup: c (index 4) is committed by 1, 2, 3 and 5');
  assert.equal(env.core('4').lastIndex, 3, 'setup: 4 never got c');
  for (const id of LOST) env.crash(id);
  env.stabilize();
  env.takeEvents();
  return env;
}

/** Tick every live node `rounds` times, delivering everything after each round. */
function run(env: Env, rounds: number): void {
  env.tickAll(rounds);
}

describe('forceNewConfiguration: the survivors of a lost majority', () => {
  test('without it the survivors cannot elect a leader or commit', () => {
    const env = majorityLost();
    run(env, 60);
    assert.deepEqual(env.leaders(), [], 'two of five voters cannot elect a leader');
    const r = env.propose('5', 'x');
    assert.equal(!r.ok && r.code, 'not-leader');
    assert.equal(env.core('5').commitIndex, 4);
  });

  test('the most up-to-date survivor leads a new term at once and commits with the survivors alone', () => {
    const env = majorityLost();
    run(env, 30); // the survivors have failed to elect for a while
    const before = env.core('5');
    const term = before.term;
    const last = before.lastIndex;
    assert.equal(env.act('5', (c) => c.forceNewConfiguration(['4', '5'])), null);

    const five = env.core('5');
    assert.equal(five.role, 'leader', 'leader without an election');
    assert.equal(five.term, term + 1, 'in a new term');
    assert.deepEqual(env.node('5').disk.hardState, { term: term + 1, vote: '5', commit: 4 }, 'the new term and its vote are persisted');
    const [conf, noop] = env.node('5').disk.entries.slice(last);
    assert.equal(conf.type, 'conf');
    assert.equal(conf.index, last + 1);
    assert.equal(conf.term, term + 1);
    const data = JSON.parse(conf.data) as ConfEntryData;
    assert.deepEqual(data, { voters: ['4', '5'], learners: [], force: true, removed: ['1', '2', '3'] });
    assert.equal(noop.type, 'noop');
    assert.equal(noop.index, last + 2);
    assert.deepEqual(five.membership, { voters: ['4', '5'], learners: [] }, 'the forced configuration takes effect on append');
    assert.equal(five.commitIndex, 4, 'nothing commits before the other survivor has it');

    env.stabilize();
    assert.equal(five.commitIndex, last + 2, 'the forced entry and the no-op commit with 4 and 5');
    assert.deepEqual(env.core('4').membership, { voters: ['4', '5'], learners: [] }, 'the other survivor adopts the forced configuration');
    assert.equal(env.core('4').leader, '5');

    const p = env.propose('5', 'd');
    assert.ok(p.ok);
    env.stabilize();
    assert.equal(five.commitIndex, p.index, 'a new write commits with only the two survivors');
    for (const id of ['4', '5']) {
      assert.deepEqual(appliedData(env, id), ['a', 'b', 'c', 'd'], `node ${id} holds every entry committed before the loss, and the new one`);
    }
    // It stays that way: CheckQuorum counts only the survivors now.
    run(env, 50);
    assert.deepEqual(env.leaders(), ['5']);
    assert.equal(five.term, term + 1);
  });

  test('learners are kept, and a learner named among the voters becomes one', () => {
    const env = majorityLost({ learner: true });
    assert.equal(env.act('5', (c) => c.forceNewConfiguration(['4', '5'])), null);
    env.stabilize();
    assert.deepEqual(env.core('6').membership, { voters: ['4', '5'], learners: ['6'] });
    assert.ok(env.propose('5', 'd').ok);
    env.stabilize();
    assert.deepEqual(appliedData(env, '6'), ['a', 'b', 'c', 'd'], 'the learner still gets the log');

    const env2 = majorityLost({ learner: true });
    assert.equal(env2.act('5', (c) => c.forceNewConfiguration(['4', '5', '6'])), null);
    assert.deepEqual(env2.core('5').membership, { voters: ['4', '5', '6'], learners: [] });
    env2.stabilize();
    assert.equal(env2.core('5').commitIndex, env2.core('5').lastIndex);
  });

  test('the forced configuration survives a restart of the survivors', () => {
    const env = majorityLost();
    env.act('5', (c) => c.forceNewConfiguration(['4', '5']));
    env.stabilize();
    const commit = env.core('5').commitIndex;
    for (const id of ['4', '5']) {
      env.crash(id);
      env.restart(id);
      assert.deepEqual(env.core(id).membership, { voters: ['4', '5'], learners: [] }, `node ${id} recovers the forced configuration from its log`);
    }
    run(env, 40);
    assert.equal(env.leaders().length, 1, 'the survivors elect a leader among themselves again');
    const leader = env.leaders()[0];
    assert.ok(['4', '5'].includes(leader));
    const p = env.propose(leader, 'e');
    assert.ok(p.ok && p.index > commit);
    env.stabilize();
    assert.deepEqual(appliedData(env, '4'), ['a', 'b', 'c', 'e']);
  });

  test('a single survivor can force a group of one', () => {
    const env = new Env(3);
    env.addNodes(3, { voters: ['1', '2', '3'], learners: [] });
    env.campaign('1');
    env.stabilize();
    assert.ok(env.propose('1', 'a').ok);
    env.stabilize();
    env.crash('2');
    env.crash('3');
    assert.equal(env.act('1', (c) => c.forceNewConfiguration(['1'])), null);
    assert.equal(env.core('1').commitIndex, env.core('1').lastIndex, 'a lone voter commits as soon as its log is durable');
    assert.ok(env.propose('1', 'b').ok);
    assert.deepEqual(appliedData(env, '1'), ['a', 'b']);
  });

  test('refuses voter lists it cannot use, and changes nothing then', () => {
    const env = majorityLost({ learner: true });
    const cases: [NodeId[], RegExp][] = [
      [[], /empty/],
      [['4'], /does not include 5/],
      [['5', '5'], /twice/],
      [['4', '5', '9'], /9 is not a member/],
      [['5', '7', '8'], /7, 8 are not a member/],
    ];
    for (const [voters, reason] of cases) {
      const before = env.core('5').status();
      const r = env.act('5', (c) => c.forceNewConfiguration(voters));
      assert.ok(r, `[${voters.join(',')}] is refused`);
      assert.equal(r.code, 'invalid-forced-configuration');
      assert.ok(r.code === 'invalid-forced-configuration' && reason.test(r.reason), `reason for [${voters.join(',')}]: ${r.code === 'invalid-forced-configuration' ? r.reason : ''}`);
      assert.deepEqual(env.core('5').status(), before, 'a refusal changes nothing');
    }
    assert.equal(env.peekEvents().filter((e) => e.kind === 'send').length, 0, 'a refusal sends nothing');
  });
});

describe('forceNewConfiguration: lost voters that come back', () => {
  /** Force on 5, write `d`, and return the env with the survivors' state noted. */
  function forced(): { env: Env; term: number } {
    const env = majorityLost();
    env.act('5', (c) => c.forceNewConfiguration(['4', '5']));
    env.stabilize();
    assert.ok(env.propose('5', 'd').ok);
    env.stabilize();
    env.takeEvents();
    return { env, term: env.core('5').term };
  }

  test('with their old (lower) term: they learn they are out, never lead, and the survivors keep every committed entry', () => {
    const { env, term } = forced();
    for (const id of LOST) env.restart(id);
    run(env, 100);
    const events = env.takeEvents();
    assert.deepEqual(newLeaders(events), [], 'nobody new became leader');
    assert.deepEqual(env.leaders(), ['5']);
    assert.equal(env.core('5').term, term, 'the survivors were not pushed to a new term');
    for (const id of LOST) {
      assert.deepEqual(env.core(id).membership, { voters: ['4', '5'], learners: [] }, `lost node ${id} learned the forced configuration`);
      assert.equal(env.core(id).role, 'follower');
    }
    assert.ok(env.propose('5', 'e').ok);
    env.stabilize();
    for (const id of ['4', '5']) assert.deepEqual(appliedData(env, id), ['a', 'b', 'c', 'd', 'e'], `survivor ${id} lost nothing`);

    // Even with the survivors' leader gone, the lost nodes do not take over: they are not voters any more.
    env.crash('5');
    run(env, 100);
    assert.deepEqual(newLeaders(env.takeEvents()), [], 'no lost node campaigns its way back');
  });

  test('with a higher term: the survivors neither step down nor follow them', () => {
    const { env, term } = forced();
    // Node 3 comes back in term 50 (it campaigned a lot while cut off, say).
    env.node('3').disk.hardState = { ...env.node('3').disk.hardState, term: 50, vote: '3' };
    env.restart('3');
    run(env, 100);
    const events = env.takeEvents();
    assert.deepEqual(newLeaders(events), [], 'node 3 never leads');
    assert.deepEqual(env.leaders(), ['5']);
    assert.equal(env.core('5').term, term, 'the leader kept its term');
    assert.equal(env.core('4').term, term);
    assert.equal(env.core('4').leader, '5');

    // Messages a lost node could send, in its higher term, straight at the survivors.
    const high = 60;
    env.act('5', (c) => c.step(msg('vote', '3', '5', high, { index: 100, logTerm: high - 1 })));
    env.act('4', (c) => c.step(msg('vote', '3', '4', high, { index: 100, logTerm: high - 1 })));
    env.act('4', (c) => c.step(msg('prevote', '3', '4', high, { index: 100, logTerm: high - 1 })));
    env.act('4', (c) => c.step(msg('app', '3', '4', high, { index: 7, logTerm: 1, commit: 7 })));
    env.act('4', (c) => c.step(msg('heartbeat', '3', '4', high, { commit: 7 })));
    env.act('5', (c) => c.step(msg('app-resp', '3', '5', high, { index: 7 })));
    env.act('5', (c) => c.step(msg('heartbeat', '1', '5', term, { commit: 7 })));
    assert.equal(env.core('5').role, 'leader', 'a same-term heartbeat from a lost node does not trip the leader');
    assert.equal(env.core('5').term, term);
    assert.equal(env.core('4').term, term);
    assert.equal(env.core('4').leader, '5');
    assert.equal(env.core('4').role, 'follower');
    const replies = env.peekEvents().filter((e) => e.kind === 'send' && LOST.includes(e.msg.to));
    assert.deepEqual(replies, [], 'the survivors do not even answer');
    assert.ok(env.propose('5', 'e').ok);
    env.stabilize();
    assert.deepEqual(appliedData(env, '4'), ['a', 'b', 'c', 'd', 'e']);
  });

  test('the fence outlives the compaction of the forced entry', () => {
    const { env, term } = forced();
    const commit = env.core('5').commitIndex;
    env.compact('5', commit);
    env.compact('4', commit);
    env.act('4', (c) => c.step(msg('vote', '2', '4', term + 10, { index: 100, logTerm: term + 9 })));
    env.act('5', (c) => c.step(msg('app-resp', '2', '5', term + 10, { index: 3 })));
    assert.equal(env.core('4').term, term);
    assert.deepEqual(env.leaders(), ['5']);
  });

  test('a node that was not dropped is not fenced: ordinary vote handling still applies', () => {
    // Control for the tests above: the same higher-term vote from a current member does move the follower's term.
    const { env, term } = forced();
    // Cut 4 off long enough that it no longer counts on a live leader (its lease lapses).
    env.isolate('4');
    run(env, 15);
    env.heal();
    env.act('4', (c) => c.step(msg('vote', '5', '4', term + 3, { index: 100, logTerm: term })));
    assert.equal(env.core('4').term, term + 3, 'a member can still raise the term');
  });
});
