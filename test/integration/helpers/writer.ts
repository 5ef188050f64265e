/**
 * A client that keeps inserting unique ids and records which were
 * acknowledged, for "no acknowledged write is lost" checks.
 *
 * One connection at a time, to whichever node takes writes (node-postgres
 * has no `target_session_attrs`, so the writer tries the nodes in turn and
 * checks `pg_is_in_recovery()` and `transaction_read_only` on connect).
 *
 * An id is *acknowledged* only when its INSERT (an autocommit transaction)
 * returned without error and without PostgreSQL's "canceling wait for
 * synchronous replication" warning — that warning comes with a COMMIT that
 * was never confirmed by the standbys. There is no statement_timeout (it
 * would turn a stuck sync wait into exactly such a warning-COMMIT): a commit
 * that hangs past `stuckMs` is abandoned with its connection, and its id is
 * *unknown* (it may or may not exist later). Failed inserts are unknown too.
 */

import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { abandon, acceptsWrites, connect, isSyncWaitCancelled, sleep, TimeoutError, withTimeout, type PgNode } from './pg.ts';

/** One acknowledged insert; `at` is performance.now() when the commit returned. */
export interface Ack {
  id: number;
  node: string;
  at: number;
}

export interface WriterOptions {
  nodes: PgNode[];
  /** Table with an integer column `id` (created by the caller). Default "acked". */
  table?: string;
  /** First id; ids go up by one. Give each writer of a table its own range. */
  firstId: number;
  /** Pause between inserts, ms. Default 5. */
  pauseMs?: number;
  /** A commit that has not returned after this long is abandoned as unknown, ms. Default 2000. */
  stuckMs?: number;
  /** Pause between rounds of looking for a writable node, ms. Default 50. */
  retryMs?: number;
}

/** What the writer saw, for assertions and for messages when one fails. */
export interface WriterReport {
  acked: Ack[];
  /** Ids whose outcome is unknown (failed, abandoned, or committed with the sync-wait warning). */
  unknown: number[];
  /** The last events (connects, errors), newest last. */
  events: string[];
}

export class Writer {
  private readonly opts: Required<WriterOptions>;
  private readonly acked: Ack[] = [];
  private readonly unknown: number[] = [];
  private readonly events: string[] = [];
  private nextId: number;
  private stopping = false;
  private loop: Promise<void> | null = null;
  private client: pg.Client | null = null;
  private clientNode = '';
  /** Index in `nodes` where the next search for a writable node starts. */
  private cursor = 0;
  private readonly waiters = new Set<{ pred: (a: Ack) => boolean; resolve: (a: Ack) => void }>();

  constructor(opts: WriterOptions) {
    this.opts = { table: 'acked', pauseMs: 5, stuckMs: 2000, retryMs: 50, ...opts };
    this.nextId = opts.firstId;
  }

  start(): void {
    if (this.loop) throw new Error('writer already started');
    this.loop = this.run();
  }

  /** Stop after the insert in flight (bounded by stuckMs) and return what was seen. */
  async stop(): Promise<WriterReport> {
    this.stopping = true;
    await this.loop;
    if (this.client) abandon(this.client);
    this.client = null;
    return this.report();
  }

  report(): WriterReport {
    return { acked: [...this.acked], unknown: [...this.unknown], events: this.events.slice(-50) };
  }

  ackCount(): number {
    return this.acked.length;
  }

  /** The first acknowledgement (already seen or still to come) matching `pred`; rejects after `timeoutMs`. */
  waitForAck(pred: (a: Ack) => boolean, timeoutMs: number): Promise<Ack> {
    const seen = this.acked.find(pred);
    if (seen) return Promise.resolve(seen);
    let waiter!: { pred: (a: Ack) => boolean; resolve: (a: Ack) => void };
    const p = new Promise<Ack>((resolve) => {
      waiter = { pred, resolve };
      this.waiters.add(waiter);
    });
    return withTimeout(p, timeoutMs, 'waiting for an acknowledged write').catch((err: unknown) => {
      this.waiters.delete(waiter);
      if (err instanceof TimeoutError) throw new Error(`${err.message}; writer's last events:\n  ${this.events.slice(-15).join('\n  ')}`);
      throw err;
    });
  }

  private note(what: string): void {
    this.events.push(`${performance.now().toFixed(0)} ms: ${what}`);
    if (this.events.length > 500) this.events.splice(0, this.events.length - 500);
  }

  private async run(): Promise<void> {
    while (!this.stopping) {
      if (!this.client) {
        this.client = await this.findWritable();
        if (!this.client) {
          await sleep(this.opts.retryMs);
          continue;
        }
      }
      await this.insertOne(this.client);
      if (this.opts.pauseMs > 0) await sleep(this.opts.pauseMs);
    }
  }

  private async insertOne(c: pg.Client): Promise<void> {
    const id = this.nextId++;
    let syncWarning: string | null = null;
    const onNotice = (n: { message?: string }): void => {
      if (isSyncWaitCancelled(n)) syncWarning = n.message ?? 'sync wait cancelled';
    };
    c.on('notice', onNotice);
    try {
      await withTimeout(c.query(`INSERT INTO ${this.opts.table}(id) VALUES ($1)`, [id]), this.opts.stuckMs, `insert ${id} on ${this.clientNode}`);
      if (syncWarning) {
        this.unknown.push(id);
        this.note(`${this.clientNode}: id ${id} committed without synchronous confirmation (${syncWarning}): unknown`);
        this.drop();
        return;
      }
      const ack: Ack = { id, node: this.clientNode, at: performance.now() };
      this.acked.push(ack);
      for (const w of this.waiters) {
        if (w.pred(ack)) {
          this.waiters.delete(w);
          w.resolve(ack);
        }
      }
    } catch (err) {
      this.unknown.push(id);
      this.note(`${this.clientNode}: id ${id} failed: ${(err as Error).message}`);
      this.drop();
    } finally {
      c.off('notice', onNotice);
    }
  }

  private drop(): void {
    if (this.client) abandon(this.client);
    this.client = null;
    // Look at the other nodes first: the one that just failed is the least likely to take writes.
    this.cursor = (this.cursor + 1) % this.opts.nodes.length;
  }

  /** One pass over the nodes, starting at the cursor; the first that takes writes, or null. */
  private async findWritable(): Promise<pg.Client | null> {
    const n = this.opts.nodes.length;
    for (let k = 0; k < n && !this.stopping; k++) {
      const i = (this.cursor + k) % n;
      const node = this.opts.nodes[i];
      let c: pg.Client | null = null;
      try {
        c = await connect(node, 1000);
        if (await withTimeout(acceptsWrites(c), 1000, `${node.id}: pg_is_in_recovery()`)) {
          this.cursor = i;
          this.clientNode = node.id;
          this.note(`writing to ${node.id}`);
          return c;
        }
      } catch (err) {
        this.note(`${node.id}: ${(err as Error).message}`);
      }
      if (c) abandon(c);
    }
    return null;
  }
}
