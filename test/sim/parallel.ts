/**
 * Runs many seeds on worker threads (the machine's cores), for `npm run sim`.
 * Seeds are dealt round-robin so each worker gets a mix of cluster sizes; every
 * seed is still a deterministic, independent run, so the result is the same as
 * a serial run.
 */
import { Worker } from 'node:worker_threads';
import type { RunSummary, SeedResult, SimOptions } from './simulator.ts';

/** Options that can cross a thread boundary: plain data, no functions (so the real core is used). */
export type PortableOptions = Omit<SimOptions, 'makeCore' | 'onEvent'>;

export interface WorkerJob {
  seeds: number[];
  options: PortableOptions;
}

export interface WorkerReport {
  seeds: number;
  ops: number;
  failures: SeedResult[];
}

export async function runSeedsParallel(first: number, count: number, options: PortableOptions, workers: number): Promise<RunSummary> {
  const n = Math.max(1, Math.min(workers, count));
  const jobs: WorkerJob[] = Array.from({ length: n }, () => ({ seeds: [], options }));
  for (let i = 0; i < count; i++) jobs[i % n].seeds.push(first + i);
  const reports = await Promise.all(jobs.map(runWorker));
  const summary: RunSummary = { seeds: 0, ops: 0, violations: [] };
  for (const r of reports) {
    summary.seeds += r.seeds;
    summary.ops += r.ops;
    summary.violations.push(...r.failures);
  }
  summary.violations.sort((a, b) => a.seed - b.seed);
  return summary;
}

function runWorker(job: WorkerJob): Promise<WorkerReport> {
  return new Promise((resolve, reject) => {
    // A worker does not get the parent's tsx loader hooks (Node 20), so register them first, then load the TS entry.
    const entry = JSON.stringify(new URL('./worker.ts', import.meta.url).href);
    const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); })`;
    const w = new Worker(boot, { eval: true, workerData: job });
    let report: WorkerReport | undefined;
    w.once('message', (r: WorkerReport) => (report = r));
    w.once('error', reject);
    w.once('exit', (code) => {
      if (report) resolve(report);
      else reject(new Error(`sim worker exited with code ${code} before reporting (seeds ${job.seeds[0]}..): rerun with --workers 1 to see the error`));
    });
  });
}
