/**
 * Network partitions with nftables inside the node namespaces of a fabric.
 *
 * Every fault is a set of *directed* blocks "packets from X do not reach Y".
 * Each node namespace gets one table, `inet rdbfault`, rendered whole from
 * the union of the active blocks and swapped in atomically (`nft -f -`):
 *
 * - chain `output` (priority -150, before the nat output hook): on X,
 *   `ip daddr Y drop`. It runs before {@link startLinkProxy}'s dnat, so it
 *   still sees the peer's real address on proxied links.
 * - chain `input` (priority 200, after the nat input hook): on Y,
 *   `ip saddr X drop`. Replies on a link X proxied are de-NATed by then.
 *
 * A block is installed on both of its ends, so it holds whichever side opened
 * the connection and whether or not it goes through the proxy. Packets are
 * dropped, not rejected: a real partition is silent, so TCP stalls and times out.
 *
 * `blockOneWay(A, B)`: B no longer receives packets from A, while A still
 * receives B's. On TCP that stalls a connection in *both* directions (B's
 * data arrives at A, but A's acknowledgements never reach B, and nothing A
 * sends gets through) — that is the point: "A hears B but B does not hear A"
 * is the asymmetric partition that makes a node believe a peer is alive
 * while the peer believes it is gone.
 *
 * The control namespace (the harness, clients, probes) has no table; a
 * block involving it ({@link CTL}, `isolate(id, { clients: true })`) is
 * installed on the node's side only.
 */

import { execFile } from 'node:child_process';
import { FabricError, type Fabric } from './fabric.ts';

/** The control namespace as an end of a block (clients, probes, the harness). */
export const CTL = 'ctl';
const TABLE = 'rdbfault';
const NFT_TIMEOUT_MS = 15_000;

/** One active fault: what the operator asked for and the directed blocks it makes. */
interface Rule {
  id: number;
  text: string;
  /** [from, to] pairs: packets from `from` do not reach `to`. */
  pairs: [string, string][];
  /** false while a flapping rule is in its open phase. */
  active: boolean;
  since: number;
}

/** Options of {@link Partitioner.flap}. */
export interface FlapOptions {
  /** How long each phase lasts: blocked for periodMs, open for periodMs, and so on. */
  periodMs: number;
  /** Stop on its own (link open) after this long; default: until the returned stop() or heal(). */
  forMs?: number;
}

/**
 * The partitions of one fabric. Every operation resolves once the rules are
 * in force on every namespace it touches; operations are applied one at a
 * time, in call order. Each fault gets an id (for {@link remove} and the
 * timeline); {@link heal} removes them all.
 */
export class Partitioner {
  private readonly rules = new Map<number, Rule>();
  private nextId = 1;
  /** What each namespace's table was last set to (a namespace is rewritten only when it changes). */
  private readonly applied = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private readonly flaps = new Map<number, () => Promise<void>>();

  constructor(private readonly fabric: Fabric) {}

  /** Cut `a` and `b` from each other, both directions. */
  block(a: string, b: string): Promise<number> {
    this.check(a, b);
    return this.add(`block ${a} <-> ${b}`, [
      [a, b],
      [b, a],
    ]);
  }

  /** `to` no longer receives packets from `from` ("to does not hear from"); see the module comment for what that does to TCP. */
  blockOneWay(from: string, to: string): Promise<number> {
    this.check(from, to);
    return this.add(`block ${from} -> ${to} (one way: ${to} does not hear ${from}, ${from} still hears ${to})`, [[from, to]]);
  }

  /** Cut node `id` from every other node, and from the ctl namespace (clients, probes, the proxy) too when `clients`. */
  isolate(id: string, opts: { clients: boolean }): Promise<number> {
    this.check(id);
    const others = this.fabric.nodes.filter((n) => n !== id);
    if (opts.clients) others.push(CTL);
    const pairs = others.flatMap((o): [string, string][] => [
      [id, o],
      [o, id],
    ]);
    return this.add(`isolate ${id} from the other nodes${opts.clients ? ' and the clients' : ' (clients still reach it)'}`, pairs);
  }

  /**
   * Split the nodes into groups that cannot reach each other (both
   * directions); within a group everything flows. `split([['n1'], ['n2', 'n3']])`
   * is a 1–2 split, `split([['n1'], ['n2'], ['n3']])` a 1–1–1. Nodes not
   * named keep every link. Clients reach every node.
   */
  split(groups: string[][]): Promise<number> {
    const all = groups.flat();
    this.check(...all);
    if (new Set(all).size !== all.length) throw new FabricError(`split: a node is named in more than one group (${groups.map((g) => `[${g.join(',')}]`).join(' ')})`);
    const pairs: [string, string][] = [];
    groups.forEach((g, i) =>
      groups.forEach((h, j) => {
        if (i !== j) for (const a of g) for (const b of h) pairs.push([a, b]);
      }),
    );
    return this.add(`split ${groups.map((g) => `{${g.join(',')}}`).join(' | ')}`, pairs);
  }

