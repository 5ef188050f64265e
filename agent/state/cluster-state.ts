/**
 * Typed access to the replicated cluster state over a `ClusterStore`. The HA
 * loop, the API and the procedures use this; none of them knows key names.
 */

import type { ClusterStore, ReadConsistency } from '../raft/store.ts';
import {
  KEY,
  type ClusterConfigRecord,
  type ClusterIdentity,
  type FailoverRequest,
  type HistoryRecord,
  type MemberRecord,
  type OperationRecord,
  type PrimaryRecord,
} from './records.ts';

export interface Versioned<T> {
  value: T;
  version: number;
}

/** A compare-and-set lost: someone else changed the record first. */
export class StaleRecordError extends Error {
  constructor(
    readonly key: string,
    readonly currentVersion: number,
  ) {
    super(`${key} changed concurrently (now version ${currentVersion}); re-read it and decide again`);
    this.name = 'StaleRecordError';
  }
}

export interface Snapshot {
  identity: ClusterIdentity | null;
  config: ClusterConfigRecord | null;
  primary: Versioned<PrimaryRecord> | null;
  members: MemberRecord[];
  failoverRequest: Versioned<FailoverRequest> | null;
}

export class ClusterState {
  constructor(private readonly store: ClusterStore) {}

  /** Everything the HA loop needs, in one linearizable read barrier plus local reads. */
  async read(consistency: ReadConsistency = 'linearizable', timeoutMs?: number): Promise<Snapshot> {
    const all = await this.store.list('/rustydb/', { consistency, timeoutMs });
    const get = (key: string) => all.find((r) => r.key === key);
    const parse = <T>(key: string): Versioned<T> | null => {
      const r = get(key);
      return r ? { value: JSON.parse(r.value) as T, version: r.version } : null;
    };
    return {
      identity: parse<ClusterIdentity>(KEY.identity)?.value ?? null,
      config: parse<ClusterConfigRecord>(KEY.config)?.value ?? null,
      primary: parse<PrimaryRecord>(KEY.primary),
      members: all.filter((r) => r.key.startsWith(KEY.memberPrefix)).map((r) => JSON.parse(r.value) as MemberRecord),
      failoverRequest: parse<FailoverRequest>(KEY.failoverRequest),
    };
  }

  /** Create the key if absent; returns false if it already existed (somebody else created it). */
  async createIfAbsent(key: string, value: unknown, requestId?: string): Promise<boolean> {
    const r = await this.store.put(key, JSON.stringify(value), { expectVersion: 0, requestId });
    return r.ok;
  }

  /** Replace a record read at `expectVersion`; throws StaleRecordError when it changed meanwhile. */
  async replace(key: string, value: unknown, expectVersion: number, requestId?: string, timeoutMs?: number): Promise<number> {
    const r = await this.store.put(key, JSON.stringify(value), { expectVersion, requestId, ...(timeoutMs !== undefined && { timeoutMs }) });
    if (!r.ok) throw new StaleRecordError(key, r.version);
    return r.version;
  }

  async putPrimary(record: PrimaryRecord, expectVersion: number, requestId?: string, timeoutMs?: number): Promise<number> {
    return this.replace(KEY.primary, record, expectVersion, requestId, timeoutMs);
  }

  async appendHistory(h: HistoryRecord): Promise<void> {
    await this.store.put(KEY.history(h.epoch), JSON.stringify(h), { expectVersion: 0, requestId: `history-${h.epoch}` });
  }

  async history(limit: number, consistency: ReadConsistency = 'linearizable'): Promise<HistoryRecord[]> {
    const all = await this.store.list(KEY.historyPrefix, { consistency });
    return all.slice(-limit).map((r) => JSON.parse(r.value) as HistoryRecord).reverse();
  }

  /** One member record with its version (for compare-and-set), tombstones included. */
  async member(id: string): Promise<Versioned<MemberRecord> | null> {
    const r = await this.store.get(KEY.member(id), { consistency: 'linearizable' });
    return r ? { value: JSON.parse(r.value) as MemberRecord, version: r.version } : null;
  }

  async putMember(m: MemberRecord): Promise<void> {
    await this.store.put(KEY.member(m.id), JSON.stringify(m));
  }

  async putOperation(op: OperationRecord): Promise<void> {
    await this.store.put(KEY.operation(op.id), JSON.stringify(op));
  }

  async operation(id: string): Promise<OperationRecord | null> {
    const r = await this.store.get(KEY.operation(id), { consistency: 'linearizable' });
    return r ? (JSON.parse(r.value) as OperationRecord) : null;
  }

  /** Record an operator's failover request; at most one is pending at a time. */
  async requestFailover(req: FailoverRequest): Promise<{ ok: true } | { ok: false; pending: FailoverRequest }> {
    const cur = await this.store.get(KEY.failoverRequest, { consistency: 'linearizable' });
    if (cur) {
      const pending = JSON.parse(cur.value) as FailoverRequest;
      if (pending.requestId === req.requestId) return { ok: true };
      return { ok: false, pending };
    }
    const r = await this.store.put(KEY.failoverRequest, JSON.stringify(req), { expectVersion: 0, requestId: `failover-request-${req.requestId}` });
    if (r.ok) return { ok: true };
    const again = await this.store.get(KEY.failoverRequest, { consistency: 'linearizable' });
    return again ? { ok: false, pending: JSON.parse(again.value) as FailoverRequest } : { ok: true };
  }

  async clearFailoverRequest(version: number): Promise<void> {
    await this.store.delete(KEY.failoverRequest, { expectVersion: version });
  }
}
