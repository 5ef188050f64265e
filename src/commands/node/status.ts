/**
 * `rustydb-admin node status [ID]`: one node as its own agent sees it
 * (member view, engine, Raft). With ID, the node's API URL comes from the
 * cluster view; without, the first reachable endpoint's node answers.
 */

import { Command } from 'commander';
import { API_PATHS, type NodeView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { findNode } from './target.ts';
import { printJson, printTable, type IOStreams, type OutputFormat } from '../../output.ts';

export interface NodeStatusOptions {
  target: Target;
  output: OutputFormat;
  /** Null: the node behind the first reachable endpoint. */
  id: string | null;
}

export function newCmdNodeStatus(f: Factory, runF: (o: NodeStatusOptions) => Promise<void> = (o) => nodeStatusRun(f, o)): Command {
  return new Command('status')
    .description("show one node: role, health, LSNs and lag, its engine's state and its Raft state")
    .argument('[id]', 'the node (default: the node of the first reachable endpoint)')
    .addHelpText('after', '\nExample:\n  rustydb-admin node status n2 -o json\n')
    .action(async (id: string | undefined, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id: id ?? null });
    });
}

export async function nodeStatusRun(f: Factory, o: NodeStatusOptions): Promise<void> {
  const timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS;
  let client = new ApiClient(o.target.endpoints, { timeoutMs });
  // A removed node is found by its tombstone: its agent still answers for itself.
  if (o.id !== null) client = (await findNode(o.target, o.id, timeoutMs)).node;
  printNode(f.io, o.output, await client.get<NodeView>(API_PATHS.node));
}

const orDash = (v: string | number | boolean | null): string => (v === null ? '-' : String(v));

export function printNode(io: IOStreams, format: OutputFormat, n: NodeView): void {
  if (format === 'json') return printJson(io, n);
  const e = n.engine;
  const rows: [string, string][] = [
    ['id', n.id],
    ['kind', n.kind],
    ['role', n.role],
    ['state', n.adminState],
    ['health', n.health],
    ['timeline', orDash(n.timeline)],
    ['flush lsn', orDash(n.flushLsn)],
    ['replay lsn', orDash(n.replayLsn)],
    ['lag', n.lagBytes === null ? '-' : `${n.lagBytes} bytes${n.lagMs !== null ? `, ${n.lagMs} ms` : ''}`],
    ['release', orDash(n.release)],
    ['region', n.region],
    ['api', n.apiUrl],
    ['pg', orDash(n.pg)],
    ['engine', `${e.running ? 'running' : 'stopped'}${e.inRecovery ? ', in recovery' : ''}${e.version ? `, ${e.version}` : ''}`],
    ['streaming from', orDash(e.streamingFrom)],
    ['engine problem', orDash(e.problem)],
    ['raft', `${n.raft.role}, term ${n.raft.term}, leader ${n.raft.leader ?? '-'}, commit ${n.raft.commit}, applied ${n.raft.applied}`],
  ];
  printTable(io, [{ header: 'field' }, { header: 'value' }], rows);
  if (e.replicas.length > 0) {
    io.out.write('\n');
    printTable(
      io,
      [{ header: 'replica' }, { header: 'state' }, { header: 'sync' }, { header: 'replay lsn' }, { header: 'lag bytes' }],
      e.replicas.map((r) => [r.nodeId, r.state, r.syncState, orDash(r.replayLsn), orDash(r.lagBytes)]),
    );
  }
}
