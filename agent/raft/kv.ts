/**
 * The replicated key-value state machine. Pure and deterministic: every replica
 * that applies the same committed entries in the same order reaches the same
 * state and returns the same results, so nothing here reads a clock, a random
 * source or the environment.
 */
import type { Entry } from './types.ts';

/** A command carried as JSON in a `normal` entry's `data` (see {@link encodeCommand}). */
export type KvCommand =
  | { op: 'put'; key: string; value: string; expectVersion?: number; requestId?: string }
  | { op: 'delete'; key: string; expectVersion?: number; requestId?: string };

/**
 * Outcome of a write. `version` is the key's version after the write (`ok`), or
 * its current version when the precondition failed (`version-mismatch`).
 * `malformed`: the entry's data was not a valid {@link KvCommand} (bad JSON,
 * unknown op, wrong field types, empty key). Nothing changed; every replica
 * returns the same value, and malformed commands are not recorded for dedup.
 */
export type KvWriteResult =
  | { ok: true; version: number }
  | { ok: false; version: number; reason: 'version-mismatch' }
  | { ok: false; version: 0; reason: 'malformed' };

/**
 * One key. `version` counts writes since the key was (re)created, as etcd's
 * per-key version: 1 after creation, 0 means absent. `createIndex`/`modIndex`
 * are the log indexes of the creating and of the latest write.
 */
export interface KvRecord {
  key: string;
  value: string;
  version: number;
  modIndex: number;
  createIndex: number;
}

/** How many request ids the dedup table remembers by default (oldest applied evicted first). */
export const DEFAULT_DEDUP_LIMIT = 10_000;

/** A snapshot string that `KvStateMachine.restore` cannot use. */
export class KvSnapshotError extends Error {
  override readonly name = 'KvSnapshotError';
}

/** Serialize a command with a fixed field order, omitting absent optional fields. */
export function encodeCommand(c: KvCommand): string {
  const out: Record<string, unknown> = { op: c.op, key: c.key };
  if (c.op === 'put') out.value = c.value;
  if (c.expectVersion !== undefined) out.expectVersion = c.expectVersion;
  if (c.requestId !== undefined) out.requestId = c.requestId;
  return JSON.stringify(out);
}

const MALFORMED: KvWriteResult = { ok: false, version: 0, reason: 'malformed' };

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parse and validate a command; null when malformed. Unknown extra fields are ignored. */
function decodeCommand(data: string): KvCommand | null {
  let v: unknown;
  try {
    v = JSON.parse(data);
  } catch {
    return null;
  }
  if (!isObject(v)) return null;
  const { op, key, value, expectVersion, requestId } = v;
  if (typeof key !== 'string' || key === '') return null;
  if (expectVersion !== undefined && !(Number.isSafeInteger(expectVersion) && (expectVersion as number) >= 0)) return null;
  if (requestId !== undefined && typeof requestId !== 'string') return null;
  const opt = { expectVersion: expectVersion as number | undefined, requestId: requestId as string | undefined };
  if (op === 'put') return typeof value === 'string' ? { op, key, value, ...opt } : null;
  if (op === 'delete') return { op, key, ...opt };
  return null;
}

interface Stored {
  value: string;
  version: number;
  modIndex: number;
  createIndex: number;
}

/** Snapshot layout, version 1. Arrays (not objects) keep the order explicit. */
interface SnapshotV1 {
  v: 1;
  index: number;
  dedupLimit: number;
  /** [key, value, version, modIndex, createIndex], sorted by key. */
  records: [string, string, number, number, number][];
  /** [requestId, result], in apply order (oldest first). */
  dedup: [string, KvWriteResult][];
}

const byKey = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The key-value state machine. Apply committed entries in log order with
 * `apply`; read with `get`/`list`; `snapshot`/`restore` for Raft snapshots.
 */
export class KvStateMachine {
  private readonly data = new Map<string, Stored>();
  /** requestId -> first result; Map iteration order is insertion (= apply) order. */
  private readonly dedup = new Map<string, KvWriteResult>();
  private applied = 0;

  /** @param dedupLimit request ids remembered for retries; must be equal on every replica (it is kept in snapshots). */
  constructor(readonly dedupLimit: number = DEFAULT_DEDUP_LIMIT) {
    if (!Number.isSafeInteger(dedupLimit) || dedupLimit < 0) throw new RangeError(`dedupLimit must be a non-negative integer, got ${dedupLimit}`);
  }

  /** Index of the last entry applied (or of the snapshot restored). */
  get appliedIndex(): number {
    return this.applied;
  }

  /**
   * Apply a committed entry; entries must come in log order without gaps
   * (a violation is a driver bug and throws). `noop`/`conf` entries only advance
   * `appliedIndex` and return null; `normal` entries return the write's result.
   */
  apply(entry: Entry): KvWriteResult | null {
    if (entry.index !== this.applied + 1) {
      throw new RangeError(`KV state machine: applying entry ${entry.index} after ${this.applied}; committed entries must be applied once each, in log order`);
    }
    this.applied = entry.index;
    if (entry.type !== 'normal') return null;

    const cmd = decodeCommand(entry.data);
    if (cmd === null) return { ...MALFORMED };
    if (cmd.requestId !== undefined) {
      const first = this.dedup.get(cmd.requestId);
      // A retried request gets the first answer and must not be applied twice.
      if (first) return { ...first };
    }
    const result = cmd.op === 'put' ? this.put(cmd, entry.index) : this.remove(cmd);
    if (cmd.requestId !== undefined) this.remember(cmd.requestId, result);
    return { ...result };
  }

