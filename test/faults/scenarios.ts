/**
 * The fault scenarios: each injects its faults into a settled 3-node cluster
 * while the workload runs, waits for what the product should do (usually a
 * failover), and leaves the healing to the runner (every fault registers its
 * undo with `ctx.onHeal`). A scenario asserts nothing about safety itself:
 * the checker judges the run afterwards. It may fail the run for liveness
 * (a failover that never came).
 */

import type { Sandbox } from '../../src/sandbox/cluster.ts';
import type { Fabric } from './net/fabric.ts';
import type { Partitioner } from './net/partition.ts';
import type { LinkProxy } from './net/proxy.ts';

export interface ScenarioContext {
  sb: Sandbox;
  fabric: Fabric;
  parts: Partitioner;
  proxy: LinkProxy;
  /** Every node id. */
  nodes: string[];
  /** The primary when the scenario started (settled, writable). */
  primary: string;
  /** Its epoch. */
  epoch: number;
  /** The other nodes. */
  standbys: string[];
  /** Record an event on the timeline (and mark the first fault's time). */
  event(text: string): void;
  /** Mark "the fault that should cause a failover happens now" (failover time counts from here). */
  faultNow(text: string): void;
  /** Run `undo` when healing (in reverse order of registration). */
  onHeal(what: string, undo: () => Promise<void> | void): void;
  sleep(ms: number): Promise<void>;
  /** Wait until a node other than `not` is the writable primary of a newer epoch than ctx.epoch; returns it. */
  waitNewPrimary(not: string | null, timeoutMs?: number): Promise<string>;
  killAgent(id: string): void;
  killEngine(id: string): void;
  pauseAgent(id: string): void;
  pauseEngine(id: string): void;
  /** Jump a node's wall clock (every agent runs under libfaketime, monotonic clock untouched); undone when healing. */
  jumpClock(id: string, seconds: number): void;
  /** Restart an agent with all its clocks running at `rate` (libfaketime, monotonic too); undone when healing. */
  restartWithFastClock(id: string, rate: number): Promise<void>;
  /** Put a node's agent state directory on a small tmpfs and fill it (ENOSPC). */
  fillAgentDisk(id: string): Promise<void>;
  /** Free the space again (the tmpfs stays until healing). */
  freeAgentDisk(id: string): void;
  /** Move a node's PostgreSQL data directory onto a tmpfs with `spareMb` free (the node restarts; back on disk when healing). */
  smallDataDisk(id: string, spareMb: number): Promise<void>;
  /** Fill that tmpfs (ENOSPC) / free it again. */
  fillDataDisk(id: string): void;
  freeDataDisk(id: string): void;
  /** A planned switchover to `to`, waited for. */
  switchover(to: string): Promise<void>;
  /** PUT a runtime config knob through `via`'s agent (a Raft write); returns the HTTP status. */
  configWrite(via: string, value: number): Promise<number>;
  /** GET /v1/node of `id`: its Raft view (or the error text). */
  nodeRaft(id: string): Promise<string>;
}

export interface Scenario {
  name: string;
  /** One line: the fault and what the product should do. */
  what: string;
  /** Default iterations in the full suite. */
  iterations: number;
  /** In the short subset `npm test` runs. */
  short?: boolean;
  /** Does it need libfaketime? (skipped with a reason when missing) */
  needsClock?: boolean;
  run(ctx: ScenarioContext): Promise<void>;
}

const LEASE_MS = 1000;

/** kill -9 of the primary's agent and PostgreSQL, restarted when healing; waits for the failover. */
async function crashPrimary(c: ScenarioContext, why = '', timeoutMs?: number): Promise<void> {
  c.faultNow(`kill -9 of ${c.primary}'s agent and PostgreSQL${why}`);
  c.killAgent(c.primary);
  c.killEngine(c.primary);
  c.onHeal(`start ${c.primary}'s agent`, () => c.sb.startAgent(c.primary));
  await c.waitNewPrimary(c.primary, timeoutMs);
  await c.sleep(1000);
}

