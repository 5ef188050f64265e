/**
 * End to end: three real rustydb-agents with real PostgreSQL on loopback
 * (a Sandbox per scenario, under /tmp, purged in after()), timings of a LAN
 * profile: election 1000 ms, heartbeat 100 ms, lease = election, failover
 * timeout = election + 2 × heartbeat.
 *
 *  1. Crash failover: SIGKILL of the primary's agent and postmaster with a
 *     writer running → a new primary takes writes, no acknowledged id is lost,
 *     and the old node, restarted, rewinds and streams from the new primary.
 *  2. Zombie primary: SIGSTOP of the primary's agent for longer than the
 *     lease, with a prober sampling every node every 50 ms → never two nodes
 *     accepting a write at one sampled instant; another node becomes primary;
 *     the frozen node's engine (still a running primary) cannot commit because
 *     its standbys stopped streaming from it (synchronous replication); after
 *     SIGCONT it rejoins as a streaming replica.
 *  3. Planned switchover to a named replica with the writer running → the
 *     operation succeeds, no acknowledged id lost, the old primary streams
 *     from the target.
 */

import { after, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { missing, readProbeKeys, replicationRows, waitFor, writableNodes } from './helpers/checker.ts';
import { queryOnce, sleep } from './helpers/pg.ts';
import { Prober, ticksWithTwoWriters, type ProbeAck } from './helpers/prober.ts';
import { crashFailover, createTables, explained, pgNodeOf, pgNodesOf, plannedSwitchover, PROBE_TABLE, rejoin, type TrialResult } from './helpers/trials.ts';

const ELECTION_MS = 1000;
const HEARTBEAT_MS = 100;
const LEASE_MS = ELECTION_MS;
const FAILOVER_TIMEOUT_MS = ELECTION_MS + 2 * HEARTBEAT_MS;

const root = mkdtempSync(join(tmpdir(), 'agent-failover-'));
// PostgreSQL runs as the engine user, which must be able to enter the sandbox dirs.
chmodSync(root, 0o755);
const open = new Set<Sandbox>();

after(async () => {
  for (const sb of open) await sb.down({ purge: true }).catch(() => {});
  rmSync(root, { recursive: true, force: true });
});

/** A fresh, healthy 3-node sandbox with the test tables; returns it with its primary. */
async function healthySandbox(name: string): Promise<{ sb: Sandbox; primary: string }> {
  const sb = await Sandbox.open({
    dir: join(root, name),
    nodes: 3,
    electionTimeoutMs: ELECTION_MS,
    heartbeatIntervalMs: HEARTBEAT_MS,
    ha: { leaseMs: LEASE_MS, failoverTimeoutMs: FAILOVER_TIMEOUT_MS },
  });
  open.add(sb);
  await sb.up({ timeoutMs: 120_000 });
  const view = await sb.waitHealthy(30_000);
  assert.ok(view.primary, 'a healthy cluster names its primary');
  await createTables(sb, view.primary);
  return { sb, primary: view.primary };
}

/** Called on failure too: a failed scenario's cluster must not load the machine under the next one. */
async function closeSandbox(sb: Sandbox): Promise<void> {
  await sb.down({ purge: true });
  open.delete(sb);
}

function describeTrial(r: TrialResult): string {
  return `${r.from} -> ${r.to}: writes unavailable for ${r.unavailableMs.toFixed(0)} ms; ${r.writer.acked.length} acknowledged, ${r.writer.unknown.length} unknown, ${r.lost.length} lost`;
}

function assertNoneLost(r: TrialResult): void {
  assert.ok(r.writer.acked.some((a) => a.node === r.from), `the writer had acknowledged writes on ${r.from} before the change`);
  assert.deepEqual(
    r.lost,
    [],
    `acknowledged ids missing on the new primary ${r.to}: ${r.lost.slice(0, 20).join(', ')}${r.lost.length > 20 ? ' …' : ''}\nwriter's last events:\n  ${r.writer.events.join('\n  ')}`,
  );
}

test('1. crash failover: SIGKILL of the primary agent and postmaster loses no acknowledged write; the old node rewinds and rejoins', { timeout: 200_000 }, async (t: TestContext) => {
  const { sb, primary } = await healthySandbox('crash');
  try {
    await explained(sb, async () => {
      const r = await crashFailover(sb, primary, { firstId: 1_000_000 });
      t.diagnostic(describeTrial(r));

      assert.notEqual(r.to, primary);
      assertNoneLost(r);
      const view = await sb.clusterView();
      assert.equal(view?.primary, r.to, 'the cluster names the node that took the writes as primary');
      assert.deepEqual(await writableNodes(pgNodesOf(sb)), [r.to], 'exactly one node takes writes');

      const back = await rejoin(
        sb,
        primary,
        r.to,
        r.writer.acked.map((a) => a.id),
        { restart: true },
      );
      t.diagnostic(`${primary} after restart: ${back.sentences.join(' | ')}`);
      assert.ok(back.rewound, `${primary} rejoined by pg_rewind onto ${r.to}; its agent said: ${back.sentences.join(' | ')}`);
      assert.equal(back.recloned, false, `${primary} rejoined without a re-clone; its agent said: ${back.sentences.join(' | ')}`);
      assert.deepEqual(back.lost, [], `acknowledged ids missing on the rejoined ${primary}`);
      const healthy = await sb.waitHealthy(60_000);
      assert.equal(healthy.primary, r.to);
    });
  } finally {
    await closeSandbox(sb);
  }
});

test('2. zombie primary: a frozen agent (SIGSTOP past the lease) never leaves two writable nodes; it rejoins after SIGCONT', { timeout: 200_000 }, async (t: TestContext) => {
  const { sb, primary: old } = await healthySandbox('zombie');
  try {
    await explained(sb, async () => {
      const nodes = pgNodesOf(sb);
      const prober = new Prober({ nodes, table: PROBE_TABLE, periodMs: 50, windowMs: 100 });
      const acksOn = (node: string, pred: (a: ProbeAck) => boolean = () => true) => prober.report().acks.filter((a) => a.node === node && pred(a));
      let newPrimary = '';
      let stoppedAt = 0;
      let rejoinedAt = 0;
      let frozenEvidence = '';
      prober.start();
      try {
        await waitFor(`probe writes acknowledged by ${old}`, async () => acksOn(old).length >= 5, 15_000);

        stoppedAt = performance.now();
        sb.signalAgent(old, 'SIGSTOP');
        try {
          const first = await waitFor(
            'a probe write acknowledged by another node',
            async () => prober.report().acks.find((a) => a.node !== old && a.sentAt > stoppedAt),
            60_000,
          );
          newPrimary = first.node;
          t.diagnostic(`${newPrimary} acknowledged a probe write ${(first.doneAt - stoppedAt).toFixed(0)} ms after ${old}'s agent was frozen`);
          // Stay frozen well past the lease, with both nodes sampled for a while.
          while (performance.now() - stoppedAt < Math.max(4 * LEASE_MS, first.doneAt - stoppedAt + 1500)) await sleep(100);

          // How the frozen node's writes are blocked: its engine is still a running
          // primary (its agent cannot act), but no standby streams from it, so every
          // commit waits for synchronous replication forever.
          const oldPg = pgNodeOf(sb, old);
          const [engine] = await queryOnce<{ recovery: boolean; ssn: string; waiting: string }>(
            oldPg,
            `SELECT pg_is_in_recovery() AS recovery, current_setting('synchronous_standby_names') AS ssn,
                    (SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep')::text AS waiting`,
          );
          const repl = await replicationRows(oldPg);
          frozenEvidence = `${old} (agent frozen): in recovery ${engine.recovery}, synchronous_standby_names '${engine.ssn}', streaming standbys ${JSON.stringify(repl)}, backends waiting in SyncRep ${engine.waiting}`;
          t.diagnostic(frozenEvidence);
          assert.equal(engine.recovery, false, 'the frozen node still runs its engine as a primary (nothing could demote it)');
          assert.notEqual(engine.ssn, '', 'the frozen primary commits synchronously');
          assert.deepEqual(repl.filter((x) => x.state === 'streaming'), [], 'no standby streams from the frozen primary');
          assert.ok(Number(engine.waiting) >= 1, 'its probe commit waits for synchronous replication');
        } finally {
          sb.signalAgent(old, 'SIGCONT');
        }

        const back = await rejoin(sb, old, newPrimary, [], { restart: false });
        rejoinedAt = performance.now();
        t.diagnostic(`${old} after SIGCONT: ${back.sentences.join(' | ')}`);
        // Keep sampling a rejoined cluster for a while.
        await sleep(1000);
      } finally {
        await prober.stop();
      }
      const report = prober.report();

      const both = ticksWithTwoWriters(report.samples);
      assert.deepEqual(both, [], `sampled instants at which two nodes accepted a probe write (${report.samples.length} samples)`);

      assert.ok(report.samples.some((s) => s.at < stoppedAt && s.outcomes[old] === 'accepted'), `${old} accepted probe writes before it was frozen`);
      assert.ok(report.samples.some((s) => s.outcomes[newPrimary] === 'accepted'), `${newPrimary} accepted probe writes at sampled instants`);
      // Stronger than sampling: once the new primary acknowledged a write, the old one acknowledged none.
      const firstNew = Math.min(...report.acks.filter((a) => a.node === newPrimary).map((a) => a.doneAt));
      const oldAfter = report.acks.filter((a) => a.node === old && a.doneAt >= firstNew);
      assert.deepEqual(oldAfter, [], `${old} acknowledged probe writes after ${newPrimary} had acknowledged one`);
      assert.equal(
        report.samples.filter((s) => s.at > rejoinedAt && s.outcomes[old] === 'accepted').length,
        0,
        `${old} accepts no probe write after it rejoined`,
      );

      const view = await sb.clusterView();
      assert.equal(view?.primary, newPrimary, 'the cluster names the new primary');
      assert.deepEqual(await writableNodes(nodes), [newPrimary], 'exactly one node takes writes after SIGCONT');

      // Every acknowledged probe write (in its window or late) survived on the new primary.
      const present = await readProbeKeys(pgNodeOf(sb, newPrimary), PROBE_TABLE);
      const lost = missing(
        report.acks.map((a) => `${a.node}:${a.tick}`),
        present,
      );
      assert.deepEqual(lost, [], 'acknowledged probe writes missing on the new primary');
      t.diagnostic(`${report.samples.length} samples of ${nodes.length} nodes, ${report.acks.length} probe writes acknowledged, none lost`);
    });
  } finally {
    await closeSandbox(sb);
  }
});

test('3. planned switchover to a named replica with the writer running loses no acknowledged write', { timeout: 200_000 }, async (t: TestContext) => {
  const { sb, primary } = await healthySandbox('switchover');
  try {
    await explained(sb, async () => {
      const target = sb
        .nodes()
        .map((n) => n.id)
        .filter((id) => id !== primary)
        .sort()
        .at(-1)!;
      const r = await plannedSwitchover(sb, primary, target, { firstId: 3_000_000 });
      t.diagnostic(describeTrial(r));
      t.diagnostic(`operation ${r.operation.id}: ${r.operation.state}: ${r.operation.message}`);

      assert.equal(r.operation.kind, 'switchover');
      assert.equal(r.operation.state, 'succeeded');
      assert.equal(r.to, target, 'the target took the writes');
      assertNoneLost(r);
      const wrongNode = r.writer.acked.filter((a) => a.node !== primary && a.node !== target);
      assert.deepEqual(wrongNode, [], 'no write went to a third node');
      assert.equal((await sb.clusterView())?.primary, target, 'the cluster names the target as primary');
      assert.equal(await sb.primary(), target, `${target}'s /primary answers 200`);

      const back = await rejoin(
        sb,
        primary,
        target,
        r.writer.acked.map((a) => a.id),
        { restart: false, timeoutMs: 60_000 },
      );
      assert.deepEqual(back.lost, [], `acknowledged ids missing on the old primary ${primary}`);
      assert.deepEqual(await writableNodes(pgNodesOf(sb)), [target], 'exactly one node takes writes');
    });
  } finally {
    await closeSandbox(sb);
  }
});
