/**
 * The in-memory view of one node's log: the latest snapshot, and the entries
 * after `offset` (the index whose term is still known: the last compacted
 * entry or the snapshot's). Pure data structure; the core decides what to do.
 */

import type { Entry, Snapshot } from './types.ts';

/** An invariant of the log was broken: a bug, never an expected outcome. */
export class RaftInvariantError extends Error {
  constructor(message: string) {
    super(`raft invariant broken: ${message}`);
    this.name = 'RaftInvariantError';
  }
}

export class RaftLog {
  /** Latest snapshot (state-machine image at snapshot.meta.index). */
  snapshot: Snapshot;
  /** Index of the entry just before entries[0]; its term is `offsetTerm`. */
  offset: number;
  offsetTerm: number;
  entries: Entry[];
  commit: number;
  /** Highest index handed to the driver for applying. */
  applied: number;
  /** First index not yet handed to the driver for persisting. */
  unstableFrom: number;

  constructor(snapshot: Snapshot, entries: Entry[], commit: number) {
    this.snapshot = snapshot;
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    // Entries retained behind the snapshot are only useful to feed slow peers;
    // after a restart we start cleanly at the snapshot.
    const after = entries.filter((e) => e.index > this.offset);
    for (let i = 0; i < after.length; i++) {
      if (after[i].index !== this.offset + 1 + i) {
        throw new RaftInvariantError(
          `recovered log is not contiguous after snapshot ${this.offset}: expected index ${this.offset + 1 + i}, found ${after[i].index}`,
        );
      }
    }
    this.entries = after;
    this.commit = Math.max(commit, this.offset);
    if (this.commit > this.lastIndex()) {
      throw new RaftInvariantError(`recovered commit ${this.commit} is beyond the last entry ${this.lastIndex()}`);
    }
    this.applied = this.offset;
    this.unstableFrom = this.lastIndex() + 1;
  }

  firstIndex(): number {
    return this.offset + 1;
  }

  lastIndex(): number {
    return this.offset + this.entries.length;
  }

  lastTerm(): number {
    return this.entries.length ? this.entries[this.entries.length - 1].term : this.offsetTerm;
  }

  /** Term of the entry at `index`, or undefined when it is compacted away or beyond the log. */
  term(index: number): number | undefined {
    if (index === this.offset) return this.offsetTerm;
    if (index < this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1].term;
  }

  entry(index: number): Entry | undefined {
    if (index <= this.offset || index > this.lastIndex()) return undefined;
    return this.entries[index - this.offset - 1];
  }

  matchTerm(index: number, term: number): boolean {
    return this.term(index) === term;
  }

  /** §5.4.1: is a log ending at (lastIndex, lastTerm) at least as up to date as ours? */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Entries from `lo` on, at most `maxBytes` of data (at least one entry), or
   * undefined when `lo` is compacted (the caller sends a snapshot instead).
   */
  slice(lo: number, maxBytes: number, maxCount = Infinity): Entry[] | undefined {
    if (lo <= this.offset) return undefined;
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i <= this.lastIndex() && out.length < maxCount; i++) {
      const e = this.entries[i - this.offset - 1];
      bytes += e.data.length + 16;
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  /** Append entries as the leader does (they must follow the last index). */
  append(entries: Entry[]): void {
    for (const e of entries) {
      if (e.index !== this.lastIndex() + 1) {
        throw new RaftInvariantError(`append of index ${e.index} after last index ${this.lastIndex()}`);
      }
      this.entries.push(e);
    }
  }

  /**
   * Follower-side append after a matched (prevIndex, prevTerm): skips entries we
   * already hold, truncates at the first conflict and appends the rest. Returns
   * the index where the log was truncated (or undefined) for membership rollback.
   */
  appendFromLeader(entries: Entry[]): number | undefined {
    let truncatedAt: number | undefined;
    let i = 0;
    for (; i < entries.length; i++) {
      const e = entries[i];
      if (e.index <= this.offset) continue; // already compacted, hence committed and equal
      const t = this.term(e.index);
      if (t === undefined) break; // beyond our log: append from here
      if (t !== e.term) {
        if (e.index <= this.commit) {
          throw new RaftInvariantError(`entry ${e.index} conflicts with a committed entry (commit ${this.commit})`);
        }
        this.entries.length = e.index - this.offset - 1;
        truncatedAt = e.index;
        if (this.unstableFrom > e.index) this.unstableFrom = e.index;
        break;
      }
    }
    for (; i < entries.length; i++) {
      if (entries[i].index <= this.offset) continue;
      this.append([entries[i]]);
    }
    return truncatedAt;
  }

  /**
   * For fast backtracking: the largest index <= `index` whose term is <= `term`
   * (or the offset, below which nothing is known), with that term.
   */
  findConflictByTerm(index: number, term: number): { index: number; term: number } {
    let i = Math.min(index, this.lastIndex());
    for (; i > this.offset; i--) {
      const t = this.term(i)!;
      if (t <= term) return { index: i, term: t };
    }
    return { index: this.offset, term: this.offsetTerm };
  }

  commitTo(index: number): void {
    if (index <= this.commit) return;
    if (index > this.lastIndex()) {
      throw new RaftInvariantError(`commit ${index} is beyond the last index ${this.lastIndex()}`);
    }
    this.commit = index;
  }

  /** Replace everything with a snapshot received from the leader. */
  restore(snapshot: Snapshot): void {
    this.snapshot = snapshot;
    this.offset = snapshot.meta.index;
    this.offsetTerm = snapshot.meta.term;
    this.entries = [];
    this.commit = snapshot.meta.index;
    this.applied = snapshot.meta.index;
    this.unstableFrom = snapshot.meta.index + 1;
  }

  /** Keep a locally taken snapshot and drop entries before `firstKeep`. */
  compact(snapshot: Snapshot, firstKeep: number): void {
    if (snapshot.meta.index > this.applied) {
      throw new RaftInvariantError(`snapshot at ${snapshot.meta.index} is beyond the applied index ${this.applied}`);
    }
    if (snapshot.meta.index > this.snapshot.meta.index) this.snapshot = snapshot;
    const newOffset = Math.min(firstKeep - 1, snapshot.meta.index);
    if (newOffset <= this.offset) return;
    const newOffsetTerm = this.term(newOffset)!;
    this.entries = this.entries.slice(newOffset - this.offset);
    this.offset = newOffset;
    this.offsetTerm = newOffsetTerm;
  }
}
