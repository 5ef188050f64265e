/**
 * The fault schedule of a simulated run: crashes (between steps, or at a Ready
 * crash point: before persisting it, after persisting but before sending, right
 * after a vote or a commit advance, early in a new leader's term), restarts
 * from disk, long pauses, slow clocks, symmetric partitions, one-way link cuts,
 * leader isolation, membership churn and leadership transfers. Every fault with
 * a duration registers its own undo, and `healAll` undoes them all.
 */
import type { NodeId } from '../../agent/raft/types.ts';
import type { LinkQuality, SimNetwork } from './network.ts';
import type { Prng } from './prng.ts';
import type { MembershipActions } from './membership.ts';
import type { CrashPoint, SimNode } from './sim-node.ts';

type Range = [number, number];

/**
 * How hostile a run is. Rates are per-tick probabilities; each seed scales them
 * by its own random intensity (some seeds calm, some stormy) and draws its link
 * quality from the ranges. Tests use profiles that favour a given bug, on the
 * same simulator.
 */
export interface FaultProfile {
  crash: number;
  /** Share of crashes aimed at the current leader. */
  crashLeader: number;
  /** Share of crashes that hit the node's next Ready (half before persisting it, half after persisting but before sending). */
  readyCrash: number;
  downTicks: Range;
  /** Probability of crashing right after sending a Ready that grants a vote (a vote must already be durable then). */
  voteCrash: number;
  /** Probability that a newly elected leader crashes within its first Readys or is isolated at once ("leaders die young"). */
  youngLeaderCrash: number;
  /** Probability that a leader crashes right after persisting a commit-index advance, before sending it to anyone. */
  commitCrash: number;
  pause: number;
  pauseTicks: Range;
  /** Share of pauses aimed at the current leader. */
  pauseLeader: number;
  /** Clock skew: a node's clock runs slow (one tick every 2..maxSlowdown ticks) for pauseTicks. */
  slowClock: number;
  maxSlowdown: number;
  /** Share of slow clocks given to the current leader. */
  slowClockLeader: number;
  partition: number;
  partitionTicks: Range;
  oneWay: number;
  isolateLeader: number;
  membership: number;
  transfer: number;
  loss: Range;
  dup: Range;
  /** Upper bound of the per-message delay, drawn per seed from this range (lower bound is 1). */
  maxDelay: Range;
  longDelayRate: number;
  longDelay: number;
  /** Per-seed fault intensity multiplier, drawn from this range. */
  intensity: Range;
  /** Keep at most a minority of voters down or paused at once (true), or allow any number (false). */
  minorityDown: boolean;
}

export const DEFAULT_PROFILE: FaultProfile = {
  crash: 0.012,
  crashLeader: 0.35,
  readyCrash: 0.5,
  downTicks: [1, 40],
  voteCrash: 0.15,
  youngLeaderCrash: 0.15,
  commitCrash: 0.01,
  pause: 0.006,
  pauseTicks: [5, 60],
  pauseLeader: 0.5,
  slowClock: 0.01,
  maxSlowdown: 4,
  slowClockLeader: 0.5,
  partition: 0.008,
  partitionTicks: [5, 60],
  oneWay: 0.006,
  isolateLeader: 0.005,
  membership: 0.015,
  transfer: 0.004,
  loss: [0, 0.15],
  dup: [0, 0.1],
  maxDelay: [1, 6],
  longDelayRate: 0.01,
  longDelay: 40,
  intensity: [0.3, 1.6],
  minorityDown: true,
};

/** What the injector acts on. */
export interface FaultTarget {
  readonly network: SimNetwork;
  now(): number;
  /** Nodes not removed, in creation order. */
  liveNodes(): SimNode[];
  leader(): SimNode | undefined;
  /** Voters of the newest configuration the cluster knows. */
  voters(): NodeId[];
  restart(node: SimNode): void;
  resume(node: SimNode): void;
  readonly membership: MembershipActions;
  trace(text: string): void;
}

export class FaultInjector {
  private readonly undos: Array<{ at: number; what: string; run: () => void }> = [];
  private readonly restarts = new Map<NodeId, number>();
  readonly scale: number;
  readonly quality: LinkQuality;
  active = true;

