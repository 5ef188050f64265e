import { test, describe, beforeEach, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { openSqliteStorage, crc32, StorageCorruptError, StorageVersionError, STORAGE_SCHEMA_VERSION, type RaftStorage } from '../../agent/raft/storage.ts';
import type { Entry, Snapshot } from '../../agent/raft/types.ts';

const ent = (index: number, term: number, data = `cmd-${index}`): Entry => ({ index, term, type: 'normal', data });
const range = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
const snap = (index: number, term: number, data = `state@${index}`): Snapshot => ({
  meta: { index, term, membership: { voters: ['a', 'b', 'c'], learners: ['d'] } },
  data,
});

let dir: string;
let file: string;
let open: RaftStorage[];

function openStore(): RaftStorage {
  const s = openSqliteStorage(file);
  open.push(s);
  return s;
}

/** Close `s` and reopen the same file, as a restarted node would. */
function reopen(s: RaftStorage): RaftStorage {
  s.close();
  return openStore();
}

/** Run SQL against the file with a separate connection, as a disk fault or a hand edit would. */
function tamper(sql: string, ...params: unknown[]): void {
  const db = new Database(file);
  try {
    const info = db.prepare(sql).run(...params);
    assert.ok(info.changes > 0, `tamper statement changed nothing: ${sql}`);
  } finally {
    db.close();
  }
}

/** SQL expression: `record` with the low bit of its last character flipped (x XOR 1 = (x | 1) - (x & 1)). */
const flipLastChar =
  "substr(record, 1, length(record) - 1) || char((unicode(substr(record, -1)) | 1) - (unicode(substr(record, -1)) & 1))";

function assertCorrupt(s: RaftStorage, table: string, key: string | number, pattern?: RegExp): void {
  assert.throws(
    () => s.load(),
    (err: unknown) => {
      assert.ok(err instanceof StorageCorruptError, `expected StorageCorruptError, got ${String(err)}`);
      assert.equal(err.table, table);
      assert.equal(err.key, key);
      assert.equal(err.file, file);
      assert.match(err.message, new RegExp(file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
      assert.match(err.message, new RegExp(`table ${table}`));
      assert.match(err.message, new RegExp(`${typeof key === 'number' ? 'index' : 'key'} ${key}`));
      assert.match(err.message, /restore this node from a peer/);
      if (pattern) assert.match(err.message, pattern);
      return true;
    },
  );
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'raft-storage-'));
  file = join(dir, 'state', 'raft.db');
  open = [];
});
afterEach(() => {
  for (const s of open) s.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('crc32', () => {
  test('matches the standard check value', () => {
    assert.equal(crc32('123456789'), 0xcbf43926);
    assert.equal(crc32(''), 0);
    assert.equal(crc32('The quick brown fox jumps over the lazy dog'), 0x414fa339);
  });
});

describe('SQLite Raft storage', () => {
  test('a new file loads as empty state, and is created in a new directory', () => {
    const s = openStore();
    assert.deepEqual(s.load(), { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], applied: 0 });
  });

  test('uses the WAL journal and records the schema version', () => {
    openStore().close();
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), STORAGE_SCHEMA_VERSION);
    db.close();
  });

  test('round trip: entries, hard state, snapshot and applied survive a reopen', () => {
    let s = openStore();
    const conf: Entry = { index: 3, term: 2, type: 'conf', data: JSON.stringify({ voters: ['a'], learners: [] }) };
    const noop: Entry = { index: 4, term: 2, type: 'noop', data: '' };
    s.save({ entries: [ent(1, 1), ent(2, 1, 'unicode ✓ "quoted" \n newline')], hardState: { term: 1, vote: 'a', commit: 0 } });
    s.save({ entries: [conf, noop], hardState: { term: 2, vote: 'b', commit: 3 } });
    s.setApplied(3);
    const before = s.load();
    s = reopen(s);
    const after = s.load();
    assert.deepEqual(after, before);
    assert.deepEqual(after, {
      hardState: { term: 2, vote: 'b', commit: 3 },
      snapshot: null,
      entries: [ent(1, 1), ent(2, 1, 'unicode ✓ "quoted" \n newline'), conf, noop],
      applied: 3,
    });
  });

  test('hard state alone and entries alone are saved independently', () => {
    let s = openStore();
    s.save({ entries: [], hardState: { term: 5, vote: 'c', commit: 0 } });
    s.save({ entries: [ent(1, 5)] });
    s = reopen(s);
    const r = s.load();
    assert.deepEqual(r.hardState, { term: 5, vote: 'c', commit: 0 });
    assert.deepEqual(r.entries, [ent(1, 5)]);
  });

  test('an entry at a stored index replaces it and deletes every later entry', () => {
    let s = openStore();
    s.save({ entries: range(1, 6, 1) });
    s.save({ entries: [ent(4, 2, 'new-4')] });
    s = reopen(s);
    assert.deepEqual(s.load().entries, [...range(1, 3, 1), ent(4, 2, 'new-4')]);
    // Appending right after the new tail still works.
    s.save({ entries: [ent(5, 2)] });
    assert.deepEqual(s.load().entries.map((e) => e.index), [1, 2, 3, 4, 5]);
  });

  test('refuses entries that would leave a gap, writing nothing', () => {
    const s = openStore();
    s.save({ entries: range(1, 3, 1) });
    assert.throws(() => s.save({ entries: [ent(5, 1)], hardState: { term: 9, vote: '', commit: 0 } }), RangeError);
    assert.throws(() => s.save({ entries: [ent(4, 1), ent(6, 1)] }), RangeError);
    assert.throws(() => s.save({ entries: [ent(0, 1)] }), RangeError);
    const r = s.load();
    assert.deepEqual(r.entries, range(1, 3, 1));
    assert.equal(r.hardState.term, 0);
  });

  test('a snapshot replaces the log prefix and keeps a suffix that agrees with it', () => {
    let s = openStore();
    s.save({ entries: range(1, 10, 1) });
    s.save({ snapshot: snap(6, 1), entries: [], hardState: { term: 1, vote: '', commit: 6 } });
    s = reopen(s);
    const r = s.load();
    assert.deepEqual(r.snapshot, snap(6, 1));
    assert.deepEqual(r.entries, range(7, 10, 1));
    assert.equal(r.hardState.commit, 6);
  });

  test('a snapshot that disagrees with the log at its index discards the whole log', () => {
    let s = openStore();
    s.save({ entries: range(1, 10, 1) });
    s.save({ snapshot: snap(6, 2), entries: [ent(7, 2)], hardState: { term: 2, vote: '', commit: 6 } });
    s = reopen(s);
    const r = s.load();
    assert.deepEqual(r.snapshot, snap(6, 2));
    assert.deepEqual(r.entries, [ent(7, 2)]);
  });

  test('a snapshot beyond the log (InstallSnapshot to a lagging follower)', () => {
    let s = openStore();
    s.save({ entries: range(1, 3, 1) });
    s.save({ snapshot: snap(100, 4), entries: [ent(101, 4), ent(102, 4)], hardState: { term: 4, vote: '', commit: 100 } });
    s = reopen(s);
    const r = s.load();
    assert.equal(r.snapshot?.meta.index, 100);
    assert.deepEqual(r.entries, [ent(101, 4), ent(102, 4)]);
    // Entries covered by the snapshot cannot be written any more.
    assert.throws(() => s.save({ entries: [ent(100, 4)] }), RangeError);
  });

  test('compact stores the snapshot and deletes entries before firstIndexToKeep', () => {
    let s = openStore();
    s.save({ entries: range(1, 20, 1), hardState: { term: 1, vote: 'a', commit: 20 } });
    s.setApplied(20);
    s.compact(snap(15, 1), 11); // keep 11..15 behind the snapshot for slow followers
    s = reopen(s);
    const r = s.load();
    assert.deepEqual(r.snapshot, snap(15, 1));
    assert.deepEqual(r.entries, range(16, 20, 1), 'only entries after the snapshot are returned');
    assert.equal(r.applied, 20);
    s.close();
    const db = new Database(file, { readonly: true });
    const idx = db.prepare('SELECT idx FROM entries ORDER BY idx').pluck().all();
    db.close();
    assert.deepEqual(idx, Array.from({ length: 10 }, (_, i) => 11 + i), 'retained entries are kept on disk');
  });

  test('compact up to the whole log, then append after it', () => {
    let s = openStore();
    s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: '', commit: 5 } });
    s.compact(snap(5, 1), 6);
    s.save({ entries: [ent(6, 1)] });
    s = reopen(s);
    assert.deepEqual(s.load().entries, [ent(6, 1)]);
  });

  test('compact refuses a gap, a snapshot beyond the log, and an older snapshot', () => {
    const s = openStore();
    s.save({ entries: range(1, 10, 1), hardState: { term: 1, vote: '', commit: 10 } });
    assert.throws(() => s.compact(snap(5, 1), 7), RangeError);
    assert.throws(() => s.compact(snap(11, 1), 5), RangeError);
    s.compact(snap(8, 1), 9);
    assert.throws(() => s.compact(snap(6, 1), 5), RangeError);
    assert.equal(s.load().snapshot?.meta.index, 8);
  });

  test('a bit flipped in an entry is detected and names table and index', () => {
    let s = openStore();
    s.save({ entries: range(1, 5, 1) });
    s.close();
    tamper(`UPDATE entries SET record = ${flipLastChar} WHERE idx = 3`);
    s = openStore();
    assertCorrupt(s, 'entries', 3, /checksum mismatch/);
  });

  test('a corrupted hard state, snapshot or applied record is detected', () => {
    for (const key of ['hard_state', 'snapshot', 'applied']) {
      let s = openStore();
      s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: 'a', commit: 5 } });
      s.compact(snap(3, 1), 4);
      s.setApplied(5);
      s.close();
      tamper(`UPDATE state SET record = ${flipLastChar} WHERE key = ?`, key);
      s = openStore();
      assertCorrupt(s, 'state', key, /checksum mismatch/);
      s.close();
      rmSync(join(dir, 'state'), { recursive: true });
    }
  });

  test('unparsable JSON with a matching checksum is still rejected', () => {
    let s = openStore();
    s.save({ entries: range(1, 2, 1) });
    s.close();
    const junk = '{"index":2,"term":';
    tamper('UPDATE entries SET record = ?, crc = ? WHERE idx = 2', junk, crc32(junk));
    s = openStore();
    assertCorrupt(s, 'entries', 2, /not valid JSON/);
  });

  test('a record with the wrong fields or a mismatched index is rejected', () => {
    let s = openStore();
    s.save({ entries: range(1, 3, 1) });
    s.close();
    const wrongType = JSON.stringify({ index: 2, term: 1, type: 'bogus', data: '' });
    tamper('UPDATE entries SET record = ?, crc = ? WHERE idx = 2', wrongType, crc32(wrongType));
    const moved = JSON.stringify({ index: 9, term: 1, type: 'normal', data: '' });
    tamper('UPDATE entries SET record = ?, crc = ? WHERE idx = 3', moved, crc32(moved));
    s = openStore();
    assertCorrupt(s, 'entries', 2, /expected fields/);
    s.close();
    tamper('DELETE FROM entries WHERE idx = 2');
    s = openStore();
    assertCorrupt(s, 'entries', 3);
  });

  test('a gap in the entry indexes is detected', () => {
    let s = openStore();
    s.save({ entries: range(1, 6, 1) });
    s.close();
    tamper('DELETE FROM entries WHERE idx = 4');
    s = openStore();
    assertCorrupt(s, 'entries', 5, /gap in the log: previous entry is 3/);
  });

  test('entries that do not start right after the snapshot are detected', () => {
    let s = openStore();
    s.save({ entries: range(1, 10, 1), hardState: { term: 1, vote: '', commit: 5 } });
    s.compact(snap(5, 1), 6);
    s.close();
    tamper('DELETE FROM entries WHERE idx = 6');
    s = openStore();
    assertCorrupt(s, 'entries', 7, /entries 6\.\.6 are missing/);
  });

  test('a log not starting at 1 without a snapshot is detected', () => {
    let s = openStore();
    s.save({ entries: range(1, 3, 1) });
    s.close();
    tamper('DELETE FROM entries WHERE idx = 1');
    s = openStore();
    assertCorrupt(s, 'entries', 2, /no snapshot/);
  });

  test('terms going backwards in the log are detected', () => {
    let s = openStore();
    s.save({ entries: [ent(1, 1), ent(2, 3), ent(3, 3)] });
    s.close();
    const rec = JSON.stringify({ index: 3, term: 2, type: 'normal', data: 'x' });
    tamper('UPDATE entries SET record = ?, crc = ? WHERE idx = 3', rec, crc32(rec));
    s = openStore();
    assertCorrupt(s, 'entries', 3, /lower than the previous/);
  });

  test('a commit index beyond the stored log is detected', () => {
    let s = openStore();
    s.save({ entries: range(1, 5, 1), hardState: { term: 1, vote: '', commit: 5 } });
    s.close();
    tamper('DELETE FROM entries WHERE idx = 5');
    s = openStore();
    assertCorrupt(s, 'state', 'hard_state', /commit index 5 is beyond the last stored entry 4/);
  });

  test('a file that is not a SQLite database is reported as corrupt', () => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, 'this is not a database, just text long enough to fill a header. '.repeat(20));
    assert.throws(
      () => openSqliteStorage(file),
      (err: unknown) => err instanceof StorageCorruptError && /SQLITE_NOTADB/.test(err.message) && /restore this node from a peer/.test(err.message),
    );
  });

  test('reopen after close returns the same state every time', () => {
    let s = openStore();
    s.save({ entries: range(1, 8, 2), hardState: { term: 2, vote: 'x', commit: 7 } });
    s.compact(snap(4, 2), 3);
    s.setApplied(7);
    const first = s.load();
    for (let i = 0; i < 3; i++) {
      s = reopen(s);
      assert.deepEqual(s.load(), first);
    }
  });

  test('refuses a file with a future schema version', () => {
    openStore().close();
    const db = new Database(file);
    db.pragma(`user_version = ${STORAGE_SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => openSqliteStorage(file),
      (err: unknown) =>
        err instanceof StorageVersionError &&
        err.found === STORAGE_SCHEMA_VERSION + 1 &&
        new RegExp(`schema version ${STORAGE_SCHEMA_VERSION + 1} is newer`).test(err.message),
    );
  });

  test('refuses a foreign SQLite file instead of adding tables to it', () => {
    mkdirSync(dirname(file), { recursive: true });
    const other = new Database(file);
    other.exec('CREATE TABLE something_else (x)');
    other.close();
    assert.throws(() => openSqliteStorage(file), (err: unknown) => err instanceof StorageVersionError && /not a RustyDB Raft store/.test(err.message));
  });

  test('setApplied survives a reopen without a following save', () => {
    let s = openStore();
    s.save({ entries: range(1, 3, 1), hardState: { term: 1, vote: '', commit: 3 } });
    s.setApplied(1);
    s.setApplied(2);
    s = reopen(s);
    assert.equal(s.load().applied, 2);
  });
});
