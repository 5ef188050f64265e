/**
 * `rustydb-admin cluster operation ID [--wait] [--timeout DUR]`: show a
 * server-side operation (switchover, failover, drain, reinit, force-quorum)
 * by the id a command printed; with --wait follow it until it ends. This is
 * how an operator picks up an operation after a timeout (exit 7) or Ctrl-C.
 */

import { Command, Option } from 'commander';
import { operationPath, type OperationView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { OperationFailedError, waitForOperation } from '../../progress.ts';
import { parseDuration } from './failover.ts';

export interface OperationOptions {
  target: Target;
  output: OutputFormat;
  id: string;
  wait: boolean;
  timeoutMs: number;
}

export function newCmdOperation(f: Factory, runF: (o: OperationOptions) => Promise<void> = (o) => operationRun(f, o)): Command {
  return new Command('operation')
    .description('show an operation by id (switchover, failover, drain, reinit, force-quorum); --wait follows it to the end')
    .argument('<id>', 'the operation id a command printed')
    .option('--wait', 'follow it until it succeeds (exit 0) or fails (exit 1)', false)
    .addOption(new Option('--timeout <dur>', 'with --wait: give up after this long (exit 7)').default(600_000, '10m').argParser(parseDuration))
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster operation op-5b0c… --wait\n')
    .action(async (id: string, opts: { wait: boolean; timeout: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), id, wait: opts.wait, timeoutMs: opts.timeout });
    });
}

export async function operationRun(f: Factory, o: OperationOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  let op = await client.get<OperationView>(operationPath(o.id));
  if (o.wait) {
    try {
      op = await waitForOperation(f, client, op, { timeoutMs: o.timeoutMs });
    } catch (err) {
      if (err instanceof OperationFailedError) print(f, o.output, err.operation);
      throw err;
    }
  }
  print(f, o.output, op);
}

function print(f: Factory, format: OutputFormat, op: OperationView): void {
  if (format === 'json') return printJson(f.io, op);
  f.io.out.write(`${op.kind} ${op.id} ${op.state}: ${op.message}${op.finishedAt ? ` (finished ${op.finishedAt})` : ''}\n`);
}
