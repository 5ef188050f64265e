/**
 * The audit log: every mutating `/v1` call (POST, PUT, DELETE) that came
 * with a principal is recorded in the replicated state at
 * `/rustydb/audit/<zero-padded ms>-<random>` (key order = time order) as an
 * {@link AuditRecord}: who, which route and target, status and outcome. No
 * body, header or token is ever copied into it. Anonymous calls (401) and
 * rate-limited ones are not recorded, as an unauthenticated flood must not
 * turn into Raft writes; the agent log has them.
 *
 * The record is written after the answer was sent (onResponse), so the audit
 * never slows or fails a call; a record that cannot be written (no quorum) is
 * logged instead. The log keeps the newest {@link AUDIT_RETENTION} records.
 */

import { randomBytes } from 'node:crypto';
import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import type { ClusterStore } from '../raft/store.ts';
import type { AuditRecord } from '../api/wire-security.ts';
import type { Principal } from './auth.ts';

export const AUDIT_PREFIX = '/rustydb/audit/';
/** Records kept; older ones are deleted by whichever agent notices (every {@link PRUNE_EVERY} writes). */
export const AUDIT_RETENTION = 10_000;
const PRUNE_EVERY = 100;
const WRITE_TIMEOUT_MS = 5000;
const MUTATING = new Set(['POST', 'PUT', 'DELETE', 'PATCH']);
const TARGET_MAX = 200;

export function auditKey(atMs: number): string {
  return `${AUDIT_PREFIX}${String(atMs).padStart(15, '0')}-${randomBytes(4).toString('hex')}`;
}

export interface AuditOptions {
  store: Pick<ClusterStore, 'put' | 'list' | 'delete'>;
  /** This agent (recorded as `node`; names the joining node for a join to it). */
  nodeId: string;
  logger?: FastifyBaseLogger;
  now?: () => Date;
}

/** What a call acted on: the path's id/key, else the body's to/id/name/primary. Strings only, truncated. */
export function auditTarget(params: unknown, body: unknown): string | null {
  const pick = (o: unknown, keys: string[]): string | null => {
    if (typeof o !== 'object' || o === null) return null;
    for (const k of keys) {
      const v = (o as Record<string, unknown>)[k];
      if (typeof v === 'string' && v !== '') return v.slice(0, TARGET_MAX);
    }
    return null;
  };
  return pick(params, ['id', 'key']) ?? pick(body, ['to', 'id', 'name', 'primary']);
}

function principalOf(p: Principal, req: FastifyRequest, nodeId: string): { principal: string; role: string } {
  if (p.kind === 'token') return { principal: p.name, role: p.role };
  const body = req.body as { id?: unknown } | undefined;
  const node = typeof body?.id === 'string' ? body.id.slice(0, 64) : nodeId;
  return { principal: `join:${node}`, role: 'join' };
}

function outcomeOf(status: number): AuditRecord['outcome'] {
  if (status >= 200 && status < 300) return 'ok';
  if (status >= 300 && status < 400) return 'redirected';
  if (status === 401 || status === 403) return 'denied';
  return 'failed';
}

/** The onResponse hook, plus `drain()` (wait for pending writes: tests, shutdown) and `list()` for GET /v1/audit. */
export class AuditLog {
  private readonly pending = new Set<Promise<void>>();
  private writes = 0;

  constructor(private readonly o: AuditOptions) {}

  readonly hook = async (req: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!MUTATING.has(req.method) || !req.principal) return;
    const who = principalOf(req.principal, req, this.o.nodeId);
    const at = (this.o.now ?? (() => new Date()))();
    const record: AuditRecord = {
      at: at.toISOString(),
      ...who,
      method: req.method,
      route: req.routeOptions.url ?? req.url.split('?')[0].slice(0, TARGET_MAX),
      target: auditTarget(req.params, req.body),
      status: reply.statusCode,
      outcome: outcomeOf(reply.statusCode),
      node: this.o.nodeId,
    };
    const p = this.write(at.getTime(), record).finally(() => this.pending.delete(p));
    this.pending.add(p);
  };

  /** Wait until every record handed to the hook so far is written (or failed and logged). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /** The newest `limit` records, newest first. */
  async list(limit: number): Promise<AuditRecord[]> {
    const all = await this.o.store.list(AUDIT_PREFIX, { consistency: 'linearizable' });
    return all
      .slice(-limit)
      .reverse()
      .map((r) => JSON.parse(r.value) as AuditRecord);
  }

  private async write(atMs: number, record: AuditRecord): Promise<void> {
    const key = auditKey(atMs);
    try {
      // The key is unique: expectVersion 0 plus the requestId make a retried proposal land once.
      await this.o.store.put(key, JSON.stringify(record), { expectVersion: 0, requestId: `audit-${key}`, timeoutMs: WRITE_TIMEOUT_MS });
    } catch (err) {
      this.o.logger?.warn({ audit: record, err: (err as Error).message }, 'audit record not written to the cluster state (kept here)');
      return;
    }
    if (++this.writes % PRUNE_EVERY === 0) await this.prune();
  }

  private async prune(): Promise<void> {
    try {
      const all = await this.o.store.list(AUDIT_PREFIX, { consistency: 'local' });
      for (const r of all.slice(0, Math.max(0, all.length - AUDIT_RETENTION))) await this.o.store.delete(r.key, { expectVersion: r.version });
    } catch (err) {
      this.o.logger?.warn({ err: (err as Error).message }, 'audit log pruning failed; will retry later');
    }
  }
}
