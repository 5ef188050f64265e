/**
 * Checks made by code against the real cluster: which acknowledged writes a
 * node is missing, whether a node is a streaming replica of a given primary
 * (asked of PostgreSQL itself, not of the agents), catch-up, and the control
 * API calls the scenarios make (switchover and its operation).
 */

import { readFileSync } from 'node:fs';
import type { OperationView } from '../../../agent/api/wire.ts';
import { queryOnce, sleep, type PgNode } from './pg.ts';

/** Poll `probe` until it returns a truthy value; the last error or value goes into the timeout message. */
export async function waitFor<T>(what: string, probe: () => Promise<T | null | undefined | false>, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
      last = `last answer: ${JSON.stringify(v)}`;
    } catch (err) {
      last = `last error: ${(err as Error).message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
    await sleep(intervalMs);
  }
}

/** The elements of `expected` that are not in `present`, in the order of `expected`. */
export function missing<T>(expected: Iterable<T>, present: ReadonlySet<T>): T[] {
  const out: T[] = [];
  for (const x of expected) if (!present.has(x)) out.push(x);
  return out;
}

/** Every `id` of `table` on `node`. */
export async function readIds(node: PgNode, table = 'acked'): Promise<Set<number>> {
  const rows = await queryOnce<{ id: string | number }>(node, `SELECT id FROM ${table}`, [], 30_000);
  return new Set(rows.map((r) => Number(r.id)));
}

/** Every `node:tick` of a probe table on `node`. */
export async function readProbeKeys(node: PgNode, table = 'probe'): Promise<Set<string>> {
  const rows = await queryOnce<{ node: string; tick: number }>(node, `SELECT node, tick FROM ${table}`, [], 30_000);
  return new Set(rows.map((r) => `${r.node}:${r.tick}`));
}

/** One row of pg_stat_replication on a primary. */
export interface ReplicationRow {
  application_name: string;
  state: string;
  sync_state: string;
}

export async function replicationRows(primary: PgNode): Promise<ReplicationRow[]> {
  return queryOnce<ReplicationRow>(primary, 'SELECT application_name, state, sync_state FROM pg_stat_replication', [], 5000);
}

/**
 * Is `replica` streaming from `primary`, as PostgreSQL reports it on both
 * ends: the replica is in recovery with a streaming WAL receiver whose
 * sender is the primary's port, and the primary lists the replica (by its
 * application_name, the node id) as streaming. Returns a reason when not.
 */
export async function streamingState(replica: PgNode, primary: PgNode): Promise<{ ok: boolean; why: string }> {
  const r = await queryOnce<{ recovery: boolean; status: string | null; sender_port: number | null }>(
    replica,
    'SELECT pg_is_in_recovery() AS recovery, (SELECT status FROM pg_stat_wal_receiver) AS status, (SELECT sender_port FROM pg_stat_wal_receiver) AS sender_port',
    [],
    5000,
  );
  const row = r[0];
  if (!row.recovery) return { ok: false, why: `${replica.id} is not in recovery (it is a primary)` };
  if (row.status !== 'streaming') return { ok: false, why: `${replica.id}'s WAL receiver is ${row.status ?? 'not running'}` };
  if (row.sender_port !== primary.config.port) return { ok: false, why: `${replica.id} streams from port ${row.sender_port}, not ${primary.id} (${primary.config.port})` };
  const rows = await replicationRows(primary);
  const mine = rows.find((x) => x.application_name === replica.id);
  if (!mine || mine.state !== 'streaming') return { ok: false, why: `${primary.id}'s pg_stat_replication: ${JSON.stringify(rows)}` };
  return { ok: true, why: `${replica.id} streams from ${primary.id} (${mine.sync_state})` };
}

export function waitStreaming(replica: PgNode, primary: PgNode, timeoutMs: number): Promise<string> {
  return waitFor(
    `${replica.id} to stream from ${primary.id}`,
    async () => {
      const s = await streamingState(replica, primary);
      if (!s.ok) throw new Error(s.why);
      return s.why;
    },
    timeoutMs,
    200,
  );
}

/** Wait until `replica` has replayed everything `primary` had written when this was called. */
export async function waitCaughtUp(replica: PgNode, primary: PgNode, timeoutMs: number): Promise<void> {
  const [{ lsn }] = await queryOnce<{ lsn: string }>(primary, 'SELECT pg_current_wal_lsn()::text AS lsn', [], 5000);
  await waitFor(
    `${replica.id} to replay ${primary.id}'s WAL up to ${lsn}`,
    async () => {
      const [r] = await queryOnce<{ done: boolean; at: string | null }>(
        replica,
        'SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done, pg_last_wal_replay_lsn()::text AS at',
        [lsn],
        5000,
      );
      if (!r.done) throw new Error(`replayed up to ${r.at}`);
      return true;
    },
    timeoutMs,
    100,
  );
}

