/**
 * `rustydb-admin cluster remove ID [--yes]`: take a node out of the cluster
 * for good. The leader refuses to remove the primary (switch over first) or
 * a voter whose removal would leave fewer reachable voters than a quorum;
 * the primary drops the node's replication slot. The node's agent keeps
 * running outside the cluster; `node stop ID` still reaches it.
 */

import { Command } from 'commander';
import { memberPath, type MemberAnswer } from '../../../agent/api/wire-admin.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { requireConfirmation } from '../../prompt.ts';
import { findNode } from '../node/target.ts';

export interface RemoveOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  yes: boolean;
}

export function newCmdRemove(f: Factory, runF: (o: RemoveOptions) => Promise<void> = (o) => removeRun(f, o)): Command {
  return new Command('remove')
    .description('remove a node from the cluster (not the primary; never below a quorum); drops its replication slot')
    .argument('<id>', 'the node to remove')
    .option('-y, --yes', 'confirm without a prompt (required when not on a terminal)', false)
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster remove n4 --yes\n')
    .action(async (id: string, opts: { yes: boolean }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, yes: opts.yes });
    });
}

export async function removeRun(f: Factory, o: RemoveOptions): Promise<void> {
  const t = await findNode(o.target, o.id);
  if (t.member === null) throw new CliError('precondition', `${o.id} is not a member of cluster ${t.view.name} (it was removed already)`);
  if (t.view.primary === o.id) throw new CliError('precondition', `${o.id} is the primary: switch over first (\`rustydb-admin cluster failover\`), then remove it`);
  await requireConfirmation(f, { yes: o.yes, typed: o.id, message: `${o.id} leaves cluster ${t.view.name} for good (to come back it must join again)` });
  const r = await t.cluster.delete<MemberAnswer>(memberPath(o.id));
  if (o.output === 'json') printJson(f.io, r);
  else f.io.out.write(`${o.id} was removed from cluster ${t.view.name}\n`);
}
