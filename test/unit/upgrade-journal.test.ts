/**
 * The rolling-upgrade journal (agent/upgrade-journal.ts): the plan as a pure
 * function of the members (observers, followers by id, primary last; done
 * for nodes on the target), the refusals before anything changes, what a
 * resumed run does next (follow, skip, switchover, abort, finish), and the
 * journal routes' compare-and-set through app.inject (409 on a stale
 * revision, one running upgrade at a time, idempotent retries).
 */

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { buildApp } from '../../agent/api/app.ts';
import type { ApiDeps } from '../../agent/api/deps.ts';
import type { ClusterView, MemberView } from '../../agent/api/wire.ts';
import { beginNodeStep, FORCE_QUORUM_STALE_MS, gateProblem, nextAction, planProblems, planUpgrade, procedureConflict, runsVersion, switchoverTarget, UPGRADE_JOURNAL_PATH, type UpgradeJournal } from '../../agent/upgrade-journal.ts';
import { MemoryStore } from './helpers/secured-app.ts';

function m(id: string, o: Partial<MemberView> = {}): MemberView {
  return {
    id, kind: 'voter', role: 'replica', adminState: 'active', health: 'healthy', timeline: 1, flushLsn: '0/1', replayLsn: '0/1', lagBytes: 0, lagMs: 0,
    release: '15.17', region: 'local', apiUrl: `http://127.0.0.1:70${id.slice(1).padStart(2, '0')}`, pg: '127.0.0.1:6001', uptimeS: 1, ...o,
  };
}

function view(members: MemberView[], primary = 'n1'): ClusterView {
  return {
    name: 'demo', id: 'c', epoch: 2, primary, leader: primary, quorum: { voters: 3, healthy: 3, hasQuorum: true }, haMode: 'active_active', durability: 'strict',
    consistency: 'linearizable', staleMs: null, writable: true, problem: null, members,
  };
}

const THREE = view([m('n3'), m('n1', { role: 'primary', lagBytes: null }), m('n2'), m('w1', { kind: 'witness', release: null }), m('o1', { kind: 'observer' })]);