/** Cut the primary off from its peers (and clients too with `clients`), healed later; waits for the failover. */
async function isolatePrimary(c: ScenarioContext, clients: boolean, timeoutMs?: number): Promise<void> {
  c.faultNow(`isolating ${c.primary} from its peers${clients ? ' and clients' : ' (clients still reach it)'}`);
  await c.parts.isolate(c.primary, { clients });
  c.onHeal('partition', () => c.parts.heal());
  await c.waitNewPrimary(c.primary, timeoutMs);
  await c.sleep(1500);
}

export const SCENARIOS: Scenario[] = [
  {
    name: 'isolate-primary',
    what: 'the primary loses its peers (clients still reach it): it must stop acknowledging, a standby takes over',
    iterations: 10,
    short: true,
    run: (c) => isolatePrimary(c, false),
  },
  {
    name: 'isolate-primary-all',
    what: 'the primary loses everyone, clients too: a standby takes over',
    iterations: 6,
    run: (c) => isolatePrimary(c, true),
  },
  {
    name: 'split-2-1-primary-majority',
    what: 'a standby is cut off, the primary keeps a majority: writes go on, no failover needed',
    iterations: 3,
    async run(c) {
      const [s1, s2] = c.standbys;
      c.event(`split {${c.primary}, ${s1}} | {${s2}}`);
      await c.parts.split([[c.primary, s1], [s2]]);
      c.onHeal('partition', () => c.parts.heal());
      await c.sleep(6000);
    },
  },
  {
    name: 'split-1-1-1',
    what: 'nobody reaches anybody: no majority anywhere, the primary must stop acknowledging; after healing one primary',
    iterations: 4,
    async run(c) {
      c.faultNow('split {n1} | {n2} | {n3}');
      await c.parts.split(c.nodes.map((n) => [n]));
      c.onHeal('partition', () => c.parts.heal());
      await c.sleep(LEASE_MS * 5);
    },
  },
  {
    name: 'one-way-to-primary',
    what: 'the primary sends but hears nothing: it cannot confirm its lease; a standby takes over',
    iterations: 7,
    async run(c) {
      c.faultNow(`${c.standbys.join(', ')} -> ${c.primary} dropped (one way)`);
      for (const s of c.standbys) await c.parts.blockOneWay(s, c.primary);
      c.onHeal('partition', () => c.parts.heal());
      await c.waitNewPrimary(c.primary);
      await c.sleep(1000);
    },
  },
  {
    name: 'one-way-from-primary',
    what: 'the standbys stop hearing the primary, which still hears them: a standby takes over, the old primary stops',
    iterations: 7,
    async run(c) {
      c.faultNow(`${c.primary} -> ${c.standbys.join(', ')} dropped (one way)`);
      for (const s of c.standbys) await c.parts.blockOneWay(c.primary, s);
      c.onHeal('partition', () => c.parts.heal());
      await c.waitNewPrimary(c.primary);
      await c.sleep(1000);
    },
  },
  {
    name: 'partial-standbys-apart',
    what: 'the primary reaches both standbys, the standbys cannot reach each other (Cloudflare 2020): no flapping, writes go on',
    iterations: 3,
    async run(c) {
      const [s1, s2] = c.standbys;
      c.event(`${s1} <-/-> ${s2} (the primary reaches both)`);
      await c.parts.block(s1, s2);
      c.onHeal('partition', () => c.parts.heal());
      await c.sleep(8000);
    },
  },
  {
    name: 'partial-primary-one',
    what: 'the primary reaches one standby only, that standby reaches both: a majority path exists, writes go on or fail over once',
    iterations: 3,
    async run(c) {
      const [s1, s2] = c.standbys;
      c.event(`${c.primary} <-/-> ${s2} (${s1} reaches both)`);
      await c.parts.block(c.primary, s2);
      c.onHeal('partition', () => c.parts.heal());
      await c.sleep(8000);
    },
  },
  {
    name: 'flapping-primary-links',
    what: "the primary's links go down and up every 700 ms for 8 s: at most one primary per epoch throughout",
    iterations: 3,
    async run(c) {
      c.faultNow(`flapping ${c.primary} <-> ${c.standbys.join(', ')} (700 ms)`);
      const stops: (() => Promise<void>)[] = [];
      for (const s of c.standbys) stops.push(await c.parts.flap(c.primary, s, { periodMs: 700, forMs: 8000 }));
      c.onHeal('flapping', async () => {
        for (const stop of stops) await stop();
        await c.parts.heal();
      });
      await c.sleep(8500);
    },
  },
  {
    name: 'kill-primary-agent',
    what: "kill -9 of the primary's agent (its PostgreSQL runs on, unsupervised): a standby takes over; the restarted agent demotes the old engine",
    iterations: 7,
    short: true,
    async run(c) {
      c.faultNow(`kill -9 of ${c.primary}'s agent`);
      c.killAgent(c.primary);
      c.onHeal(`start ${c.primary}'s agent`, () => c.sb.startAgent(c.primary));
      await c.waitNewPrimary(c.primary);
      await c.sleep(1000);
    },
  },
  {
    name: 'kill-primary-engine',
    what: "kill -9 of the primary's postmaster: the agent restarts it or a standby takes over",
    iterations: 4,
    async run(c) {
      c.faultNow(`kill -9 of ${c.primary}'s PostgreSQL`);
      c.killEngine(c.primary);
      await c.sleep(6000);
    },
  },
  {
    name: 'kill-primary-both',
    what: 'kill -9 of agent and engine of the primary: a standby takes over; the node rejoins (rewind) when restarted',
    iterations: 10,
    run: (c) => crashPrimary(c),
  },
  {
    name: 'pause-primary-agent',
    what: "SIGSTOP of the primary's agent for 5x the lease (zombie primary): a standby takes over; the old one never acknowledges again",
    iterations: 10,
    short: true,
    async run(c) {
      c.faultNow(`SIGSTOP ${c.primary}'s agent`);
      c.pauseAgent(c.primary);
      c.onHeal(`SIGCONT ${c.primary}'s agent`, () => c.sb.signalAgent(c.primary, 'SIGCONT'));
      await c.waitNewPrimary(c.primary);
      await c.sleep(Math.max(0, LEASE_MS * 5 - 2000));
    },
  },
  {
    name: 'pause-primary-engine',
    what: "SIGSTOP of the primary's PostgreSQL (every process) for 6 s: a standby takes over; the resumed engine is fenced",
    iterations: 6,
    async run(c) {
      c.faultNow(`SIGSTOP ${c.primary}'s PostgreSQL`);
      c.pauseEngine(c.primary);
      await c.waitNewPrimary(c.primary, 30_000).catch(() => c.event('no failover while the engine was paused'));
      await c.sleep(2000);
    },
  },
  {
    name: 'pause-standby-engine',
    what: "SIGSTOP of a standby's PostgreSQL for 6 s: the other standby confirms commits, no failover, the standby catches up",
    iterations: 2,
    async run(c) {
      const [s1] = c.standbys;
      c.event(`SIGSTOP ${s1}'s PostgreSQL (a standby)`);
      c.pauseEngine(s1);
      await c.sleep(6000);
    },
  },
  {
    name: 'restart-loop',
    what: "the primary's agent is killed and restarted 3 times in a row, 1.5 s apart",
    iterations: 3,
    async run(c) {
      c.onHeal(`start ${c.primary}'s agent`, () => c.sb.startAgent(c.primary));
      for (let i = 1; i <= 3; i++) {
        if (i === 1) c.faultNow(`kill -9 of ${c.primary}'s agent (1 of 3)`);
        else c.event(`kill -9 of ${c.primary}'s agent (${i} of 3)`);
        c.killAgent(c.primary);
        await c.sleep(1500);
        await c.sb.startAgent(c.primary);
        c.event(`${c.primary}'s agent restarted`);
      }
      await c.sleep(3000);
    },
  },
  {
    name: 'switchover',
    what: 'planned switchover under load: no acknowledged write lost, one epoch',
    iterations: 14,
    async run(c) {
      c.faultNow(`switchover ${c.primary} -> ${c.standbys[0]}`);
      await c.switchover(c.standbys[0]);
    },
  },
  {
    name: 'slow-links-failover',
    // The LAN profile (heartbeat 100 ms, election 1 s) is for round trips well under 100 ms: at
    // 150 ms each way the primary fences itself (safe) and no leader holds; such links need the WAN timings.
    what: 'every agent link delayed 30 ms (+0..20 jitter) each way, then the primary dies: failover still completes, nothing lost',
    iterations: 4,
    async run(c) {
      c.event('agent links delayed 30 ms + 0..20 ms jitter each way');
      for (const a of c.nodes) for (const b of c.nodes) if (a !== b) c.proxy.set(a, b, { delayMs: 30, jitterMs: 20 });
      c.onHeal('link delays', () => c.proxy.clear());
      await c.sleep(3000);
      await crashPrimary(c, ' (slow links)', 90_000);
    },
  },
  {
    name: 'lossy-links-isolate',
    what: 'agent links reset 30% of new connections and stall for 1.5 s, then the primary is isolated: one failover, nothing lost',
    iterations: 4,
    async run(c) {
      c.event('agent links: 30% of new connections reset, 1.5 s stall');
      for (const a of c.nodes) for (const b of c.nodes) if (a !== b) c.proxy.set(a, b, { dropConnections: 0.3, stallMs: 1500 });
      c.onHeal('link losses', () => c.proxy.clear());
      await c.sleep(4000);
      await isolatePrimary(c, false, 90_000);
    },
  },
  {
    name: 'clock-jumps',
    what: "wall clocks jump (primary +1 h, a standby -1 h), then the primary dies: leases run on the monotonic clock, failover as usual",
    iterations: 4,
    short: true,
    needsClock: true,
    async run(c) {
      const [s1] = c.standbys;
      c.event(`${c.primary}'s wall clock +1 h, ${s1}'s -1 h`);
      c.jumpClock(c.primary, 3600);
      c.jumpClock(s1, -3600);
      await c.sleep(4000);
      await crashPrimary(c, ' (clocks skewed)');
    },
  },
  {
    name: 'clock-fast-standby',
    what: "a standby's clock runs 2x fast (monotonic too), then the primary is isolated: at most one primary per epoch",
    iterations: 3,
    needsClock: true,
    async run(c) {
      const [s1] = c.standbys;
      await c.restartWithFastClock(s1, 2);
      await c.sleep(5000);
      await isolatePrimary(c, false);
    },
  },
  {
    name: 'disk-full-standby-agent',
    what: "a standby agent's state disk fills up: it pauses (reports it), the cluster goes on; when space returns it catches up and can be switched to",
    iterations: 3,
    async run(c) {
      const [s1] = c.standbys;
      await c.fillAgentDisk(s1);
      c.event(`${s1}'s agent state disk is full`);
      for (let i = 0; i < 3; i++) {
        const code = await c.configWrite(c.primary, 1200 + i);
        c.event(`config write through ${c.primary}: HTTP ${code}`);
        if (code !== 200) throw new Error(`a Raft write failed (HTTP ${code}) while only ${s1}'s disk was full: the other two are a majority`);
        await c.sleep(700);
      }
      c.event(`${s1} says: ${await c.nodeRaft(s1)}`);
      c.freeAgentDisk(s1);
      c.event(`${s1}'s disk has room again`);
      await c.sleep(3000);
      c.event(`${s1} says: ${await c.nodeRaft(s1)}`);
      c.faultNow(`switchover ${c.primary} -> ${s1}`);
      await c.switchover(s1);
    },
  },
  {
    name: 'disk-full-primary-data',
    what: "the primary's data directory fills up: PostgreSQL runs on but writes fail (no failover: the standbys are no better placed); the cluster says why, writes resume once there is room, nothing acknowledged is lost",
    iterations: 2,
    async run(c) {
      const [s1] = c.standbys;
      await c.smallDataDisk(s1, 48);
      await c.switchover(s1);
      await c.sb.waitHealthy(60_000);
      c.event(`${s1}'s data disk fills up (it is the primary)`);
      c.fillDataDisk(s1);
      const deadline = Date.now() + 30_000;
      let said: string | null = null;
      while (said === null && Date.now() < deadline) {
        const p = (await c.sb.clusterView().catch(() => null))?.problem ?? null;
        if (p && /nearly full/.test(p)) said = p;
        else await c.sleep(200);
      }
      if (said === null) throw new Error(`the cluster view never said that ${s1}'s data directory is full`);
      c.event(`the cluster says: ${said}`);
      await c.sleep(3000);
      c.freeDataDisk(s1);
      c.event(`${s1}'s data disk has room again`);
      await c.sleep(2000);
    },
  },
];
