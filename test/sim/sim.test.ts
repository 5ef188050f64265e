/**
 * The deterministic simulator against the real Raft core: a short run over
 * 3-, 5- and 7-node clusters must find no violation, runs must replay exactly,
 * and the command line must keep its contract (one summary line, exit codes).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSeedsParallel } from './parallel.ts';
import { simMain } from './sim-cli.ts';
import { formatFailure, runSeed, runSeeds } from './simulator.ts';

describe('simulator: the real core', () => {
  for (const nodes of [3, 5, 7]) {
    it(`has no violation in 150 seeds of ${nodes}-node clusters`, () => {
      const summary = runSeeds(1, 150, { nodes });
      assert.equal(summary.seeds, 150);
      assert.deepEqual(
        summary.violations.map((r) => formatFailure(r)),
        [],
        'violations found: replay with npm run sim -- --seed S --nodes K',
      );
      // The run must have done real work, or "no violation" means nothing.
      assert.ok(summary.ops > 150 * 20, `only ${summary.ops} client operations in 150 seeds`);
    });
  }
});

describe('simulator: determinism', () => {
  it('replays a seed exactly: same trace, same hash, same history size', () => {
    for (const seed of [7, 8, 9]) {
      const a = runSeed(seed, { traceKeep: 200 });
      const b = runSeed(seed, { traceKeep: 200 });
      assert.equal(a.hash, b.hash, `seed ${seed}`);
      assert.deepEqual(a.trace, b.trace, `seed ${seed}`);
      assert.equal(a.ops, b.ops);
      assert.equal(a.ticks, b.ticks);
      assert.equal(a.config, b.config);
    }
  });

  it('gives different runs for different seeds', () => {
    const hashes = new Set([1, 2, 3, 4, 5, 6].map((s) => runSeed(s, { nodes: 3 }).hash));
    assert.equal(hashes.size, 6);
  });

  it('gives the same results on worker threads as in one thread', async () => {
    const serial = runSeeds(30, 6);
    const parallel = await runSeedsParallel(30, 6, {}, 2);
    assert.equal(parallel.seeds, 6);
    assert.equal(parallel.ops, serial.ops);
    assert.deepEqual(parallel.violations, serial.violations);
  });

  it('is not perturbed by watching it (a verbose replay hashes the same)', () => {
    const lines: string[] = [];
    const quiet = runSeed(11);
    const loud = runSeed(11, { onEvent: (l) => lines.push(l) });
    assert.equal(loud.hash, quiet.hash);
    assert.ok(lines.length > quiet.trace.length, 'the verbose sink sees every event');
  });
});

describe('simulator: command line', () => {
  it('ends with exactly one summary line and exits 0 when clean', async () => {
    const out: string[] = [];
    const code = await simMain(['--seeds', '4', '--first-seed', '20', '--workers', '1'], (l) => out.push(l));
    assert.equal(code, 0);
    assert.match(out[out.length - 1], /^sim: 4 seeds, \d+ ops, 0 violations$/);
    assert.equal(out.filter((l) => l.startsWith('sim: ')).length, 1);
  });

  it('replays one seed with its full trace', async () => {
    const out: string[] = [];
    const code = await simMain(['--seed', '3', '--nodes', '5'], (l) => out.push(l));
    assert.equal(code, 0);
    assert.ok(out.some((l) => /^t=\d+ n\d START/.test(l)), 'trace events are printed');
    assert.match(out[out.length - 2], /^seed 3: nodes=5 /);
    assert.match(out[out.length - 1], /^sim: 1 seeds, \d+ ops, 0 violations$/);
  });

  it('refuses bad arguments with exit code 2 and says what is wrong', async () => {
    const out: string[] = [];
    assert.equal(await simMain(['--nodes', '4'], (l) => out.push(l)), 2);
    assert.match(out.join('\n'), /--nodes must be 3, 5 or 7, got 4/);
    out.length = 0;
    assert.equal(await simMain(['--seeds', 'many'], (l) => out.push(l)), 2);
    assert.match(out.join('\n'), /--seeds must be an integer/);
    out.length = 0;
    assert.equal(await simMain(['--bogus'], (l) => out.push(l)), 2);
    assert.match(out.join('\n'), /Usage: npm run sim/);
  });
});