function journal(o: Partial<UpgradeJournal> = {}): UpgradeJournal {
  return { id: 'upgrade-1', version: '15.18', state: 'running', plan: planUpgrade(THREE, '15.18'), switchover: null, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', message: 'planned', revision: 0, ...o };
}

describe('plan', () => {
  test('observers first, then followers by id, then the primary; witnesses are left out', () => {
    const plan = planUpgrade(THREE, '15.18');
    assert.deepEqual(plan.map((s) => [s.node, s.role, s.step]), [['o1', 'observer', 'pending'], ['n2', 'follower', 'pending'], ['n3', 'follower', 'pending'], ['n1', 'primary', 'pending']]);
    assert.ok(plan.every((s) => s.from === '15.17' && s.to === null));
  });

  test('a node already on the target is planned done (a re-run picks up where the cluster is)', () => {
    const plan = planUpgrade(view([m('n1', { role: 'primary' }), m('n2', { release: '15.18 (Debian 15.18-0+deb12u1)' }), m('n3')]), '15.18');
    assert.deepEqual(plan.map((s) => [s.node, s.step, s.to]), [['n2', 'done', '15.18'], ['n3', 'pending', null], ['n1', 'pending', null]]);
    assert.equal(runsVersion('15.18 (Debian 15.18-0+deb12u1)', '15.18'), true);
    assert.equal(runsVersion('15.17', '15.18'), false);
  });

  test('refused before anything changes: a major change, no quorum, an unhealthy member, no follower to switch over to', () => {
    assert.deepEqual(planProblems(THREE, '15.18'), []);
    assert.match(planProblems(THREE, '16.4').map((p) => p.detail).join(), /another major version/);
    const sick = view([m('n1', { role: 'primary' }), m('n2', { health: 'unreachable' }), m('n3')]);
    sick.quorum = { voters: 3, healthy: 1, hasQuorum: false };
    assert.deepEqual(planProblems(sick, '15.18').map((p) => p.check), ['quorum', 'healthy']);
    assert.deepEqual(planProblems(view([m('n1', { role: 'primary' }), m('o1', { kind: 'observer' })]), '15.18').map((p) => p.check), ['switchover target']);
  });
});

describe('resume', () => {
  const upgraded = (ids: string[], primary = 'n1') => view(THREE.members.map((x) => (ids.includes(x.id) ? { ...x, release: '15.18' } : x)), primary);

  test('continues after the last completed step; a step in flight is followed by its operation, not started again', () => {
    const j = journal();
    j.plan[0] = { ...j.plan[0], step: 'done', to: '15.18' };
    assert.deepEqual(nextAction(j, upgraded(['o1'])), { kind: 'upgrade', index: 1 });
    j.plan[1] = { ...j.plan[1], step: 'upgrading', operation: 'op-n2' };
    assert.deepEqual(nextAction(j, upgraded(['o1'])), { kind: 'follow', index: 1, operation: 'op-n2' });
  });

  test('a node that already runs the target is not upgraded again (the CLI died before it wrote the operation)', () => {
    const j = journal();
    j.plan[0] = { ...j.plan[0], step: 'done' };
    j.plan[1] = { ...j.plan[1], step: 'upgrading', operation: null };
    assert.deepEqual(nextAction(j, upgraded(['o1', 'n2'])), { kind: 'skip', index: 1, release: '15.18' });
  });

  test('the node that is primary now hands over first, to the least-behind upgraded follower; then it is upgraded', () => {
    const j = journal();
    for (let i = 0; i < 3; i++) j.plan[i] = { ...j.plan[i], step: 'done', to: '15.18' };
    const v = upgraded(['o1', 'n2', 'n3']);
    v.members.find((x) => x.id === 'n3')!.lagBytes = 0;
    v.members.find((x) => x.id === 'n2')!.lagBytes = 4096;
    assert.deepEqual(nextAction(j, v), { kind: 'switchover', index: 3, operation: null });
    assert.equal(switchoverTarget(v, '15.18')?.id, 'n3');
    j.plan[3].step = 'switchover';
    j.switchover = { from: 'n1', to: 'n3', operation: 'op-sw', startedAt: j.startedAt, durationMs: null };
    assert.deepEqual(nextAction(j, v), { kind: 'switchover', index: 3, operation: 'op-sw' });
    assert.deepEqual(nextAction(j, upgraded(['o1', 'n2', 'n3'], 'n3')), { kind: 'upgrade', index: 3 });
    j.plan[3] = { ...j.plan[3], step: 'done' };
    assert.deepEqual(nextAction(j, upgraded(['o1', 'n2', 'n3', 'n1'], 'n3')), { kind: 'finish' });
  });

  test('abort: stops before the next node; a node in flight is finished first', () => {
    const j = journal({ state: 'aborting' });
    j.plan[0] = { ...j.plan[0], step: 'done' };
    assert.deepEqual(nextAction(j, THREE), { kind: 'abort' });
    j.plan[1] = { ...j.plan[1], step: 'upgrading', operation: 'op-n2' };
    assert.deepEqual(nextAction(j, THREE), { kind: 'follow', index: 1, operation: 'op-n2' });
  });

  test('the health gate: streaming under the lag threshold, quorum, writable', () => {
    assert.equal(gateProblem(THREE, 'n2', 1024), null);
    assert.match(gateProblem(view([m('n1', { role: 'primary' }), m('n2', { lagBytes: 5000 })]), 'n2', 1024) ?? '', /5000 bytes behind/);
    assert.match(gateProblem(view([m('n1', { role: 'primary' }), m('n2', { role: 'stopped', lagBytes: null })]), 'n2', 1024) ?? '', /not streaming/);
    assert.match(gateProblem({ ...THREE, writable: false }, 'n2', 1024) ?? '', /not writable/);
  });
});

describe('journal routes', () => {
  async function app() {
    const store = new MemoryStore();
    const a = buildApp({} as ApiDeps, { procedures: store });
    const put = async (j: UpgradeJournal, requestId?: string) => a.inject({ method: 'PUT', url: UPGRADE_JOURNAL_PATH, payload: { ...j, ...(requestId ? { request_id: requestId } : {}) } });
    const get = async () => (await a.inject({ method: 'GET', url: UPGRADE_JOURNAL_PATH })).json() as { journal: UpgradeJournal | null };
    return { a, store, put, get };
  }

  test('GET before any upgrade: null; PUT at revision 0 creates it; the answer carries the new revision', async () => {
    const { a, put, get } = await app();
    assert.deepEqual(await get(), { journal: null, blockedBy: null });
    const res = await put(journal());
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.json().revision, 1);
    assert.equal((await get()).journal?.revision, 1);
    await a.close();
  });

  test('compare-and-set: a stale revision is 409 naming the journal, and nothing is written', async () => {
    const { a, put, get } = await app();
    await put(journal());
    assert.equal((await put({ ...journal({ message: 'step 1' }), revision: 1 })).statusCode, 200);
    const stale = await put({ ...journal({ message: 'lost update' }), revision: 1 });
    assert.equal(stale.statusCode, 409);
    assert.equal(stale.json().error.code, 'RDB_ERR_CONFLICT');
    assert.match(stale.json().error.message, /changed since revision 1.*upgrade-1 to 15\.18 \(running, revision 2\)/);
    assert.equal((await get()).journal?.message, 'step 1');
    await a.close();
  });

  test('one upgrade at a time: another id while one runs is 409 naming it; after it ended, a new one may replace it', async () => {
    const { a, put } = await app();
    await put(journal());
    const second = await put({ ...journal({ id: 'upgrade-2' }), revision: 1 });
    assert.equal(second.statusCode, 409);
    assert.equal(second.json().error.details.id, 'upgrade-1');
    assert.match(second.json().error.message, /another upgrade is running/);
    assert.equal((await put({ ...journal({ state: 'succeeded' }), revision: 1 })).statusCode, 200);
    assert.equal((await put({ ...journal({ id: 'upgrade-2' }), revision: 2 })).statusCode, 200);
    await a.close();
  });

  test('a retried PUT with the same request_id is applied once and not refused by its own first write', async () => {
    const { a, store, put } = await app();
    const first = await put(journal({ message: 'x' }), 'req-1');
    const again = await put(journal({ message: 'x' }), 'req-1');
    assert.equal(first.statusCode, 200);
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json().revision, 1);
    assert.equal(store.data.get('/rustydb/procedures/upgrade')?.version, 1);
    await a.close();
  });

  test('an invalid journal is a 400 naming the field', async () => {
    const { a, put } = await app();
    const res = await put({ ...journal(), state: 'paused' as UpgradeJournal['state'] });
    assert.equal(res.statusCode, 400);
    assert.match(res.json().error.message, /field "state"/);
    await a.close();
  });
});

