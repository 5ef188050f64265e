/**
 * `npm run test:faults [-- --scenario NAME[,NAME]] [--iterations N] [--short]`
 *
 * The fault-injection suite on real processes: a 3-node cluster (agents +
 * PostgreSQL), each node in its own network namespace, agent links through
 * a delaying/lossy proxy; a workload through the libpq multi-host connection
 * string and per-node probes run while each scenario injects its faults; the
 * runner heals, waits until the cluster is healthy again, and the checker
 * judges the run (acknowledged writes present, no dual primary, linearizable
 * registers, writable again within a bound). A failed run prints its timeline.
 *
 * Ends with one line:
 *   faults: <scenarios> scenarios, <failovers> failovers, <lost> acknowledged writes lost, <dual> dual-primary windows
 * and exits 1 unless every run passed (so in particular unless the last two are 0).
 * Without root, iproute2 or nftables it says why and exits 0 ("skipped").
 *
 * Started in the root namespace it creates the fabric, runs itself inside the
 * control namespace, and destroys the fabric afterwards whatever happened.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { makeTestRoot } from '../integration/helpers/cli-sandbox.ts';
import { check, summarizeVerdict, type Verdict } from './checker.ts';
import { clockFaultSupport, fakeClock, type FakeClock } from './inject/clock.ts';
import { fillDisk, freeDisk, mountSmallDisk, unmountSmallDisk } from './inject/disk.ts';
import { signalTree } from './inject/process.ts';
import { createFabric, execInNamespace, fabricFromEnv, faultSupport, listNamespaces, reexecInside, type Fabric } from './net/fabric.ts';
import { createPartitioner, type Partitioner } from './net/partition.ts';
import { peerLinks, startLinkProxy, type LinkProxy } from './net/proxy.ts';
import { startProbes } from './probes.ts';
import { SCENARIOS, type Scenario, type ScenarioContext } from './scenarios.ts';
import { formatTimeline, type TimelineEvent } from './timeline.ts';
import { prepareSchema, readFinal, startWorkload, type FaultNode } from './workload.ts';

/** Each node's wall-clock control (libfaketime), when available. */
const clocks = new Map<string, FakeClock>();
const CLIENT_ROLE = 'fault_client';
const CLIENT_PASSWORD = 'fault-client-pw-0123456789';

