/**
 * `rustydb-admin node stop ID [--force --yes]` and `node start ID`: stop or
 * start the node's engine through its agent. A stopped engine stays stopped
 * (across agent restarts) until `node start`, which also ends a drain: it
 * returns the node to service and is a no-op (exit 0) on a node in service.
 * Stopping the primary needs a switchover first, or --force with a
 * confirmation (the cluster then fails over after its failover timeout).
 */

import { Command, Option } from 'commander';
import { ADMIN_PATHS, type EngineAnswerView } from '../../../agent/api/wire-admin.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { requireConfirmation } from '../../prompt.ts';
import { parseDuration } from '../cluster/failover.ts';
import { findNode } from './target.ts';

export interface EngineOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  timeoutMs: number;
  force: boolean;
  yes: boolean;
}

const timeoutOption = () => new Option('--timeout <dur>', 'give up waiting for the engine after this long').default(60_000, '60s').argParser(parseDuration);

export function newCmdNodeStop(f: Factory, runF: (o: EngineOptions) => Promise<void> = (o) => engineRun(f, 'stop', o)): Command {
  return new Command('stop')
    .description("stop the node's engine; it stays stopped until `node start`")
    .argument('<id>', 'the node')
    .option('--force', 'stop even the primary (the cluster fails over after its failover timeout; writes stop until then)', false)
    .option('-y, --yes', 'confirm --force on the primary without a prompt (required when not on a terminal)', false)
    .addOption(timeoutOption())
    .addHelpText('after', '\nExamples:\n  rustydb-admin node stop n3\n  rustydb-admin node stop n1 --force --yes\n')
    .action(async (id: string, opts: { force: boolean; yes: boolean; timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, timeoutMs: opts.timeout, force: opts.force, yes: opts.yes });
    });
}

export function newCmdNodeStart(f: Factory, runF: (o: EngineOptions) => Promise<void> = (o) => engineRun(f, 'start', o)): Command {
  return new Command('start')
    .description("return a node to service: start its engine if stopped and end a drain (a no-op on a node in service)")
    .argument('<id>', 'the node')
    .addOption(timeoutOption())
    .addHelpText('after', '\nExample:\n  rustydb-admin node start n3\n')
    .action(async (id: string, opts: { timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, timeoutMs: opts.timeout, force: false, yes: false });
    });
}

export async function engineRun(f: Factory, verb: 'stop' | 'start', o: EngineOptions): Promise<void> {
  const t = await findNode(o.target, o.id, o.timeoutMs + 10_000);
  if (verb === 'stop' && o.force && t.view.primary === o.id) {
    await requireConfirmation(f, {
      yes: o.yes,
      typed: o.id,
      message: `${o.id} is the primary: stopping it stops all writes until the cluster fails over to another node`,
    });
  }
  const path = verb === 'stop' ? ADMIN_PATHS.nodeStop : ADMIN_PATHS.nodeStart;
  const body = verb === 'stop' ? { force: o.force, timeout_ms: o.timeoutMs } : { timeout_ms: o.timeoutMs };
  const r = await t.node.post<EngineAnswerView>(path, body);
  if (o.output === 'json') printJson(f.io, r);
  else f.io.out.write(`${r.message}\n`);
}
