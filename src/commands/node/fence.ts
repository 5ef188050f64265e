/**
 * `rustydb-admin node fence ID` / `node unfence ID` (the seed's FENCE NODE):
 * a fenced node stops its engine (no writes, no reads) and is never
 * promoted until unfenced. Fencing is a change of the replicated state, so
 * it works through any agent even when the node itself is unreachable: the
 * node acts on it when it reads the state, and a node that cannot reach the
 * cluster stops serving as primary when its lease runs out anyway. With
 * --wait (default) we wait until the node reports its engine stopped or is
 * unreachable.
 */

import { Command, Option } from 'commander';
import { API_PATHS, type NodeView } from '../../../agent/api/wire.ts';
import { memberPath, type MemberAnswer } from '../../../agent/api/wire-admin.ts';
import { ApiClient } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { interruptSignal } from '../../progress.ts';
import { parseDuration } from '../cluster/failover.ts';
import { findNode } from './target.ts';

export interface FenceOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  wait: boolean;
  timeoutMs: number;
}

export function newCmdNodeFence(f: Factory, runF: (o: FenceOptions) => Promise<void> = (o) => fenceRun(f, 'fence', o)): Command {
  return new Command('fence')
    .description('fence a node: its engine stops serving writes and reads, and it cannot be promoted until unfenced')
    .argument('<id>', 'the node')
    .option('--no-wait', 'return once the fence is recorded, without waiting for the engine to stop')
    .addOption(new Option('--timeout <dur>', 'give up waiting for the engine to stop after this long').default(60_000, '60s').argParser(parseDuration))
    .addHelpText('after', '\nExample:\n  rustydb-admin node fence n3\n')
    .action(async (id: string, opts: { wait: boolean; timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, wait: opts.wait, timeoutMs: opts.timeout });
    });
}

export function newCmdNodeUnfence(f: Factory, runF: (o: FenceOptions) => Promise<void> = (o) => fenceRun(f, 'unfence', o)): Command {
  return new Command('unfence')
    .description('lift a fence: the node rejoins replication as a standby (rewound or re-cloned as needed)')
    .argument('<id>', 'the node')
    .addHelpText('after', '\nExample:\n  rustydb-admin node unfence n3\n')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, wait: false, timeoutMs: 0 });
    });
}

export async function fenceRun(f: Factory, verb: 'fence' | 'unfence', o: FenceOptions): Promise<void> {
  const t = await findNode(o.target, o.id);
  const r = await t.cluster.post<MemberAnswer>(memberPath(o.id, verb), {});
  let line = verb === 'fence' ? `${o.id} is fenced` : `${o.id} is unfenced: it rejoins as a standby`;
  if (verb === 'fence' && o.wait) line += await waitStopped(f, t.apiUrl, o);
  if (o.output === 'json') printJson(f.io, r);
  else f.io.out.write(`${line}\n`);
}

/** Until the node's engine is stopped (or its agent unreachable: then its lease fences it). */
async function waitStopped(f: Factory, apiUrl: string, o: FenceOptions): Promise<string> {
  const node = new ApiClient([apiUrl], { timeoutMs: 3000 });
  const deadline = Date.now() + o.timeoutMs;
  const interrupt = interruptSignal(f);
  try {
    for (;;) {
      const v = await node.get<NodeView>(API_PATHS.node, { signal: interrupt.signal }).catch((err) => {
        if (interrupt.signal.aborted) throw new CliError('interrupted', `interrupted: ${o.id} is fenced (recorded); its engine may still be stopping`);
        return err as Error;
      });
      if (v instanceof Error) return ` (its agent does not answer: ${v.message.split('\n')[0]}; it cannot renew its lease and stops serving on its own)`;
      if (!v.engine.running) return ' and its engine is stopped';
      if (Date.now() > deadline) throw new CliError('timeout', `${o.id} is fenced but its engine still runs after ${o.timeoutMs} ms: check \`rustydb-admin node status ${o.id}\``);
      await new Promise((r) => setTimeout(r, 250));
    }
  } finally {
    interrupt.dispose();
  }
}