describe('abort race: abort means "stop after the current node"', () => {
  test('the step starts in one write: upgrading and its operation id together, so it can always be followed', () => {
    const j = journal();
    j.plan[0] = { ...j.plan[0], step: 'done' };
    beginNodeStep(j, 1, 'upgrade-n2-abc', '15.17', '2026-01-01T00:00:01.000Z');
    assert.deepEqual([j.plan[1].step, j.plan[1].operation, j.plan[1].startedAt], ['upgrading', 'upgrade-n2-abc', '2026-01-01T00:00:01.000Z']);
    assert.deepEqual(nextAction({ ...j, state: 'aborting' }, THREE), { kind: 'follow', index: 1, operation: 'upgrade-n2-abc' });
  });

  test('aborting with a node marked upgrading but no operation id (an older run died between the two writes): the node is finished, not abandoned', () => {
    const j = journal({ state: 'aborting' });
    j.plan[0] = { ...j.plan[0], step: 'done' };
    j.plan[1] = { ...j.plan[1], step: 'upgrading', operation: null };
    // Before the fix this was { kind: 'abort' }: the journal ended aborted while the agent could still be upgrading n2.
    assert.deepEqual(nextAction(j, THREE), { kind: 'upgrade', index: 1 });
    // ... and if it already runs the target, it is marked done; only then does the abort take effect.
    const upgraded = view(THREE.members.map((x) => (x.id === 'n2' ? { ...x, release: '15.18' } : x)));
    assert.deepEqual(nextAction(j, upgraded), { kind: 'skip', index: 1, release: '15.18' });
    j.plan[1] = { ...j.plan[1], step: 'done' };
    assert.deepEqual(nextAction(j, upgraded), { kind: 'abort' });
  });

  test('aborting when the marked node became the primary meanwhile: its agent refuses primaries, nothing runs there, so the abort takes effect', () => {
    const j = journal({ state: 'aborting' });
    j.plan[0] = { ...j.plan[0], step: 'done' };
    j.plan[1] = { ...j.plan[1], step: 'upgrading', operation: null };
    assert.deepEqual(nextAction(j, view(THREE.members, 'n2')), { kind: 'abort' });
  });
});

