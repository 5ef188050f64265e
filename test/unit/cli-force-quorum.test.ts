/**
 * `cluster force-quorum` through main() with a fake IO and an undici
 * MockAgent that fails on unused stubs (and on any request without a stub):
 * parsing, the plan, each refusal's exit code (2, 3, 5) with no POST, the
 * typed cluster name on a terminal, and a run that waits for the new epoch.
 * Plus the pure plan helpers the CLI and the agent share.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { useMockAgent } from './helpers/mock-http.ts';
import type { ClusterView, MemberView, OperationView } from '../../agent/api/wire.ts';
import type { ForceQuorumBody, NodePositionView } from '../../agent/api/wire-admin.ts';
import type { ApiError } from '../../agent/api/errors.ts';
import type { PeerClient } from '../../agent/ha/peers.ts';
import { chooseForcer, choosePrimary, compareRaftPosition, droppedMembers, makeForceQuorum } from '../../agent/procedures/force-quorum.ts';
import type { RaftNode } from '../../agent/raft/node.ts';
import type { ClusterState } from '../../agent/state/cluster-state.ts';
import { main, type Factory } from '../../src/cli.ts';
import { newCmdForceQuorum, type ForceQuorumOptions, type ForceQuorumResult } from '../../src/commands/cluster/force-quorum.ts';
import type { Prompter } from '../../src/prompt.ts';

const A = 'http://127.0.0.1:7001';
const B = 'http://127.0.0.1:7002';
const C = 'http://127.0.0.1:7003';
const URL_OF: Record<string, string> = { n1: A, n2: B, n3: C };

function member(id: string, role: MemberView['role']): MemberView {
  return {
    id, kind: 'voter', role, adminState: 'active', health: role === 'unknown' ? 'unreachable' : 'healthy', timeline: 1, flushLsn: null, replayLsn: null,
    lagBytes: null, lagMs: null, release: '15', region: 'local', apiUrl: URL_OF[id], pg: '127.0.0.1:6001', uptimeS: null,
  };
}

/** n3's local view after n1 (primary) and n2 were lost. */
const LOCAL: ClusterView = {
  name: 'demo', id: 'c-1', epoch: 4, primary: 'n1', leader: null, quorum: { voters: 3, healthy: 1, hasQuorum: false },
  haMode: 'active_active', durability: 'strict', consistency: 'local', staleMs: 5000, writable: false, problem: 'no quorum',
  members: [member('n1', 'unknown'), member('n2', 'unknown'), member('n3', 'replica')],
};

function position(node: string, o: { lastTerm?: number; lastIndex?: number; flushLsn?: string | null; epoch?: number } = {}): NodePositionView {
  return {
    node, kind: 'voter', clusterName: 'demo',
    raft: { lastIndex: o.lastIndex ?? 57, lastTerm: o.lastTerm ?? 3, term: 9, role: 'pre-candidate', leader: null, voters: ['n1', 'n2', 'n3'], learners: [] },
    engine: { running: true, inRecovery: true, initialized: true, flushLsn: o.flushLsn === undefined ? '0/3000148' : o.flushLsn, timeline: 1 },
    epoch: o.epoch ?? 4, primary: 'n1',
  };
}

const OP: OperationView = {
  id: 'force-quorum-x', kind: 'force-quorum', state: 'succeeded', message: 'n3 forms the new configuration (dropped n1, n2); n3 is the primary of epoch 5',
  startedAt: '2026-01-01T00:00:00Z', finishedAt: '2026-01-01T00:00:02Z', result: { epoch: 5, primary: 'n3', voters: ['n3'], dropped: ['n1', 'n2'] },
};

const AFTER: ClusterView = {
  ...LOCAL, epoch: 5, primary: 'n3', leader: 'n3', quorum: { voters: 1, healthy: 1, hasQuorum: true }, consistency: 'linearizable', staleMs: null,
  writable: true, problem: null, members: [{ ...member('n3', 'primary') }],
};

const agent = useMockAgent();

async function run(args: string[], tty = false, prompter?: Prompter): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const f: Factory = {
    io: { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color: false, inIsTTY: tty, errIsTTY: tty },
    env: { RUSTYDB_ENDPOINTS: [A, B, C].join(','), RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
    interrupt: new AbortController().signal,
    prompter,
  };
  const code = await main(args, f);
  return { code, out, err };
}

