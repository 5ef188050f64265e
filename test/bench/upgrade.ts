/**
 * `npm run bench:upgrade`: a rolling upgrade of a 3-node sandbox (real agents
 * and PostgreSQL on loopback) from 15.17 to 15.18 with the real
 * `rustydb-admin cluster upgrade --version 15.18 --yes`, while a writer
 * inserts unique ids and records which were acknowledged.
 *
 * Prints: total duration of the command; write unavailability from the
 * writer's point of view (the longest gap between two acknowledged writes,
 * and the sum of the gaps longer than 100 ms — the writer's own rhythm is a
 * few ms); acknowledged ids lost (must be 0); and the CLI's own report
 * (per node duration, the switchover time). Target from the issue: write
 * unavailability ≤ one switchover (≤ 1 s).
 *
 * Options: --from R (default 15.17), --to R (default 15.18), --keep (leave
 * the sandbox up). Exit 1 if an acknowledged write was lost or the upgrade
 * failed. Not part of `npm test`.
 */

import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { missing, readIds } from '../integration/helpers/checker.ts';
import { adminEnv, makeTestRoot, runAdmin } from '../integration/helpers/cli-sandbox.ts';
import { ACKED_TABLE, createTables, pgNodeOf, pgNodesOf } from '../integration/helpers/trials.ts';
import { Writer } from '../integration/helpers/writer.ts';

const { values: args } = parseArgs({ options: { from: { type: 'string', default: '15.17' }, to: { type: 'string', default: '15.18' }, keep: { type: 'boolean', default: false } } });

/** Gaps between consecutive acknowledgements longer than this count as unavailability. */
const GAP_FLOOR_MS = 100;

async function main(): Promise<number> {
  const root = makeTestRoot('bench-upgrade');
  const dir = join(root, 'sb');
  let sb: Sandbox | null = null;
  try {
    console.log(`opening a 3-node sandbox on ${args.from} in ${dir}`);
    sb = await Sandbox.open({ dir, nodes: 3, release: args.from });
    await sb.up({ timeoutMs: 180_000 });
    const primary = (await sb.primary())!;
    await createTables(sb, primary);
    const writer = new Writer({ nodes: pgNodesOf(sb), firstId: 1, pauseMs: 5 });
    writer.start();
    await writer.waitForAck(() => true, 30_000);

    const env = adminEnv({ root, dir, sb });
    const t0 = performance.now();
    const r = await runAdmin(['cluster', 'upgrade', '--version', args.to!, '--yes', '-o', 'json'], env, 900_000);
    const totalMs = performance.now() - t0;
    // A little more writing on the new primary, so a gap at the very end is measured too.
    const last = writer.ackCount();
    await writer.waitForAck((a) => a.id > last + 20, 30_000).catch(() => null);
    const report = await writer.stop();

    const during = report.acked.filter((a) => a.at >= t0 - 1000);
    let longest = 0;
    let sum = 0;
    let longestAt = '';
    for (let i = 1; i < during.length; i++) {
      const gap = during[i].at - during[i - 1].at;
      if (gap > longest) [longest, longestAt] = [gap, `${during[i - 1].node} → ${during[i].node}`];
      if (gap > GAP_FLOOR_MS) sum += gap;
    }
    const now = (await sb.primary()) ?? primary;
    const present = await readIds(pgNodeOf(sb, now), ACKED_TABLE);
    const lost = missing(report.acked.map((a) => a.id), present);

    console.log(`\ncluster upgrade --version ${args.to}: exit ${r.code} in ${(totalMs / 1000).toFixed(1)} s`);
    if (r.code !== 0) console.log(r.stderr);
    let cli: { switchover?: { durationMs: number | null; from: string; to: string | null }; nodes?: { node: string; role: string; durationMs: number | null; writeUnavailableMs: number | null }[] } = {};
    try {
      cli = JSON.parse(r.stdout);
    } catch {
      console.log(`(no JSON report on stdout: ${r.stdout.slice(0, 300)})`);
    }
    for (const n of cli.nodes ?? []) console.log(`  ${n.node.padEnd(4)} ${n.role.padEnd(9)} upgrade ${((n.durationMs ?? 0) / 1000).toFixed(1)} s  (CLI-observed write unavailability ${n.writeUnavailableMs ?? '-'} ms)`);
    if (cli.switchover) console.log(`  switchover ${cli.switchover.from} → ${cli.switchover.to}: ${cli.switchover.durationMs} ms (agent operation)`);
    console.log(`writer: ${report.acked.length} acknowledged, ${report.unknown.length} unknown`);
    console.log(`write unavailability (writer): longest gap ${longest.toFixed(0)} ms (${longestAt}); sum of gaps > ${GAP_FLOOR_MS} ms: ${sum.toFixed(0)} ms`);
    console.log(`acknowledged ids lost: ${lost.length}${lost.length ? ` (${lost.slice(0, 10).join(', ')})` : ''}`);
    return lost.length === 0 && r.code === 0 ? 0 : 1;
  } finally {
    if (sb && !args.keep) await sb.down({ purge: true }).catch((err: unknown) => console.error(`sandbox down failed: ${String(err)}`));
    if (!args.keep) rmSync(root, { recursive: true, force: true });
    else console.log(`sandbox kept in ${dir}`);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