/** Which of `nodes` take writes right now (a primary that is not read-only); unreachable ones do not. */
export async function writableNodes(nodes: PgNode[]): Promise<string[]> {
  const answers = await Promise.all(
    nodes.map(async (n) => {
      try {
        const [r] = await queryOnce<{ recovery: boolean; ro: string }>(
          n,
          `SELECT pg_is_in_recovery() AS recovery, current_setting('transaction_read_only') AS ro`,
          [],
          3000,
        );
        return !r.recovery && r.ro === 'off' ? n.id : null;
      } catch {
        return null;
      }
    }),
  );
  return answers.filter((x): x is string => x !== null);
}

/** One pino JSON line of an agent log: wall-clock `time` (epoch ms), `msg`, and the other fields. */
export interface LogEntry {
  time: number;
  msg: string;
  fields: Record<string, unknown>;
}

/** Every pino JSON line of an agent log at or after `sinceWallMs` (other lines skipped). */
export function logEntries(logFile: string, sinceWallMs = 0): LogEntry[] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const out: LogEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      const o = JSON.parse(line) as Record<string, unknown>;
      if (typeof o.msg === 'string' && typeof o.time === 'number' && o.time >= sinceWallMs) out.push({ time: o.time, msg: o.msg, fields: o });
    } catch {
      // a partial last line
    }
  }
  return out;
}

/** The `msg` of every pino JSON line of an agent log (other lines skipped). */
export function logMessages(logFile: string): string[] {
  return logEntries(logFile).map((e) => e.msg);
}

/** An answer of the control API. */
export interface ApiAnswer<T> {
  status: number;
  body: T;
  location: string | null;
}

/** How the checks reach the agents: `sb.apiFetch` (TLS with the sandbox CA, admin token); plain fetch by default. */
export type ApiFetch = (url: string, init: RequestInit) => Promise<Response>;

export async function apiRequest<T>(url: string, init: { method?: string; body?: unknown } = {}, via: ApiFetch = fetch): Promise<ApiAnswer<T>> {
  const res = await via(url, {
    method: init.method ?? 'GET',
    headers: init.body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    signal: AbortSignal.timeout(5000),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text for the message
  }
  return { status: res.status, body: body as T, location: res.headers.get('location') };
}

/**
 * `POST /v1/cluster/switchover {to}` to the first agent (of `apiUrls`) that
 * accepts it with 202; throws with every answer if none does.
 */
export async function requestSwitchover(apiUrls: string[], to: string, via?: ApiFetch): Promise<{ apiUrl: string; op: OperationView; location: string }> {
  const answers: string[] = [];
  for (const apiUrl of apiUrls) {
    try {
      const a = await apiRequest<OperationView>(`${apiUrl}/v1/cluster/switchover`, { method: 'POST', body: { to } }, via);
      if (a.status === 202 && a.location) return { apiUrl, op: a.body, location: a.location };
      answers.push(`${apiUrl}: ${a.status} ${JSON.stringify(a.body)}`);
    } catch (err) {
      answers.push(`${apiUrl}: ${(err as Error).message}`);
    }
  }
  throw new Error(`no agent accepted the switchover to ${to}:\n  ${answers.join('\n  ')}`);
}

/** Poll the operation at `location` (asking the first of `apiUrls` that answers) until it succeeds or fails. */
export async function waitOperation(apiUrls: string[], location: string, timeoutMs: number, via?: ApiFetch): Promise<OperationView> {
  return waitFor(
    `operation ${location} to finish`,
    async () => {
      for (const apiUrl of apiUrls) {
        let a: ApiAnswer<OperationView>;
        try {
          a = await apiRequest<OperationView>(`${apiUrl}${location}`, {}, via);
        } catch {
          continue; // this agent is down or frozen: ask the next one
        }
        if (a.status !== 200) throw new Error(`${apiUrl}: ${a.status} ${JSON.stringify(a.body)}`);
        if (a.body.state === 'succeeded' || a.body.state === 'failed') return a.body;
        throw new Error(`${a.body.state}: ${a.body.message}`);
      }
      throw new Error('no agent answered');
    },
    timeoutMs,
    100,
  );
}
