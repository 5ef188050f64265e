/**
 * Worker-thread entry of the parallel seed runner: runs its share of the seeds
 * and posts one summary back (failed seeds in full, passing ones as counts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runSeed, type SeedResult } from './simulator.ts';
import type { WorkerJob, WorkerReport } from './parallel.ts';

const job = workerData as WorkerJob;
let ops = 0;
const failures: SeedResult[] = [];
for (const seed of job.seeds) {
  const r = runSeed(seed, job.options);
  ops += r.ops;
  if (!r.ok) failures.push(r);
}
const report: WorkerReport = { seeds: job.seeds.length, ops, failures };
parentPort!.postMessage(report);