const refused = () => Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
/** n1 and n2 are down, n3 answers the local view. */
function stubLostMajority(opts: { n2Answers?: boolean } = {}): void {
  agent().get(A).intercept({ path: '/v1/cluster?consistency=local' }).replyWithError(refused());
  agent().get(B).intercept({ path: '/v1/cluster?consistency=local' }).replyWithError(refused());
  agent().get(C).intercept({ path: '/v1/cluster?consistency=local' }).reply(200, LOCAL);
  agent().get(C).intercept({ path: '/v1/node/position' }).reply(200, position('n3'));
  agent().get(A).intercept({ path: '/v1/node/position' }).replyWithError(refused());
  if (opts.n2Answers) agent().get(B).intercept({ path: '/v1/node/position' }).reply(200, position('n2'));
  else agent().get(B).intercept({ path: '/v1/node/position' }).replyWithError(refused());
}

function typing(answer: string, asked: string[] = []): Prompter {
  return {
    confirm: async () => assert.fail('a typed confirmation was expected'),
    input: async (message) => (asked.push(message), answer),
  };
}

test('parsing: --nodes is a comma list; --timeout a duration; the flags reach the run options', async () => {
  let got: ForceQuorumOptions | null = null;
  const f = { io: { out: { write: () => {} }, err: { write: () => {} }, outIsTTY: false, color: false }, env: { RUSTYDB_ENDPOINTS: A }, cwd: '/' } as Factory;
  const root = new Command('x').option('-o, --output <f>', '', 'json').addCommand(newCmdForceQuorum(f, async (o) => void (got = o)));
  await root.parseAsync(['force-quorum', '--nodes', 'n2, n3', '--confirm-data-loss', '--dry-run', '--timeout', '90s'], { from: 'user' });
  assert.deepEqual(got!.nodes, ['n2', 'n3']);
  assert.deepEqual([got!.confirmDataLoss, got!.dryRun, got!.timeoutMs, got!.output], [true, true, 90_000, 'json']);

  assert.equal((await run(['cluster', 'force-quorum'])).code, 2, '--nodes is required');
  assert.equal((await run(['cluster', 'force-quorum', '--nodes', ','])).code, 2, 'an empty list');
  const twice = await run(['cluster', 'force-quorum', '--nodes', 'n3,n3']);
  assert.equal(twice.code, 2);
  assert.match(twice.err, /named twice/);
  assert.equal((await run(['cluster', 'force-quorum', '--nodes', 'n3', '--timeout', 'soon'])).code, 2);
});

test('--nodes naming a non-member exits 2 and lists the members; nothing else is asked', async () => {
  agent().get(A).intercept({ path: '/v1/cluster?consistency=local' }).reply(200, LOCAL);
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n3,n9', '--dry-run']);
  assert.equal(r.code, 2, r.err);
  assert.match(r.err, /--nodes names n9, not a member of cluster demo; members: n1, n2, n3/);
});

test('--dry-run -o json: the plan as one document, and no POST', async () => {
  stubLostMajority();
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--dry-run', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as ForceQuorumResult;
  assert.deepEqual(doc, {
    dryRun: true,
    operation: null,
    cluster: null,
    plan: {
      cluster: 'demo',
      dropped: [
        { id: 'n1', kind: 'voter', apiUrl: A, wasPrimary: true },
        { id: 'n2', kind: 'voter', apiUrl: B, wasPrimary: false },
      ],
      survivors: [{ id: 'n3', kind: 'voter', raft: { lastTerm: 3, lastIndex: 57, term: 9 }, engineRunning: true, flushLsn: '0/3000148', timeline: 1, epoch: 4 }],
      forcer: 'n3',
      primary: 'n3',
      primaryWhy: 'it has the most WAL of the survivors (flush LSN 0/3000148)',
      lastEpoch: 4,
      lastPrimary: 'n1',
      mayLose: 'writes acknowledged after LSN 0/3000148 by the lost primary n1 may be lost',
    },
  });
});

