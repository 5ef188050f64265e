/**
 * `cluster status | history | failover` and `node status` through main()
 * with a fake IO (terminal and not) and an undici MockAgent that fails on
 * unused stubs: output shapes, exit codes per error class, no request when a
 * confirmation is missing.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useMockAgent } from './helpers/mock-http.ts';
import type { ClusterView, MemberView, NodeView, OperationView } from '../../agent/api/wire.ts';
import { main, type Factory } from '../../src/cli.ts';
import type { Prompter } from '../../src/prompt.ts';

const A = 'http://127.0.0.1:7001';
const B = 'http://127.0.0.1:7002';
const C = 'http://127.0.0.1:7003';

function member(id: string, role: MemberView['role'], apiUrl: string, lagBytes: number | null): MemberView {
  return {
    id, kind: 'voter', role, adminState: 'active', health: 'healthy', timeline: 1, flushLsn: '0/3000060', replayLsn: role === 'primary' ? null : '0/3000060',
    lagBytes, lagMs: lagBytes === null ? null : 0, release: '16', region: 'local', apiUrl, pg: '127.0.0.1:6001', uptimeS: 60,
  };
}

const CLUSTER: ClusterView = {
  name: 'demo', id: 'c-1', epoch: 4, primary: 'n1', leader: 'n1', quorum: { voters: 3, healthy: 3, hasQuorum: true },
  haMode: 'active_passive', durability: 'strict', consistency: 'linearizable', staleMs: null, writable: true, problem: null,
  members: [member('n1', 'primary', A, null), member('n2', 'replica', B, 0), member('n3', 'replica', C, null)],
};

const NODE: NodeView = {
  ...member('n2', 'replica', B, 0),
  engine: { running: true, inRecovery: true, timeline: 1, flushLsn: '0/3000060', replayLsn: '0/3000060', streamingFrom: 'n1', following: 'n1', version: '16.4', syncStandbyNames: null, replicas: [], initialized: true, problem: null, startedAt: '2026-01-01T00:00:00Z' },
  raft: { term: 7, role: 'follower', leader: 'n1', commit: 40, applied: 40 },
  engineHeld: false,
  progress: null,
  decision: null,
};

const op = (state: OperationView['state'], message: string, kind: OperationView['kind'] = 'switchover'): OperationView => ({
  id: 'op-1', kind, state, message, startedAt: '2026-01-01T00:00:00Z', finishedAt: state === 'succeeded' || state === 'failed' ? '2026-01-01T00:00:05Z' : null, result: null,
});

const agent = useMockAgent();

/** Run the CLI against the stubs with a fake IO; endpoints A,B,C unless the args say otherwise. */
async function run(args: string[], tty = false, interrupt?: AbortController, color = false, prompter?: Prompter): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const f: Factory = {
    // A terminal is a terminal on all three streams (a person at the keyboard); a prompter answers for them.
    io: { out: { write: (s: string) => ((out += s), interrupt?.abort()) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color, inIsTTY: tty, errIsTTY: tty },
    env: { RUSTYDB_ENDPOINTS: [A, B, C].join(','), RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
    interrupt: interrupt?.signal,
    prompter,
  };
  const code = await main(args, f);
  return { code, out, err };
}

const stubCluster = (origin = A, view: ClusterView = CLUSTER) => agent().get(origin).intercept({ path: '/v1/cluster' }).reply(200, view);

test('cluster status -o json prints the ClusterView as the API returned it, one document', async () => {
  stubCluster();
  const r = await run(['cluster', 'status', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), CLUSTER);
});

test('cluster status on a terminal: header with quorum, and a row per member', async () => {
  stubCluster();
  const r = await run(['cluster', 'status'], true);
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /cluster: +demo \(c-1\)/);
  assert.match(r.out, /primary: +n1 +epoch 4 +leader n1/);
  assert.match(r.out, /3\/3 voters healthy, has_quorum=true/);
  assert.match(r.out, /ha_mode: +active_passive/);
  assert.match(r.out, /state: +writable/);
  assert.match(r.out, /ID +KIND +ROLE +STATE +HEALTH +LAG BYTES +LAG TIME +TIMELINE +RELEASE +REGION +UPTIME/);
  assert.match(r.out, /n2 +voter +replica +active +healthy +0 +0 ms +1 +16 +local +1m00s/);
  assert.match(r.out, /n3 .* - +- +1 +16/);
});

