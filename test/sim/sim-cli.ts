/**
 * The command line of the simulator (parsing and running, no process globals).
 *
 * `npm run sim -- [--seeds N] [--first-seed S0] [--seed S] [--nodes K] [--steps T] [--workers W]`
 *
 * Runs the deterministic Raft simulator over many seeds (or one, with its full
 * trace) and ends with exactly one line: `sim: <seeds> seeds, <ops> ops, <n> violations`.
 * Exits 1 when a violation was found, 2 on bad arguments.
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { runSeedsParallel, type PortableOptions } from './parallel.ts';
import { formatFailure, runSeed, runSeeds, type RunSummary } from './simulator.ts';

export interface SimCliOptions {
  seeds: number;
  firstSeed: number;
  /** Run only this seed, printing every event. */
  seed?: number;
  nodes?: number;
  steps?: number;
  workers: number;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export function parseSimArgs(argv: string[]): SimCliOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        seeds: { type: 'string' },
        'first-seed': { type: 'string' },
        seed: { type: 'string' },
        nodes: { type: 'string' },
        steps: { type: 'string' },
        workers: { type: 'string' },
      },
      strict: true,
    }));
  } catch (err) {
    throw new UsageError(`${(err as Error).message}. Usage: npm run sim -- [--seeds N] [--first-seed S0] [--seed S] [--nodes 3|5|7] [--steps T] [--workers W]`);
  }
  const int = (name: string, v: string | undefined, min: number): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got '${v}'`);
    return n;
  };
  const nodes = int('nodes', values.nodes, 1);
  if (nodes !== undefined && ![3, 5, 7].includes(nodes)) throw new UsageError(`--nodes must be 3, 5 or 7, got ${nodes}`);
  return {
    seeds: int('seeds', values.seeds, 1) ?? 200,
    firstSeed: int('first-seed', values['first-seed'], 0) ?? 1,
    seed: int('seed', values.seed, 0),
    nodes,
    steps: int('steps', values.steps, 1),
    workers: int('workers', values.workers, 1) ?? Math.max(1, Math.min(availableParallelism(), 8)),
  };
}

/** Run the simulator; returns the process exit code. */
export async function simMain(argv: string[], out: (line: string) => void): Promise<number> {
  let opts: SimCliOptions;
  try {
    opts = parseSimArgs(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      out(`sim: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const portable: PortableOptions = {};
  if (opts.nodes !== undefined) portable.nodes = opts.nodes;
  if (opts.steps !== undefined) portable.steps = opts.steps;

  let summary: RunSummary;
  if (opts.seed !== undefined) {
    const r = runSeed(opts.seed, { ...portable, onEvent: out });
    out(`seed ${r.seed}: ${r.config}; ${r.ticks} ticks, hash ${r.hash}`);
    summary = { seeds: 1, ops: r.ops, violations: r.ok ? [] : [r] };
  } else if (opts.workers > 1 && opts.seeds > 1) {
    summary = await runSeedsParallel(opts.firstSeed, opts.seeds, portable, opts.workers);
  } else {
    summary = runSeeds(opts.firstSeed, opts.seeds, portable);
  }
  for (const r of summary.violations) out(formatFailure(r));
  out(`sim: ${summary.seeds} seeds, ${summary.ops} ops, ${summary.violations.length} violations`);
  return summary.violations.length > 0 ? 1 : 0;
}