test('--dry-run on a terminal: tables of dropped members and survivors, who forces, who becomes primary, what may be lost', async () => {
  stubLostMajority();
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--dry-run'], true);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /force-quorum plan for cluster demo/);
  assert.match(r.out, /DROP +KIND +LAST ROLE +API\nn1 +voter +primary \(epoch 4\) +http:\/\/127\.0\.0\.1:7001\nn2 +voter +standby/);
  assert.match(r.out, /SURVIVOR +KIND +RAFT TERM\/INDEX +FLUSH LSN +TIMELINE +EPOCH\nn3 +voter +3\/57 +0\/3000148 +1 +4/);
  assert.match(r.out, /forced on: +n3/);
  assert.match(r.out, /new primary: +n3 in epoch 5/);
  assert.match(r.out, /may be lost: +writes acknowledged after LSN 0\/3000148 by the lost primary n1 may be lost/);
  assert.match(r.out, /dry run: nothing was changed/);
});

test('without --confirm-data-loss: exit 3 naming the flag, even on a terminal, and no POST', async () => {
  stubLostMajority();
  let r = await run(['cluster', 'force-quorum', '--nodes', 'n3']);
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /may lose acknowledged writes.*add --confirm-data-loss.*nothing was changed/);
  assert.equal(r.out, '', 'JSON mode: the plan is on stderr, stdout stays empty');
  assert.match(r.err, /force-quorum plan for cluster demo: drop n1, n2/);

  stubLostMajority();
  r = await run(['cluster', 'force-quorum', '--nodes', 'n3'], true, typing('demo'));
  assert.equal(r.code, 3, 'a terminal does not replace the flag');
});

test('a dropped member that answers: exit 5 naming it and where, no POST', async () => {
  stubLostMajority({ n2Answers: true });
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n2 answers at http:\/\/127\.0\.0\.1:7002: it is not lost; include it in --nodes or stop it/);
  assert.doesNotMatch(r.err, /n1 answers/);
});

test('a survivor that does not answer: exit 5 naming it', async () => {
  agent().get(A).intercept({ path: '/v1/cluster?consistency=local' }).reply(200, LOCAL);
  agent().get(B).intercept({ path: '/v1/node/position' }).replyWithError(refused());
  agent().get(C).intercept({ path: '/v1/node/position' }).reply(200, position('n3'));
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n2,n3', '--dry-run']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /survivor n2 at http:\/\/127\.0\.0\.1:7002 .* does not answer: start its agent, or leave it out of --nodes/);
});

test('with a quorum left (2 of 3 survive) there is nothing to force: exit 5 pointing to cluster remove', async () => {
  agent().get(B).intercept({ path: '/v1/cluster?consistency=local' }).reply(200, LOCAL);
  agent().get(B).intercept({ path: '/v1/node/position' }).reply(200, position('n2'));
  agent().get(C).intercept({ path: '/v1/node/position' }).reply(200, position('n3'));
  agent().get(A).intercept({ path: '/v1/node/position' }).replyWithError(refused());
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n2,n3', '--confirm-data-loss', '--endpoint', B]);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /2 of 3 voters survive, a quorum.*cluster remove n1/);
});

test('on a terminal the cluster name must be typed: a wrong name exits 3 with no POST; the right one forces, waits for the new epoch, prints the result', async () => {
  stubLostMajority();
  const asked: string[] = [];
  let r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss'], true, typing('prod', asked));
  assert.equal(r.code, 3, r.err);
  assert.match(asked[0], /drop n1, n2 from cluster demo and make n3 primary.*Type demo to confirm/);
  assert.match(r.err, /you typed "prod", not "demo"/);

  stubLostMajority();
  let sent: ForceQuorumBody | null = null;
  agent()
    .get(C)
    .intercept({ path: '/v1/node/force-quorum', method: 'POST', body: (b) => ((sent = JSON.parse(b) as ForceQuorumBody), true) })
    .reply(200, OP);
  // Not yet writable on the first poll, then the new epoch.
  agent().get(C).intercept({ path: '/v1/cluster' }).reply(200, { ...AFTER, writable: false, problem: 'n3 is promoting' });
  agent().get(C).intercept({ path: '/v1/cluster' }).reply(200, AFTER);
  r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss'], true, typing('demo'));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual({ ...sent!, request_id: 'x' }, { cluster: 'demo', voters: ['n3'], dropped: ['n1', 'n2'], primary: 'n3', request_id: 'x' });
  assert.match(sent!.request_id, /^[0-9a-f-]{36}$/);
  assert.match(r.out, /done: n3 forms the new configuration \(dropped n1, n2\); n3 is the primary of epoch 5/);
  assert.match(r.out, /quorum: 1\/1 voters healthy, has_quorum=true/);
});

