/**
 * The node and membership procedures (`node drain|undrain|stop|start|fence|
 * unfence|reinit`, `cluster join|remove`) through main() with a fake IO
 * (terminal and not) and an undici MockAgent that fails on unused stubs and
 * on any request without one. Every request is also recorded (call history),
 * so "nothing was sent" is asserted, not assumed. Parsing is tested through
 * each command's runF.
 */

import { after, beforeEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { useMockAgent } from './helpers/mock-http.ts';
import type { ClusterView, MemberView, NodeView, OperationView } from '../../agent/api/wire.ts';
import type { EngineAnswerView, MemberAnswer } from '../../agent/api/wire-admin.ts';
import type { MemberRecord } from '../../agent/state/records.ts';
import { main, type Factory } from '../../src/cli.ts';
import { newCmdJoin, type JoinOptions } from '../../src/commands/cluster/join.ts';
import { newCmdRemove, type RemoveOptions } from '../../src/commands/cluster/remove.ts';
import { newCmdNodeDrain, newCmdNodeUndrain, type DrainOptions, type UndrainOptions } from '../../src/commands/node/drain.ts';
import { newCmdNodeFence, newCmdNodeUnfence, type FenceOptions } from '../../src/commands/node/fence.ts';
import { newCmdNodeReinit, type ReinitOptions } from '../../src/commands/node/reinit.ts';
import { newCmdNodeStart, newCmdNodeStop, type EngineOptions } from '../../src/commands/node/stop.ts';
import type { Prompter } from '../../src/prompt.ts';

const A = 'http://127.0.0.1:7001';
const B = 'http://127.0.0.1:7002';
const C = 'http://127.0.0.1:7003';
/** Where a removed node's agent still runs. */
const D = 'http://127.0.0.1:7004';

function member(id: string, role: MemberView['role'], apiUrl: string): MemberView {
  return {
    id, kind: 'voter', role, adminState: 'active', health: 'healthy', timeline: 1, flushLsn: '0/3000060', replayLsn: role === 'primary' ? null : '0/3000060',
    lagBytes: role === 'primary' ? null : 0, lagMs: role === 'primary' ? null : 0, release: '15', region: 'local', apiUrl, pg: '127.0.0.1:6001', uptimeS: 60,
  };
}

/** n1 (at A) is the primary, n2 (B) and n3 (C) replicas. */
const CLUSTER: ClusterView = {
  name: 'demo', id: 'c-1', epoch: 4, primary: 'n1', leader: 'n1', quorum: { voters: 3, healthy: 3, hasQuorum: true },
  haMode: 'active_active', durability: 'strict', consistency: 'linearizable', staleMs: null, writable: true, problem: null,
  members: [member('n1', 'primary', A), member('n2', 'replica', B), member('n3', 'replica', C)],
};

function record(id: string, adminState: MemberRecord['adminState'], apiUrl: string, kind: MemberRecord['kind'] = 'voter'): MemberRecord {
  return { id, kind, apiUrl, pgHost: '127.0.0.1', pgPort: 6001, region: 'local', weight: 1, tags: [], adminState };
}

function op(id: string, kind: OperationView['kind'], state: OperationView['state'], message: string, result: OperationView['result'] = null): OperationView {
  return { id, kind, state, message, startedAt: '2026-01-01T00:00:00Z', finishedAt: state === 'succeeded' || state === 'failed' ? '2026-01-01T00:00:05Z' : null, result };
}

const apiError = (code: string, message: string) => ({ error: { code, message } });

const agent = useMockAgent();
beforeEach(() => void agent().enableCallHistory());

/** Every request made in this test so far: "METHOD origin/path" (query strings left out). */
function calls(): string[] {
  return (agent().getCallHistory()?.calls() ?? []).map((c) => `${c.method} ${c.origin}${c.path}`);
}

/** The JSON body of the one request to `method origin/path`. */
function sent(method: string, url: string): unknown {
  const matching = (agent().getCallHistory()?.calls() ?? []).filter((c) => `${c.method} ${c.origin}${c.path}` === `${method} ${url}`);
  assert.equal(matching.length, 1, `one ${method} ${url} expected; requests: ${calls().join(', ')}`);
  return JSON.parse(String(matching[0].body));
}

/** Run the CLI against the stubs with a fake IO; endpoints A,B,C. A terminal is one on all three streams. */
async function run(args: string[], o: { tty?: boolean; prompter?: Prompter } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const tty = o.tty ?? false;
  const f: Factory = {
    io: { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color: false, inIsTTY: tty, errIsTTY: tty },
    env: { RUSTYDB_ENDPOINTS: [A, B, C].join(','), RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
    interrupt: new AbortController().signal,
    prompter: o.prompter,
  };
  const code = await main(args, f);
  return { code, out, err };
}

/** A prompter that types `answer` and records the questions; a yes/no question fails the test. */
function typing(answer: string, asked: string[] = []): Prompter {
  return {
    confirm: async () => assert.fail('a typed confirmation was expected'),
    input: async (message) => (asked.push(message), answer),
  };
}

const stubCluster = (view: ClusterView = CLUSTER) => agent().get(A).intercept({ path: '/v1/cluster' }).reply(200, view);

// ---------------------------------------------------------------------------
// Parsing

/** Parse `args` under a root with the global flags; returns what reached runF. */
async function parsed<T>(make: (f: Factory, runF: (o: T) => Promise<void>) => Command, args: string[]): Promise<T> {
  let got: T | null = null;
  const f = { io: { out: { write: () => {} }, err: { write: () => {} }, outIsTTY: false, color: false }, env: { RUSTYDB_ENDPOINTS: A }, cwd: '/work' } as Factory;
  const root = new Command('x').option('-o, --output <f>', '', 'json').option('--endpoint <urls>').addCommand(make(f, async (o) => void (got = o)));
  await root.parseAsync(args, { from: 'user' });
  assert.ok(got !== null, `${args.join(' ')} did not reach runF`);
  return got;
}

test('parsing: drain/undrain options and defaults reach runF', async () => {
  const d = await parsed<DrainOptions>(newCmdNodeDrain, ['drain', 'n2']);
  assert.deepEqual({ ...d, target: d.target.endpoints }, { target: [A], output: 'json', id: 'n2', timeoutMs: 60_000, terminate: true, switchover: false, wait: true });
  const d2 = await parsed<DrainOptions>(newCmdNodeDrain, ['drain', 'n1', '--timeout', '2m', '--no-terminate', '--switchover', '--no-wait', '-o', 'table', '--endpoint', B]);
  assert.deepEqual({ ...d2, target: d2.target.endpoints }, { target: [B], output: 'table', id: 'n1', timeoutMs: 120_000, terminate: false, switchover: true, wait: false });
  const u = await parsed<UndrainOptions>(newCmdNodeUndrain, ['undrain', 'n2']);
  assert.equal(u.id, 'n2');
});

test('parsing: stop/start, fence/unfence, reinit', async () => {
  const s = await parsed<EngineOptions>(newCmdNodeStop, ['stop', 'n1', '--force', '--yes']);
  assert.deepEqual([s.id, s.force, s.yes, s.timeoutMs], ['n1', true, true, 60_000]);
  const s2 = await parsed<EngineOptions>(newCmdNodeStop, ['stop', 'n3', '-y', '--timeout', '90s']);
  assert.deepEqual([s2.force, s2.yes, s2.timeoutMs], [false, true, 90_000]);
  const st = await parsed<EngineOptions>(newCmdNodeStart, ['start', 'n3', '--timeout', '500ms']);
  assert.deepEqual([st.id, st.force, st.yes, st.timeoutMs], ['n3', false, false, 500]);

  const fe = await parsed<FenceOptions>(newCmdNodeFence, ['fence', 'n3']);
  assert.deepEqual([fe.id, fe.wait, fe.timeoutMs], ['n3', true, 60_000]);
  const fe2 = await parsed<FenceOptions>(newCmdNodeFence, ['fence', 'n3', '--no-wait', '--timeout', '5s']);
  assert.deepEqual([fe2.wait, fe2.timeoutMs], [false, 5_000]);
  const uf = await parsed<FenceOptions>(newCmdNodeUnfence, ['unfence', 'n3']);
  assert.deepEqual([uf.id, uf.wait], ['n3', false]);

  const ri = await parsed<ReinitOptions>(newCmdNodeReinit, ['reinit', 'n3']);
  assert.deepEqual([ri.id, ri.yes, ri.wait, ri.timeoutMs], ['n3', false, true, 3_600_000]);
  const ri2 = await parsed<ReinitOptions>(newCmdNodeReinit, ['reinit', 'n3', '--no-wait', '--yes', '--timeout', '1h']);
  assert.deepEqual([ri2.yes, ri2.wait, ri2.timeoutMs], [true, false, 3_600_000]);
});

test('parsing: cluster join (role, config resolved against the working directory, --no-start-agent) and remove', async () => {
  const j = await parsed<JoinOptions>(newCmdJoin, ['join', '--node-id', 'w1', '--cluster-address', '10.0.0.1:5433', '--role', 'witness', '--config', 'etc/rustydb.conf', '--no-start-agent', '--timeout', '10m']);
  assert.deepEqual(j, { output: 'json', nodeId: 'w1', clusterAddress: '10.0.0.1:5433', role: 'witness', configFile: '/work/etc/rustydb.conf', timeoutMs: 600_000, startAgent: false, token: null });
  const j2 = await parsed<JoinOptions>(newCmdJoin, ['join', '--node-id', 'n4', '--cluster-address', '10.0.0.1:5433']);
  assert.deepEqual([j2.role, j2.startAgent, j2.timeoutMs, j2.configFile], ['follower', true, 1_800_000, '/etc/rustydb/rustydb.conf']);

  const r = await parsed<RemoveOptions>(newCmdRemove, ['remove', 'n4', '--yes']);
  assert.deepEqual([r.id, r.yes, r.target.endpoints], ['n4', true, [A]]);
  assert.equal((await parsed<RemoveOptions>(newCmdRemove, ['remove', 'n4'])).yes, false);
});

test('parsing through the program: bad durations, roles and missing arguments exit 2 before any request', async () => {
  const bad: string[][] = [
    ['node', 'drain', 'n2', '--timeout', 'soon'],
    ['node', 'stop', 'n2', '--timeout', '0s'],
    ['node', 'start', 'n2', '--timeout', '1x'],
    ['node', 'fence', 'n3', '--timeout', 'never'],
    ['node', 'reinit', 'n3', '--timeout', '-'],
    ['node', 'drain'],
    ['cluster', 'remove'],
    ['cluster', 'join', '--node-id', 'n4', '--cluster-address', '127.0.0.1:7001', '--timeout', 'forever'],
    ['cluster', 'join', '--node-id', 'n4', '--cluster-address', '127.0.0.1:7001', '--role', 'leader'],
    ['cluster', 'join', '--cluster-address', '127.0.0.1:7001'],
  ];
  for (const args of bad) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
    assert.equal(r.out, '');
  }
  assert.match((await run(['node', 'drain', 'n2', '--timeout', 'soon'])).err, /"soon" is not a duration/);
  assert.deepEqual(calls(), []);
});

// ---------------------------------------------------------------------------
// node drain / undrain

test('node drain n2 -o json: POSTs the drain to n2 with the defaults, follows the operation, prints it', async () => {
  stubCluster();
  agent().get(B).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(202, op('drain-1', 'drain', 'running', 'waiting for 3 sessions'));
  const done = op('drain-1', 'drain', 'succeeded', 'n2 is drained (3 sessions ended, 0 terminated)', { node: 'n2', remaining: 0 });
  agent().get(B).intercept({ path: '/v1/operations/drain-1' }).reply(200, done);
  const r = await run(['node', 'drain', 'n2', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), done);
  assert.deepEqual(sent('POST', `${B}/v1/node/drain`), { timeout_ms: 60_000, terminate: true });
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`, `POST ${B}/v1/node/drain`, `GET ${B}/v1/operations/drain-1`]);
  assert.match(r.err, /drain drain-1: running: waiting for 3 sessions/);
});

test('node drain on a terminal: the final message on stdout; --no-wait returns the started operation', async () => {
  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(202, op('drain-2', 'drain', 'succeeded', 'n3 is drained'));
  let r = await run(['node', 'drain', 'n3', '--timeout', '2m'], { tty: true });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 is drained\n');
  assert.deepEqual(sent('POST', `${C}/v1/node/drain`), { timeout_ms: 120_000, terminate: true });

  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(202, op('drain-3', 'drain', 'running', 'waiting'));
  r = await run(['node', 'drain', 'n3', '--no-wait', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'drain of n3 started (drain-3)\n');
});

test('node drain of the primary without --switchover: exit 5, and no drain is sent', async () => {
  stubCluster();
  const r = await run(['node', 'drain', 'n1']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n1 is the primary: switch over first .*or add --switchover/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);
});

test('node drain --switchover of the primary: switches over first, waits for it, then drains the old primary', async () => {
  const order: string[] = [];
  const logged = <T>(what: string, body: T) => () => (order.push(what), { statusCode: 200, data: body as object });
  agent().get(A).intercept({ path: '/v1/cluster' }).reply(logged('cluster', CLUSTER));
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(logged('switchover', op('sw-1', 'switchover', 'running', 'demoting n1')));
  agent().get(A).intercept({ path: '/v1/operations/sw-1' }).reply(logged('switchover running', op('sw-1', 'switchover', 'running', 'promoting n2')));
  agent().get(A).intercept({ path: '/v1/operations/sw-1' }).reply(logged('switchover done', op('sw-1', 'switchover', 'succeeded', 'n2 is the primary')));
  const after: ClusterView = { ...CLUSTER, epoch: 5, primary: 'n2', leader: 'n2', members: [member('n1', 'replica', A), member('n2', 'primary', B), member('n3', 'replica', C)] };
  agent().get(A).intercept({ path: '/v1/cluster' }).reply(logged('cluster again', after));
  agent().get(A).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(logged('drain', op('drain-1', 'drain', 'succeeded', 'n1 is drained')));
  const r = await run(['node', 'drain', 'n1', '--switchover', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(order, ['cluster', 'switchover', 'switchover running', 'switchover done', 'cluster again', 'drain']);
  assert.match((sent('POST', `${A}/v1/cluster/switchover`) as { request_id: string }).request_id, /^[0-9a-f-]{36}$/);
  assert.match(r.err, /n1 is the primary: switching over first/);
  assert.equal((JSON.parse(r.out) as OperationView).message, 'n1 is drained');
});

test('node drain --switchover: a switchover that leaves the node primary fails (exit 1) without draining', async () => {
  stubCluster();
  agent().get(A).intercept({ path: '/v1/cluster/switchover', method: 'POST' }).reply(202, op('sw-1', 'switchover', 'succeeded', 'nothing to do'));
  stubCluster();
  const r = await run(['node', 'drain', 'n1', '--switchover']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /still the primary/);
  assert.ok(!calls().some((c) => c.endsWith('/v1/node/drain')), calls().join(', '));
});

test('node drain --no-terminate with sessions left at the timeout: exit 7, the operation as JSON; other failures exit 1', async () => {
  stubCluster();
  agent().get(B).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(202, op('drain-1', 'drain', 'running', 'waiting for 2 sessions'));
  const failed = op('drain-1', 'drain', 'failed', '2 sessions still connected to n2 after 1000 ms (--no-terminate): n2 stays draining', { node: 'n2', remaining: 2 });
  agent().get(B).intercept({ path: '/v1/operations/drain-1' }).reply(200, failed);
  let r = await run(['node', 'drain', 'n2', '--no-terminate', '--timeout', '1s', '-o', 'json']);
  assert.equal(r.code, 7, r.err);
  assert.deepEqual(sent('POST', `${B}/v1/node/drain`), { timeout_ms: 1000, terminate: false });
  assert.deepEqual(JSON.parse(r.out), failed);
  assert.match(r.err, /2 sessions still connected to n2/);

  stubCluster();
  agent().get(B).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(202, op('drain-2', 'drain', 'failed', 'the engine of n2 is not running', { node: 'n2', remaining: 0 }));
  r = await run(['node', 'drain', 'n2', '-o', 'json']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /drain drain-2 failed: the engine of n2 is not running/);
});

test('node drain: the agent refusing (409 conflict, 412 precondition) exits 6 / 5 with its message', async () => {
  stubCluster();
  agent().get(B).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(409, apiError('RDB_ERR_CONFLICT', 'reinit reinit-n2-1 is running on n2: wait for it'));
  let r = await run(['node', 'drain', 'n2']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /reinit reinit-n2-1 is running on n2: wait for it/);

  stubCluster();
  agent().get(B).intercept({ path: '/v1/node/drain', method: 'POST' }).reply(412, apiError('RDB_ERR_PRECONDITION', 'n2 is fenced: unfence it first'));
  r = await run(['node', 'drain', 'n2']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n2 is fenced: unfence it first/);
});

test('node undrain: POSTs to the cluster; table and JSON', async () => {
  stubCluster();
  const answer: MemberAnswer = { member: record('n2', 'active', B) };
  agent().get(A).intercept({ path: '/v1/members/n2/undrain', method: 'POST' }).reply(200, answer);
  let r = await run(['node', 'undrain', 'n2', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n2 is active: it takes client traffic again\n');

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n2/undrain', method: 'POST' }).reply(200, answer);
  r = await run(['node', 'undrain', 'n2', '-o', 'json']);
  assert.deepEqual(JSON.parse(r.out), answer);
});

// ---------------------------------------------------------------------------
// node stop / start

const engineAnswer = (node: string, running: boolean, message: string): EngineAnswerView => ({ node, running, held: !running, adminState: 'active', message });

test('node stop n3: POSTs to n3 itself; table prints the message, JSON the answer', async () => {
  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/stop', method: 'POST' }).reply(200, engineAnswer('n3', false, 'the engine of n3 is stopped'));
  let r = await run(['node', 'stop', 'n3', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'the engine of n3 is stopped\n');
  assert.deepEqual(sent('POST', `${C}/v1/node/stop`), { force: false, timeout_ms: 60_000 });

  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/start', method: 'POST' }).reply(200, engineAnswer('n3', true, 'the engine of n3 runs'));
  r = await run(['node', 'start', 'n3', '--timeout', '30s', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), engineAnswer('n3', true, 'the engine of n3 runs'));
});

test('node stop --force of the primary: without a terminal and without --yes exit 3, nothing POSTed; with --yes it is sent', async () => {
  stubCluster();
  let r = await run(['node', 'stop', 'n1', '--force'], { prompter: typing('n1') });
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /n1 is the primary: stopping it stops all writes.*add --yes to confirm.*nothing was changed/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);

  agent().getCallHistory()?.clear();
  stubCluster();
  agent().get(A).intercept({ path: '/v1/node/stop', method: 'POST' }).reply(200, engineAnswer('n1', false, 'the engine of n1 is stopped'));
  r = await run(['node', 'stop', 'n1', '--force', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(sent('POST', `${A}/v1/node/stop`), { force: true, timeout_ms: 60_000 });
});

test('node stop of the primary without --force: the agent refuses (412), exit 5 with its message', async () => {
  stubCluster();
  agent().get(A).intercept({ path: '/v1/node/stop', method: 'POST' }).reply(412, apiError('RDB_ERR_PRECONDITION', 'n1 is the primary: switch over first, or pass --force'));
  const r = await run(['node', 'stop', 'n1']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n1 is the primary: switch over first, or pass --force/);
});

test('node stop --force of the primary on a terminal: a wrong typed id exits 3 and sends nothing; the right one stops it', async () => {
  stubCluster();
  const asked: string[] = [];
  let r = await run(['node', 'stop', 'n1', '--force'], { tty: true, prompter: typing('n2', asked) });
  assert.equal(r.code, 3, r.err);
  assert.match(asked[0], /n1 is the primary.*Type n1 to confirm/);
  assert.match(r.err, /you typed "n2", not "n1"/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);

  stubCluster();
  agent().get(A).intercept({ path: '/v1/node/stop', method: 'POST' }).reply(200, engineAnswer('n1', false, 'the engine of n1 is stopped'));
  r = await run(['node', 'stop', 'n1', '--force'], { tty: true, prompter: typing('n1') });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'the engine of n1 is stopped\n');
});

test('node stop of a removed node follows its tombstone to its agent; an unknown node exits 5 listing the members', async () => {
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n4' }).reply(200, { member: record('n4', 'removed', D) } satisfies MemberAnswer);
  agent().get(D).intercept({ path: '/v1/node/stop', method: 'POST' }).reply(200, { ...engineAnswer('n4', false, 'the engine of n4 is stopped'), adminState: 'removed' });
  let r = await run(['node', 'stop', 'n4', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`, `GET ${A}/v1/members/n4`, `POST ${D}/v1/node/stop`]);
  assert.equal((JSON.parse(r.out) as EngineAnswerView).adminState, 'removed');

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n9' }).reply(404, apiError('RDB_ERR_NOT_FOUND', 'n9 is not and never was a member'));
  r = await run(['node', 'stop', 'n9']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /no member "n9" in cluster demo; members: n1, n2, n3/);
});