  constructor(
    private readonly rng: Prng,
    readonly profile: FaultProfile,
    private readonly target: FaultTarget,
  ) {
    this.scale = rng.range(profile.intensity[0], profile.intensity[1]);
    this.quality = {
      loss: rng.range(profile.loss[0], profile.loss[1]),
      dup: rng.range(profile.dup[0], profile.dup[1]),
      minDelay: 1,
      maxDelay: rng.int(profile.maxDelay[0], profile.maxDelay[1]),
      longDelayRate: profile.longDelayRate,
      longDelay: profile.longDelay,
    };
  }

  /** A crashed node comes back after a while, from its disk. */
  nodeCrashed(node: SimNode): void {
    if (!this.active || node.state === 'removed') return;
    const [lo, hi] = this.profile.downTicks;
    this.restarts.set(node.id, this.target.now() + this.rng.int(lo, hi));
  }

  /** Should `node` crash right after sending a Ready that grants a vote? */
  crashAfterVote(): boolean {
    return this.active && this.rng.chance(this.profile.voteCrash);
  }

  crashAfterCommit(node: SimNode): boolean {
    return this.active && this.rng.chance(this.profile.commitCrash) && this.canTakeDown(node);
  }

  /**
   * A node just became leader: maybe cut its career short, either by a crash a
   * Ready or two later (its no-op persisted, maybe not sent) or by isolating it
   * at once. This leaves entries of a term on one node only: the raw material
   * of the Raft paper's Figure 8.
   */
  newLeader(node: SimNode): void {
    if (!this.active || node.armed !== null || !this.rng.chance(this.profile.youngLeaderCrash) || !this.canTakeDown(node)) return;
    if (this.rng.chance(0.5)) {
      node.armed = { point: this.rng.chance(0.7) ? 'after-persist' : 'before-persist', skip: this.rng.int(0, 2) };
      this.target.trace(`${node.id} (new leader) will crash at its Ready +${node.armed.skip + 1} (${node.armed.point})`);
    } else {
      const rest = this.target.liveNodes().filter((n) => n !== node).map((n) => n.id);
      const what = `isolate new leader ${node.id}`;
      this.target.trace(what);
      this.later(this.target.now() + this.duration(), what, this.target.network.partition([[node.id], rest]));
    }
  }

  /** Once per tick, before nodes handle their Readys. */
  tick(): void {
    const t = this.target;
    const now = t.now();
    for (let i = this.undos.length - 1; i >= 0; i--) {
      if (this.undos[i].at <= now) {
        const u = this.undos.splice(i, 1)[0];
        u.run();
        t.trace(`heal ${u.what}`);
      }
    }
    for (const node of t.liveNodes()) {
      const at = this.restarts.get(node.id);
      if (at !== undefined && at <= now) {
        this.restarts.delete(node.id);
        if (node.state === 'down') t.restart(node);
      }
    }
    if (!this.active) return;
    const p = this.profile;
    const s = this.scale;
    const r = this.rng;
    if (r.chance(p.crash * s)) this.crashSome();
    if (r.chance(p.pause * s)) this.pauseSome();
    if (r.chance(p.slowClock * s)) this.slowSomeClock();
    if (r.chance(p.partition * s)) this.partitionRandom();
    if (r.chance(p.oneWay * s)) this.cutOneWay();
    if (r.chance(p.isolateLeader * s)) this.isolateLeader();
    if (r.chance(p.membership * s)) this.churnMembership();
    if (r.chance(p.transfer * s)) t.membership.transferLeadership();
  }

  /** Faults stop: heal every cut, resume every pause, restart every crashed node. */
  healAll(): void {
    this.active = false;
    for (const u of this.undos) u.run();
    this.undos.length = 0;
    this.target.network.healAll();
    this.restarts.clear();
    for (const node of this.target.liveNodes()) {
      node.armed = null;
      if (node.state === 'paused') this.target.resume(node);
      else if (node.state === 'down') this.target.restart(node);
    }
    this.target.trace('faults stop: all healed');
  }

  private canTakeDown(node: SimNode): boolean {
    if (!this.profile.minorityDown) return true;
    const voters = this.target.voters();
    if (!voters.includes(node.id)) return true;
    const nodes = this.target.liveNodes();
    const out = nodes.filter((n) => voters.includes(n.id) && (n.state !== 'up' || n.armed !== null)).length;
    return out + 1 <= Math.floor((voters.length - 1) / 2);
  }