  /**
   * Toggle a block between `a` and `b`: blocked for `periodMs`, open for
   * `periodMs`, … starting blocked. Resolves, once the first block is in
   * force, to a function that stops the flapping and leaves the link open.
   */
  async flap(a: string, b: string, opts: FlapOptions): Promise<() => Promise<void>> {
    this.check(a, b);
    if (!(opts.periodMs > 0)) throw new FabricError(`flap ${a} <-> ${b}: periodMs must be > 0, got ${opts.periodMs}`);
    const id = await this.add(`flap ${a} <-> ${b} every ${opts.periodMs} ms${opts.forMs !== undefined ? ` for ${opts.forMs} ms` : ''}`, [
      [a, b],
      [b, a],
    ]);
    const timer = setInterval(() => {
      const r = this.rules.get(id);
      if (!r) return;
      r.active = !r.active;
      this.enqueue().catch(() => {}); // a failed toggle shows in the next operation's error
    }, opts.periodMs);
    let stopped: Promise<void> | null = null;
    const stop = () => {
      stopped ??= (async () => {
        clearInterval(timer);
        clearTimeout(auto);
        this.flaps.delete(id);
        await this.remove(id);
      })();
      return stopped;
    };
    const auto = opts.forMs !== undefined ? setTimeout(() => void stop().catch(() => {}), opts.forMs) : undefined;
    this.flaps.set(id, stop);
    return stop;
  }

  /** Lift one fault (by the id its operation resolved to); unknown ids are ignored. */
  async remove(id: number): Promise<void> {
    const stopFlap = this.flaps.get(id);
    if (stopFlap) return stopFlap();
    if (!this.rules.delete(id)) return;
    await this.enqueue();
  }

  /** Lift every fault (flaps stop too): the network is whole again once this resolves. */
  async heal(): Promise<void> {
    for (const stop of [...this.flaps.values()]) await stop();
    this.rules.clear();
    await this.enqueue();
  }

  /** Is there an active block of packets from `from` to `to`? */
  isBlocked(from: string, to: string): boolean {
    return [...this.rules.values()].some((r) => r.active && r.pairs.some(([f, t]) => f === from && t === to));
  }

  /** The active faults, one line each, for a timeline: `#3 +1.2s isolate n1 from … [blocked]`. */
  describe(now = Date.now()): string[] {
    return [...this.rules.values()].map((r) => `#${r.id} +${((now - r.since) / 1000).toFixed(1)}s ${r.text}${r.active ? '' : ' [open phase]'}`);
  }

  /** Remove the tables from every node namespace (the partitioner's state is cleared as well). */
  async dispose(): Promise<void> {
    await this.heal();
    this.queue = this.queue.then(() => Promise.all(this.fabric.nodes.map((n) => nft(this.fabric.nsOf(n), `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n`))).then(() => {}));
    this.applied.clear();
    await this.queue;
  }

  // ------------------------------------------------------------ internals

  private check(...ends: string[]): void {
    for (const e of ends) {
      if (e !== CTL && !this.fabric.nodes.includes(e)) throw new FabricError(`no node "${e}" in fabric ${this.fabric.name} (nodes: ${this.fabric.nodes.join(', ')}, or "${CTL}")`);
    }
    if (ends.length === 2 && ends[0] === ends[1]) throw new FabricError(`cannot block ${ends[0]} from itself`);
  }

  private async add(text: string, pairs: [string, string][]): Promise<number> {
    const id = this.nextId++;
    this.rules.set(id, { id, text, pairs, active: true, since: Date.now() });
    try {
      await this.enqueue();
    } catch (err) {
      this.rules.delete(id);
      throw err;
    }
    return id;
  }

  /** Re-render every node's table after the operations queued before this one. */
  private enqueue(): Promise<void> {
    const next = this.queue.then(() => this.apply());
    this.queue = next.catch(() => {});
    return next;
  }

  private async apply(): Promise<void> {
    const blocked = new Set<string>();
    for (const r of this.rules.values()) if (r.active) for (const [f, t] of r.pairs) blocked.add(`${f}\0${t}`);
    const pairs = [...blocked].map((k) => k.split('\0') as [string, string]);
    const addr = (e: string) => (e === CTL ? this.fabric.ctlAddress : this.fabric.addressOf(e));
    await Promise.all(
      this.fabric.nodes.map(async (n) => {
        const out = pairs.filter(([f]) => f === n).map(([, t]) => `    ip daddr ${addr(t)} drop`);
        const inp = pairs.filter(([, t]) => t === n).map(([f]) => `    ip saddr ${addr(f)} drop`);
        const body = [
          `table inet ${TABLE} {`,
          '  chain output {',
          '    type filter hook output priority -150; policy accept;',
          ...out,
          '  }',
          '  chain input {',
          '    type filter hook input priority 200; policy accept;',
          ...inp,
          '  }',
          '}',
        ].join('\n');
        if (this.applied.get(n) === body) return;
        // Create-if-missing, delete, recreate: one nft transaction, so there is no instant with half the rules.
        await nft(this.fabric.nsOf(n), `table inet ${TABLE} {}\ndelete table inet ${TABLE}\n${body}\n`);
        this.applied.set(n, body);
      }),
    );
  }
}

/** The partitions of `fabric`: creates each node's (empty) `inet rdbfault` table. */
export async function createPartitioner(fabric: Fabric): Promise<Partitioner> {
  const p = new Partitioner(fabric);
  await p.heal();
  return p;
}

/** Run an nft script in namespace `ns` (as one transaction). */
export function nft(ns: string, script: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { timeout: NFT_TIMEOUT_MS }, (err, _stdout, stderr) => {
      if (err) reject(new FabricError(`nft in ${ns} failed: ${String(stderr).trim() || err.message}\nscript:\n${script}`));
      else resolve();
    });
    child.stdin?.end(script);
  });
}
