/**
 * `cluster upgrade` and `status | resume | abort` through main() with a fake
 * IO and an undici MockAgent playing a 3-node cluster (n1 primary): the
 * journal with compare-and-set, node upgrades that move a node's release,
 * switchovers that move the primary, operations that end at once. Asserts
 * the order of the calls (followers, one switchover, the old primary), the
 * journal written before and after each step, resume without upgrading a
 * node twice, rollback → exit 5, a running upgrade → exit 6, --dry-run and a
 * missing --yes change nothing, and that the root's --version does not
 * swallow the command's.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { useMockAgent } from './helpers/mock-http.ts';
import type { ClusterView, MemberView, OperationView } from '../../agent/api/wire.ts';
import { UPGRADE_JOURNAL_PATH, type UpgradeJournal } from '../../agent/upgrade-journal.ts';
import { main, type Factory } from '../../src/cli.ts';

const ORIGINS: Record<string, string> = { n1: 'http://127.0.0.1:7101', n2: 'http://127.0.0.1:7102', n3: 'http://127.0.0.1:7103' };

/** A cluster behind the mock: what the CLI asked, in order, and the state it changed. */
class FakeCluster {
  primary = 'n1';
  release: Record<string, string> = { n1: '15.17', n2: '15.17', n3: '15.17' };
  journal: UpgradeJournal | null = null;
  ops = new Map<string, OperationView>();
  calls: string[] = [];
  journalWrites: UpgradeJournal[] = [];
  /** Nodes whose upgrade fails and rolls back. */
  broken = new Set<string>();
  /** Switchover requests refused (operation failed, nothing changed) before one succeeds. */
  refuseSwitchovers = 0;
  /** What GET /v1/procedures/upgrade reports as holding upgrades back. */
  blockedBy: { kind: 'failover-request' | 'force-quorum'; id: string; message: string } | null = null;
  /** Node upgrades answered 409 because of `blockedBy`. */
  refusedForBlock: string[] = [];
  /** For each node-upgrade request: did the journal already name its operation id, in flight, when the agent was asked? */
  journaledBeforeAsked: boolean[] = [];
  /** Runs after each accepted journal PUT (what another client does at that moment). */
  afterPut?: (j: UpgradeJournal) => void;

  view(): ClusterView {
    const member = (id: string): MemberView => ({
      id, kind: 'voter', role: id === this.primary ? 'primary' : 'replica', adminState: 'active', health: 'healthy', timeline: 1, flushLsn: '0/1', replayLsn: '0/1',
      lagBytes: id === this.primary ? null : 0, lagMs: 0, release: this.release[id], region: 'local', apiUrl: ORIGINS[id], pg: '127.0.0.1:6001', uptimeS: 1,
    });
    return {
      name: 'demo', id: 'c', epoch: 2, primary: this.primary, leader: this.primary, quorum: { voters: 3, healthy: 3, hasQuorum: true }, haMode: 'active_active',
      durability: 'strict', consistency: 'linearizable', staleMs: null, writable: true, problem: null, members: ['n1', 'n2', 'n3'].map(member),
    };
  }

