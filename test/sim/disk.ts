/**
 * A node's simulated disk: what survives a crash. It follows the Ready contract
 * of `types.ts` literally (snapshot, then entries, then hard state; an entry at
 * a stored index replaces it and every later one), and it refuses writes that
 * no correct core would ask for, so a core bug surfaces as a violation here
 * instead of as silently corrupted state after a restart.
 */
import type { Entry, HardState, Membership, RaftRecovered, Snapshot } from '../../agent/raft/types.ts';
import { copyEntry, copySnapshot } from './network.ts';
import { Violation } from './violation.ts';

export class SimDisk {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  snapshot: Snapshot | null = null;
  /** Contiguous entries; log[0].index may be <= snapshot index (entries retained after compaction). */
  private log: Entry[] = [];
  /** Configuration entries in `log`, oldest first (a node's configuration is its latest one, committed or not). */
  private confs: Array<{ index: number; membership: Membership }> = [];

  constructor(readonly nodeId: string) {}

  /** Step 1 of handling a Ready. Everything written here is durable at once (the sim's fsync). */
  persist(part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }): void {
    if (part.snapshot) this.installSnapshot(part.snapshot);
    if (part.entries.length > 0) this.append(part.entries);
    if (part.hardState) this.saveHardState(part.hardState);
  }

  /** The driver took a snapshot of its state machine; entries before firstIndexToKeep go. */
  compact(snapshot: Snapshot, firstIndexToKeep: number): void {
    if (this.snapshot && snapshot.meta.index < this.snapshot.meta.index) {
      throw new Violation('ready-contract', `${this.nodeId}: compaction to ${snapshot.meta.index} is older than the stored snapshot ${this.snapshot.meta.index}`);
    }
    this.snapshot = copySnapshot(snapshot);
    this.log = this.log.filter((e) => e.index >= firstIndexToKeep);
    // Entries at or before the snapshot are kept for followers only; a gap must never open.
    if (this.log.length > 0 && this.log[0].index > snapshot.meta.index + 1) this.log = [];
  }

  /** What a restart recovers: hard state, snapshot and the entries after it. */
  recovered(): RaftRecovered {
    const after = this.snapshot ? this.snapshot.meta.index : 0;
    return {
      hardState: { ...this.hardState },
      snapshot: this.snapshot ? copySnapshot(this.snapshot) : null,
      entries: this.log.filter((e) => e.index > after).map(copyEntry),
    };
  }

  lastTerm(): number {
    if (this.log.length > 0) return this.log[this.log.length - 1].term;
    return this.snapshot ? this.snapshot.meta.term : 0;
  }

  /** The configuration this node would use if it started now: its latest, from the log or the snapshot. */
  membership(): Membership {
    const last = this.confs[this.confs.length - 1];
    if (last && last.index > this.snapshotIndex()) return last.membership;
    return this.snapshot ? this.snapshot.meta.membership : { voters: [], learners: [] };
  }

  lastIndex(): number {
    if (this.log.length > 0) return this.log[this.log.length - 1].index;
    return this.snapshot ? this.snapshot.meta.index : 0;
  }

  /** Term at `index`, or undefined when this disk has no entry or snapshot there. */
  termAt(index: number): number | undefined {
    if (this.snapshot && index === this.snapshot.meta.index) return this.snapshot.meta.term;
    const e = this.entryAt(index);
    if (e) return e.term;
    return index === 0 ? 0 : undefined;
  }

  entryAt(index: number): Entry | undefined {
    if (this.log.length === 0) return undefined;
    const e = this.log[index - this.log[0].index];
    return e && e.index === index ? e : undefined;
  }

  /** Index covered by the stored snapshot (0 if none). */
  snapshotIndex(): number {
    return this.snapshot ? this.snapshot.meta.index : 0;
  }

  private installSnapshot(s: Snapshot): void {
    if (this.snapshot && s.meta.index < this.snapshot.meta.index) {
      throw new Violation('ready-contract', `${this.nodeId}: Ready.snapshot at ${s.meta.index} is older than the stored snapshot at ${this.snapshot.meta.index}`);
    }
    // Raft §7: keep the entries after the snapshot only if the log agrees with it at its index.
    const keep = this.entryAt(s.meta.index)?.term === s.meta.term;
    this.log = keep ? this.log.filter((e) => e.index > s.meta.index) : [];
    this.confs = keep ? this.confs.filter((c) => c.index > s.meta.index) : [];
    this.snapshot = copySnapshot(s);
  }

  private append(entries: Entry[]): void {
    const first = entries[0].index;
    for (let i = 1; i < entries.length; i++) {
      if (entries[i].index !== first + i) {
        throw new Violation('ready-contract', `${this.nodeId}: Ready.entries not contiguous at ${entries[i].index}`);
      }
    }
    if (first <= this.snapshotIndex()) {
      // The snapshot covers applied entries only: rewriting one changes committed history.
      throw new Violation('state-machine-safety', `${this.nodeId}: Ready.entries start at ${first}, inside its snapshot (up to ${this.snapshotIndex()}): applied entries would be rewritten`);
    }
    if (first > this.lastIndex() + 1) {
      throw new Violation('ready-contract', `${this.nodeId}: Ready.entries start at ${first} but the disk ends at ${this.lastIndex()}: a gap`);
    }
    if (this.log.length > 0 && first <= this.log[this.log.length - 1].index) {
      this.log.length = Math.max(0, first - this.log[0].index);
      this.confs = this.confs.filter((c) => c.index < first);
    }
    for (const e of entries) {
      this.log.push(copyEntry(e));
      if (e.type === 'conf') this.confs.push({ index: e.index, membership: JSON.parse(e.data) as Membership });
    }
  }

  private saveHardState(hs: HardState): void {
    const old = this.hardState;
    if (hs.term < old.term) {
      throw new Violation('ready-contract', `${this.nodeId}: persisted term went back from ${old.term} to ${hs.term}`);
    }
    if (hs.term === old.term && old.vote !== '' && hs.vote !== old.vote) {
      throw new Violation('double-vote', `${this.nodeId}: changed its durable vote in term ${hs.term} from ${old.vote} to ${hs.vote || '(none)'}`);
    }
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }
}
