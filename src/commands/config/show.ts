/**
 * `rustydb-admin config show`: every runtime knob with its value and where
 * the value comes from. `-o json` prints the ConfigView as the API returns it.
 */

import { Command } from 'commander';
import { CONFIG_API_PATHS, type ConfigView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, printTable, type IOStreams, type OutputFormat } from '../../output.ts';

export interface ConfigShowOptions {
  target: Target;
  output: OutputFormat;
}

export function newCmdConfigShow(f: Factory, runF: (o: ConfigShowOptions) => Promise<void> = (o) => configShowRun(f, o)): Command {
  return new Command('show')
    .description('show every runtime knob: value, source (cluster, default, built-in, rustydb.conf) and description')
    .addHelpText('after', '\nExample:\n  rustydb-admin config show\n  rustydb-admin config show -o json | jq \'.keys[] | select(.key == "lease_ms") | .value\'\n')
    .action(async (_opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd) });
    });
}

export async function configShowRun(f: Factory, o: ConfigShowOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  printConfig(f.io, o.output, await client.get<ConfigView>(CONFIG_API_PATHS.config));
}

export function printConfig(io: IOStreams, format: OutputFormat, c: ConfigView): void {
  if (format === 'json') return printJson(io, c);
  if (io.outIsTTY) io.out.write(`config version ${c.version}; Raft timings from ${c.raftFrom}'s rustydb.conf\n\n`);
  printTable(
    io,
    [{ header: 'key' }, { header: 'value' }, { header: 'source', style: (s) => (s === 'cluster' ? 'cyan' : null) }, { header: 'description' }],
    c.keys.map((k) => [k.key, String(k.value), k.settable ? k.source : `${k.source}, read-only`, k.description]),
  );
}
