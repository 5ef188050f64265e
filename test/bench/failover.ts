/**
 * `npm run bench:failover`: write unavailability of a 3-node sandbox (real
 * agents, real PostgreSQL, loopback) under crash failover and planned
 * switchover, with a writer running, for two timing profiles:
 *
 *  - LAN:  heartbeat 100 ms, election 1000 ms  (`--trials N`, default 5)
 *  - seed: heartbeat 1000 ms, election 5000 ms (`--seed-trials N`, default min(3, N))
 *
 * Lease and failover timeout are the agent's defaults (election, and
 * election + 2 × heartbeat). A crash trial SIGKILLs the primary's agent and
 * postmaster, waits for the first acknowledged write on another node, then
 * restarts the old node and waits until it streams again (so the next trial
 * has 3 nodes). A switchover trial asks for a switchover to a replica.
 *
 * Prints, per profile and kind: median / p95 / max of write unavailability
 * (kill or switchover request → first acknowledged write on the new primary),
 * acknowledged writes lost, and when each phase happened (median time after
 * the fault, and median step from the phase before) from the agents' logs, to
 * show what dominates. Bounded by `--budget-s` (default 330): trials that
 * would not fit are skipped and said so; a watchdog stops everything. Exit
 * code 1 if any acknowledged write was lost.
 *
 * Then, when network namespaces are available (root, iproute2, nftables),
 * the fault suite's harness (test/faults/run.ts) isolates the primary of a
 * cluster whose nodes each live in their own namespace, `--isolation-trials N`
 * times (default 5; 0 skips): failover time from real network isolation, with
 * its checker's verdict (lost writes, dual-primary windows).
 *
 * Not part of `npm test`. Options: --trials N, --seed-trials N, --profile lan|seed|all, --budget-s S, --isolation-trials N.
 */

import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { faultSupport } from '../faults/net/fabric.ts';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { logEntries, missing, readIds, waitFor } from '../integration/helpers/checker.ts';
import { ACKED_TABLE, crashFailover, createTables, pgNodeOf, plannedSwitchover, rejoin, type TrialResult } from '../integration/helpers/trials.ts';

interface Profile {
  name: string;
  heartbeatMs: number;
  electionMs: number;
  trials: number;
  /** How long a restarted old primary may take to stream again before the bench re-clones it. */
  rejoinTimeoutMs: number;
}

type Kind = 'crash' | 'switchover';

/** What one trial measured, and when its phases happened (ms after the fault or request). */
interface Sample {
  kind: Kind;
  result: TrialResult;
  phases: Record<string, number>;
}

interface ProfileOutcome {
  profile: Profile;
  samples: Sample[];
  /** Crash trials: how the old primary came back. */
  rejoins: { rewound: number; other: number; failed: number };
  /** Acknowledged ids (all trials of the profile) missing on the last primary. */
  cumulativeLost: number;
  cumulativeAcked: number;
  notes: string[];
}

const { values: args } = parseArgs({
  options: {
    trials: { type: 'string', default: '5' },
    'seed-trials': { type: 'string' },
    profile: { type: 'string', default: 'all' },
    'budget-s': { type: 'string', default: '330' },
    'isolation-trials': { type: 'string', default: '5' },
  },
});
const isolationTrials = Number(args['isolation-trials']);
if (!Number.isInteger(isolationTrials) || isolationTrials < 0) usage(`--isolation-trials must be 0 or a positive integer, got ${args['isolation-trials']}`);
const trials = positiveInt(args.trials!, '--trials');
const seedTrials = args['seed-trials'] === undefined ? Math.min(3, trials) : positiveInt(args['seed-trials'], '--seed-trials');
const budgetMs = positiveInt(args['budget-s']!, '--budget-s') * 1000;
if (!['lan', 'seed', 'all'].includes(args.profile!)) usage(`--profile must be lan, seed or all, got ${args.profile}`);

