/**
 * One Raft node in its own process, driven by `test/bench/raft.ts` over the
 * IPC channel (so the benchmark can SIGKILL a real leader process).
 *
 * argv[2]: JSON {@link ProcConfig}. Messages in: {@link ProcRequest}; out: {@link ProcEvent}.
 * Exits when the parent goes away, so a crashed benchmark leaves no orphans.
 */

import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import Fastify from 'fastify';
import type { RaftSettings } from '../../agent/raft/config.ts';
import { RaftNode } from '../../agent/raft/node.ts';
import { openSqliteStorage } from '../../agent/raft/storage.ts';
import { HttpTransport, raftPeerRoutes } from '../../agent/raft/transport.ts';

export interface ProcConfig {
  id: string;
  dir: string;
  port: number;
  peers: Record<string, string>;
  settings: RaftSettings;
  /** Founding voters; only used when the store is empty. */
  voters: string[];
}

export type ProcRequest =
  | { type: 'campaign' }
  | { type: 'load'; reqId: number; concurrency: number; durationMs: number; valueBytes: number }
  | { type: 'stop' };

export interface LoadResult {
  count: number;
  errors: number;
  firstError: string;
  elapsedMs: number;
  p50: number;
  p99: number;
}

export type ProcEvent =
  | { type: 'ready'; id: string }
  | { type: 'leader'; id: string; leader: string; term: number }
  | { type: 'load-result'; reqId: number; result: LoadResult }
  | { type: 'error'; id: string; message: string };

const send = (e: ProcEvent): void => {
  process.send?.(e);
};

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function load(node: RaftNode, concurrency: number, durationMs: number, valueBytes: number): Promise<LoadResult> {
  const value = 'x'.repeat(valueBytes);
  const latencies: number[] = [];
  let errors = 0;
  let firstError = '';
  const start = performance.now();
  const end = start + durationMs;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const t = performance.now();
        try {
          await node.put(`/bench/${w}/${i % 64}`, value);
          latencies.push(performance.now() - t);
        } catch (err) {
          errors++;
          firstError ||= (err as Error).message;
        }
      }
    }),
  );
  const elapsedMs = performance.now() - start;
  latencies.sort((a, b) => a - b);
  return { count: latencies.length, errors, firstError, elapsedMs, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

async function main(): Promise<void> {
  const cfg = JSON.parse(process.argv[2]) as ProcConfig;
  const node = new RaftNode({
    id: cfg.id,
    storage: openSqliteStorage(join(cfg.dir, 'raft.db')),
    transport: new HttpTransport({ selfId: cfg.id, messageTimeoutMs: Math.max(500, cfg.settings.electionTimeoutMs / 2) }),
    settings: cfg.settings,
    peers: cfg.peers,
    bootstrap: { voters: cfg.voters },
    onFatal: (e) => {
      send({ type: 'error', id: cfg.id, message: e.message });
      process.exit(70);
    },
  });
  node.onLeaderChange((l) => send({ type: 'leader', id: cfg.id, leader: l?.id ?? '', term: l?.term ?? 0 }));
  const app = Fastify({ logger: false });
  await app.register(raftPeerRoutes(node));
  await app.listen({ host: '127.0.0.1', port: cfg.port });
  node.start();

  process.on('message', (raw) => {
    const req = raw as ProcRequest;
    if (req.type === 'campaign') node.campaign();
    else if (req.type === 'load') {
      void load(node, req.concurrency, req.durationMs, req.valueBytes).then((result) => send({ type: 'load-result', reqId: req.reqId, result }));
    } else if (req.type === 'stop') {
      void node
        .stop()
        .then(() => app.close())
        .finally(() => process.exit(0));
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', id: cfg.id });
}

main().catch((err) => {
  send({ type: 'error', id: 'unknown', message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
