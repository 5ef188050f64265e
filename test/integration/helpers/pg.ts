/**
 * Small node-postgres helpers shared by the writer, the prober and the
 * checks: connect to one node, find out whether it takes writes, give up on a
 * connection that hangs, run one query on a fresh connection.
 *
 * node-postgres has no multi-host connection strings, so callers hold one
 * `PgNode` per node and pick among them.
 */

import pg from 'pg';

/** How to reach one node's PostgreSQL (Sandbox.pgConfigFor's shape). */
export interface PgConfig {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** A node id with its connection settings. */
export interface PgNode {
  id: string;
  config: PgConfig;
}

/** Connect with a bounded connect time; no statement_timeout (a cancelled sync wait would look like a commit). */
export async function connect(node: PgNode, connectTimeoutMs = 1000): Promise<pg.Client> {
  const c = new pg.Client({ ...node.config, connectionTimeoutMillis: connectTimeoutMs });
  // An 'error' event without a listener would crash the process when the server dies under us.
  c.on('error', () => {});
  try {
    await c.connect();
  } catch (err) {
    abandon(c);
    throw err;
  }
  return c;
}

/**
 * Drop a connection without waiting for the server: `end()` waits for the
 * server, which never answers while a backend sits in a synchronous-replication wait.
 */
export function abandon(c: pg.Client): void {
  const stream = (c as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
  try {
    stream?.destroy();
  } catch {
    // already gone
  }
}

/** Does this session take writes: a primary (not in recovery) that is not read-only? */
export async function acceptsWrites(c: pg.Client): Promise<boolean> {
  const r = await c.query<{ recovery: boolean; ro: string }>(`SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS ro`);
  return r.rows[0].recovery === false && r.rows[0].ro === 'off';
}

/** A WARNING that says the commit did not wait for synchronous replication: the commit is not acknowledged. */
export function isSyncWaitCancelled(notice: { message?: string }): boolean {
  return /synchronous replication/i.test(notice.message ?? '');
}

/** Run `text` on a fresh connection and close it; bounded by `timeoutMs` (the connection is abandoned past it). */
export async function queryOnce<R extends pg.QueryResultRow = pg.QueryResultRow>(
  node: PgNode,
  text: string,
  params: unknown[] = [],
  timeoutMs = 10_000,
): Promise<R[]> {
  const c = await connect(node, Math.min(timeoutMs, 5000));
  try {
    return (await withTimeout(c.query<R>(text, params), timeoutMs, `${node.id}: ${text}`)).rows;
  } finally {
    abandon(c);
  }
}

/** Rejects with a TimeoutError after `ms`; the operation itself is not cancelled. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]);
}

export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
