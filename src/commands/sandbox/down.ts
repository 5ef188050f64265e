/**
 * `rustydb-admin sandbox down [--dir DIR] [--purge]`: stop every agent and
 * PostgreSQL of the sandbox (by pid, checked to be ours) so that nothing of
 * it runs; `--purge` also deletes the directory and its data.
 */

import { resolve } from 'node:path';
import { Command } from 'commander';
import { outputFormat, type Factory } from '../../cli.ts';
import { printJson, progress, type OutputFormat } from '../../output.ts';
import { Sandbox } from '../../sandbox/cluster.ts';
import { dirOption } from './status.ts';

export interface DownOptions {
  /** Absolute. */
  dir: string;
  purge: boolean;
  output: OutputFormat;
}

export function newCmdDown(f: Factory, runF: (o: DownOptions) => Promise<void> = (o) => downRun(f, o)): Command {
  return new Command('down')
    .description('stop every agent and PostgreSQL of the sandbox; --purge also deletes its directory and data')
    .addOption(dirOption())
    .option('--purge', 'delete the sandbox directory (all data) after stopping', false)
    .addHelpText('after', '\nExamples:\n  rustydb-admin sandbox down\n  rustydb-admin sandbox down --purge\n')
    .action(async (opts: { dir: string; purge: boolean }, cmd: Command) => {
      await runF({ dir: resolve(f.cwd, opts.dir), purge: opts.purge, output: outputFormat(cmd) });
    });
}

export async function downRun(f: Factory, o: DownOptions): Promise<void> {
  const sb = await Sandbox.openExisting(o.dir);
  const running = sb.nodes().filter((n) => n.agentPid !== null || n.enginePid !== null).map((n) => n.id);
  progress(f.io, running.length > 0 ? `stopping ${running.join(', ')}` : 'nothing is running');
  await sb.down({ purge: o.purge });
  if (o.output === 'json') {
    printJson(f.io, { dir: sb.dir, stopped: running, purged: o.purge });
    return;
  }
  f.io.out.write(`sandbox ${sb.dir} ${o.purge ? 'stopped and deleted' : 'stopped; `sandbox up` restarts it with its data'}\n`);
}