const { values: args } = parseArgs({
  options: {
    scenario: { type: 'string', multiple: true },
    iterations: { type: 'string' },
    short: { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});

if (args.list) {
  for (const s of SCENARIOS) console.log(`${s.name.padEnd(28)} x${s.iterations}${s.short ? ' (short)' : ''}  ${s.what}`);
  process.exit(0);
}

const chosen = pickScenarios();
const fabric = fabricFromEnv();
process.exitCode = fabric === null ? await outer() : await inner(fabric);

function pickScenarios(): { scenario: Scenario; iterations: number }[] {
  const names = (args.scenario ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
  for (const n of names) {
    if (!SCENARIOS.some((s) => s.name === n)) {
      console.error(`test:faults: no scenario "${n}"; the scenarios are: ${SCENARIOS.map((s) => s.name).join(', ')}`);
      process.exit(2);
    }
  }
  let list = names.length > 0 ? SCENARIOS.filter((s) => names.includes(s.name)) : SCENARIOS;
  if (args.short) list = list.filter((s) => s.short);
  const n = args.iterations === undefined ? null : Number(args.iterations);
  if (n !== null && (!Number.isInteger(n) || n < 1)) {
    console.error(`test:faults: --iterations must be a positive integer, got ${args.iterations}`);
    process.exit(2);
  }
  return list.map((scenario) => ({ scenario, iterations: n ?? (args.short ? 1 : scenario.iterations) }));
}

async function outer(): Promise<number> {
  const support = faultSupport();
  if (!support.ok) {
    console.log(`faults: skipped: ${support.reason}`);
    return 0;
  }
  const f = createFabric({ name: `t${process.pid}`, nodes: ['n1', 'n2', 'n3'] });
  try {
    const { code } = await reexecInside(f, fileURLToPath(import.meta.url), { args: process.argv.slice(2) });
    return code;
  } finally {
    f.destroy();
    const left = listNamespaces(`rdbf-${f.name}-`);
    if (left.length > 0) console.error(`test:faults: namespaces left behind: ${left.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------- inside the ctl namespace


interface RunResult {
  name: string;
  iteration: number;
  ok: boolean;
  failovers: number;
  /** Fault -> first acknowledged probe in a newer epoch, ms (when there was one). */
  failoverMs: number | null;
  lost: number;
  dual: number;
  summary: string;
}

async function inner(f: Fabric): Promise<number> {
  const root = makeTestRoot('faults');
  const results: RunResult[] = [];
  let sb: Sandbox | null = null;
  let proxy: LinkProxy | null = null;
  let parts: Partitioner | null = null;
  const t0 = performance.now();
  clocks.clear();
  const say = (line: string) => console.log(`[faults ${((performance.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${line}`);
  try {
    sb = await Sandbox.open({
      dir: join(root, 'sb'),
      nodes: f.nodes.length,
      hosts: f.nodes.map((id) => f.addressOf(id)),
      spawnPrefix: (id) => ['ip', 'netns', 'exec', f.nsOf(id)],
      electionTimeoutMs: 1000,
      heartbeatIntervalMs: 100,
    });
    const s = sb;
    // Every agent reads its wall clock through libfaketime (offset 0 until a scenario jumps it;
    // the monotonic clock is never faked here), so clock jumps need no restart.
    if (clockFaultSupport().ok) {
      for (const n of s.nodes()) {
        const clock = fakeClock(join(root, `${n.id}.faketime`), {});
        clocks.set(n.id, clock);
        s.setAgentEnv(n.id, clock.env);
      }
    }
    // Before the agents start: connections opened earlier would bypass it.
    proxy = await startLinkProxy(f, peerLinks(f, Object.fromEntries(s.nodes().map((n) => [n.id, n.apiPort]))));
    parts = await createPartitioner(f);
    say(`starting 3 agents + PostgreSQL in ${f.namespaces().join(', ')}`);
    await s.up({ timeoutMs: 180_000 });
    const first = await s.waitHealthy(120_000);
    createClientRole(s, f, first.primary!);
    const nodes: FaultNode[] = s.nodes().map((n) => ({ id: n.id, ...s.pgConfigFor(n.id), user: CLIENT_ROLE, password: CLIENT_PASSWORD }));
    await prepareSchema(nodes.find((n) => n.id === first.primary)!);
    const connString = `postgresql://${CLIENT_ROLE}:${CLIENT_PASSWORD}@${s
      .nodes()
      .map((n) => `${f.addressOf(n.id)}:${n.pgPort}`)
      .join(',')}/postgres?target_session_attrs=read-write`;
    say(`cluster up, primary ${first.primary}; clients connect to ${connString.replace(CLIENT_PASSWORD, '***')}`);

    const clockOk = clockFaultSupport();
    for (const { scenario, iterations } of chosen) {
      if (scenario.needsClock && !clockOk.ok) {
        say(`${scenario.name}: skipped (${clockOk.reason})`);
        continue;
      }
      for (let i = 1; i <= iterations; i++) {
        const r = await runOnce(s, f, parts, proxy, nodes, connString, scenario, i, root, say);
        results.push(r);
        say(`${r.ok ? 'ok  ' : 'FAIL'} ${scenario.name} #${i}: ${r.summary}`);
      }
    }
  } catch (err) {
    say(`suite stopped: ${(err as Error).stack ?? String(err)}`);
    if (sb) for (const n of sb.nodes()) console.log(`--- ${n.id} (${n.logFile}) ---\n${sb.logTail(n.id, 20)}`);
    results.push({ name: 'suite', iteration: 0, ok: false, failovers: 0, failoverMs: null, lost: 0, dual: 0, summary: String(err) });
  } finally {
    await parts?.dispose().catch(() => {});
    await proxy?.close().catch(() => {});
    if (sb) await sb.down({ purge: true }).catch((e: Error) => say(`sandbox down: ${e.message}`));
    if (existsSync(root)) rmSync(root, { recursive: true, force: true });
  }
  printReport(results);
  return results.every((r) => r.ok) ? 0 : 1;
}

/** The workload's role: superusers are admitted only from the nodes themselves, as it should be. */
function createClientRole(s: Sandbox, f: Fabric, primary: string): void {
  const su = s.pgConfigFor(primary);
  const conn = `postgresql://${encodeURIComponent(su.user)}:${encodeURIComponent(su.password)}@${su.host}:${su.port}/postgres`;
  const sql = `DO $$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${CLIENT_ROLE}') THEN CREATE ROLE ${CLIENT_ROLE} LOGIN PASSWORD '${CLIENT_PASSWORD}'; END IF;
    END $$; GRANT CREATE ON SCHEMA public TO ${CLIENT_ROLE};`;
  execInNamespace(f.nsOf(primary), ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', conn, '-c', sql]);
}

async function runOnce(
  s: Sandbox,
  f: Fabric,
  parts: Partitioner,
  proxy: LinkProxy,
  nodes: FaultNode[],
  connString: string,
  scenario: Scenario,
  iteration: number,
  root: string,
  say: (l: string) => void,
): Promise<RunResult> {
  const events: TimelineEvent[] = [];
  const heals: { what: string; undo: () => Promise<void> | void }[] = [];
  let faultAt: number | null = null;
  const event = (text: string) => events.push({ at: performance.now(), text });
  const before = await s.waitHealthy(120_000);
  const primary = before.primary!;
  const epoch = before.epoch;
  const ids = s.nodes().map((n) => n.id);

  const ctx: ScenarioContext = {
    sb: s,
    fabric: f,
    parts,
    proxy,
    nodes: ids,
    primary,
    epoch,
    standbys: ids.filter((id) => id !== primary),
    event,
    faultNow(text) {
      if (faultAt === null) faultAt = performance.now();
      event(text);
    },
    onHeal: (what, undo) => heals.push({ what, undo }),
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    async waitNewPrimary(not, timeoutMs = 60_000) {
      const deadline = performance.now() + timeoutMs;
      while (performance.now() < deadline) {
        const v = await s.clusterView().catch(() => null);
        if (v && v.primary && v.primary !== not && v.epoch > epoch && v.writable) {
          event(`${v.primary} is the writable primary of epoch ${v.epoch}`);
          return v.primary;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error(`no new writable primary within ${timeoutMs / 1000} s (the primary was ${primary}, epoch ${epoch})`);
    },
    killAgent: (id) => s.signalAgent(id, 'SIGKILL'),
    killEngine(id) {
      try {
        s.killEngine(id);
      } catch {
        event(`${id} had no PostgreSQL running to kill`);
      }
    },
    pauseAgent: (id) => s.signalAgent(id, 'SIGSTOP'),
    pauseEngine(id) {
      const pid = s.node(id).enginePid;
      if (pid === null) throw new Error(`${id} has no PostgreSQL running to pause`);
      signalTree(pid, 'SIGSTOP');
      heals.push({ what: `SIGCONT ${id}'s PostgreSQL`, undo: () => void signalTree(pid, 'SIGCONT') });
    },
    jumpClock(id, seconds) {
      const clock = clocks.get(id);
      if (!clock) throw new Error(`no fake clock for ${id}: libfaketime is missing`);
      clock.offset(seconds);
      heals.push({ what: `${id}'s wall clock back to real time`, undo: () => clock.offset(0) });
    },
    async restartWithFastClock(id, rate) {
      const fast = fakeClock(join(root, `${id}.fast.faketime`), { monotonic: true, rate });
      await withAgentStopped(s, id, () => s.setAgentEnv(id, fast.env));
      event(`${id}'s agent restarted with every clock running ${rate}x fast (libfaketime)`);
      heals.push({ what: `${id}'s agent back on the real clock`, undo: () => withAgentStopped(s, id, () => s.setAgentEnv(id, clocks.get(id)?.env ?? null)) });
    },
    async fillAgentDisk(id) {
      const dir = join(s.dir, id, 'agent');
      await withAgentStopped(s, id, () => mountSmallDisk(dir, 16));
      heals.push({ what: `${id}'s agent state back on the real disk`, undo: () => withAgentStopped(s, id, () => unmountSmallDisk(dir)) });
      await new Promise((r) => setTimeout(r, 2000));
      event(`${id}'s agent state on a 16 MB tmpfs; filled (${(fillDisk(dir) / 1e6).toFixed(1)} MB)`);
    },
    freeAgentDisk: (id) => freeDisk(join(s.dir, id, 'agent')),
    async smallDataDisk(id, spareMb) {
      const dir = s.node(id).dataDir;
      let usedMb = 0;
      await withAgentStopped(s, id, () => {
        usedMb = Number(execFileSync('du', ['-sm', dir], { encoding: 'utf8' }).split('\t')[0]);
        mountSmallDisk(dir, usedMb + spareMb);
      });
      heals.push({
        what: `${id}'s data directory back on the real disk`,
        undo: () =>
          withAgentStopped(s, id, async () => {
            const pid = s.node(id).enginePid;
            if (pid !== null) {
              signalTree(pid, 'SIGKILL');
              await new Promise((r) => setTimeout(r, 500));
            }
            unmountSmallDisk(dir);
          }),
      });
      await s.waitHealthy(120_000);
      event(`${id}'s data directory on a ${usedMb + spareMb} MB tmpfs (${usedMb} MB used)`);
    },
    fillDataDisk: (id) => event(`${id}'s data disk filled (${(fillDisk(s.node(id).dataDir) / 1e6).toFixed(1)} MB)`),
    freeDataDisk: (id) => freeDisk(s.node(id).dataDir),
    async switchover(to) {
      const url = s.node(primary).apiUrl;
      const res = await s.apiFetch(`${url}/v1/cluster/switchover`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ to }) });
      const body = (await res.json()) as { id?: string; error?: { message: string } };
      if (res.status !== 202 || !body.id) throw new Error(`switchover to ${to} refused: HTTP ${res.status} ${JSON.stringify(body)}`);
      const deadline = performance.now() + 60_000;
      for (;;) {
        const r = await s.apiFetch(`${url}/v1/operations/${body.id}`).catch(() => null);
        const op = r && r.status === 200 ? ((await r.json()) as { state: string; message: string }) : null;
        if (op?.state === 'succeeded') return void event(`switchover to ${to} succeeded: ${op.message}`);
        if (op?.state === 'failed') throw new Error(`switchover to ${to} failed: ${op.message}`);
        if (performance.now() > deadline) throw new Error(`switchover to ${to} did not finish within 60 s (${op?.message ?? 'no answer'})`);
        await new Promise((res2) => setTimeout(res2, 100));
      }
    },
    async configWrite(via, value) {
      const res = await s
        .apiFetch(`${s.node(via).apiUrl}/v1/config/failover_timeout_ms`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ value }), signal: AbortSignal.timeout(10_000) })
        .catch(() => null);
      await res?.arrayBuffer();
      return res?.status ?? 0;
    },
    async nodeRaft(id) {
      const res = await s.apiFetch(`${s.node(id).apiUrl}/v1/node`, { signal: AbortSignal.timeout(5000) }).catch((e: Error) => e);
      if (res instanceof Error) return res.message;
      const b = (await res.json()) as { raft?: unknown; error?: { message: string } };
      return JSON.stringify(b.raft ?? b.error ?? b).slice(0, 300);
    },
  };

  const probes = startProbes({ nodes });
  const workload = await startWorkload({ connString, writers: 2, registers: 2, pauseMs: 10 });
  await ctx.sleep(1000);
  let scenarioError: string | null = null;
  try {
    await scenario.run(ctx);
  } catch (err) {
    scenarioError = (err as Error).message;
    event(`scenario error: ${scenarioError}`);
  }
  for (const h of heals.reverse()) {
    try {
      await h.undo();
      event(`healed: ${h.what}`);
    } catch (err) {
      event(`healing "${h.what}" failed: ${(err as Error).message}`);
    }
  }
  const healedAt = performance.now();
  let after = null as Awaited<ReturnType<Sandbox['waitHealthy']>> | null;
  try {
    after = await s.waitHealthy(120_000);
    event(`cluster healthy: ${after.primary} primary of epoch ${after.epoch}`);
  } catch (err) {
    scenarioError ??= `the cluster did not become healthy within 120 s of healing: ${(err as Error).message}`;
  }
  await ctx.sleep(1000);
  const history = await workload.stop();
  const probeLog = await probes.stop();
  let verdict: Verdict | null = null;
  let summary: string;
  try {
    const finalPrimary = nodes.find((n) => n.id === (after?.primary ?? primary))!;
    const final = await readFinal(finalPrimary, history, probeLog.firstSeq);
    verdict = check({ history, probes: probeLog, final, healedAt, writableBoundMs: 60_000 });
    summary = '';
  } catch (err) {
    summary = `could not check: ${(err as Error).message}`;
  }
  const failovers = Math.max(0, (after?.epoch ?? epoch) - epoch);
  const fault = faultAt;
  const early = fault === null ? [] : probeLog.epochs.filter((e) => e.epoch > epoch && e.at < fault);
  const newer = fault === null ? undefined : probeLog.epochs.find((e) => e.epoch > epoch && e.at >= fault);
  const failoverMs = fault !== null && newer ? newer.at - fault : null;
  const ok = scenarioError === null && verdict !== null && verdict.ok;
  const lost = verdict?.lost ?? 0;
  const dual = verdict?.dualWindows.length ?? 0;
  const acked = history.ops.filter((o) => o.outcome === 'ok').length;
  const unknown = history.ops.filter((o) => o.outcome === 'unknown').length;
  summary =
    `${failovers} failover(s) (epoch ${epoch} -> ${after?.epoch ?? '?'})` +
    (early.length > 0 ? `, ${early.length} epoch(s) began before the main fault (${early.map((e) => `${e.epoch} on ${e.node}`).join(', ')})` : '') +
    (failoverMs !== null ? `, first write in the new epoch ${(failoverMs / 1000).toFixed(2)} s after the fault` : '') +
    `, ${acked} ops acknowledged, ${unknown} unknown, lost ${lost}, dual-primary windows ${dual}` +
    (scenarioError ? `; ${scenarioError}` : '') +
    (summary ? `; ${summary}` : '');
  if (!ok) {
    console.log(`\n===== ${scenario.name} #${iteration} FAILED =====`);
    if (verdict) console.log(summarizeVerdict(verdict));
    console.log(formatTimeline({ events, history, probes: probeLog, verdict }));
    for (const n of s.nodes()) console.log(`--- ${n.id}'s agent, last lines ---\n${s.logTail(n.id, 12)}`);
    console.log('=====\n');
  }
  return { name: scenario.name, iteration, ok, failovers, failoverMs, lost, dual, summary };
}

/** Stop a node's agent (if it runs), do `fn`, start the agent again. */
async function withAgentStopped(s: Sandbox, id: string, fn: () => Promise<void> | void): Promise<void> {
  if (s.node(id).agentPid !== null) {
    s.signalAgent(id, 'SIGTERM');
    await waitAgentGone(s, id);
  }
  await fn();
  await s.startAgent(id);
}

async function waitAgentGone(s: Sandbox, id: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (s.node(id).agentPid !== null) {
    if (Date.now() > deadline) {
      s.signalAgent(id, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function printReport(results: RunResult[]): void {
  const byName = new Map<string, RunResult[]>();
  for (const r of results) byName.set(r.name, [...(byName.get(r.name) ?? []), r]);
  console.log('\nscenario                      runs  passed  failovers  lost  dual   failover time (median / max)');
  for (const [name, rs] of byName) {
    const times = rs.map((r) => r.failoverMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
    const t = times.length === 0 ? '-' : `${(times[Math.floor((times.length - 1) / 2)] / 1000).toFixed(2)} s / ${(times[times.length - 1] / 1000).toFixed(2)} s`;
    console.log(
      `${name.padEnd(29)} ${String(rs.length).padStart(4)}  ${String(rs.filter((r) => r.ok).length).padStart(6)}  ${String(rs.reduce((a, r) => a + r.failovers, 0)).padStart(9)}  ${String(rs.reduce((a, r) => a + r.lost, 0)).padStart(4)}  ${String(rs.reduce((a, r) => a + r.dual, 0)).padStart(4)}   ${t}`,
    );
  }
  const all = results.map((r) => r.failoverMs).filter((x): x is number => x !== null).sort((a, b) => a - b);
  if (all.length > 0) {
    const q = (p: number) => (all[Math.min(all.length - 1, Math.floor(p * all.length))] / 1000).toFixed(2);
    console.log(`failover time (fault -> first acknowledged write in a newer epoch), ${all.length} samples: min ${q(0)} s, p50 ${q(0.5)} s, p90 ${q(0.9)} s, max ${(all[all.length - 1] / 1000).toFixed(2)} s`);
  }
  const scenarios = new Set(results.filter((r) => r.name !== 'suite').map((r) => r.name)).size;
  const failovers = results.reduce((a, r) => a + r.failovers, 0);
  const lost = results.reduce((a, r) => a + r.lost, 0);
  const dual = results.reduce((a, r) => a + r.dual, 0);
  const failed = results.filter((r) => !r.ok).length;
  if (failed > 0) console.log(`${failed} run(s) failed: ${results.filter((r) => !r.ok).map((r) => `${r.name} #${r.iteration}`).join(', ')}`);
  console.log(`faults: ${scenarios} scenarios, ${failovers} failovers, ${lost} acknowledged writes lost, ${dual} dual-primary windows`);
}