test('without a terminal, --confirm-data-loss goes ahead without a prompt; -o json prints plan, operation and cluster', async () => {
  stubLostMajority();
  agent().get(C).intercept({ path: '/v1/node/force-quorum', method: 'POST' }).reply(200, OP);
  agent().get(C).intercept({ path: '/v1/cluster' }).reply(200, AFTER);
  const r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss', '-o', 'json'], false, typing('never asked'));
  assert.equal(r.code, 0, r.err);
  const doc = JSON.parse(r.out) as ForceQuorumResult;
  assert.equal(doc.dryRun, false);
  assert.deepEqual(doc.operation, OP);
  assert.deepEqual(doc.cluster, AFTER);
  assert.equal(doc.plan.primary, 'n3');
});

test('the agent refusing the plan (412) exits 5 with its message; a primary that never turns writable exits 7', async () => {
  stubLostMajority();
  agent()
    .get(C)
    .intercept({ path: '/v1/node/force-quorum', method: 'POST' })
    .reply(412, { error: { code: 'RDB_ERR_PRECONDITION', message: 'n2 at http://127.0.0.1:7002 answers: not lost' } });
  let r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n2 at http:\/\/127\.0\.0\.1:7002 answers: not lost/);

  stubLostMajority();
  agent().get(C).intercept({ path: '/v1/node/force-quorum', method: 'POST' }).reply(200, OP);
  agent().get(C).intercept({ path: '/v1/cluster' }).reply(200, { ...AFTER, writable: false, problem: 'n3 is promoting' }).persist();
  r = await run(['cluster', 'force-quorum', '--nodes', 'n3', '--confirm-data-loss', '--timeout', '300ms']);
  assert.equal(r.code, 7, r.err);
  assert.match(r.err, /n3 did not accept writes in epoch 5 before --timeout.*n3 is promoting/);
});

// ---------------------------------------------------------------------------
// The shared plan helpers

test('plan helpers: the forcer has the greatest (lastTerm, lastIndex); dropped are the voters and witnesses not listed', () => {
  assert.ok(compareRaftPosition({ lastTerm: 4, lastIndex: 1 }, { lastTerm: 3, lastIndex: 99 }) > 0);
  assert.ok(compareRaftPosition({ lastTerm: 3, lastIndex: 9 }, { lastTerm: 3, lastIndex: 10 }) < 0);
  const f = chooseForcer([position('n3', { lastTerm: 3, lastIndex: 60 }), position('n2', { lastTerm: 4, lastIndex: 50 }), position('n4', { lastTerm: 4, lastIndex: 50 })]);
  assert.equal(f.node, 'n2', 'higher term wins; ties go to the smallest id');
  const members = [
    { id: 'n1', kind: 'voter' as const, adminState: 'active' as const },
    { id: 'n2', kind: 'observer' as const, adminState: 'active' as const },
    { id: 'w1', kind: 'witness' as const, adminState: 'active' as const },
    { id: 'n5', kind: 'voter' as const, adminState: 'removed' as const },
    { id: 'n6', kind: 'voter' as const, adminState: 'joining' as const },
    { id: 'n3', kind: 'voter' as const, adminState: 'active' as const },
  ];
  assert.deepEqual(droppedMembers(members, ['n3']), ['n1', 'w1']);
});

test('plan helpers: the new primary is the surviving old primary, else the most WAL among database survivors', () => {
  const m = (id: string, kind: 'voter' | 'witness' = 'voter', tags: string[] = []) => ({ id, kind, adminState: 'active' as const, tags });
  const members = [m('n1'), m('n2'), m('n3'), m('w1', 'witness'), m('n4', 'voter', ['nofailover'])];
  // The old primary survives (stopped after fencing itself: no LSN) and wins over a standby with a known LSN.
  let c = choosePrimary([position('n1', { flushLsn: null }), position('n2', { flushLsn: '0/5000000' })], members);
  assert.equal(c.node, 'n1');
  assert.match(c.why, /primary of epoch 4/);
  // Otherwise: the greatest flush LSN (compared as LSNs, not strings); witnesses and nofailover never.
  c = choosePrimary([position('n2', { flushLsn: '0/9000000' }), position('n3', { flushLsn: '0/10000000' }), position('n4', { flushLsn: '1/0' }), { ...position('w1', { flushLsn: null }) }], members);
  assert.equal(c.node, 'n3');
  // No LSN known among the fit: nobody, and says so.
  c = choosePrimary([position('n2', { flushLsn: null })], members);
  assert.equal(c.node, null);
  assert.match(c.why, /reports a WAL position/);
  c = choosePrimary([position('w1')], members);
  assert.equal(c.node, null);
  assert.match(c.why, /w1: a witness/);
});

