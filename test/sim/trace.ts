/**
 * The event trace of one simulated run: a bounded ring of recent events (printed
 * when a seed fails) and a running hash of *all* events, so two runs of the same
 * seed can be compared cheaply for determinism.
 */
export class Trace {
  private readonly ring: string[] = [];
  private next = 0;
  private h1 = 0x811c9dc5;
  private h2 = 0x01000193;
  count = 0;

  /**
   * @param keep how many recent events to remember
   * @param sink receives every event as it happens (verbose `--seed S` runs)
   */
  constructor(
    private readonly keep = 40,
    private readonly sink?: (line: string) => void,
  ) {}

  add(tick: number, text: string): void {
    const line = `t=${tick} ${text}`;
    // Two independent FNV-1a style hashes = 64 bits of fingerprint.
    let h1 = this.h1;
    let h2 = this.h2;
    for (let i = 0; i < line.length; i++) {
      const c = line.charCodeAt(i);
      h1 = Math.imul(h1 ^ c, 0x01000193);
      h2 = Math.imul(h2 ^ c, 0x5bd1e995) ^ (h2 >>> 13);
    }
    this.h1 = Math.imul(h1 ^ 10, 0x01000193);
    this.h2 = h2;
    this.count++;
    if (this.ring.length < this.keep) this.ring.push(line);
    else this.ring[this.next] = line;
    this.next = (this.next + 1) % this.keep;
    this.sink?.(line);
  }

  /** A detail only worth showing in a verbose replay (client operations): not remembered, not hashed. */
  detail(tick: number, text: string): void {
    this.sink?.(`t=${tick}   ${text}`);
  }

  get verbose(): boolean {
    return this.sink !== undefined;
  }

  /** Mix in a value that is not worth an event line (e.g. a commit index). */
  mix(value: number): void {
    this.h1 = Math.imul(this.h1 ^ (value | 0), 0x01000193);
    this.h2 = Math.imul(this.h2 ^ ((value / 4294967296) | 0), 0x5bd1e995) ^ (this.h2 >>> 13);
  }

  /** The remembered events, oldest first. */
  recent(): string[] {
    if (this.ring.length < this.keep) return this.ring.slice();
    return this.ring.slice(this.next).concat(this.ring.slice(0, this.next));
  }

  hash(): string {
    return (this.h1 >>> 0).toString(16).padStart(8, '0') + (this.h2 >>> 0).toString(16).padStart(8, '0');
  }
}