// ---------------------------------------------------------------------------
// node fence / unfence

test('node fence --no-wait: POSTs to the cluster and prints; fence waits for the engine to stop; unfence', async () => {
  const fenced: MemberAnswer = { member: record('n3', 'fenced', C) };
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3/fence', method: 'POST' }).reply(200, fenced);
  let r = await run(['node', 'fence', 'n3', '--no-wait', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 is fenced\n');
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`, `POST ${A}/v1/members/n3/fence`]);

  agent().getCallHistory()?.clear();
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3/fence', method: 'POST' }).reply(200, fenced);
  const node = (running: boolean) => ({ engine: { running } }) as unknown as NodeView;
  agent().get(C).intercept({ path: '/v1/node' }).reply(200, node(true));
  agent().get(C).intercept({ path: '/v1/node' }).reply(200, node(false));
  r = await run(['node', 'fence', 'n3', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 is fenced and its engine is stopped\n');

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3/fence', method: 'POST' }).reply(200, fenced);
  agent().get(C).intercept({ path: '/v1/node' }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  r = await run(['node', 'fence', 'n3', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), fenced, 'an unreachable node is fenced by its lease: not an error');

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3/unfence', method: 'POST' }).reply(200, { member: record('n3', 'active', C) });
  r = await run(['node', 'unfence', 'n3', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 is unfenced: it rejoins as a standby\n');
});

test('node fence: an engine still running at --timeout exits 7', async () => {
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3/fence', method: 'POST' }).reply(200, { member: record('n3', 'fenced', C) });
  agent().get(C).intercept({ path: '/v1/node' }).reply(200, { engine: { running: true } }).persist();
  const r = await run(['node', 'fence', 'n3', '--timeout', '100ms']);
  assert.equal(r.code, 7, r.err);
  assert.match(r.err, /n3 is fenced but its engine still runs after 100 ms/);
});

// ---------------------------------------------------------------------------
// node reinit

test('node reinit without --yes off a terminal: exit 3 and nothing sent; of the primary: exit 5', async () => {
  stubCluster();
  let r = await run(['node', 'reinit', 'n3'], { prompter: typing('n3') });
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /reinit wipes the database of n3 and copies it again from n1: add --yes to confirm/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);

  stubCluster();
  r = await run(['node', 'reinit', 'n1', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n1 is the primary: switch over first/);
  assert.ok(!calls().some((c) => c.includes('/v1/node/reinit')), calls().join(', '));
});

test('node reinit --yes: POSTs to the node, follows the copy, prints the final operation; --no-wait prints the started one', async () => {
  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/reinit', method: 'POST' }).reply(202, op('reinit-1', 'reinit', 'running', 'copying from n1'));
  const done = op('reinit-1', 'reinit', 'succeeded', 'n3 was re-cloned from n1 and streams');
  agent().get(C).intercept({ path: '/v1/operations/reinit-1' }).reply(200, done);
  let r = await run(['node', 'reinit', 'n3', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), done);

  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/reinit', method: 'POST' }).reply(202, op('reinit-2', 'reinit', 'running', 'copying from n1'));
  r = await run(['node', 'reinit', 'n3', '--yes', '--no-wait', '-o', 'table']);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'copying from n1\n');
});

test('node reinit on a terminal: a wrong typed id exits 3 and sends nothing; the right one reinitializes', async () => {
  stubCluster();
  const asked: string[] = [];
  let r = await run(['node', 'reinit', 'n3'], { tty: true, prompter: typing('n2', asked) });
  assert.equal(r.code, 3, r.err);
  assert.match(asked[0], /reinit wipes the database of n3.*Type n3 to confirm/);
  assert.match(r.err, /you typed "n2", not "n3".*nothing was changed/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);

  stubCluster();
  agent().get(C).intercept({ path: '/v1/node/reinit', method: 'POST' }).reply(202, op('reinit-3', 'reinit', 'succeeded', 'n3 streams again'));
  r = await run(['node', 'reinit', 'n3'], { tty: true, prompter: typing('n3') });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 streams again\n');
});

// ---------------------------------------------------------------------------
// cluster remove

test('cluster remove of the primary: exit 5, nothing sent; without --yes off a terminal: exit 3', async () => {
  stubCluster();
  let r = await run(['cluster', 'remove', 'n1', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n1 is the primary: switch over first .*then remove it/);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);

  stubCluster();
  r = await run(['cluster', 'remove', 'n3']);
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /n3 leaves cluster demo for good.*add --yes/);
  assert.ok(!calls().some((c) => c.startsWith('DELETE')), calls().join(', '));
});

test('cluster remove --yes: DELETE on the cluster; table and JSON; a wrong typed id on a terminal exits 3', async () => {
  const gone: MemberAnswer = { member: record('n3', 'removed', C) };
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3', method: 'DELETE' }).reply(200, gone);
  let r = await run(['cluster', 'remove', 'n3', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), gone);

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3', method: 'DELETE' }).reply(200, gone);
  r = await run(['cluster', 'remove', 'n3'], { tty: true, prompter: typing('n3') });
  assert.equal(r.code, 0, r.err);
  assert.equal(r.out, 'n3 was removed from cluster demo\n');

  agent().getCallHistory()?.clear();
  stubCluster();
  r = await run(['cluster', 'remove', 'n3'], { tty: true, prompter: typing('n 3') });
  assert.equal(r.code, 3, r.err);
  assert.deepEqual(calls(), [`GET ${A}/v1/cluster`]);
});

test('cluster remove: the leader refusing (412 would break quorum, 409 another procedure) exits 5 / 6 with its message; an already removed node 5', async () => {
  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3', method: 'DELETE' }).reply(412, apiError('RDB_ERR_PRECONDITION', 'removing n3 leaves 1 of 2 voters reachable: below a quorum'));
  let r = await run(['cluster', 'remove', 'n3', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /removing n3 leaves 1 of 2 voters reachable: below a quorum/);

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n3', method: 'DELETE' }).reply(409, apiError('RDB_ERR_CONFLICT', 'drain drain-n3-1 is running on n3'));
  r = await run(['cluster', 'remove', 'n3', '--yes']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /drain drain-n3-1 is running on n3/);

  stubCluster();
  agent().get(A).intercept({ path: '/v1/members/n4' }).reply(200, { member: record('n4', 'removed', D) });
  r = await run(['cluster', 'remove', 'n4', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n4 is not a member of cluster demo \(it was removed already\)/);
});

// ---------------------------------------------------------------------------
// cluster join (with a config written by `node init`)

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** The local agent of the joining node n4, as `node init --address` sets it. */
const L = 'http://127.0.0.1:7104';

/** `node init` for n4 in a temp dir (plain HTTP: the MockAgent speaks no TLS); returns its config file. */
async function initNode(role = 'follower', ...extra: string[]): Promise<string> {
  const root = mkdtempSync('/tmp/rustydb-cli-join-test-');
  roots.push(root);
  const config = join(root, 'rustydb.conf');
  const r = await run(['node', 'init', '--node-id', 'n4', '--cluster', 'demo', '--address', '127.0.0.1:7104', '--pg-port', '6104', '--role', role, '--data-dir', join(root, 'data'), '--config', config, '-o', 'json', ...(extra.length ? extra : ['--no-tls'])]);
  assert.equal(r.code, 0, r.err);
  return config;
}

const join4 = (config: string, ...extra: string[]) => ['cluster', 'join', '--node-id', 'n4', '--cluster-address', '127.0.0.1:7001', '--config', config, '--no-start-agent', ...extra];

test('cluster join: a --node-id or --role that does not match the config exits 2 naming the file; a missing config 5; nothing is sent', async () => {
  const config = await initNode();
  let r = await run(['cluster', 'join', '--node-id', 'n5', '--cluster-address', '127.0.0.1:7001', '--config', config, '--no-start-agent']);
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(`--node-id n5 does not match ${config}, which is node n4`), r.err);

  r = await run(join4(config, '--role', 'witness'));
  assert.equal(r.code, 2, r.err);
  assert.ok(r.err.includes(`--role witness needs a node initialized as one, but ${config} makes n4 a voter`), r.err);

  r = await run(join4('/tmp/rustydb-no-such-dir/rustydb.conf'));
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /cannot read \/tmp\/rustydb-no-such-dir\/rustydb\.conf \(ENOENT\): prepare this machine with `rustydb-admin node init`/);
  assert.deepEqual(calls(), []);
});

test('cluster join of a TLS node (node init default) without --token exits 4 before anything is sent', async () => {
  const config = await initNode('follower', '--force');
  const r = await run(join4(config));
  assert.equal(r.code, 4, r.err);
  assert.match(r.err, /needs a join token: create one on the cluster with `rustydb-admin cluster token create`/);
  const bad = await run(join4(config, '--token', 'rdbj_not-a-token'));
  assert.equal(bad.code, 4, bad.err);
  assert.match(bad.err, /join token is malformed/);
  assert.deepEqual(calls(), []);
});

test('cluster join --no-start-agent: a local agent that does not answer exits 8 naming it (nothing spawned, nothing sent)', async () => {
  const config = await initNode();
  agent().get(L).intercept({ path: '/liveness' }).replyWithError(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
  const r = await run(join4(config));
  assert.equal(r.code, 8, r.err);
  assert.ok(r.err.includes(`the local agent (${L}) does not answer: start it (rustydb-agent --config ${config})`), r.err);
  assert.deepEqual(calls(), [`GET ${L}/liveness`]);
});

function localNode(o: { progress?: NodeView['progress']; streaming?: boolean }): NodeView {
  const streaming = o.streaming ?? false;
  return {
    ...member('n4', streaming ? 'replica' : 'unknown', L),
    adminState: 'joining',
    engine: {
      running: streaming, inRecovery: streaming, timeline: streaming ? 1 : null, flushLsn: null, replayLsn: null, streamingFrom: streaming ? 'n1' : null, following: 'n1',
      version: '15', syncStandbyNames: null, replicas: [], initialized: streaming, problem: null, startedAt: streaming ? '2026-01-01T00:00:00Z' : null,
    },
    raft: { term: 7, role: 'follower', leader: 'n1', commit: 40, applied: 40 },
    engineHeld: false,
    progress: o.progress ?? null,
    decision: streaming ? null : 'cloning from n1',
  };
}

test('cluster join: joins through the local agent, shows the clone (MB, rate, ETA), promotes once streaming; JSON on stdout', async () => {
  const config = await initNode();
  const MB = 1_048_576;
  // Served by the MockAgent too: Node's global fetch uses undici's global dispatcher.
  agent().get(L).intercept({ path: '/liveness' }).reply(200, { status: 'ok' });
  // The cluster between leaders first: the CLI waits and asks again.
  agent().get(L).intercept({ path: '/v1/node/join', method: 'POST' }).reply(503, apiError('RDB_ERR_UNAVAILABLE', 'no leader yet'));
  agent().get(L).intercept({ path: '/v1/node/join', method: 'POST' }).reply(200, { member: record('n4', 'joining', L) } satisfies MemberAnswer);
  agent().get(L).intercept({ path: '/v1/node' }).reply(200, localNode({ progress: { step: 'clone', done: 10 * MB, total: 100 * MB } }));
  agent().get(L).intercept({ path: '/v1/node' }).reply(200, localNode({ progress: { step: 'clone', done: 60 * MB, total: 100 * MB } }));
  agent().get(L).intercept({ path: '/v1/node' }).reply(200, localNode({ streaming: true }));
  // The leader checks that n4 caught up: one "retry" answer, then the promotion.
  agent().get(A).intercept({ path: '/v1/members/n4/promote', method: 'POST' }).reply(412, apiError('RDB_ERR_PRECONDITION', 'n4 has not caught up yet: retry shortly'));
  const promoted: MemberAnswer = { member: record('n4', 'active', L) };
  agent().get(A).intercept({ path: '/v1/members/n4/promote', method: 'POST' }).reply(200, promoted);

  const r = await run(join4(config, '-o', 'json'));
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(JSON.parse(r.out), { member: promoted.member, clusterAddress: A });
  const joins = (agent().getCallHistory()?.calls() ?? []).filter((c) => c.path === '/v1/node/join').map((c) => JSON.parse(String(c.body)) as unknown);
  assert.deepEqual(joins, [{ cluster_address: A, kind: 'voter' }, { cluster_address: A, kind: 'voter' }], 'the same request again: joining is idempotent');
  assert.deepEqual(
    calls().filter((c) => !c.startsWith(`GET ${L}/v1/node`)),
    [`GET ${L}/liveness`, `POST ${L}/v1/node/join`, `POST ${L}/v1/node/join`, `POST ${A}/v1/members/n4/promote`, `POST ${A}/v1/members/n4/promote`],
  );
  // Progress: plain timestamped lines on stderr (not a terminal), with the clone's bytes in MB, then rate and ETA.
  assert.match(r.err, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ join n4: asking http:\/\/127\.0\.0\.1:7001 to add n4 as a non-voting follower$/m);
  assert.match(r.err, /join n4: waiting for the cluster: no leader yet/);
  assert.match(r.err, /join n4: clone: 10\.0 of 100\.0 MB$/m);
  assert.match(r.err, /join n4: clone: 60\.0 of 100\.0 MB, \d+\.\d MB\/s, ETA \d+ s$/m);
  assert.match(r.err, /join n4: caught up: promoting to voter/);
  assert.match(r.err, /join n4: n4 is a member of the cluster \(voter, active\)/);
});