// ---------------------------------------------------------------------------
// The agent side re-checks the plan before forcing anything

function agentUnderTest(o: { voters?: string[]; observeAnswers?: string[] } = {}) {
  const forced: string[][] = [];
  const members = ['n1', 'n2', 'n3'].map((id) => ({ id, kind: 'voter' as const, apiUrl: URL_OF[id], pgHost: '127.0.0.1', pgPort: 6000, region: 'local', weight: 1, tags: [], adminState: 'active' as const }));
  const fq = makeForceQuorum({
    nodeId: 'n3',
    kind: 'voter',
    clusterName: 'demo',
    raft: {
      logPosition: () => ({ lastIndex: 57, lastTerm: 3, term: 9 }),
      status: () => ({ role: 'pre-candidate', leader: '', membership: { voters: o.voters ?? ['n1', 'n2', 'n3'], learners: [] } }) as unknown as ReturnType<RaftNode['status']>,
      forceNewConfiguration: async (v: string[]) => void forced.push(v),
    },
    state: {} as ClusterState, // never reached by a refusal
    loop: {
      engine: { ...position('n3').engine, streamingFrom: null, following: 'n1', replayLsn: null, version: '15', syncStandbyNames: null, replicas: [], problem: null, startedAt: null },
      snapshot: { identity: null, config: null, primary: { value: { node: 'n1', epoch: 4, since: '', reason: 'bootstrap', sync: { k: 1, standbys: ['n2', 'n3'] } }, version: 3 }, members, failoverRequest: null },
      prepare: async () => assert.fail('nothing is held before the checks pass'),
      release: () => {},
      wake: () => {},
    },
    peers: {
      observe: async (url: string) => {
        if ((o.observeAnswers ?? []).includes(url)) return {} as Awaited<ReturnType<PeerClient['observe']>>;
        throw new Error('ECONNREFUSED');
      },
      prepare: async () => assert.fail('nothing is held before the checks pass'),
      release: async () => {},
      wake: async () => {},
    },
    logger: { info: () => {}, warn: () => {} },
  });
  return { fq, forced };
}

const BODY: ForceQuorumBody = { cluster: 'demo', voters: ['n3'], dropped: ['n1', 'n2'], primary: 'n3', request_id: 'r1' };

test('agent: position reports the Raft log end, the engine and the last epoch it saw', () => {
  const p = agentUnderTest().fq.position();
  assert.deepEqual(p, { ...position('n3'), raft: { ...position('n3').raft, term: 9 } });
});

test('agent: each refusal is a 412 that says what to do, and nothing is forced', async () => {
  const refuses = async (body: ForceQuorumBody, re: RegExp, o?: Parameters<typeof agentUnderTest>[0]) => {
    const { fq, forced } = agentUnderTest(o);
    await assert.rejects(fq.forceQuorum(body), (e: ApiError) => (assert.match(e.message, re), assert.ok(e.status === 412 || e.status === 400, `${e.status}`), true));
    assert.deepEqual(forced, []);
  };
  await refuses({ ...BODY, cluster: 'prod' }, /n3 belongs to cluster "demo", not "prod"/);
  await refuses({ ...BODY, dropped: ['n1'] }, /plan is out of date: .* would drop n1, n2, the request drops n1/);
  await refuses({ ...BODY, voters: ['n2', 'n3'], dropped: ['n1'] }, /2 of 3 voters, a quorum.*cluster remove/);
  await refuses({ ...BODY, voters: ['n1', 'n2'], dropped: ['n3'] }, /n3 is not among the survivors/);
  await refuses(BODY, /n2 at http:\/\/127\.0\.0\.1:7002 answers: not lost/, { observeAnswers: [B] });
});
