/**
 * Durable Raft storage in SQLite (better-sqlite3): hard state, log entries,
 * the latest snapshot and the applied index of one node.
 *
 * Durability: WAL journal with `synchronous=FULL`, so every `save`/`compact`
 * transaction is fsynced before the call returns. Integrity: every row carries a
 * CRC32 of its content, checked on `load`; SQLite guarantees atomic
 * transactions, the checksums catch what SQLite cannot (bit rot, a torn page, a
 * hand edit). A bad record is never used: `load` throws {@link StorageCorruptError}.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { Entry, EntryType, HardState, Membership, RaftRecovered, Snapshot } from './types.ts';

/** Schema version kept in `PRAGMA user_version`. Bump it with a migration when the layout changes. */
export const STORAGE_SCHEMA_VERSION = 1;

const RECOVERY_HINT = 'restore this node from a peer: stop the agent, remove its Raft state directory and rejoin the cluster';

/**
 * A record in the store failed verification (bad checksum, unparsable or
 * ill-typed content, a gap in the log, a state that contradicts the log).
 * The node must not start on this store.
 */
export class StorageCorruptError extends Error {
  override readonly name = 'StorageCorruptError';
  /** Path of the SQLite file. */
  readonly file: string;
  /** Table holding the bad record. */
  readonly table: string;
  /** Primary key of the bad record: the entry index, or the state key. */
  readonly key: string | number;

  constructor(file: string, table: string, key: string | number, problem: string) {
    super(`Raft storage ${file} is corrupt: table ${table}, ${typeof key === 'number' ? 'index' : 'key'} ${key}: ${problem}; ${RECOVERY_HINT}`);
    this.file = file;
    this.table = table;
    this.key = key;
  }
}

/** The store was written by a newer (or a foreign) program and this version cannot read it safely. */
export class StorageVersionError extends Error {
  override readonly name = 'StorageVersionError';
  readonly file: string;
  /** `user_version` found in the file. */
  readonly found: number;
  readonly supported: number;

  constructor(file: string, found: number, problem: string) {
    super(`Raft storage ${file}: ${problem}`);
    this.file = file;
    this.found = found;
    this.supported = STORAGE_SCHEMA_VERSION;
  }
}

/** Durable state of one Raft node. All writes are synchronous and durable on return unless stated. */
export interface RaftStorage {
  /**
   * Everything recovered at start (empty state for a new file). `entries` are
   * the contiguous entries after the snapshot; entries kept behind the snapshot
   * for slow followers (see `compact`) are verified but not returned.
   * Throws {@link StorageCorruptError} on any bad record.
   */
  load(): RaftRecovered & { applied: number };
  /**
   * Persist one Ready's durable part atomically (one transaction, fsynced before returning):
   * `snapshot` (if any: replaces all entries with index <= snapshot.meta.index; entries after
   * it are kept only if the log agrees with the snapshot at its index, as in the Raft paper §7),
   * `entries` (an entry at an index already stored deletes that index and every later one first),
   * `hardState` (if any). Throws RangeError, writing nothing, if the entries would leave a gap.
   */
  save(part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }): void;
  /**
   * Store a snapshot taken locally and delete entries with index < firstIndexToKeep
   * (log compaction; `firstIndexToKeep <= snapshot.meta.index + 1`, lower values keep
   * entries behind the snapshot for slow followers). Durable on return.
   */
  compact(snapshot: Snapshot, firstIndexToKeep: number): void;
  /**
   * Record the applied index. Cheap: written without its own fsync, so it survives a
   * process crash, and after a power loss it may come back lower than the last value set
   * (never higher than the durable commit index). Made durable by the next `save`/`compact`.
   */
  setApplied(index: number): void;
  close(): void;
}

// ---------------------------------------------------------------------------
// CRC32 (IEEE 802.3, the zlib polynomial). Node 20 has no zlib.crc32.

