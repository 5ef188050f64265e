/**
 * Seeded pseudo-random numbers for the simulator (mulberry32). Every random
 * choice of a simulated run comes from one of these, derived from the seed, so
 * `--seed S` replays a run exactly. Never use Math.random in the simulator.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    // Scramble the seed so that neighbouring seeds give unrelated streams.
    this.state = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ 0xc2b2ae35) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Integer in [lo, hi] (both inclusive). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Prng.pick: empty list (the caller must check for an empty choice first)');
    return items[Math.floor(this.next() * items.length)];
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + this.next() * (hi - lo);
  }

  /** An independent stream: lets one part of the run (e.g. a node's election timer)
   *  consume randomness without shifting every other choice of the run. */
  fork(): Prng {
    return new Prng(Math.floor(this.next() * 4294967296));
  }

  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }
}
