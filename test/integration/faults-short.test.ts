/**
 * The short subset of the fault-injection suite (test/faults/run.ts --short):
 * one isolation, one kill -9, one pause and one clock jump on a 3-node cluster
 * in network namespaces, judged by the checker. Needs root, iproute2 and
 * nftables (.ci/run installs them); elsewhere it is skipped, saying why.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { faultSupport } from '../faults/net/fabric.ts';
import { runCommand } from './helpers/cli-sandbox.ts';

const RUN = fileURLToPath(new URL('../faults/run.ts', import.meta.url));

test('fault suite, short subset: no acknowledged write lost, no dual primary', { timeout: 900_000 }, async (t) => {
  const support = faultSupport();
  if (!support.ok) return t.skip(`fault injection unavailable: ${support.reason}`);
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const r = await runCommand(process.execPath, ['--import', 'tsx', RUN, '--short'], env, 880_000, 64 * 1024 * 1024);
  const summary = /^faults: (\d+) scenarios, (\d+) failovers, (\d+) acknowledged writes lost, (\d+) dual-primary windows$/m.exec(r.stdout);
  assert.ok(summary, `no summary line; exit ${r.code}\n${r.stdout.slice(-8000)}\n${r.stderr.slice(-2000)}`);
  const [, scenarios, failovers, lost, dual] = summary.map(Number);
  assert.equal(lost, 0, `acknowledged writes lost:\n${r.stdout.slice(-12000)}`);
  assert.equal(dual, 0, `dual-primary windows:\n${r.stdout.slice(-12000)}`);
  assert.equal(r.code, 0, `a run failed:\n${r.stdout.slice(-12000)}`);
  assert.ok(scenarios >= 3, `only ${scenarios} scenarios ran:\n${r.stdout.slice(-4000)}`);
  assert.ok(failovers >= 3, `only ${failovers} failovers happened:\n${r.stdout.slice(-4000)}`);
});
