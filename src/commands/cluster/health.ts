/**
 * `rustydb-admin cluster health`: a health score (0–100) per member and why
 * it is not 100. The agent asked computes the scores (agent/ha/health-score.ts);
 * `-o json` prints the ClusterHealthView with every component's weight,
 * value and sentence. The exit code is 0 whatever the scores: the command
 * reports, `cluster status` and the scores' `status` field are for gating.
 */

import { Command } from 'commander';
import { CONFIG_API_PATHS, type ClusterHealthView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, printTable, type IOStreams, type OutputFormat, type Style } from '../../output.ts';

export interface HealthOptions {
  target: Target;
  output: OutputFormat;
  /** Also print every component of every node. */
  components: boolean;
}

export function newCmdHealth(f: Factory, runF: (o: HealthOptions) => Promise<void> = (o) => healthRun(f, o)): Command {
  return new Command('health')
    .description("score each member's health (0-100) from its agent, engine, role, replication, lag, Raft and lease, and say what costs points")
    .option('-c, --components', 'list every component of every node (weight, value, sentence)', false)
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster health\n  rustydb-admin cluster health -o json | jq \'.nodes[] | {id, score, problems}\'\n')
    .action(async (opts: { components: boolean }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), components: opts.components });
    });
}

export async function healthRun(f: Factory, o: HealthOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  printHealth(f.io, o.output, await client.get<ClusterHealthView>(CONFIG_API_PATHS.clusterHealth), o.components);
}

const STATUS_STYLE: Record<string, Style> = { healthy: 'green', degraded: 'yellow', unhealthy: 'red' };

export function printHealth(io: IOStreams, format: OutputFormat, h: ClusterHealthView, components = false): void {
  if (format === 'json') return printJson(io, h);
  if (io.outIsTTY) {
    io.out.write(
      `cluster ${h.name}: primary ${h.primary ?? '-'} (epoch ${h.epoch}), leader ${h.leader ?? '-'}; scored by ${h.computedBy}, Raft progress from ${h.raftFrom ?? 'no leader'}\n\n`,
    );
  }
  printTable(
    io,
    [{ header: 'id' }, { header: 'kind' }, { header: 'role' }, { header: 'score' }, { header: 'status', style: (s) => STATUS_STYLE[s] ?? null }, { header: 'first problem' }],
    h.nodes.map((n) => [n.id, n.kind, n.role, String(n.score), n.status, n.problems[0] ?? '-']),
  );
  if (!components) return;
  io.out.write('\n');
  printTable(
    io,
    [{ header: 'id' }, { header: 'component' }, { header: 'weight' }, { header: 'value' }, { header: 'detail' }],
    h.nodes.flatMap((n) => n.components.map((c) => [n.id, c.name, String(c.weight), String(c.value), c.detail])),
  );
}
