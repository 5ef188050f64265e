/**
 * `rustydb-admin sandbox status [--dir DIR]`: each node's role, ports and
 * pids, the cluster's state and the connection string. Also the rendering
 * `sandbox up` ends with, and the `--dir` option every verb shares.
 */

import { resolve } from 'node:path';
import { Command, Option } from 'commander';
import type { ClusterView } from '../../../agent/api/wire.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { paint, printJson, printTable, type IOStreams, type OutputFormat, type Style } from '../../output.ts';
import { Sandbox, type SandboxNodeStatus } from '../../sandbox/cluster.ts';

export const DEFAULT_DIR = '.rustydb-sandbox';

export function dirOption(): Option {
  return new Option('--dir <dir>', 'the sandbox directory').default(DEFAULT_DIR);
}

export interface StatusOptions {
  /** Absolute. */
  dir: string;
  output: OutputFormat;
}

export function newCmdStatus(f: Factory, runF: (o: StatusOptions) => Promise<void> = (o) => statusRun(f, o)): Command {
  return new Command('status')
    .description("show the sandbox's nodes (role, ports, pids) and the connection string")
    .addOption(dirOption())
    .addHelpText('after', '\nExample:\n  rustydb-admin sandbox status -o json | jq -r .connection_string\n')
    .action(async (opts: { dir: string }, cmd: Command) => {
      await runF({ dir: resolve(f.cwd, opts.dir), output: outputFormat(cmd) });
    });
}

export async function statusRun(f: Factory, o: StatusOptions): Promise<void> {
  const sb = await Sandbox.openExisting(o.dir);
  const st = await sb.status();
  printStatus(f.io, o.output, sb, st.nodes, st.cluster);
}

/** One node in JSON output (snake_case, every field present). */
export function nodeJson(n: SandboxNodeStatus) {
  return {
    id: n.id,
    role: n.role,
    running: n.running,
    pg_port: n.pgPort,
    api_url: n.apiUrl,
    agent_pid: n.agentPid,
    engine_pid: n.enginePid,
    data_dir: n.dataDir,
    log_file: n.logFile,
  };
}

const ROLE_STYLE: Record<string, Style> = { primary: 'green', replica: 'cyan', stopped: 'dim', unknown: 'yellow' };

/** The sandbox as a table (or one JSON object): nodes, the cluster line, the connection string. */
export function printStatus(io: IOStreams, format: OutputFormat, sb: Sandbox, nodes: SandboxNodeStatus[], cluster: ClusterView | null): void {
  if (format === 'json') {
    printJson(io, { dir: sb.dir, cluster, connection_string: sb.connectionString(), nodes: nodes.map(nodeJson) });
    return;
  }
  printTable(
    io,
    [{ header: 'id' }, { header: 'role', style: (c) => ROLE_STYLE[c] ?? null }, { header: 'pg port' }, { header: 'api url' }, { header: 'agent pid' }],
    nodes.map((n) => [n.id, n.role, String(n.pgPort), n.apiUrl, n.agentPid === null ? '-' : String(n.agentPid)]),
  );
  io.out.write('\n' + clusterLine(io, cluster) + '\n');
  io.out.write(`connection string: ${sb.connectionString()}\n`);
}

function clusterLine(io: IOStreams, c: ClusterView | null): string {
  if (c === null) return `cluster: ${paint(io, 'yellow', 'no agent answers')}`;
  const state = c.writable ? paint(io, 'green', 'writable') : paint(io, 'red', `not writable: ${c.problem ?? 'no primary'}`);
  return `cluster ${c.name}: primary ${c.primary ?? '-'}, epoch ${c.epoch}, quorum ${c.quorum.healthy}/${c.quorum.voters}, ${state}`;
}
