/**
 * Samples, every `periodMs`, on every node in parallel, whether a probe
 * write commits there — for "at no instant do two nodes accept writes".
 *
 * Each node has one persistent connection; each sample is a fresh autocommit
 * `INSERT INTO probe(node, tick)`. A node *accepted* at tick t when that
 * insert returned without error and without the sync-wait-cancelled warning
 * within `windowMs` of the tick. A node whose previous probe is still
 * waiting (e.g. in a synchronous-replication wait on a cut-off primary), or
 * which has no connection, did not accept at that tick. Commits that return
 * after their window are kept as *late* acknowledgements: they are still
 * acknowledged writes, so the lost-write check includes them.
 */

import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { abandon, connect, isSyncWaitCancelled, sleep, type PgNode } from './pg.ts';

/** What one node did at one tick. */
export type ProbeOutcome =
  | 'accepted' // committed within the window
  | 'late' // committed, after the window (not an acceptance at this tick, but acknowledged)
  | 'rejected' // error (e.g. read-only), or committed with the sync-wait warning
  | 'pending' // not back yet when the report was made
  | 'busy' // the previous probe on this node was still waiting
  | 'no-connection';

export interface ProbeSample {
  tick: number;
  /** performance.now() at the tick. */
  at: number;
  outcomes: Record<string, ProbeOutcome>;
}

/** One probe write that committed (acknowledged), in its window or late. */
export interface ProbeAck {
  node: string;
  tick: number;
  sentAt: number;
  doneAt: number;
}

export interface ProberOptions {
  nodes: PgNode[];
  /** Table (node text, tick int), created by the caller. Default "probe". */
  table?: string;
  periodMs?: number;
  windowMs?: number;
  /** Give up on a probe (and its connection) still waiting after this long. Default 60 s. */
  abandonMs?: number;
}

export interface ProbeReport {
  samples: ProbeSample[];
  acks: ProbeAck[];
}

interface NodeState {
  node: PgNode;
  client: pg.Client | null;
  connecting: boolean;
  /** The probe in flight, if any. */
  inFlight: { tick: number; sentAt: number } | null;
}

export class Prober {
  private readonly opts: Required<ProberOptions>;
  private readonly states: NodeState[];
  private readonly samples: ProbeSample[] = [];
  private readonly acks: ProbeAck[] = [];
  private tick = 0;
  private stopping = false;
  private loop: Promise<void> | null = null;

  constructor(opts: ProberOptions) {
    this.opts = { table: 'probe', periodMs: 50, windowMs: 100, abandonMs: 60_000, ...opts };
    this.states = opts.nodes.map((node) => ({ node, client: null, connecting: false, inFlight: null }));
  }

  start(): void {
    if (this.loop) throw new Error('prober already started');
    this.loop = this.run();
  }

  async stop(): Promise<ProbeReport> {
    this.stopping = true;
    await this.loop;
    // Let in-window probes of the last tick finish before reporting.
    await sleep(this.opts.windowMs);
    for (const s of this.states) if (s.client) abandon(s.client);
    return this.report();
  }

  report(): ProbeReport {
    return { samples: this.samples.map((s) => ({ ...s, outcomes: { ...s.outcomes } })), acks: [...this.acks] };
  }

  /** Samples so far. */
  sampleCount(): number {
    return this.samples.length;
  }

  private async run(): Promise<void> {
    let next = performance.now();
    while (!this.stopping) {
      this.sampleNow();
      next += this.opts.periodMs;
      const wait = next - performance.now();
      // A stalled event loop skips ticks rather than bunching them.
      if (wait < 0) next = performance.now();
      await sleep(Math.max(0, wait));
    }
  }

  private sampleNow(): void {
    const tick = this.tick++;
    const sample: ProbeSample = { tick, at: performance.now(), outcomes: {} };
    this.samples.push(sample);
    for (const s of this.states) sample.outcomes[s.node.id] = this.probe(s, sample);
  }

  private probe(s: NodeState, sample: ProbeSample): ProbeOutcome {
    const id = s.node.id;
    if (s.inFlight) {
      if (sample.at - s.inFlight.sentAt > this.opts.abandonMs) this.reset(s);
      return 'busy';
    }
    if (!s.client) {
      if (!s.connecting) {
        s.connecting = true;
        connect(s.node, 1000)
          .then((c) => {
            if (this.stopping) abandon(c);
            else s.client = c;
          })
          .catch(() => {})
          .finally(() => {
            s.connecting = false;
          });
      }
      return 'no-connection';
    }
    const c = s.client;
    const sentAt = performance.now();
    s.inFlight = { tick: sample.tick, sentAt };
    let syncWarning = false;
    const onNotice = (n: { message?: string }): void => {
      if (isSyncWaitCancelled(n)) syncWarning = true;
    };
    c.on('notice', onNotice);
    c.query(`INSERT INTO ${this.opts.table}(node, tick) VALUES ($1, $2)`, [id, sample.tick]).then(
      () => {
        const doneAt = performance.now();
        if (syncWarning) {
          sample.outcomes[id] = 'rejected';
        } else {
          this.acks.push({ node: id, tick: sample.tick, sentAt, doneAt });
          sample.outcomes[id] = doneAt - sample.at <= this.opts.windowMs ? 'accepted' : 'late';
        }
      },
      (err: Error & { code?: string; severity?: string }) => {
        sample.outcomes[id] = 'rejected';
        // A server-side ERROR (e.g. read-only) leaves the connection usable; a lost or terminated one does not.
        const usable = err.severity === 'ERROR' && !/^(08|57|XX)/.test(err.code ?? '');
        if (!usable && s.client === c) this.reset(s);
      },
    ).finally(() => {
      c.off('notice', onNotice);
      if (s.client === c) s.inFlight = null;
    });
    return 'pending';
  }

  private reset(s: NodeState): void {
    if (s.client) abandon(s.client);
    s.client = null;
    s.inFlight = null;
  }
}

/** Ticks at which more than one node accepted a probe write, with the nodes. */
export function ticksWithTwoWriters(samples: ProbeSample[]): { tick: number; nodes: string[] }[] {
  return samples
    .map((s) => ({ tick: s.tick, nodes: Object.keys(s.outcomes).filter((n) => s.outcomes[n] === 'accepted').sort() }))
    .filter((x) => x.nodes.length > 1);
}