test('cluster status piped: JSON by default; -o table gives tab-separated member rows, no colour', async () => {
  stubCluster();
  let r = await run(['cluster', 'status']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), CLUSTER, 'one JSON document when stdout is not a terminal');
  stubCluster();
  r = await run(['cluster', 'status', '-o', 'table']);
  assert.ok(r.out.includes('n1\tvoter\tprimary\tactive\thealthy\t-\t-\t1\t16\tlocal\t1m00s\n'), r.out);
  assert.doesNotMatch(r.out, /\x1b\[/);
});

test('cluster status --watch on a terminal redraws until interrupted, then exits 130; --no-color drops colour', async () => {
  stubCluster();
  const r = await run(['--no-color', 'cluster', 'status', '--watch'], true, new AbortController(), true);
  assert.equal(r.code, 130);
  assert.ok(r.out.startsWith('\x1b[H\x1b[2J'), 'clears the screen before drawing');
  assert.match(r.out, /Ctrl-C to stop/);
  assert.doesNotMatch(r.out.slice(10), /\x1b\[/, 'no colour codes after the clear');
  stubCluster();
  assert.match((await run(['cluster', 'status'], true, undefined, true)).out, /\x1b\[32mwritable/, 'colour on a terminal by default');
});

test('the first endpoint refusing: the next one answers', async () => {
  agent().get(A).intercept({ path: '/v1/cluster' }).replyWithError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
  stubCluster(B);
  const r = await run(['cluster', 'status', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).name, 'demo');
});

test('exit codes: unreachable 8, no quorum 5, auth 4, conflict 6, bad --endpoint 2', async () => {
  const refuse = (o: string) => agent().get(o).intercept({ path: '/v1/cluster' }).replyWithError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
  refuse(A), refuse(B), refuse(C);
  let r = await run(['cluster', 'status']);
  assert.equal(r.code, 8);
  assert.match(r.err, /127\.0\.0\.1:7001 \(ECONNREFUSED\).*127\.0\.0\.1:7003/);
  assert.equal(r.out, '');

  // Every agent answers "no quorum" (a read moves on to the next endpoint after a 503).
  for (const o of [A, B, C]) agent().get(o).intercept({ path: '/v1/cluster' }).reply(503, { error: { code: 'RDB_ERR_NO_QUORUM', message: 'no quorum' } });
  assert.equal((await run(['cluster', 'status'])).code, 5);
  agent().get(A).intercept({ path: '/v1/history?limit=100' }).reply(401, { error: { code: 'RDB_ERR_UNAUTHORIZED', message: 'no token' } });
  assert.equal((await run(['cluster', 'history'])).code, 4);
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(409, { error: { code: 'RDB_ERR_CONFLICT', message: 'switchover op-0 is running' } });
  r = await run(['cluster', 'failover']);
  assert.equal(r.code, 6);
  assert.match(r.err, /op-0 is running/);
  assert.equal((await run(['cluster', 'status', '--endpoint', 'not a url'])).code, 2);
});

test('cluster failover --to n2: switchover, follows the operation, progress on stderr, final op on stdout', async () => {
  agent()
    .get(A)
    .intercept({ path: '/v1/cluster/switchover', method: 'POST', body: (b) => JSON.parse(b).to === 'n2' && typeof JSON.parse(b).request_id === 'string' })
    .reply(202, op('pending', 'recorded'), { headers: { location: '/v1/operations/op-1' } });
  agent().get(A).intercept({ path: '/v1/operations/op-1' }).reply(200, op('running', 'demoting n1'));
  agent().get(A).intercept({ path: '/v1/operations/op-1' }).reply(200, op('succeeded', 'n2 is the primary'));
  const r = await run(['cluster', 'failover', '--to', 'n2', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), op('succeeded', 'n2 is the primary'));
  assert.match(r.err, /switchover requested to n2: operation op-1/);
  assert.match(r.err, /running: demoting n1/);
});

test('cluster failover: a failed operation exits 1; --no-wait returns the accepted operation', async () => {
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(202, op('pending', 'recorded'));
  agent().get(A).intercept({ path: '/v1/operations/op-1' }).reply(200, op('failed', 'n3 is not streaming'));
  let r = await run(['cluster', 'failover', '--to', 'n3', '-o', 'table']);
  assert.equal(r.code, 1);
  assert.match(r.out, /switchover op-1 failed: n3 is not streaming/);
  assert.match(r.err, /switchover op-1 failed/);

  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST', body: (b) => !('to' in JSON.parse(b)) }).reply(202, op('pending', 'recorded'));
  r = await run(['cluster', 'failover', '--no-wait', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).state, 'pending');
});

test('cluster failover: still running at --timeout exits 7 and says how to follow it', async () => {
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(202, op('running', 'waiting for n2 to catch up'));
  agent().get(A).intercept({ path: '/v1/operations/op-1' }).reply(200, op('running', 'waiting for n2 to catch up')).persist();
  const r = await run(['cluster', 'failover', '--to', 'n2', '--timeout', '50ms']);
  assert.equal(r.code, 7);
  assert.match(r.err, /GET \/v1\/operations\/op-1/);
});

/** A prompter that types `answer` (or throws it, like inquirer on Ctrl-C) and records the questions. */
function typing(answer: string | Error, asked: string[] = []): Prompter {
  return {
    confirm: async () => assert.fail('a typed confirmation was expected'),
    input: async (message) => {
      asked.push(message);
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
}

test('cluster failover --force: needs --to (2); without a terminal needs --yes (3, no request made)', async () => {
  assert.equal((await run(['cluster', 'failover', '--force'])).code, 2);
  const r = await run(['cluster', 'failover', '--force', '--to', 'n3'], false, undefined, false, typing('n3'));
  assert.equal(r.code, 3, 'never prompts without a terminal, even with a prompter at hand');
  assert.match(r.err, /may lose acknowledged writes.*: add --yes to confirm.*nothing was changed/);
});

test('cluster failover --force on a terminal: typed confirmation of the target id; wrong id 3, Ctrl-C 130, nothing posted', async () => {
  const asked: string[] = [];
  let r = await run(['cluster', 'failover', '--force', '--to', 'n3'], true, undefined, false, typing('n2', asked));
  assert.equal(r.code, 3, r.err);
  assert.match(asked[0], /emergency failover to n3.*Type n3 to confirm/);
  assert.match(r.err, /you typed "n2", not "n3".*nothing was changed/);
  r = await run(['cluster', 'failover', '--force', '--to', 'n3'], true, undefined, false, typing(Object.assign(new Error('User force closed the prompt with SIGINT'), { name: 'ExitPromptError' })));
  assert.equal(r.code, 130, r.err);
  assert.match(r.err, /interrupted at the prompt/);
  // No interceptor was declared: any request above would have failed the test.

  agent()
    .get(A)
    .intercept({ path: '/v1/cluster/failover', method: 'POST', body: (b) => JSON.parse(b).to === 'n3' && JSON.parse(b).force === true })
    .reply(202, op('succeeded', 'n3 is the primary', 'failover'));
  r = await run(['cluster', 'failover', '--force', '--to', 'n3'], true, undefined, false, typing('n3'));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /failover op-1 succeeded/);
});

test('cluster failover --force --yes posts the forced failover without asking', async () => {
  agent()
    .get(A)
    .intercept({ path: '/v1/cluster/failover', method: 'POST', body: (b) => JSON.parse(b).to === 'n3' && JSON.parse(b).force === true })
    .reply(202, op('succeeded', 'n3 is the primary', 'failover'));
  const r = await run(['cluster', 'failover', '--force', '--to', 'n3', '--yes', '-o', 'table'], false, undefined, false, typing(new Error('no prompt expected')));
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /failover op-1 succeeded/);
});

test('cluster failover: Ctrl-C while following the operation exits 130 and names the operation', async () => {
  // Interrupted as soon as the accepted operation is shown: before the first poll, so no GET is stubbed.
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(202, op('running', 'waiting for n2 to catch up'));
  const ac = new AbortController();
  let err = '';
  const f: Factory = {
    io: { out: { write: () => {} }, err: { write: (s: string) => ((err += s), s.includes('running: waiting') && ac.abort()) }, outIsTTY: false, color: false },
    env: { RUSTYDB_ENDPOINTS: A, RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
    interrupt: ac.signal,
  };
  const code = await main(['cluster', 'failover', '--to', 'n2'], f);
  assert.equal(code, 130, err);
  assert.match(err, /interrupted \(Ctrl-C\) while waiting: switchover op-1 is still running.*GET \/v1\/operations\/op-1/);
});

test('cluster failover --prepare: ready exits 0, not ready exits 5, and nothing is posted', async () => {
  stubCluster();
  let r = await run(['cluster', 'failover', '--prepare', '--to', 'n2', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.equal(JSON.parse(r.out).ready, true);
  stubCluster();
  r = await run(['cluster', 'failover', '--prepare', '--to', 'n3']);
  assert.equal(r.code, 5);
  assert.match(r.err, /n3 is not ready.*streaming/);
  stubCluster();
  r = await run(['cluster', 'failover', '--prepare', '--to', 'n1']);
  assert.equal(r.code, 5);
  assert.match(r.err, /already the primary/);
  stubCluster();
  assert.equal((await run(['cluster', 'failover', '--prepare', '--to', 'n9'])).code, 5);
});

test('cluster history: --limit reaches the API; table and JSON', async () => {
  const view = { history: [{ epoch: 4, from: 'n2', to: 'n1', reason: 'switchover requested', at: '2026-01-01T00:00:00Z', lsns: {} }] };
  agent().get(A).intercept({ path: '/v1/history?limit=5' }).reply(200, view);
  let r = await run(['cluster', 'history', '--limit', '5', '-o', 'json']);
  assert.deepEqual(JSON.parse(r.out), view);
  agent().get(A).intercept({ path: '/v1/history?limit=100' }).reply(200, view);
  r = await run(['cluster', 'history'], true);
  assert.match(r.out, /EPOCH +AT +FROM +TO +REASON\n4 +2026-01-01T00:00:00Z +n2 +n1 +switchover requested/);
  assert.equal((await run(['cluster', 'history', '--limit', '0'])).code, 2);
});

test('node status ID asks that member at its apiUrl; without ID, the first endpoint', async () => {
  stubCluster();
  agent().get(B).intercept({ path: '/v1/node' }).reply(200, NODE);
  let r = await run(['node', 'status', 'n2', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), NODE);
  agent().get(A).intercept({ path: '/v1/node' }).reply(200, NODE);
  r = await run(['node', 'status'], true);
  assert.match(r.out, /raft +follower, term 7, leader n1/);
  assert.match(r.out, /engine +running, in recovery, 16\.4/);
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n9' }).reply(404, { error: { code: 'RDB_ERR_NOT_FOUND', message: 'n9 is not and never was a member of this cluster' } });
  r = await run(['node', 'status', 'n9']);
  assert.equal(r.code, 5);
  assert.match(r.err, /no member "n9".*n1, n2, n3/);
});
