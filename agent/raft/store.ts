/**
 * The one interface the HA code uses to read and write replicated cluster
 * state. It says nothing about Raft: terms, indexes and messages stay behind
 * it (`RaftNode` implements it; tests may fake it).
 */

import type { KvRecord, KvWriteResult } from './kv.ts';

export type { KvRecord, KvWriteResult };

/**
 * How fresh a read must be.
 * - `linearizable` (default): reflects every write acknowledged before the read
 *   started, on any node (ReadIndex through the leader; needs a quorum).
 * - `local`: whatever this node has applied; may be stale, works without a quorum.
 */
export type ReadConsistency = 'linearizable' | 'local';

export interface ReadOptions {
  consistency?: ReadConsistency;
  /** Give up after this long (default: the store's request timeout). */
  timeoutMs?: number;
}

export interface WriteOptions {
  /** Compare-and-set: apply only if the key's current version is this (0 = "must not exist"). */
  expectVersion?: number;
  /**
   * Idempotency key. A retried write with the same requestId is applied at most
   * once; the retry returns the first outcome. Use one on every write you may retry.
   */
  requestId?: string;
  /** Give up after this long (default: the store's request timeout). */
  timeoutMs?: number;
}

/** Replicated key-value store with per-key versions (compare-and-set). */
export interface ClusterStore {
  get(key: string, opts?: ReadOptions): Promise<KvRecord | null>;
  /** Records whose key starts with `prefix`, in key order. */
  list(prefix: string, opts?: ReadOptions): Promise<KvRecord[]>;
  /**
   * Resolves once the write is committed and applied: `{ok:true, version}`, or
   * `{ok:false, reason:'version-mismatch', version: <current>}` for a failed CAS.
   * Rejects with a {@link StoreError}; only code `timeout` (and `outcome-unknown`)
   * leave the outcome open: retry with the same requestId, or read the key.
   */
  put(key: string, value: string, opts?: WriteOptions): Promise<KvWriteResult>;
  delete(key: string, opts?: WriteOptions): Promise<KvWriteResult>;
  /** This node's view of the current leader; null while none is known. */
  leader(): { id: string; term: number } | null;
  isLeader(): boolean;
}

/**
 * Why a store request failed. Each code says whether the write may have happened:
 * - `no-leader`: no leader known within the timeout; nothing was written.
 * - `not-leader`: this node is not the leader (`leader` names the one it knows); nothing was written.
 * - `dropped`: the write was definitely not applied (lost in a leader change); safe to retry.
 * - `timeout`: outcome unknown; retry with the same requestId or read the key.
 * - `outcome-unknown`: this node skipped the entry (installed a snapshot over it); as `timeout`.
 * - `stopped`: the node is shutting down; a write still pending then has an unknown outcome.
 * - `unreachable`: the leader refused the connection; nothing was written.
 * - `refused`: the cluster refused the request (e.g. a membership change is already pending).
 * - `invalid`: the request itself is wrong (bad membership change, malformed command).
 */
export type StoreErrorCode =
  | 'no-leader'
  | 'not-leader'
  | 'dropped'
  | 'timeout'
  | 'outcome-unknown'
  | 'stopped'
  | 'unreachable'
  | 'refused'
  | 'invalid';

export class StoreError extends Error {
  readonly code: StoreErrorCode;
  /** The leader this node knows of, when that helps the caller retry elsewhere ('' = none). */
  readonly leader: string;

  constructor(code: StoreErrorCode, message: string, leader = '') {
    super(message);
    this.name = 'StoreError';
    this.code = code;
    this.leader = leader;
  }
}

export function isStoreError(e: unknown): e is StoreError {
  return e instanceof StoreError;
}