  op(id: string, kind: OperationView['kind'], ok: boolean, result: Record<string, unknown>): OperationView {
    const op: OperationView = { id, kind, state: ok ? 'succeeded' : 'failed', message: ok ? 'done' : 'postgres exited with status 1; switched back to 15.17', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:03.000Z', result };
    this.ops.set(id, op);
    return op;
  }

  handle(node: string, method: string, path: string, body: string | undefined): { statusCode: number; data: unknown } {
    const b = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    if (method === 'GET' && path.startsWith('/v1/cluster')) return { statusCode: 200, data: this.view() };
    if (path === UPGRADE_JOURNAL_PATH && method === 'GET') return { statusCode: 200, data: { journal: this.journal, blockedBy: this.blockedBy } };
    if (path === UPGRADE_JOURNAL_PATH && method === 'PUT') {
      const { request_id: _r, revision, ...j } = b as unknown as UpgradeJournal & { request_id: string };
      if ((this.journal?.revision ?? 0) !== revision) return { statusCode: 409, data: { error: { code: 'RDB_ERR_CONFLICT', message: 'changed' } } };
      this.journal = { ...j, revision: revision + 1 };
      this.journalWrites.push(structuredClone(this.journal));
      const answer = structuredClone(this.journal);
      this.afterPut?.(this.journal);
      return { statusCode: 200, data: answer };
    }
    if (method === 'POST' && path === '/v1/node/upgrade') {
      // As the agent: a known operation_id answers with its operation and starts nothing.
      const known = typeof b.operation_id === 'string' ? this.ops.get(b.operation_id) : undefined;
      if (known) return { statusCode: 202, data: known };
      if (this.blockedBy) {
        this.refusedForBlock.push(node);
        return { statusCode: 409, data: { error: { code: 'RDB_ERR_CONFLICT', message: `${node} is not upgraded now: ${this.blockedBy.message}` } } };
      }
      if (typeof b.operation_id === 'string') {
        const st = this.journal?.plan.find((x) => x.node === node);
        this.journaledBeforeAsked.push(st?.step === 'upgrading' && st.operation === b.operation_id);
      }
      this.calls.push(`upgrade ${node}`);
      const from = this.release[node];
      const ok = !this.broken.has(node);
      if (ok) this.release[node] = String(b.version);
      const id = typeof b.operation_id === 'string' ? b.operation_id : `up-${node}-${this.calls.length}`;
      return { statusCode: 202, data: this.op(id, 'upgrade', ok, { node, from, to: ok ? b.version : from, durationMs: 3000, rolledBack: !ok }) };
    }
    if (method === 'POST' && path === '/v1/cluster/switchover') {
      // As agent/views.ts: the operation of request R is op-R, and a retried request gets it back.
      const id = typeof b.request_id === 'string' ? `op-${b.request_id}` : `sw-${this.calls.length + 1}`;
      const known = this.ops.get(id);
      if (known) return { statusCode: 202, data: known };
      this.calls.push(`switchover ${this.primary}->${b.to}`);
      if (this.refuseSwitchovers-- > 0) return { statusCode: 202, data: this.op(id, 'switchover', false, {}) };
      this.primary = String(b.to);
      return { statusCode: 202, data: this.op(id, 'switchover', true, {}) };
    }
    if (method === 'GET' && path.startsWith('/v1/operations/')) {
      const op = this.ops.get(decodeURIComponent(path.slice('/v1/operations/'.length)));
      return op ? { statusCode: 200, data: op } : { statusCode: 404, data: { error: { code: 'RDB_ERR_NOT_FOUND', message: 'no such operation' } } };
    }
    return { statusCode: 500, data: { error: { code: 'RDB_ERR_INTERNAL', message: `unexpected ${method} ${path}` } } };
  }
}

const agent = useMockAgent();

/** Answer on the agents of `nodes` (a stub no request reaches fails the test). */
function serve(c: FakeCluster, nodes = ['n1', 'n2', 'n3']): void {
  for (const node of nodes) {
    const origin = ORIGINS[node];
    agent()
      .get(origin)
      .intercept({ path: () => true, method: () => true })
      .reply((o) => {
        const r = c.handle(node, o.method, o.path, typeof o.body === 'string' ? o.body : undefined);
        return { statusCode: r.statusCode, data: JSON.stringify(r.data), responseOptions: { headers: { 'content-type': 'application/json' } } };
      })
      .persist();
  }
}

async function run(args: string[], tty = false): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const f: Factory = {
    io: { out: { write: (s: string) => void (out += s) }, err: { write: (s: string) => void (err += s) }, outIsTTY: tty, color: false, inIsTTY: tty, errIsTTY: tty },
    env: { RUSTYDB_ENDPOINTS: ORIGINS.n1, RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' },
    cwd: '/',
  };
  return { code: await main(args, f), out, err };
}

test('--dry-run -o json: the plan (followers by id, then the primary), the checks, one switchover; nothing is written', async () => {
  const c = new FakeCluster();
  serve(c, ['n1']);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--dry-run', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  const plan = JSON.parse(r.out) as { ready: boolean; steps: { node: string; role: string }[]; switchovers: { from: string }[] };
  assert.deepEqual(plan.steps.map((s) => `${s.node}:${s.role}`), ['n2:follower', 'n3:follower', 'n1:primary']);
  assert.equal(plan.ready, true);
  assert.deepEqual(plan.switchovers.map((s) => s.from), ['n1']);
  assert.deepEqual(c.calls, []);
  assert.equal(c.journal, null);
});

test('a major-version target is refused (exit 5) before anything changes', async () => {
  const c = new FakeCluster();
  serve(c, ['n1']);
  const r = await run(['cluster', 'upgrade', '--version', '16.1', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /another major version/);
  assert.deepEqual([c.calls, c.journal], [[], null]);
});

test('not on a terminal and no --yes: exit 3, nothing written', async () => {
  const c = new FakeCluster();
  serve(c, ['n1']);
  const r = await run(['cluster', 'upgrade', '--version', '15.18']);
  assert.equal(r.code, 3, r.err);
  assert.match(r.err, /--yes/);
  assert.deepEqual([c.calls, c.journal], [[], null]);
});

test('the whole upgrade: followers one at a time, one switchover to an upgraded follower, then the old primary; journal before and after each step', async () => {
  const c = new FakeCluster();
  serve(c);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(c.calls, ['upgrade n2', 'upgrade n3', 'switchover n1->n2', 'upgrade n1']);
  assert.deepEqual(c.release, { n1: '15.18', n2: '15.18', n3: '15.18' });
  assert.equal(c.journal?.state, 'succeeded');
  const report = JSON.parse(r.out) as { state: string; switchover: { from: string; to: string; durationMs: number }; nodes: { node: string; from: string; to: string; durationMs: number; writeUnavailableMs: number }[] };
  assert.equal(report.state, 'succeeded');
  assert.deepEqual(report.nodes.map((n) => [n.node, n.from, n.to, n.durationMs]), [['n2', '15.17', '15.18', 3000], ['n3', '15.17', '15.18', 3000], ['n1', '15.17', '15.18', 3000]]);
  assert.deepEqual([report.switchover.from, report.switchover.to, report.switchover.durationMs], ['n1', 'n2', 3000]);
  // Each node was written as in flight WITH its operation id (one write) before its upgrade was asked for, and done after:
  // never in flight without an operation to follow (an abort landing in between cannot lose the node).
  for (const node of ['n2', 'n3', 'n1']) {
    const states = c.journalWrites.map((j) => j.plan.find((s) => s.node === node)!).map((s) => `${s.step}${s.operation ? '+op' : ''}`);
    assert.ok(!states.includes('upgrading'), `${node} in flight without an operation: ${states.join(' ')}`);
    const firstFlight = states.indexOf('upgrading+op');
    assert.ok(firstFlight >= 0 && states.at(-1) === 'done+op', `${node}: ${states.join(' ')}`);
  }
  assert.deepEqual(c.journaledBeforeAsked, [true, true, true]);
  assert.match(r.err, /n2 \(follower\): 15\.17 → 15\.18/);
});

test('a second upgrade while one runs exits 6 naming it', async () => {
  const c = new FakeCluster();
  c.journal = { id: 'upgrade-x', version: '15.18', state: 'running', plan: [], switchover: null, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', message: 'upgrading n3', revision: 4 };
  serve(c, ['n1']);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /upgrade upgrade-x to 15\.18 is running .*cluster upgrade resume/);
  assert.deepEqual(c.calls, []);
});

test('resume after the CLI died during the second node: its operation is followed, no node is upgraded twice', async () => {
  const c = new FakeCluster();
  serve(c, ['n1']);
  // As a killed run left it: n2 done, n3 in flight with its (succeeded) operation.
  c.release.n2 = '15.18';
  const op = c.handle('n3', 'POST', '/v1/node/upgrade', JSON.stringify({ version: '15.18' })).data as OperationView;
  c.calls.length = 0;
  const step = (node: string, role: 'follower' | 'primary', st: 'pending' | 'upgrading' | 'done', operation: string | null) => ({
    node, role, step: st, from: '15.17', to: st === 'done' ? '15.18' : null, startedAt: null, finishedAt: null, durationMs: st === 'done' ? 3000 : null, operation, rolledBack: false, writeUnavailableMs: null,
  });
  c.journal = {
    id: 'upgrade-k', version: '15.18', state: 'running', switchover: null, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', message: 'upgrading n3', revision: 6,
    plan: [step('n2', 'follower', 'done', 'up-n2'), step('n3', 'follower', 'upgrading', op.id), step('n1', 'primary', 'pending', null)],
  };
  const r = await run(['cluster', 'upgrade', 'resume', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(c.calls, ['switchover n1->n2', 'upgrade n1']);
  assert.equal(c.journal.state, 'succeeded');
  assert.deepEqual(c.journal.plan.map((s) => s.step), ['done', 'done', 'done']);
});

test('a node that rolls back stops the procedure: exit 5 naming it, journal failed, later nodes untouched', async () => {
  const c = new FakeCluster();
  c.broken.add('n3');
  serve(c);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 5, r.err);
  assert.match(r.err, /n3 did not come up on 15\.18 and was rolled back/);
  assert.deepEqual(c.calls, ['upgrade n2', 'upgrade n3']);
  assert.equal(c.journal?.state, 'failed');
  assert.deepEqual(c.journal?.plan.map((s) => [s.node, s.step, s.rolledBack]), [['n2', 'done', false], ['n3', 'failed', true], ['n1', 'pending', false]]);
});

test('abort with no step in flight ends the journal aborted; status shows it; resume then refuses', async () => {
  const c = new FakeCluster();
  serve(c, ['n1']);
  c.journal = { id: 'upgrade-a', version: '15.18', state: 'running', plan: [], switchover: null, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', message: 'planned', revision: 1 };
  const a = await run(['cluster', 'upgrade', 'abort', '-o', 'json']);
  assert.equal(a.code, 0, a.err);
  assert.equal(c.journal.state, 'aborted');
  const s = await run(['cluster', 'upgrade', 'status', '-o', 'table']);
  assert.match(s.out, /upgrade upgrade-a to 15\.18: aborted/);
  const again = await run(['cluster', 'upgrade', 'resume']);
  assert.equal(again.code, 5);
  assert.match(again.err, /no upgrade is running/);
});

test("the root's --version still prints the CLI's version; without --version the command says what to give", async () => {
  const v = await run(['--version']);
  assert.equal(v.code, 0);
  assert.match(v.out, /^\d+\.\d+\.\d+/);
  const r = await run(['cluster', 'upgrade', '--yes']);
  assert.equal(r.code, 2);
  assert.match(r.err, /--version R/);
});

test('a refused switchover (nothing changed) is asked again; the old primary is upgraded only after one succeeded', async () => {
  const c = new FakeCluster();
  c.refuseSwitchovers = 1;
  serve(c);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes', '-o', 'json']);
  assert.equal(r.code, 0, r.err);
  assert.deepEqual(c.calls, ['upgrade n2', 'upgrade n3', 'switchover n1->n2', 'switchover n1->n2', 'upgrade n1']);
  const sw = c.journal?.switchover?.operation ?? '';
  assert.match(sw, /^op-upgrade-.*-switchover-/);
  assert.equal(c.ops.get(sw)?.state, 'succeeded');
});

test('abort landing right after a node is marked in flight: that node is finished, then the journal ends aborted, never before', async () => {
  const c = new FakeCluster();
  serve(c, ['n1', 'n2']);
  // `cluster upgrade abort` lands just after the run marked n2 upgrading, before it asked n2's agent.
  c.afterPut = (j) => {
    const n2 = j.plan.find((x) => x.node === 'n2')!;
    if (j.state === 'running' && n2.step === 'upgrading') {
      c.journal = { ...j, state: 'aborting', message: 'aborting: the node in flight finishes first', revision: j.revision + 1 };
      c.journalWrites.push(structuredClone(c.journal));
      c.afterPut = undefined;
    }
  };
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 1, r.err);
  assert.match(r.err, /was aborted/);
  assert.deepEqual(c.calls, ['upgrade n2']);
  assert.equal(c.journal?.state, 'aborted');
  assert.deepEqual(c.journal?.plan.map((x) => [x.node, x.step]), [['n2', 'done'], ['n3', 'pending'], ['n1', 'pending']]);
  // No journal ever said aborted while a node was in flight.
  for (const j of c.journalWrites) assert.ok(!(j.state === 'aborted' && j.plan.some((x) => x.step === 'upgrading')), JSON.stringify(j.plan));
});

test('resume of an aborting journal whose in-flight node never reached its agent: asked with the same operation id, finished, then aborted', async () => {
  const c = new FakeCluster();
  serve(c, ['n1', 'n2']);
  const step = (node: string, role: 'follower' | 'primary', st: 'pending' | 'upgrading', operation: string | null) => ({
    node, role, step: st, from: '15.17', to: null, startedAt: null, finishedAt: null, durationMs: null, operation, rolledBack: false, writeUnavailableMs: null,
  });
  c.journal = {
    id: 'upgrade-r', version: '15.18', state: 'aborting', switchover: null, startedAt: '2026-01-01T00:00:00.000Z', updatedAt: '2026-01-01T00:00:00.000Z', message: 'aborting', revision: 3,
    plan: [step('n2', 'follower', 'upgrading', 'upgrade-n2-dead0001'), step('n3', 'follower', 'pending', null), step('n1', 'primary', 'pending', null)],
  };
  const r = await run(['cluster', 'upgrade', 'resume']);
  assert.equal(r.code, 1, r.err);
  assert.deepEqual(c.calls, ['upgrade n2']);
  assert.equal(c.ops.get('upgrade-n2-dead0001')?.state, 'succeeded', 'the journaled id was the one used');
  assert.equal(c.journal.state, 'aborted');
  assert.deepEqual(c.journal.plan.map((x) => x.step), ['done', 'pending', 'pending']);
});

test('another procedure pending: cluster upgrade does not start (exit 6 naming it); the dry run shows the check failing', async () => {
  const c = new FakeCluster();
  c.blockedBy = { kind: 'failover-request', id: 'r-9', message: 'a switchover/failover to n3 (request r-9, asked at 2026-01-01T00:00:00.000Z) has not finished: wait until it has' };
  serve(c, ['n1']);
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /request r-9/);
  assert.equal(c.journal, null);
  const d = await run(['cluster', 'upgrade', '--version', '15.18', '--dry-run', '-o', 'json']);
  const checks = (JSON.parse(d.out) as { checks: { check: string; ok: boolean; detail: string }[] }).checks;
  assert.deepEqual(checks.find((x) => x.check === 'no other procedure')?.ok, false);
});

test('a procedure that appears mid-way: the gate after a node refuses with exit 6 naming it; the journal stays running for resume', async () => {
  const c = new FakeCluster();
  serve(c);
  c.afterPut = (j) => {
    if (j.plan.find((x) => x.node === 'n2')?.step === 'done') {
      c.blockedBy = { kind: 'force-quorum', id: 'force-quorum-q1', message: 'a force-quorum (operation force-quorum-q1) is in progress: wait until it has finished' };
      c.afterPut = undefined;
    }
  };
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /gate after n2 is closed: a force-quorum \(operation force-quorum-q1\)/);
  assert.deepEqual(c.calls, ['upgrade n2']);
  assert.equal(c.journal?.state, 'running');
  // Once it is over, resume goes on where it stopped.
  c.blockedBy = null;
  const again = await run(['cluster', 'upgrade', 'resume']);
  assert.equal(again.code, 0, again.err);
  assert.deepEqual(c.calls, ['upgrade n2', 'upgrade n3', 'switchover n1->n2', 'upgrade n1']);
});

test("a node's agent refusing because of another procedure (409): the step goes back to pending, exit 6 naming it", async () => {
  const c = new FakeCluster();
  serve(c);
  c.afterPut = (j) => {
    if (j.plan.find((x) => x.node === 'n3')?.step === 'upgrading') {
      c.blockedBy = { kind: 'failover-request', id: 'r-7', message: 'a switchover/failover (request r-7) has not finished: wait until it has' };
      c.afterPut = undefined;
    }
  };
  const r = await run(['cluster', 'upgrade', '--version', '15.18', '--yes']);
  assert.equal(r.code, 6, r.err);
  assert.match(r.err, /n3 was not upgraded: a switchover\/failover \(request r-7\)/);
  assert.deepEqual(c.refusedForBlock, ['n3']);
  assert.deepEqual(c.journal?.plan.map((x) => [x.node, x.step, x.operation === null]), [['n2', 'done', false], ['n3', 'pending', true], ['n1', 'pending', true]]);
  assert.equal(c.journal?.state, 'running');
});