  private put(cmd: Extract<KvCommand, { op: 'put' }>, index: number): KvWriteResult {
    const cur = this.data.get(cmd.key);
    const version = cur?.version ?? 0;
    if (cmd.expectVersion !== undefined && cmd.expectVersion !== version) return { ok: false, version, reason: 'version-mismatch' };
    this.data.set(cmd.key, { value: cmd.value, version: version + 1, modIndex: index, createIndex: cur?.createIndex ?? index });
    return { ok: true, version: version + 1 };
  }

  private remove(cmd: Extract<KvCommand, { op: 'delete' }>): KvWriteResult {
    const version = this.data.get(cmd.key)?.version ?? 0;
    if (cmd.expectVersion !== undefined && cmd.expectVersion !== version) return { ok: false, version, reason: 'version-mismatch' };
    this.data.delete(cmd.key);
    return { ok: true, version: 0 };
  }

  private remember(requestId: string, result: KvWriteResult): void {
    this.dedup.set(requestId, result);
    // Evict in apply order; identical on every replica because apply order is.
    while (this.dedup.size > this.dedupLimit) {
      const oldest = this.dedup.keys().next().value as string;
      this.dedup.delete(oldest);
    }
  }

  get(key: string): KvRecord | null {
    const s = this.data.get(key);
    return s ? { key, ...s } : null;
  }

  /** Records whose key starts with `prefix`, sorted by key (UTF-16 code unit order). */
  list(prefix: string): KvRecord[] {
    const out: KvRecord[] = [];
    for (const [key, s] of this.data) if (key.startsWith(prefix)) out.push({ key, ...s });
    return out.sort((a, b) => byKey(a.key, b.key));
  }

  /** Deterministic serialization: equal states give equal strings on every replica. */
  snapshot(): string {
    const keys = [...this.data.keys()].sort(byKey);
    const snap: SnapshotV1 = {
      v: 1,
      index: this.applied,
      dedupLimit: this.dedupLimit,
      records: keys.map((k) => {
        const s = this.data.get(k)!;
        return [k, s.value, s.version, s.modIndex, s.createIndex];
      }),
      dedup: [...this.dedup].map(([id, r]) => [id, r]),
    };
    return JSON.stringify(snap);
  }

  /**
   * Rebuild a state machine from `snapshot()` output taken at log index `index`.
   * Throws {@link KvSnapshotError} if the data is not a valid snapshot or was taken at another index.
   */
  static restore(data: string, index: number): KvStateMachine {
    let snap: unknown;
    try {
      snap = JSON.parse(data);
    } catch {
      throw new KvSnapshotError('KV snapshot is not valid JSON; the snapshot is corrupt: restore this node from a peer');
    }
    const bad = (what: string): never => {
      throw new KvSnapshotError(`KV snapshot is invalid (${what}); the snapshot is corrupt or from an unknown version: restore this node from a peer`);
    };
    if (!isObject(snap) || snap.v !== 1) return bad('unknown format version');
    if (snap.index !== index) return bad(`taken at index ${String(snap.index)}, installed as index ${index}`);
    const { dedupLimit, records, dedup } = snap;
    if (!Number.isSafeInteger(dedupLimit) || (dedupLimit as number) < 0) return bad('dedupLimit');
    if (!Array.isArray(records) || !Array.isArray(dedup)) return bad('records or dedup missing');

    const kv = new KvStateMachine(dedupLimit as number);
    kv.applied = index;
    for (const r of records) {
      if (!Array.isArray(r) || r.length !== 5) return bad('record shape');
      const [key, value, version, modIndex, createIndex] = r as unknown[];
      if (typeof key !== 'string' || typeof value !== 'string' || kv.data.has(key)) return bad(`record ${String(key)}`);
      if (![version, modIndex, createIndex].every((n) => Number.isSafeInteger(n) && (n as number) >= 1)) return bad(`record ${key} numbers`);
      kv.data.set(key, { value, version: version as number, modIndex: modIndex as number, createIndex: createIndex as number });
    }
    for (const d of dedup) {
      if (!Array.isArray(d) || d.length !== 2 || typeof d[0] !== 'string' || !isWriteResult(d[1])) return bad('dedup entry');
      kv.dedup.set(d[0], d[1]);
    }
    if (kv.dedup.size > kv.dedupLimit) return bad('dedup table larger than its limit');
    return kv;
  }
}

function isWriteResult(v: unknown): v is KvWriteResult {
  if (!isObject(v) || !Number.isSafeInteger(v.version) || (v.version as number) < 0) return false;
  if (v.ok === true) return v.reason === undefined;
  return v.ok === false && (v.reason === 'version-mismatch' || (v.reason === 'malformed' && v.version === 0));
}
