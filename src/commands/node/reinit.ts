/**
 * `rustydb-admin node reinit ID [--yes]`: wipe the node's database and clone
 * it afresh from the primary (the old data directory is kept aside until the
 * copy streams). Destructive: the operator types the node id, or passes --yes
 * when not on a terminal. Refused on the primary (exit 5).
 */

import { Command, Option } from 'commander';
import type { OperationView } from '../../../agent/api/wire.ts';
import { ADMIN_PATHS } from '../../../agent/api/wire-admin.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { waitForOperation } from '../../progress.ts';
import { requireConfirmation } from '../../prompt.ts';
import { parseDuration } from '../cluster/failover.ts';
import { findNode } from './target.ts';

export interface ReinitOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  yes: boolean;
  wait: boolean;
  timeoutMs: number;
}

export function newCmdNodeReinit(f: Factory, runF: (o: ReinitOptions) => Promise<void> = (o) => reinitRun(f, o)): Command {
  return new Command('reinit')
    .description("wipe a standby's database and copy it afresh from the primary")
    .argument('<id>', 'the node (not the primary)')
    .option('-y, --yes', 'confirm without a prompt (required when not on a terminal)', false)
    .option('--no-wait', 'return once the copy has started')
    .addOption(new Option('--timeout <dur>', 'give up waiting after this long (the copy goes on)').default(3_600_000, '1h').argParser(parseDuration))
    .addHelpText('after', '\nExample:\n  rustydb-admin node reinit n3 --yes\n')
    .action(async (id: string, opts: { yes: boolean; wait: boolean; timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, yes: opts.yes, wait: opts.wait, timeoutMs: opts.timeout });
    });
}

export async function reinitRun(f: Factory, o: ReinitOptions): Promise<void> {
  const t = await findNode(o.target, o.id);
  if (t.member === null) throw new CliError('precondition', `${o.id} was removed from the cluster: join it again instead`);
  if (t.view.primary === o.id) throw new CliError('precondition', `${o.id} is the primary: switch over first (\`rustydb-admin cluster failover\`), then reinit it`);
  await requireConfirmation(f, { yes: o.yes, typed: o.id, message: `reinit wipes the database of ${o.id} and copies it again from ${t.view.primary ?? 'the primary'}` });
  const op = await t.node.post<OperationView>(ADMIN_PATHS.nodeReinit, {});
  const end = o.wait ? await waitForOperation(f, t.node, op, { timeoutMs: o.timeoutMs }) : op;
  if (o.output === 'json') printJson(f.io, end);
  else f.io.out.write(`${end.message}\n`);
}
