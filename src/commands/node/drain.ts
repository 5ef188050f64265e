/**
 * `rustydb-admin node drain ID [--timeout DUR] [--no-terminate] [--switchover]`
 * and `node undrain ID`.
 *
 * Drain: the node's agent marks it `draining` (its /replica and /read-only
 * checks answer 503, so routers stop sending it new clients), waits for the
 * client sessions to end up to --timeout, terminates the rest unless
 * --no-terminate, then marks it `drained`. It runs as an operation on the
 * node's agent; we follow it (Ctrl-C leaves it running and names it). On the
 * primary it refuses (exit 5) unless --switchover: then we switch over first.
 */

import { randomUUID } from 'node:crypto';
import { Command, Option } from 'commander';
import { API_PATHS, type OperationView } from '../../../agent/api/wire.ts';
import { ADMIN_PATHS, memberPath, type MemberAnswer } from '../../../agent/api/wire-admin.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { OperationFailedError, waitForOperation } from '../../progress.ts';
import { parseDuration } from '../cluster/failover.ts';
import { findNode } from './target.ts';

export interface DrainOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  timeoutMs: number;
  terminate: boolean;
  switchover: boolean;
  wait: boolean;
}

export function newCmdNodeDrain(f: Factory, runF: (o: DrainOptions) => Promise<void> = (o) => drainRun(f, o)): Command {
  return new Command('drain')
    .description('take a node out of client traffic: no new connections, wait for sessions to end, then terminate the rest')
    .argument('<id>', 'the node to drain')
    .addOption(new Option('--timeout <dur>', 'how long to wait for client sessions to end').default(60_000, '60s').argParser(parseDuration))
    .option('--no-terminate', 'leave sessions still connected at the timeout alone (the drain then fails with exit 7)')
    .option('--switchover', 'if the node is the primary, switch over to the best replica first', false)
    .option('--no-wait', 'return once the drain has started; follow it with GET /v1/operations/<id>')
    .addHelpText('after', '\nExamples:\n  rustydb-admin node drain n2\n  rustydb-admin node drain n1 --switchover --timeout 2m\n')
    .action(async (id: string, opts: { timeout: number; terminate: boolean; switchover: boolean; wait: boolean }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, timeoutMs: opts.timeout, terminate: opts.terminate, switchover: opts.switchover, wait: opts.wait });
    });
}

export async function drainRun(f: Factory, o: DrainOptions): Promise<void> {
  let t = await findNode(o.target, o.id);
  if (t.member === null) throw new CliError('precondition', `${o.id} was removed from the cluster: there is nothing to drain`);
  if (t.view.primary === o.id) {
    if (!o.switchover) {
      throw new CliError('precondition', `${o.id} is the primary: switch over first (\`rustydb-admin cluster failover\`), or add --switchover to do both`);
    }
    f.io.err.write(`${o.id} is the primary: switching over first\n`);
    const first = await t.cluster.post<OperationView>(API_PATHS.switchover, { request_id: randomUUID() });
    await waitForOperation(f, t.cluster, first, { timeoutMs: 120_000 });
    t = await findNode(o.target, o.id);
    if (t.view.primary === o.id) throw new CliError('failed', `the switchover finished but ${o.id} is still the primary: see \`rustydb-admin cluster history\``);
  }
  // Sessions may take the whole timeout, and the agent answers at once with the operation.
  const op = await t.node.post<OperationView>(ADMIN_PATHS.nodeDrain, { timeout_ms: o.timeoutMs, terminate: o.terminate });
  if (!o.wait) return done(f, o, op, `drain of ${o.id} started (${op.id})`);
  try {
    const end = await waitForOperation(f, t.node, op, { timeoutMs: o.timeoutMs + 60_000 });
    done(f, o, end, end.message);
  } catch (err) {
    // Sessions left alone at the timeout (--no-terminate) is a timeout, not a failure.
    if (err instanceof OperationFailedError && Number((err.operation.result as { remaining?: number } | null)?.remaining ?? 0) > 0) {
      if (o.output === 'json') printJson(f.io, err.operation);
      throw new CliError('timeout', err.operation.message);
    }
    throw err;
  }
}

function done(f: Factory, o: { output: OutputFormat }, op: OperationView, line: string): void {
  if (o.output === 'json') printJson(f.io, op);
  else f.io.out.write(`${line}\n`);
}

export interface UndrainOptions {
  target: Target;
  output: OutputFormat;
  id: string;
}

export function newCmdNodeUndrain(f: Factory, runF: (o: UndrainOptions) => Promise<void> = (o) => undrainRun(f, o)): Command {
  return new Command('undrain')
    .description('return a drained (or draining) node to client traffic')
    .argument('<id>', 'the node')
    .addHelpText('after', '\nExample:\n  rustydb-admin node undrain n2\n')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id });
    });
}

export async function undrainRun(f: Factory, o: UndrainOptions): Promise<void> {
  const t = await findNode(o.target, o.id);
  const r = await t.cluster.post<MemberAnswer>(memberPath(o.id, 'undrain'), {});
  if (o.output === 'json') printJson(f.io, r);
  else f.io.out.write(`${o.id} is ${r.member.adminState}: it takes client traffic again\n`);
}