const PROFILES: Profile[] = [
  { name: 'LAN', heartbeatMs: 100, electionMs: 1000, trials, rejoinTimeoutMs: 20_000 },
  { name: 'seed defaults', heartbeatMs: 1000, electionMs: 5000, trials: seedTrials, rejoinTimeoutMs: 40_000 },
].filter((p) => args.profile === 'all' || (args.profile === 'lan') === (p.name === 'LAN'));

/** Phases of a trial in the order they happen (those of the other kind are absent). */
const PHASE_ORDER = [
  'raft leader elected',
  'failover started',
  'old primary stopped',
  'new primary record',
  'promoted',
  'sync standbys set',
  'first acknowledged write',
] as const;

const started = performance.now();
const root = mkdtempSync(join(tmpdir(), 'failover-bench-'));
chmodSync(root, 0o755); // the engine user must reach the data dirs
const open = new Set<Sandbox>();

async function cleanup(): Promise<void> {
  for (const sb of open) await sb.down({ purge: true }).catch(() => {});
  open.clear();
  rmSync(root, { recursive: true, force: true });
}

// Hard bound: the budget plus time to finish the trial in flight and stop everything.
const watchdog = setTimeout(() => {
  console.error(`bench:failover: still running ${Math.round((budgetMs + 120_000) / 1000)} s after start; stopping everything`);
  void cleanup().finally(() => process.exit(2));
}, budgetMs + 120_000);
watchdog.unref();
process.on('SIGINT', () => {
  void cleanup().finally(() => process.exit(130));
});

