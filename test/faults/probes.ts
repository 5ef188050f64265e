/**
 * Who accepts writes, sampled: every `periodMs`, one probe write to each
 * node directly (not through the multi-host string), concurrently:
 * `INSERT INTO fault_probe(node, seq) VALUES (...) RETURNING epoch`.
 *
 * Each node has one persistent connection and at most one probe in flight;
 * a node still busy with its previous probe is skipped at that round (it is
 * not accepting writes at that instant). A probe has a short timeout: past
 * it, the probe is `unknown` if the INSERT had been sent (the node stays
 * busy until it settles or lingers out, then the connection is abandoned),
 * `failed` if the connection never came up. An ERROR answer
 * (read-only, recovery) is `failed`; a commit with the sync-wait-cancelled
 * WARNING is `unknown` (committed locally, never confirmed by standbys).
 *
 * Also kept: the first time each epoch was seen acked, the harness's own
 * view of "epoch e is live on node X from time t".
 */

import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { abandon, connect, isSyncWaitCancelled, sleep, TimeoutError, withTimeout } from '../integration/helpers/pg.ts';
import { pgNodeOfFault, type FaultNode, type Outcome } from './workload.ts';

/** One probe write. Times are the harness's performance.now(). */
export interface ProbeRecord {
  node: string;
  seq: number;
  invoke: number;
  complete: number;
  outcome: Outcome;
  /** ok: the epoch the row was committed under (null: the engine had no epoch set). */
  epoch: number | null;
  /** failed/unknown: why, briefly. */
  error?: string;
}

/** The first acknowledged probe of an epoch. */
export interface EpochSeen {
  epoch: number;
  node: string;
  /** When that probe completed. */
  at: number;
}

export interface ProbeLog {
  startedAt: number;
  stoppedAt: number;
  /** Probe seqs start here (for reading this run's rows back). */
  firstSeq: number;
  records: ProbeRecord[];
  /** In order of first sighting. */
  epochs: EpochSeen[];
}

export interface ProbeOptions {
  nodes: FaultNode[];
  /** Default 100. */
  periodMs?: number;
  /** A probe (connect included) not answered within this long is abandoned. Default 1000. */
  timeoutMs?: number;
  /**
   * After a probe timed out (recorded `unknown`), the node is not probed again until that INSERT
   * settles or this long has passed. Default 30 000.
   */
  lingerMs?: number;
  /** Default derived from the wall clock so runs on one cluster do not collide. */
  firstSeq?: number;
}

export interface Probes {
  /** Records so far (a copy). */
  snapshot(): ProbeRecord[];
  /** Stop sampling, wait for the probes in flight (bounded by timeoutMs), and return the log. */
  stop(): Promise<ProbeLog>;
}

interface NodeState {
  node: FaultNode;
  client: pg.Client | null;
  busy: boolean;
}

/** Start probing every node. */
export function startProbes(opts: ProbeOptions): Probes {
  const periodMs = opts.periodMs ?? 100;
  const timeoutMs = opts.timeoutMs ?? 1000;
  const lingerMs = opts.lingerMs ?? 30_000;
  const firstSeq = opts.firstSeq ?? Date.now() * 1000;
  let seq = firstSeq;
  const records: ProbeRecord[] = [];
  const epochs: EpochSeen[] = [];
  const states: NodeState[] = opts.nodes.map((node) => ({ node, client: null, busy: false }));
  const inFlight = new Set<Promise<void>>();
  let stopping = false;
  let onStop: () => void = noop;
  const stopped = new Promise<void>((resolve) => (onStop = resolve));
  const startedAt = performance.now();

  const note = (r: ProbeRecord): void => {
    records.push(r);
    if (r.outcome === 'ok' && r.epoch !== null && !epochs.some((e) => e.epoch === r.epoch)) epochs.push({ epoch: r.epoch, node: r.node, at: r.complete });
  };

  const probe = async (s: NodeState): Promise<void> => {
    const rec: ProbeRecord = { node: s.node.id, seq: seq++, invoke: performance.now(), complete: 0, outcome: 'failed', epoch: null };
    let syncWarning: string | null = null;
    const onNotice = (n: { message?: string }): void => {
      if (isSyncWaitCancelled(n)) syncWarning = n.message ?? 'sync wait cancelled';
    };
    let c: pg.Client | null = s.client;
    let query: Promise<unknown> | null = null;
    try {
      if (!c) {
        c = await connectProbe(s.node, timeoutMs);
        s.client = c;
      }
      const left = Math.max(1, Math.round(timeoutMs - (performance.now() - rec.invoke)));
      c.on('notice', onNotice);
      const q = c.query<{ epoch: string | null }>('INSERT INTO fault_probe(node, seq) VALUES ($1, $2) RETURNING epoch::text AS epoch', [s.node.id, rec.seq]);
      query = q;
      const r = await withTimeout(q, left, `probe ${s.node.id}:${rec.seq}`);
      rec.complete = performance.now();
      if (syncWarning) {
        rec.outcome = 'unknown';
        rec.error = syncWarning;
        drop(s);
      } else {
        rec.outcome = 'ok';
        const e = r.rows[0]?.epoch;
        rec.epoch = e === null || e === undefined ? null : Number(e);
      }
    } catch (err) {
      rec.complete = performance.now();
      const e = err as Error & { code?: string; severity?: string };
      // A server ERROR (read-only, in recovery) aborts the INSERT and leaves the connection usable.
      const serverError = e.severity === 'ERROR' && !/^(08|57|XX)/.test(e.code ?? '');
      // node-postgres refuses at once, before sending, on a connection that broke while idle.
      const notSent = /is not queryable/.test(e.message);
      rec.outcome = query && !serverError && !notSent ? 'unknown' : 'failed';
      rec.error = e.message.split('\n')[0];
      if (query && e instanceof TimeoutError) {
        note(rec);
        // Most likely a commit waiting for synchronous replication on a cut-off primary. PostgreSQL
        // does not notice a client leaving during that wait, so a new connection per round would pin
        // a backend each time and fill max_connections: let this one settle (or linger) first.
        await Promise.race([query.then(noop, noop), sleep(lingerMs), stopped]);
        drop(s);
        return;
      }
      if (!serverError) drop(s);
    } finally {
      c?.off('notice', onNotice);
    }
    note(rec);
  };

  const drop = (s: NodeState): void => {
    if (s.client) abandon(s.client);
    s.client = null;
  };

  const loop = (async () => {
    let next = performance.now();
    while (!stopping) {
      for (const s of states) {
        if (s.busy) continue;
        s.busy = true;
        const p = probe(s).finally(() => {
          s.busy = false;
          inFlight.delete(p);
        });
        inFlight.add(p);
      }
      next += periodMs;
      const wait = next - performance.now();
      // A stalled event loop skips rounds rather than bunching them.
      if (wait < 0) next = performance.now();
      await sleep(Math.max(0, wait));
    }
  })();

  return {
    snapshot: () => records.map((r) => ({ ...r })),
    async stop(): Promise<ProbeLog> {
      stopping = true;
      onStop();
      await loop;
      await Promise.all([...inFlight]);
      for (const s of states) drop(s);
      return { startedAt, stoppedAt: performance.now(), firstSeq, records: records.slice(), epochs: epochs.slice() };
    },
  };
}

const noop = (): void => {};

/** Connect with a bounded connect time (the pg helpers' connect, for a FaultNode). */
function connectProbe(n: FaultNode, timeoutMs: number): Promise<pg.Client> {
  return connect(pgNodeOfFault(n), timeoutMs);
}
