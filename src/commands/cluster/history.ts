/** `rustydb-admin cluster history [--limit N]`: failovers and switchovers, newest first. */

import { Command, InvalidArgumentError, Option } from 'commander';
import { API_PATHS, HISTORY_DEFAULT_LIMIT, HISTORY_MAX_LIMIT, type HistoryView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, printTable, type OutputFormat } from '../../output.ts';

export interface HistoryOptions {
  target: Target;
  output: OutputFormat;
  limit: number;
}

function parseLimit(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > HISTORY_MAX_LIMIT) throw new InvalidArgumentError(`--limit must be an integer from 1 to ${HISTORY_MAX_LIMIT}.`);
  return Number(v);
}

export function newCmdHistory(f: Factory, runF: (o: HistoryOptions) => Promise<void> = (o) => historyRun(f, o)): Command {
  return new Command('history')
    .description('list failovers and switchovers, newest first')
    .addOption(new Option('--limit <n>', 'at most this many records').default(HISTORY_DEFAULT_LIMIT).argParser(parseLimit))
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster history --limit 10\n')
    .action(async (opts: { limit: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), limit: opts.limit });
    });
}

export async function historyRun(f: Factory, o: HistoryOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const view = await client.get<HistoryView>(`${API_PATHS.history}?limit=${o.limit}`);
  if (o.output === 'json') return printJson(f.io, view);
  if (view.history.length === 0 && f.io.outIsTTY) {
    f.io.out.write('no failover or switchover yet\n');
    return;
  }
  printTable(
    f.io,
    [{ header: 'epoch' }, { header: 'at' }, { header: 'from' }, { header: 'to' }, { header: 'reason' }],
    view.history.map((h) => [String(h.epoch), h.at, h.from ?? '-', h.to, h.reason]),
  );
}