const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC32 of the UTF-8 bytes of `text`, as an unsigned 32-bit integer. */
export function crc32(text: string): number {
  const bytes = Buffer.from(text, 'utf8');
  let c = -1;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

// ---------------------------------------------------------------------------
// Record validation: shapes are checked by hand so that a record which parses
// but is not what we wrote is still reported as corrupt.

const ENTRY_TYPES: ReadonlySet<string> = new Set<EntryType>(['normal', 'noop', 'conf']);

const isIndex = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');

function asEntry(v: unknown): Entry | null {
  if (!isObject(v)) return null;
  const { index, term, type, data } = v;
  if (!isIndex(index) || index < 1 || !isIndex(term) || typeof type !== 'string' || !ENTRY_TYPES.has(type) || typeof data !== 'string') return null;
  return { index, term, type: type as EntryType, data };
}

function asHardState(v: unknown): HardState | null {
  if (!isObject(v)) return null;
  const { term, vote, commit } = v;
  if (!isIndex(term) || typeof vote !== 'string' || !isIndex(commit)) return null;
  return { term, vote, commit };
}

function asSnapshot(v: unknown): Snapshot | null {
  if (!isObject(v) || !isObject(v.meta) || typeof v.data !== 'string') return null;
  const { index, term, membership } = v.meta;
  if (!isIndex(index) || !isIndex(term) || !isObject(membership)) return null;
  const { voters, learners } = membership;
  if (!isStringArray(voters) || !isStringArray(learners)) return null;
  const m: Membership = { voters: [...voters], learners: [...learners] };
  return { meta: { index, term, membership: m }, data: v.data };
}

// Records are serialized with a fixed key order so the checksum input is canonical.
const encodeEntry = (e: Entry): string => JSON.stringify({ index: e.index, term: e.term, type: e.type, data: e.data });
const encodeHardState = (h: HardState): string => JSON.stringify({ term: h.term, vote: h.vote, commit: h.commit });
const encodeSnapshot = (s: Snapshot): string =>
  JSON.stringify({
    meta: { index: s.meta.index, term: s.meta.term, membership: { voters: s.meta.membership.voters, learners: s.meta.membership.learners } },
    data: s.data,
  });

// ---------------------------------------------------------------------------

const SCHEMA = `
  CREATE TABLE entries (
    idx    INTEGER PRIMARY KEY,  -- Raft log index
    record TEXT    NOT NULL,     -- JSON {index, term, type, data}
    crc    INTEGER NOT NULL      -- CRC32 of record
  );
  CREATE TABLE state (
    key    TEXT    PRIMARY KEY,  -- 'hard_state' | 'snapshot' | 'applied'
    record TEXT    NOT NULL,     -- JSON
    crc    INTEGER NOT NULL      -- CRC32 of record
  );
`;

const KEY_HARD_STATE = 'hard_state';
const KEY_SNAPSHOT = 'snapshot';
const KEY_APPLIED = 'applied';

interface Row {
  record: string;
  crc: number;
}

type Statements = ReturnType<typeof prepareStatements>;

function prepareStatements(db: Database.Database) {
  return {
    deleteFrom: db.prepare<[number]>('DELETE FROM entries WHERE idx >= ?'),
    deleteUpTo: db.prepare<[number]>('DELETE FROM entries WHERE idx <= ?'),
    deleteBelow: db.prepare<[number]>('DELETE FROM entries WHERE idx < ?'),
    deleteAll: db.prepare('DELETE FROM entries'),
    insertEntry: db.prepare<[number, string, number]>('INSERT INTO entries (idx, record, crc) VALUES (?, ?, ?)'),
    entryRow: db.prepare<[number], Row>('SELECT record, crc FROM entries WHERE idx = ?'),
    allEntries: db.prepare<[], Row & { idx: number }>('SELECT idx, record, crc FROM entries ORDER BY idx'),
    maxIndex: db.prepare<[], { m: number | null }>('SELECT max(idx) AS m FROM entries'),
    putState: db.prepare<[string, string, number]>('INSERT OR REPLACE INTO state (key, record, crc) VALUES (?, ?, ?)'),
    getState: db.prepare<[string], Row>('SELECT record, crc FROM state WHERE key = ?'),
  };
}

/**
 * Open (creating if needed, with its parent directory) the Raft store at `path`.
 * Throws {@link StorageVersionError} for a file of an unknown schema version and
 * {@link StorageCorruptError} for a file that is not a readable SQLite database.
 */
export function openSqliteStorage(path: string): RaftStorage {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  try {
    return new SqliteStorage(db, path);
  } catch (err) {
    db.close();
    throw err;
  }
}

class SqliteStorage implements RaftStorage {
  private readonly db: Database.Database;
  private readonly file: string;
  private readonly stmt: Statements;
  private readonly saveTx: (part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }, keepSuffix: boolean) => void;
  private readonly compactTx: (snapshot: Snapshot, firstIndexToKeep: number) => void;
  /** Cached bounds of the stored log, so `save` can check for gaps without a query. */
  private lastIndex = 0;
  private snapIndex = 0;
  private snapTerm = 0;
  private applied = -1;

  constructor(db: Database.Database, file: string) {
    this.db = db;
    this.file = file;
    this.initSchema();
    db.pragma('synchronous = FULL');

    this.stmt = prepareStatements(db);
    this.saveTx = db.transaction((part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }, keepSuffix: boolean) => this.saveInTx(part, keepSuffix));
    this.compactTx = db.transaction((snapshot: Snapshot, firstIndexToKeep: number) => this.compactInTx(snapshot, firstIndexToKeep));
    this.refreshBounds();
  }

  private initSchema(): void {
    let version: number;
    try {
      version = this.db.pragma('user_version', { simple: true }) as number;
    } catch (err) {
      throw this.wrapSqliteError(err, 'sqlite_master', 'header');
    }
    if (version > STORAGE_SCHEMA_VERSION) {
      throw new StorageVersionError(
        this.file,
        version,
        `schema version ${version} is newer than the ${STORAGE_SCHEMA_VERSION} this agent supports; run the agent version that wrote it (or newer), or restore this node from a peer`,
      );
    }
    if (version === 0) {
      const tables = this.db.prepare('SELECT count(*) AS n FROM sqlite_master').get() as { n: number };
      if (tables.n > 0) {
        throw new StorageVersionError(this.file, 0, 'file has tables but no schema version: it is not a RustyDB Raft store; point the agent at its own state directory');
      }
    }
    // WAL must be set outside a transaction; it persists in the file.
    const mode = this.db.pragma('journal_mode = WAL', { simple: true });
    if (mode !== 'wal' && this.file !== ':memory:') {
      throw new Error(`Raft storage ${this.file}: could not enable the WAL journal (got ${String(mode)}); put the state directory on a local filesystem`);
    }
    if (version === 0) {
      this.db.transaction(() => {
        this.db.exec(SCHEMA);
        this.db.pragma(`user_version = ${STORAGE_SCHEMA_VERSION}`);
      })();
    }
  }

  private wrapSqliteError(err: unknown, table: string, key: string | number): unknown {
    const code = (err as { code?: string }).code;
    if (code === 'SQLITE_CORRUPT' || code === 'SQLITE_NOTADB') {
      return new StorageCorruptError(this.file, table, key, `SQLite reports ${code} (${(err as Error).message})`);
    }
    return err;
  }

  private refreshBounds(): void {
    const max = this.stmt.maxIndex.get()?.m ?? 0;
    const snapRow = this.stmt.getState.get(KEY_SNAPSHOT);
    // Bounds only steer `save`'s checks; `load` verifies the rows themselves and reports bad ones.
    let snap: Snapshot | null = null;
    try {
      snap = snapRow ? asSnapshot(JSON.parse(snapRow.record)) : null;
    } catch {
      snap = null;
    }
    this.snapIndex = snap?.meta.index ?? 0;
    this.snapTerm = snap?.meta.term ?? 0;
    this.lastIndex = Math.max(max, this.snapIndex);
  }

  load(): RaftRecovered & { applied: number } {
    try {
      return this.loadVerified();
    } catch (err) {
      throw this.wrapSqliteError(err, 'entries', 'unknown');
    }
  }

  private loadVerified(): RaftRecovered & { applied: number } {
    const hardState = this.readState(KEY_HARD_STATE, asHardState) ?? { term: 0, vote: '', commit: 0 };
    const snapshot = this.readState(KEY_SNAPSHOT, asSnapshot);
    const appliedRaw = this.readState(KEY_APPLIED, (v) => (isIndex(v) ? v : null));
    const applied = appliedRaw ?? 0;
    const snapIndex = snapshot?.meta.index ?? 0;
    const snapTerm = snapshot?.meta.term ?? 0;

    const entries: Entry[] = [];
    let prev: Entry | null = null;
    for (const row of this.stmt.allEntries.iterate()) {
      const e = this.verify('entries', row.idx, row, asEntry);
      if (e.index !== row.idx) this.corrupt('entries', row.idx, `record says index ${e.index}`);
      if (prev === null) {
        // Entries may start at or before snapshot+1 (kept for slow followers), never after.
        if (e.index > snapIndex + 1) {
          this.corrupt('entries', row.idx, `log starts at ${e.index} but ${snapshot ? `the snapshot ends at ${snapIndex}` : 'there is no snapshot'}: entries ${snapIndex + 1}..${e.index - 1} are missing`);
        }
      } else {
        if (e.index !== prev.index + 1) this.corrupt('entries', row.idx, `gap in the log: previous entry is ${prev.index}`);
        if (e.term < prev.term) this.corrupt('entries', row.idx, `term ${e.term} is lower than the previous entry's term ${prev.term}`);
      }
      if (e.index === snapIndex && e.term !== snapTerm) {
        this.corrupt('entries', row.idx, `term ${e.term} disagrees with the snapshot's term ${snapTerm} at the same index`);
      }
      if (e.index > snapIndex && e.term < snapTerm) {
        this.corrupt('entries', row.idx, `term ${e.term} is lower than the snapshot's term ${snapTerm}`);
      }
      if (e.index > snapIndex) entries.push(e);
      prev = e;
    }

    const lastIndex = entries.length > 0 ? entries[entries.length - 1].index : snapIndex;
    if (hardState.commit > lastIndex) {
      this.corrupt('state', KEY_HARD_STATE, `commit index ${hardState.commit} is beyond the last stored entry ${lastIndex}`);
    }
    if (applied > Math.max(hardState.commit, snapIndex)) {
      this.corrupt('state', KEY_APPLIED, `applied index ${applied} is beyond the commit index ${hardState.commit}`);
    }
    this.applied = applied;
    return { hardState, snapshot, entries, applied };
  }

  private readState<T>(key: string, parse: (v: unknown) => T | null): T | null {
    const row = this.stmt.getState.get(key);
    return row ? this.verify('state', key, row, parse) : null;
  }

  /** Check a row's checksum, parse and shape; never returns a record that failed. */
  private verify<T>(table: string, key: string | number, row: Row, parse: (v: unknown) => T | null): T {
    if (typeof row.record !== 'string' || typeof row.crc !== 'number') this.corrupt(table, key, 'record or checksum has the wrong column type');
    const actual = crc32(row.record);
    if (actual !== row.crc) this.corrupt(table, key, `checksum mismatch (stored ${row.crc}, computed ${actual})`);
    let value: unknown;
    try {
      value = JSON.parse(row.record);
    } catch {
      this.corrupt(table, key, 'record is not valid JSON');
    }
    const parsed = parse(value);
    if (parsed === null) this.corrupt(table, key, 'record does not have the expected fields');
    return parsed;
  }

  private corrupt(table: string, key: string | number, problem: string): never {
    throw new StorageCorruptError(this.file, table, key, problem);
  }

  save(part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }): void {
    const { entries, snapshot } = part;
    // Decide and check everything before writing, so a caller bug cannot leave a gap on disk.
    let keepSuffix = true;
    let last = this.lastIndex;
    let floor = this.snapIndex;
    if (snapshot) {
      const { index, term } = snapshot.meta;
      if (index < this.snapIndex) {
        throw new RangeError(`Raft storage ${this.file}: cannot install snapshot ${index}, older than the stored snapshot ${this.snapIndex}; this is a bug in the caller`);
      }
      // Paper §7: keep the log after the snapshot only if it agrees with it at its index.
      keepSuffix = (index === this.snapIndex ? this.snapTerm : this.storedTerm(index)) === term;
      last = keepSuffix ? Math.max(this.lastIndex, index) : index;
      floor = index;
    }
    if (entries.length > 0) {
      const first = entries[0].index;
      if (first <= floor || first > last + 1) {
        throw new RangeError(`Raft storage ${this.file}: cannot save entries from index ${first}: the log would hold ${floor + 1}..${last} (a snapshot covers up to ${floor}); this is a bug in the caller`);
      }
      for (let i = 1; i < entries.length; i++) {
        if (entries[i].index !== first + i) throw new RangeError(`Raft storage ${this.file}: entries to save are not contiguous at index ${entries[i].index}; this is a bug in the caller`);
      }
    }
    this.saveTx(part, keepSuffix);
  }

  private saveInTx(part: { snapshot?: Snapshot; entries: Entry[]; hardState?: HardState }, keepSuffix: boolean): void {
    const s = this.stmt;
    if (part.snapshot) {
      const index = part.snapshot.meta.index;
      if (keepSuffix) s.deleteUpTo.run(index);
      else s.deleteAll.run();
      this.putSnapshot(part.snapshot);
      this.lastIndex = keepSuffix ? Math.max(this.lastIndex, index) : index;
    }
    if (part.entries.length > 0) {
      const first = part.entries[0].index;
      if (first <= this.lastIndex) s.deleteFrom.run(first);
      for (const e of part.entries) {
        const rec = encodeEntry(e);
        s.insertEntry.run(e.index, rec, crc32(rec));
      }
      this.lastIndex = part.entries[part.entries.length - 1].index;
    }
    if (part.hardState) {
      const rec = encodeHardState(part.hardState);
      s.putState.run(KEY_HARD_STATE, rec, crc32(rec));
    }
  }

  private storedTerm(index: number): number | null {
    const row = this.stmt.entryRow.get(index);
    if (!row) return null;
    // A bad row here just means "no agreement": the log after it is dropped, and load checks the rest.
    try {
      return asEntry(JSON.parse(row.record))?.term ?? null;
    } catch {
      return null;
    }
  }

  private putSnapshot(snapshot: Snapshot): void {
    const rec = encodeSnapshot(snapshot);
    this.stmt.putState.run(KEY_SNAPSHOT, rec, crc32(rec));
    this.snapIndex = snapshot.meta.index;
    this.snapTerm = snapshot.meta.term;
  }

  compact(snapshot: Snapshot, firstIndexToKeep: number): void {
    const idx = snapshot.meta.index;
    if (idx < this.snapIndex) {
      throw new RangeError(`Raft storage ${this.file}: cannot compact to snapshot ${idx}, older than the stored snapshot ${this.snapIndex}; this is a bug in the caller`);
    }
    if (idx > this.lastIndex) {
      throw new RangeError(`Raft storage ${this.file}: cannot compact to snapshot ${idx} beyond the last stored entry ${this.lastIndex}; use save() for a snapshot received from the leader`);
    }
    if (firstIndexToKeep > idx + 1) {
      throw new RangeError(`Raft storage ${this.file}: firstIndexToKeep ${firstIndexToKeep} would leave a gap after snapshot ${idx}; pass at most ${idx + 1}`);
    }
    this.compactTx(snapshot, firstIndexToKeep);
  }

  private compactInTx(snapshot: Snapshot, firstIndexToKeep: number): void {
    this.putSnapshot(snapshot);
    this.stmt.deleteBelow.run(firstIndexToKeep);
  }

  setApplied(index: number): void {
    if (index === this.applied) return;
    const rec = JSON.stringify(index);
    // NORMAL in WAL mode: no fsync, but no risk of corruption either; the next FULL commit syncs it.
    this.db.pragma('synchronous = NORMAL');
    try {
      this.stmt.putState.run(KEY_APPLIED, rec, crc32(rec));
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    this.applied = index;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
