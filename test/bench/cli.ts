/**
 * `npm run bench:cli`: wall time of the real rustydb-admin binary, spawned
 * as an operator's shell would (stdout piped), against a 3-node sandbox:
 * `--version` and `cluster status`, 20 runs each (after one warm-up run that
 * also builds the CLI bundle, see bin/rustydb-admin), min / median / p95 in
 * ms, and whether the status median meets the 150 ms target. For comparison,
 * node's own start-up (`node -e 0`, the floor), the agent's answer alone
 * (GET /v1/cluster from this process), and the same through tsx (RUSTYDB_ADMIN_NO_BUNDLE=1: compiled at every start).
 * The sandbox lives under /tmp and is torn down at the end.
 */

import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox } from '../../src/sandbox/cluster.ts';

const ADMIN = fileURLToPath(new URL('../../bin/rustydb-admin', import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 20);
const TARGET_MS = 150;

/** Milliseconds from spawn to exit; rejects on a non-zero exit. */
function timeRun(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    // `-e 0` alone: node's own start-up, the floor of every CLI call on this machine.
    const argv = args[0] === '-e' ? args : [ADMIN, ...args];
    const child = spawn(process.execPath, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stdout.resume();
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code === 0) resolve(ms);
      else reject(new Error(`rustydb-admin ${args.join(' ')} exited ${code}: ${err}`));
    });
  });
}

interface Stats {
  min: number;
  median: number;
  p95: number;
}

function stats(samples: number[]): Stats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
  return { min: s[0], median: s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2, p95: at(0.95) };
}

/** Milliseconds of one GET from this (already running) process: the agent's share of `cluster status`. */
async function timeGet(url: string, sb: Sandbox): Promise<number> {
  const t0 = process.hrtime.bigint();
  const res = await sb.apiFetch(url);
  await res.text();
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return Number(process.hrtime.bigint() - t0) / 1e6;
}

async function measure(label: string, args: string[] | (() => Promise<number>), env: NodeJS.ProcessEnv, runs: number): Promise<Stats> {
  const once = typeof args === 'function' ? args : () => timeRun(args, env);
  await once(); // warm-up: page cache, and the bundle when it is stale
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  const st = stats(samples);
  console.log(`${label.padEnd(44)} min ${st.min.toFixed(0).padStart(4)}  median ${st.median.toFixed(0).padStart(4)}  p95 ${st.p95.toFixed(0).padStart(4)}  (ms, ${runs} runs)`);
  return st;
}

async function main(): Promise<void> {
  const root = mkdtempSync('/tmp/rustydb-bench-cli-');
  chmodSync(root, 0o755); // PostgreSQL runs as `postgres` and must reach the data dirs
  const dir = join(root, 'sb');
  let ok = false;
  try {
    console.log('starting a 3-node sandbox…');
    const sb = await Sandbox.open({ dir, nodes: 3 });
    await sb.up({ timeoutMs: 120_000 });
    const env: NodeJS.ProcessEnv = { ...process.env, RUSTYDB_CONFIG_DIR: join(root, 'config'), ...sb.cliEnv() };
    delete env.NODE_TEST_CONTEXT;
    const tsx = { ...env, RUSTYDB_ADMIN_NO_BUNDLE: '1' };

    await measure('node -e 0 (the floor: node start-up alone)', ['-e', '0'], env, RUNS);
    await measure('GET /v1/cluster in-process (the agent alone)', () => timeGet(`${sb.nodes()[0].apiUrl}/v1/cluster`, sb), env, RUNS);
    await measure('rustydb-admin --version', ['--version'], env, RUNS);
    const status = await measure('rustydb-admin cluster status', ['cluster', 'status'], env, RUNS);
    await measure('rustydb-admin --version (tsx, no bundle)', ['--version'], tsx, Math.ceil(RUNS / 2));
    await measure('rustydb-admin cluster status (tsx, no bundle)', ['cluster', 'status'], tsx, Math.ceil(RUNS / 2));
    ok = status.median <= TARGET_MS;
    console.log(`cluster status median ${status.median.toFixed(0)} ms: ${ok ? 'meets' : 'MISSES'} the ${TARGET_MS} ms target`);
  } finally {
    if (existsSync(join(dir, 'sandbox.json'))) await (await Sandbox.openExisting(dir)).down({ purge: true });
    rmSync(root, { recursive: true, force: true });
  }
  // A benchmark on a shared machine is a report, not a gate: exit 0 either way.
}

await main();