describe('other procedures hold upgrades back', () => {
  const now = Date.parse('2026-01-01T01:00:00.000Z');
  const req = { requestId: 'r-1', to: 'n3', force: false, fromEpoch: 4, requestedAt: '2026-01-01T00:59:59.000Z' };
  const fq = (o: Partial<{ state: string; startedAt: string }> = {}) => ({ id: 'force-quorum-q1', kind: 'force-quorum', state: 'running', startedAt: '2026-01-01T00:59:00.000Z', ...o });

  test('a switchover/failover request of the current epoch is pending: named, with what to do', () => {
    const c = procedureConflict({ failoverRequest: req, epoch: 4, operations: [], now });
    assert.equal(c?.kind, 'failover-request');
    assert.match(c?.message ?? '', /a switchover\/failover to n3 \(request r-1.*has not finished: wait/);
    assert.match(procedureConflict({ failoverRequest: { ...req, force: true, to: null }, epoch: 4, operations: [], now })?.message ?? '', /^a forced failover \(request r-1/);
  });

  test('a request left behind for an older epoch is spent (the HA loop ignores it): no conflict', () => {
    assert.equal(procedureConflict({ failoverRequest: req, epoch: 5, operations: [], now }), null);
  });

  test('a running force-quorum is named; a finished or abandoned one is not; other operations do not count', () => {
    assert.equal(procedureConflict({ failoverRequest: null, epoch: 4, operations: [fq()], now })?.id, 'force-quorum-q1');
    assert.equal(procedureConflict({ failoverRequest: null, epoch: 4, operations: [fq({ state: 'succeeded' })], now }), null);
    assert.equal(procedureConflict({ failoverRequest: null, epoch: 4, operations: [fq({ startedAt: new Date(now - FORCE_QUORUM_STALE_MS - 1).toISOString() })], now }), null);
    const others = [{ id: 'op-x', kind: 'switchover', state: 'running', startedAt: '2026-01-01T00:59:00.000Z' }, { id: 'upgrade-n2-1', kind: 'upgrade', state: 'running', startedAt: '2026-01-01T00:59:00.000Z' }];
    assert.equal(procedureConflict({ failoverRequest: null, epoch: 4, operations: others, now }), null);
  });

  test('GET /v1/procedures/upgrade says what holds upgrades back, from the replicated state', async () => {
    const store = new MemoryStore();
    const a = buildApp({} as ApiDeps, { procedures: store });
    const get = async () => (await a.inject({ method: 'GET', url: UPGRADE_JOURNAL_PATH })).json() as { blockedBy: { kind: string; id: string; message: string } | null };
    await store.put('/rustydb/primary', JSON.stringify({ node: 'n1', epoch: 4, since: '', reason: 'bootstrap', sync: { k: 1, standbys: ['n2'] } }));
    assert.equal((await get()).blockedBy, null);
    await store.put('/rustydb/failover-request', JSON.stringify(req));
    assert.deepEqual([(await get()).blockedBy?.kind, (await get()).blockedBy?.id], ['failover-request', 'r-1']);
    await store.delete('/rustydb/failover-request');
    await store.put('/rustydb/operations/force-quorum-q1', JSON.stringify({ ...fq({ startedAt: new Date().toISOString() }), message: 'forcing', finishedAt: null, result: null }));
    assert.equal((await get()).blockedBy?.kind, 'force-quorum');
    await a.close();
  });
});
