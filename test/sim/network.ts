/**
 * The simulated network: an in-memory queue of Raft messages with per-message
 * delay (random delays reorder messages), loss and duplication, plus link cuts
 * (symmetric partitions and one-way cuts). Cuts are checked when a message is
 * due, so a message already in flight when a partition starts is lost too.
 */
import type { Entry, Message, NodeId, Snapshot } from '../../agent/raft/types.ts';
import type { Prng } from './prng.ts';

/** How the network misbehaves while faults are on (all zero/short once healed). */
export interface LinkQuality {
  /** Probability that a message is lost. */
  loss: number;
  /** Probability that a message is delivered twice (the copy has its own delay). */
  dup: number;
  /** Delay of a message, in ticks, uniform in [minDelay, maxDelay]. */
  minDelay: number;
  maxDelay: number;
  /** Probability that a message is held much longer (up to `longDelay` ticks): stale messages. */
  longDelayRate: number;
  longDelay: number;
}

export class SimNetwork {
  private readonly queue = new Map<number, Message[]>();
  /** "from>to" -> number of active faults cutting that direction. */
  private readonly cuts = new Map<string, number>();
  private inFlight = 0;
  sent = 0;

  constructor(
    private readonly rng: Prng,
    public quality: LinkQuality,
  ) {}

  send(m: Message, now: number): void {
    this.sent++;
    if (this.rng.chance(this.quality.loss)) return;
    this.enqueue(copyMessage(m), now);
    if (this.rng.chance(this.quality.dup)) this.enqueue(copyMessage(m), now);
  }

  /** Messages due at `now` that no cut blocks, in send order. */
  takeDue(now: number): Message[] {
    const due = this.queue.get(now);
    if (!due) return [];
    this.queue.delete(now);
    this.inFlight -= due.length;
    if (this.cuts.size === 0) return due;
    return due.filter((m) => !this.isCut(m.from, m.to));
  }

  isCut(from: NodeId, to: NodeId): boolean {
    return (this.cuts.get(`${from}>${to}`) ?? 0) > 0;
  }

  /** Cut the listed directed links; returns an undo function (faults overlap, so cuts are counted). */
  cut(links: Array<[NodeId, NodeId]>): () => void {
    for (const [a, b] of links) this.cuts.set(`${a}>${b}`, (this.cuts.get(`${a}>${b}`) ?? 0) + 1);
    let undone = false;
    return () => {
      if (undone) return;
      undone = true;
      for (const [a, b] of links) {
        const k = `${a}>${b}`;
        const n = (this.cuts.get(k) ?? 0) - 1;
        if (n <= 0) this.cuts.delete(k);
        else this.cuts.set(k, n);
      }
    };
  }

  /** Cut every link between different groups, both ways. */
  partition(groups: NodeId[][]): () => void {
    const links: Array<[NodeId, NodeId]> = [];
    for (let i = 0; i < groups.length; i++)
      for (let j = 0; j < groups.length; j++)
        if (i !== j) for (const a of groups[i]) for (const b of groups[j]) links.push([a, b]);
    return this.cut(links);
  }

  healAll(): void {
    this.cuts.clear();
  }

  get pending(): number {
    return this.inFlight;
  }

  private enqueue(m: Message, now: number): void {
    const q = this.quality;
    let delay = this.rng.int(q.minDelay, q.maxDelay);
    if (this.rng.chance(q.longDelayRate)) delay += this.rng.int(1, q.longDelay);
    const at = now + Math.max(1, delay);
    let bucket = this.queue.get(at);
    if (!bucket) this.queue.set(at, (bucket = []));
    bucket.push(m);
    this.inFlight++;
  }
}

/** Copy a message so no two nodes (or the sender and the receiver) share mutable objects. */
export function copyMessage(m: Message): Message {
  const c: Message = { ...m, entries: m.entries.length === 0 ? [] : m.entries.map(copyEntry) };
  if (m.snapshot) c.snapshot = copySnapshot(m.snapshot);
  return c;
}

export function copyEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, type: e.type, data: e.data };
}

export function copySnapshot(s: Snapshot): Snapshot {
  return {
    meta: {
      index: s.meta.index,
      term: s.meta.term,
      membership: { voters: s.meta.membership.voters.slice(), learners: s.meta.membership.learners.slice() },
    },
    data: s.data,
  };
}
