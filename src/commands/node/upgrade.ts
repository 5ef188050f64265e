/**
 * `rustydb-admin node upgrade ID --version R [--no-wait] [--timeout DUR]`:
 * move one standby's engine to another installed minor release, through the
 * node's own agent (drain, checkpoint, stop, switch the bin dir, start, wait
 * until it streams and has caught up, restore its admin state: a drained node
 * stays drained). Exit 5 when refused (the primary: "switch over first"; a
 * release not installed; a major version; replication not healthy) and when
 * the new release did not start and the node was rolled back; exit 0 when
 * the node already runs R.
 */

import { Command, Option } from 'commander';
import type { OperationView } from '../../../agent/api/wire.ts';
import { UPGRADE_PATHS, type UpgradeNodeBody, type UpgradeNodeResult } from '../../../agent/api/wire-admin.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { OperationFailedError, waitForOperation } from '../../progress.ts';
import { parseDuration } from '../cluster/failover.ts';
import { findNode } from './target.ts';

export interface UpgradeOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  version: string;
  wait: boolean;
  /** How long the new release may take to stream and catch up; the CLI waits a minute longer. */
  timeoutMs: number;
}

/** Time beyond --timeout for the steps before the catch-up wait (sessions, checkpoint, stop, start). */
const STEPS_ALLOWANCE_MS = 60_000;

export function newCmdNodeUpgrade(f: Factory, runF: (o: UpgradeOptions) => Promise<void> = (o) => upgradeRun(f, o)): Command {
  return new Command('upgrade')
    .description("move a standby's engine to another installed minor release (rolled back if it does not start)")
    .argument('<id>', 'the node (a standby: switch over first for the primary)')
    .requiredOption('--version <release>', 'the release to run, as named in [engine.releases] (e.g. 15.18)')
    .option('--no-wait', 'return once the upgrade has started; follow it with `cluster operation ID --wait`')
    .addOption(new Option('--timeout <dur>', 'how long the new release may take to stream and catch up').default(600_000, '10m').argParser(parseDuration))
    .addHelpText('after', '\nExamples:\n  rustydb-admin node upgrade n2 --version 15.18\n  rustydb-admin node upgrade n3 --version 15.18 --no-wait -o json\n')
    .action(async (id: string, opts: { version: string; wait: boolean; timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, version: opts.version, wait: opts.wait, timeoutMs: opts.timeout });
    });
}

export async function upgradeRun(f: Factory, o: UpgradeOptions): Promise<void> {
  const t = await findNode(o.target, o.id);
  if (t.member === null) throw new CliError('precondition', `${o.id} was removed from the cluster: there is nothing to upgrade`);
  // The agent does every check (it alone knows its releases and its engine); a refusal is exit 5 or 6.
  const body: UpgradeNodeBody = { version: o.version, timeout_ms: o.timeoutMs };
  const op = await t.node.post<OperationView>(UPGRADE_PATHS.node, body);
  if (!o.wait) return print(f, o, op, op.state === 'succeeded' ? op.message : `upgrade of ${o.id} to ${o.version} started (${op.id})`);
  let end: OperationView;
  try {
    // Any agent has the operation record; the cluster's endpoints survive one agent restarting.
    end = await waitForOperation(f, t.cluster, op, { timeoutMs: o.timeoutMs + STEPS_ALLOWANCE_MS });
  } catch (err) {
    // Rolled back: the node runs its old release again and is healthy; the release is what is wrong.
    if (err instanceof OperationFailedError && (err.operation.result as Partial<UpgradeNodeResult> | null)?.rolledBack === true) {
      if (o.output === 'json') printJson(f.io, err.operation);
      throw new CliError('precondition', err.operation.message);
    }
    throw err;
  }
  print(f, o, end, end.message);
}

function print(f: Factory, o: { output: OutputFormat }, op: OperationView, line: string): void {
  if (o.output === 'json') printJson(f.io, op);
  else f.io.out.write(`${line}\n`);
}