const say = (line: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0).padStart(3)} s] ${line}\n`);
const left = () => budgetMs - (performance.now() - started);

let lostAny = false;
try {
  const outcomes: ProfileOutcome[] = [];
  for (const [i, p] of PROFILES.entries()) {
    // Leave the later profiles their share of what is left.
    const share = left() / (PROFILES.length - i);
    outcomes.push(await runProfile(p, i, performance.now() + share));
  }
  printSummary(outcomes);
  lostAny = outcomes.some((o) => o.cumulativeLost > 0 || o.samples.some((x) => x.result.lost.length > 0));
} finally {
  await cleanup();
  clearTimeout(watchdog);
}
if (isolationTrials > 0) lostAny = !(await isolationFailovers(isolationTrials)) || lostAny;
// Exit 1 when an acknowledged write was lost. Exit explicitly: abandoned client
// sockets and HTTP keep-alives must not hold the process open.
process.exit(lostAny ? 1 : 0);

// ---------------------------------------------------------------------------

async function runProfile(p: Profile, index: number, deadline: number): Promise<ProfileOutcome> {
  const out: ProfileOutcome = { profile: p, samples: [], rejoins: { rewound: 0, other: 0, failed: 0 }, cumulativeLost: 0, cumulativeAcked: 0, notes: [] };
  say(`profile ${p.name}: heartbeat ${p.heartbeatMs} ms, election ${p.electionMs} ms; starting a 3-node sandbox`);
  const allAcked: number[] = [];
  let sb: Sandbox | null = null;
  try {
    sb = await Sandbox.open({ dir: join(root, `p${index}`), nodes: 3, electionTimeoutMs: p.electionMs, heartbeatIntervalMs: p.heartbeatMs });
    open.add(sb);
    await sb.up({ timeoutMs: 180_000 });
    const first = await sb.waitHealthy(60_000);
    await createTables(sb, first.primary!);
    // Rough cost of a trial, to skip what would not fit in the budget.
    const estimate: Record<Kind, number> = { crash: 3 * p.electionMs + 12_000, switchover: 2 * p.electionMs + 6_000 };
    let nextId = (index + 1) * 100_000_000;
    for (const kind of ['crash', 'switchover'] as Kind[]) {
      for (let t = 0; t < p.trials; t++) {
        // Crash trials leave room for the switchover trials after them.
        const reserve = kind === 'crash' ? p.trials * estimate.switchover : 0;
        if (performance.now() + estimate[kind] + reserve > deadline) {
          out.notes.push(`${kind}: ran ${t} of ${p.trials} trials (time budget)`);
          break;
        }
        const view = await sb.waitHealthy(60_000);
        const primary = view.primary!;
        const firstId = nextId;
        nextId += 1_000_000;
        try {
          const sample = kind === 'crash' ? await crashTrial(sb, p, primary, firstId, out) : await switchoverTrial(sb, primary, t, firstId);
          out.samples.push(sample);
          allAcked.push(...sample.result.writer.acked.map((a) => a.id));
          say(`${p.name} ${kind} ${t + 1}/${p.trials}: ${sample.result.from} -> ${sample.result.to}, writes unavailable ${fmt(sample.result.unavailableMs)}, lost ${sample.result.lost.length} of ${sample.result.writer.acked.length}`);
        } catch (err) {
          out.notes.push(`${kind} trial ${t + 1} failed: ${firstLine(err)}`);
          say(`${p.name} ${kind} ${t + 1}/${p.trials} FAILED: ${firstLine(err)}`);
          await restoreThreeNodes(sb, p, out);
        }
      }
    }
    const last = await sb.waitHealthy(60_000);
    const present = await readIds(pgNodeOf(sb, last.primary!), ACKED_TABLE);
    out.cumulativeAcked = allAcked.length;
    out.cumulativeLost = missing(allAcked, present).length;
  } catch (err) {
    out.notes.push(`profile stopped: ${firstLine(err)}`);
    say(`profile ${p.name} stopped: ${String(err)}`);
  } finally {
    if (sb) {
      await sb.down({ purge: true }).catch((err) => say(`sandbox down failed: ${String(err)}`));
      open.delete(sb);
    }
  }
  return out;
}

async function crashTrial(sb: Sandbox, p: Profile, primary: string, firstId: number, out: ProfileOutcome): Promise<Sample> {
  const result = await crashFailover(sb, primary, { firstId, warmupMs: 1000, settleMs: 300, timeoutMs: 10 * p.electionMs + 30_000 });
  const phases = phasesFromLogs(sb, result, 'crash');
  // Bring the old node back so the next trial has three; measure nothing here.
  try {
    const back = await rejoin(
      sb,
      result.from,
      result.to,
      [],
      { restart: true, timeoutMs: p.rejoinTimeoutMs },
    );
    if (back.rewound) out.rejoins.rewound++;
    else out.rejoins.other++;
  } catch (err) {
    out.rejoins.failed++;
    say(`${result.from} did not stream from ${result.to} within ${fmt(p.rejoinTimeoutMs)} after restart (${firstLine(err)}); re-cloning it`);
    await reclone(sb, result.from);
  }
  return { kind: 'crash', result, phases };
}

async function switchoverTrial(sb: Sandbox, primary: string, t: number, firstId: number): Promise<Sample> {
  const replicas = sb
    .nodes()
    .map((n) => n.id)
    .filter((id) => id !== primary)
    .sort();
  const target = replicas[t % replicas.length];
  const result = await plannedSwitchover(sb, primary, target, { firstId, warmupMs: 1000, settleMs: 300 });
  const phases = phasesFromLogs(sb, result, 'switchover');
  await rejoin(sb, result.from, result.to, [], { restart: false, timeoutMs: 60_000 });
  return { kind: 'switchover', result, phases };
}

/**
 * When the phases of one trial happened, in ms after the fault (wall clock,
 * from the agents' pino `time`): the first log line of each kind on a node
 * other than the old primary. Missing phases are left out.
 */
function phasesFromLogs(sb: Sandbox, r: TrialResult, kind: Kind): Record<string, number> {
  const wall = r.faultWallMs;
  const entries = sb
    .nodes()
    .filter((n) => kind === 'switchover' || n.id !== r.from)
    .flatMap((n) => logEntries(n.logFile, wall).map((e) => ({ ...e, node: n.id })))
    .sort((a, b) => a.time - b.time);
  const firstOf = (pred: (e: (typeof entries)[number]) => boolean) => entries.find(pred)?.time;
  const marks: [string, number | undefined][] = [
    ['raft leader elected', kind === 'crash' ? firstOf((e) => e.msg === 'raft: leadership changed' && e.fields.leader !== r.from && e.fields.leader != null) : undefined],
    ['failover started', firstOf((e) => e.msg.startsWith('failing over:') || e.msg.startsWith('running the requested'))],
    ['old primary stopped', kind === 'switchover' ? firstOf((e) => e.msg.startsWith('switchover:') && e.msg.includes('stopped cleanly')) : undefined],
    ['new primary record', firstOf((e) => e.msg.startsWith('failover done'))],
    ['promoted', firstOf((e) => e.node === r.to && e.msg === 'engine: promoted to primary')],
    ['sync standbys set', firstOf((e) => e.node === r.to && e.msg === 'engine: synchronous standbys set')],
  ];
  const phases: Record<string, number> = {};
  for (const [name, at] of marks) if (at !== undefined) phases[name] = at - wall;
  phases['first acknowledged write'] = r.unavailableMs;
  return phases;
}

/** Work around a node that cannot stream again: stop its agent, move its data dir away, start it (it clones). */
async function reclone(sb: Sandbox, id: string): Promise<void> {
  const n = sb.node(id);
  if (n.agentPid !== null) sb.signalAgent(id, 'SIGTERM');
  await waitFor(`${id}'s agent and engine to stop`, async () => sb.node(id).agentPid === null && sb.node(id).enginePid === null, 30_000, 200);
  rmSync(n.dataDir, { recursive: true, force: true });
  await sb.startAgent(id);
  await sb.waitHealthy(120_000);
}

