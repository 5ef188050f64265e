/**
 * `npm run bench:raft`: a 3-node Raft group, each node in its own process,
 * real loopback HTTP, SQLite with synchronous=FULL, in a temp dir removed at
 * the end. Prints:
 *  - committed proposals/s and p50/p99 commit latency (as seen by the caller of
 *    `ClusterStore.put`) with 1 and 32 concurrent proposers, on the leader and
 *    on a follower (which forwards to the leader);
 *  - time from SIGKILL of the leader process until both survivors know the new
 *    leader, with heartbeat 100 / election 1000 ms and with the seed defaults
 *    1000 / 5000 ms.
 * Bounded: a watchdog kills everything after BENCH_DEADLINE_MS.
 */

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { RAFT_DEFAULTS, type RaftSettings } from '../../agent/raft/config.ts';
import type { LoadResult, ProcConfig, ProcEvent, ProcRequest } from './raft-node-proc.ts';

const BENCH_DEADLINE_MS = 170_000;
const LOAD_MS = 4000;
const VALUE_BYTES = 128;
const FAST_TRIALS = 5;
const DEFAULT_TRIALS = 3;
const IDS = ['n1', 'n2', 'n3'];
const PROC = fileURLToPath(new URL('./raft-node-proc.ts', import.meta.url));

const root = mkdtempSync(join(tmpdir(), 'raft-bench-'));
const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const c of children) c.kill('SIGKILL');
  children.clear();
  rmSync(root, { recursive: true, force: true });
}

const watchdog = setTimeout(() => {
  console.error(`bench:raft: still running after ${BENCH_DEADLINE_MS / 1000} s; giving up`);
  cleanup();
  process.exit(2);
}, BENCH_DEADLINE_MS);
watchdog.unref();
process.on('SIGINT', () => {
  cleanup();
  process.exit(130);
});


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A 3-process cluster plus what the parent learned from its events. */
class Cluster {
  readonly procs = new Map<string, ChildProcess>();
  /** Latest leader view of each node, with the parent's receive time. */
  readonly views = new Map<string, { leader: string; term: number; at: number }>();
  private readonly listeners = new Set<() => void>();
  private reqSeq = 0;
  private readonly pending = new Map<number, (r: LoadResult) => void>();

  private constructor(
    readonly name: string,
    readonly settings: RaftSettings,
    readonly ports: Record<string, number>,
  ) {}

  static async create(name: string, settings: RaftSettings): Promise<Cluster> {
    const ports: Record<string, number> = {};
    const free = await findFreePorts(IDS.length);
    IDS.forEach((id, i) => (ports[id] = free[i]));
    const c = new Cluster(name, settings, ports);
    await Promise.all(IDS.map((id) => c.spawn(id)));
    return c;
  }

  spawn(id: string): Promise<void> {
    const cfg: ProcConfig = {
      id,
      dir: join(root, this.name, id),
      port: this.ports[id],
      peers: Object.fromEntries(IDS.map((p) => [p, `http://127.0.0.1:${this.ports[p]}`])),
      settings: this.settings,
      voters: IDS,
    };
    const child = fork(PROC, [JSON.stringify(cfg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    children.add(child);
    this.procs.set(id, child);
    this.views.set(id, { leader: '', term: 0, at: performance.now() });
    return new Promise((resolve, reject) => {
      child.on('message', (raw) => {
        const e = raw as ProcEvent;
        if (e.type === 'ready') resolve();
        else if (e.type === 'leader') {
          this.views.set(e.id, { leader: e.leader, term: e.term, at: performance.now() });
          for (const fn of [...this.listeners]) fn();
        } else if (e.type === 'load-result') {
          this.pending.get(e.reqId)?.(e.result);
          this.pending.delete(e.reqId);
        } else if (e.type === 'error') {
          reject(new Error(`node ${e.id}: ${e.message}`));
          console.error(`bench:raft: node ${e.id} failed: ${e.message}`);
        }
      });
      child.on('exit', (code, signal) => {
        children.delete(child);
        if (this.procs.get(id) === child) this.procs.delete(id);
        reject(new Error(`node ${id} exited before it was ready (code ${code}, signal ${signal})`));
      });
    });
  }

  tell(id: string, req: ProcRequest): void {
    this.procs.get(id)?.send(req);
  }

  /** Resolves when `pred` holds, re-checked on every leader event; rejects after `ms`. */
  until(what: string, pred: () => boolean, ms: number): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        this.listeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.listeners.delete(check);
        reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      }, ms);
      this.listeners.add(check);
    });
  }

  /** The leader every live node agrees on, or ''. */
  agreedLeader(): string {
    const live = [...this.procs.keys()].map((id) => this.views.get(id)!);
    const l = live[0]?.leader ?? '';
    return l !== '' && live.every((v) => v.leader === l && v.term === live[0].term) ? l : '';
  }

  async stable(ms: number): Promise<string> {
    await this.until('all nodes agreeing on a leader', () => this.agreedLeader() !== '', ms);
    return this.agreedLeader();
  }

  load(id: string, concurrency: number, durationMs: number): Promise<LoadResult> {
    const reqId = ++this.reqSeq;
    return new Promise((resolve) => {
      this.pending.set(reqId, resolve);
      this.tell(id, { type: 'load', reqId, concurrency, durationMs, valueBytes: VALUE_BYTES });
    });
  }

  /** SIGKILL the leader; ms until both survivors know one new leader. Then restart the victim. */
  async killLeader(timeoutMs: number): Promise<number> {
    const victim = await this.stable(timeoutMs);
    // Let the cluster settle (restarted node caught up, heartbeats flowing) before the next kill.
    await sleep(3 * this.settings.heartbeatIntervalMs);
    const proc = this.procs.get(victim)!;
    const exited = new Promise((r) => proc.once('exit', r));
    const t0 = performance.now();
    proc.kill('SIGKILL');
    this.procs.delete(victim);
    await this.until(
      'a new leader known by both survivors',
      () => {
        const l = this.agreedLeader();
        return l !== '' && l !== victim;
      },
      timeoutMs,
    );
    const at = Math.max(...[...this.procs.keys()].map((id) => this.views.get(id)!.at));
    await exited;
    await this.spawn(victim);
    return at - t0;
  }

  async close(): Promise<void> {
    await Promise.all(
      [...this.procs.entries()].map(
        ([id, p]) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => p.kill('SIGKILL'), 5000);
            p.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            this.tell(id, { type: 'stop' });
          }),
      ),
    );
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const pad = (s: string | number, n: number): string => String(s).padStart(n);
const ms = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : '-');

