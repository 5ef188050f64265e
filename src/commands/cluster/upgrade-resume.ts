/**
 * `rustydb-admin cluster upgrade resume [--timeout DUR] ...`: continue the
 * running upgrade from its journal, after the CLI that ran it died or was
 * stopped (exit 7, Ctrl-C). A step in flight is followed by its operation, a
 * node already on the target is not upgraded again; an `aborting` journal
 * finishes the node in flight and ends `aborted`.
 */

import { Command } from 'commander';
import { isActive } from '../../../agent/upgrade-journal.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import type { Factory } from '../../cli.ts';
import { CliError } from '../../errors.ts';
import { addRunOptions, runOptions, runSettings, type UpgradeRunOptions } from './upgrade.ts';
import { JournalHandle, readJournal } from './upgrade-journal-client.ts';
import { runJournal } from './upgrade-run.ts';
import { printReport } from './upgrade-status.ts';

export function newCmdUpgradeResume(f: Factory, runF: (o: UpgradeRunOptions) => Promise<void> = (o) => upgradeResumeRun(f, o)): Command {
  return addRunOptions(new Command('resume').description('continue the running upgrade from its last completed step'))
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster upgrade resume\n')
    .action(async (opts: { pauseBetween: number; transferTimeout: number; timeout: number }, c: Command) => {
      await runF(runOptions(f, opts, c));
    });
}

export async function upgradeResumeRun(f: Factory, o: UpgradeRunOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const j = await readJournal(client);
  if (!j || !isActive(j)) {
    throw new CliError('precondition', `no upgrade is running${j ? ` (the last one, ${j.id} to ${j.version}, ${j.state}: ${j.message})` : ''}: start one with \`rustydb-admin cluster upgrade --version R\``);
  }
  const done = j.plan.filter((s) => s.step === 'done').map((s) => s.node);
  f.io.err.write(`resuming upgrade ${j.id} to ${j.version} (${j.state}); done: ${done.join(', ') || 'none'}\n`);
  const final = await runJournal(f, runSettings(o, client), new JournalHandle(client, j));
  printReport(f, o.output, final);
}