/** After a failed trial: every node's agent running and the cluster healthy again, or the profile stops. */
async function restoreThreeNodes(sb: Sandbox, p: Profile, out: ProfileOutcome): Promise<void> {
  for (const n of sb.nodes()) {
    if (n.agentPid === null) await sb.startAgent(n.id);
  }
  try {
    await sb.waitHealthy(Math.max(30_000, 6 * p.electionMs));
  } catch {
    // Whichever node is not streaming is re-cloned.
    const view = await sb.clusterView();
    for (const m of view?.members ?? []) {
      if (m.id !== view?.primary && m.role !== 'replica') {
        out.notes.push(`re-cloned ${m.id} to restore three nodes`);
        await reclone(sb, m.id);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// Output

function printSummary(outcomes: ProfileOutcome[]): void {
  const lines: string[] = [];
  lines.push(`bench:failover: 3 nodes on 127.0.0.1, real PostgreSQL; writer: one connection, sequential autocommit INSERTs`);
  lines.push('write unavailability = fault (SIGKILL of agent + postmaster) or switchover request -> first acknowledged write on the new primary');
  for (const o of outcomes) {
    const p = o.profile;
    lines.push('');
    lines.push(`profile ${p.name}: heartbeat ${p.heartbeatMs} ms, election ${p.electionMs} ms, lease ${p.electionMs} ms, failover timeout ${p.electionMs + 2 * p.heartbeatMs} ms`);
    for (const kind of ['crash', 'switchover'] as Kind[]) {
      const s = o.samples.filter((x) => x.kind === kind);
      const label = kind === 'crash' ? 'crash failover' : 'switchover    ';
      if (s.length === 0) {
        lines.push(`  ${label}  no trials completed`);
        continue;
      }
      const u = s.map((x) => x.result.unavailableMs);
      const lost = s.reduce((a, x) => a + x.result.lost.length, 0);
      const acked = s.reduce((a, x) => a + x.result.writer.acked.length, 0);
      const unknown = s.reduce((a, x) => a + x.result.writer.unknown.length, 0);
      lines.push(
        `  ${label}  ${s.length} trials  unavailable: median ${fmt(quantile(u, 0.5))}  p95 ${fmt(quantile(u, 0.95))}  max ${fmt(Math.max(...u))}   acknowledged writes lost: ${lost} of ${acked} (unknown outcome: ${unknown})`,
      );
      lines.push(`      phases (median ms after the ${kind === 'crash' ? 'kill' : 'request'}, +median step): ${phaseLine(s)}`);
    }
    const r = o.rejoins;
    if (r.rewound + r.other + r.failed > 0) {
      lines.push(`  old primary after restart: ${r.rewound} streamed again after pg_rewind, ${r.other} otherwise, ${r.failed} did not stream within ${fmt(p.rejoinTimeoutMs)} (re-cloned by the bench)`);
    }
    lines.push(`  all trials: ${o.cumulativeLost} of ${o.cumulativeAcked} acknowledged writes missing on the last primary`);
    for (const n of o.notes) lines.push(`  note: ${n}`);
  }
  lines.push('', `total ${((performance.now() - started) / 1000).toFixed(0)} s`);
  process.stdout.write(lines.join('\n') + '\n');
}

/**
 * Each phase in the order they happen: its median time after the fault and
 * the median of its step from the phase before it in the same trial (the
 * steps show what dominates; medians of times alone mix trials).
 */
function phaseLine(samples: Sample[]): string {
  const times = new Map<string, number[]>();
  const steps = new Map<string, number[]>();
  for (const x of samples) {
    let prev = 0;
    for (const name of PHASE_ORDER) {
      const at = x.phases[name];
      if (at === undefined) continue;
      (times.get(name) ?? times.set(name, []).get(name)!).push(at);
      (steps.get(name) ?? steps.set(name, []).get(name)!).push(at - prev);
      prev = at;
    }
  }
  return PHASE_ORDER.filter((n) => times.has(n))
    .map((n) => {
      const step = quantile(steps.get(n)!, 0.5);
      return `${n} ${quantile(times.get(n)!, 0.5).toFixed(0)} (${step >= 0 ? '+' : ''}${step.toFixed(0)})`;
    })
    .join(' → ');
}

/**
 * Failover under real network isolation: the fault suite's `isolate-primary`
 * scenario (nodes in network namespaces, nftables drops the primary's peer
 * traffic, clients keep reaching it). Prints its report; false on any failed run.
 */
async function isolationFailovers(n: number): Promise<boolean> {
  const support = faultSupport();
  if (!support.ok) {
    console.log(`\nisolation failover: skipped (${support.reason})`);
    return true;
  }
  say(`isolation failover: ${n} trials in network namespaces (test/faults/run.ts --scenario isolate-primary)`);
  const script = fileURLToPath(new URL('../faults/run.ts', import.meta.url));
  const out = spawnSync(process.execPath, ['--import', 'tsx', script, '--scenario', 'isolate-primary', '--iterations', String(n)], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  const lines = out.stdout.split('\n');
  const report = lines.slice(lines.findIndex((l) => l.startsWith('scenario ')));
  console.log('\nisolation failover (3 nodes in network namespaces, primary cut off from its peers by nftables, clients still reach it;');
  console.log('failover time = isolation -> first write acknowledged in the new epoch, from the per-node probes):');
  for (const l of report) if (l.trim() !== '') console.log(`  ${l}`);
  if (out.status !== 0) console.log(out.stdout.slice(-6000));
  return out.status === 0;
}

/** Nearest-rank quantile; NaN for no values. */
function quantile(values: number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

function fmt(ms: number): string {
  return Number.isNaN(ms) ? '-' : `${(ms / 1000).toFixed(2)} s`;
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0];
}

function positiveInt(s: string, flag: string): number {
  const n = Number(s);
  if (!Number.isInteger(n) || n < 1) usage(`${flag} must be a positive integer, got ${s}`);
  return n;
}

function usage(msg: string): never {
  process.stderr.write(`bench:failover: ${msg}\nusage: node --import tsx test/bench/failover.ts [--trials N] [--seed-trials N] [--profile lan|seed|all] [--budget-s S] [--isolation-trials N]\n`);
  process.exit(2);
}