async function main(): Promise<void> {
  const started = performance.now();
  console.log(`bench:raft: 3 nodes, one process each, HTTP/1.1 keep-alive on 127.0.0.1, SQLite WAL synchronous=FULL`);
  console.log(`node ${process.version}, ${cpus().length} CPUs, data in ${root}\n`);

  const fast: RaftSettings = { ...RAFT_DEFAULTS, heartbeatIntervalMs: 100, electionTimeoutMs: 1000 };
  const seedDefaults: RaftSettings = { ...RAFT_DEFAULTS };

  // Throughput and latency, then failover, on the fast-timing cluster.
  const a = await Cluster.create('fast', fast);
  const leader = await a.stable(15_000);
  const follower = IDS.find((id) => id !== leader)!;
  console.log(`commit throughput and latency (heartbeat 100 ms / election 1000 ms, ${VALUE_BYTES}-byte values, ${LOAD_MS / 1000} s per row)`);
  console.log(`${'proposers'.padEnd(10)}${'on'.padEnd(10)}${pad('committed', 10)}${pad('props/s', 10)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('errors', 8)}`);
  for (const [on, id] of [
    ['leader', leader],
    ['follower', follower],
  ] as const) {
    for (const c of [1, 32]) {
      const r = await a.load(id, c, LOAD_MS);
      console.log(
        `${String(c).padEnd(10)}${on.padEnd(10)}${pad(r.count, 10)}${pad(Math.round((r.count * 1000) / r.elapsedMs), 10)}${pad(ms(r.p50), 9)}${pad(ms(r.p99), 9)}${pad(r.errors, 8)}`,
      );
      if (r.errors > 0) console.log(`  first error: ${r.firstError}`);
    }
  }

  console.log(`\nleader failover: SIGKILL of the leader process -> new leader known by both survivors`);
  const fastTimes: number[] = [];
  for (let i = 0; i < FAST_TRIALS; i++) fastTimes.push(await a.killLeader(15_000));
  await a.close();
  const b = await Cluster.create('defaults', seedDefaults);
  // Skip the first election's 5-10 s wait: this measures failover, not bootstrap.
  b.tell('n1', { type: 'campaign' });
  await b.stable(30_000);
  const defaultTimes: number[] = [];
  for (let i = 0; i < DEFAULT_TRIALS; i++) defaultTimes.push(await b.killLeader(30_000));
  await b.close();

  console.log(`${'heartbeat/election'.padEnd(20)}${'trials (ms)'.padEnd(34)}${pad('median ms', 10)}`);
  console.log(`${'100 / 1000 ms'.padEnd(20)}${fastTimes.map((t) => t.toFixed(0)).join(' ').padEnd(34)}${pad(median(fastTimes).toFixed(0), 10)}`);
  console.log(`${'1000 / 5000 ms'.padEnd(20)}${defaultTimes.map((t) => t.toFixed(0)).join(' ').padEnd(34)}${pad(median(defaultTimes).toFixed(0), 10)}`);
  console.log(`\nbench:raft: done in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main()
  .then(() => {
    cleanup();
    process.exit(0);
  })
  .catch((err) => {
    console.error(`bench:raft: failed: ${(err as Error)?.stack ?? err}`);
    cleanup();
    process.exit(1);
  });