  private victim(leaderShare: number): SimNode | undefined {
    const leader = this.target.leader();
    const candidates = this.target.liveNodes().filter((n) => n.state === 'up' && n.armed === null);
    const pick = leader && this.rng.chance(leaderShare) && leader.armed === null ? leader : candidates.length ? this.rng.pick(candidates) : undefined;
    return pick && this.canTakeDown(pick) ? pick : undefined;
  }

  private crashSome(): void {
    const node = this.victim(this.profile.crashLeader);
    if (!node) return;
    if (this.rng.chance(this.profile.readyCrash)) {
      const point: CrashPoint = this.rng.chance(0.5) ? 'before-persist' : 'after-persist';
      node.armed = { point, skip: 0 };
      this.target.trace(`${node.id} will crash at its next Ready (${point})`);
    } else {
      node.crash('between steps');
    }
  }

  /** Clocks drift: a slow node's timers (election, CheckQuorum, heartbeats) lag behind everyone else's. */
  private slowSomeClock(): void {
    let node: SimNode | undefined;
    if (this.rng.chance(this.profile.slowClockLeader)) node = this.target.leader();
    else {
      const nodes = this.target.liveNodes().filter((n) => n.state === 'up');
      if (nodes.length) node = this.rng.pick(nodes);
    }
    if (!node || node.tickEvery !== 1) return;
    node.tickEvery = this.rng.int(2, Math.max(2, this.profile.maxSlowdown));
    const [lo, hi] = this.profile.pauseTicks;
    const what = `slow clock on ${node.id} (1 tick per ${node.tickEvery})`;
    this.target.trace(what);
    this.later(this.target.now() + this.rng.int(lo, hi), what, () => {
      node.tickEvery = 1;
    });
  }

  private pauseSome(): void {
    const node = this.victim(this.profile.pauseLeader);
    if (!node) return;
    const [lo, hi] = this.profile.pauseTicks;
    const until = this.target.now() + this.rng.int(lo, hi);
    node.state = 'paused';
    this.target.trace(`${node.id} PAUSE until t=${until}`);
    this.later(until, `pause of ${node.id}`, () => {
      if (node.state === 'paused') this.target.resume(node);
    });
  }

  private partitionRandom(): void {
    const ids = this.rng.shuffle(this.target.liveNodes().map((n) => n.id));
    if (ids.length < 2) return;
    const k = this.rng.int(1, ids.length - 1);
    const groups = [ids.slice(0, k), ids.slice(k)];
    const what = `partition ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`;
    this.target.trace(what);
    this.later(this.target.now() + this.duration(), what, this.target.network.partition(groups));
  }

  private cutOneWay(): void {
    const ids = this.target.liveNodes().map((n) => n.id);
    if (ids.length < 2) return;
    const a = this.rng.pick(ids);
    const others = ids.filter((x) => x !== a);
    let links: Array<[NodeId, NodeId]>;
    let what: string;
    if (this.rng.chance(0.5)) {
      const b = this.rng.pick(others);
      links = [[a, b]];
      what = `one-way cut ${a} -> ${b}`;
    } else if (this.rng.chance(0.5)) {
      links = others.map((b): [NodeId, NodeId] => [a, b]);
      what = `one-way cut: ${a} cannot send`;
    } else {
      links = others.map((b): [NodeId, NodeId] => [b, a]);
      what = `one-way cut: ${a} cannot receive`;
    }
    this.target.trace(what);
    this.later(this.target.now() + this.duration(), what, this.target.network.cut(links));
  }

  private isolateLeader(): void {
    const leader = this.target.leader();
    if (!leader) return;
    const rest = this.target.liveNodes().filter((n) => n !== leader).map((n) => n.id);
    const what = `isolate leader ${leader.id}`;
    this.target.trace(what);
    this.later(this.target.now() + this.duration(), what, this.target.network.partition([[leader.id], rest]));
  }

  private churnMembership(): void {
    const r = this.rng.next();
    // Promote whenever there is a learner to promote, so that added nodes do become voters.
    const m = this.target.membership;
    if (m.hasPromotableLearner() && r < 0.5) m.promoteLearner();
    else if (r < 0.75) m.addLearner(this.rng.chance(0.25));
    else m.removeMember(this.rng.chance(0.3));
  }

  private duration(): number {
    return this.rng.int(this.profile.partitionTicks[0], this.profile.partitionTicks[1]);
  }

  private later(at: number, what: string, run: () => void): void {
    this.undos.push({ at, what, run });
  }
}
