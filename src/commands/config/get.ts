/**
 * `rustydb-admin config get KEY`: one knob. In table output it prints the
 * bare value and nothing else (terminal or not), so a script can write
 * `lease=$(rustydb-admin config get lease_ms -o table)`; `-o json` (the
 * default when stdout is not a terminal) prints the key's ConfigEntryView.
 * An unknown key exits 2 before any request.
 */

import { Command } from 'commander';
import { configKey, ConfigKeyError } from '../../../agent/api/config-keys.ts';
import { CONFIG_API_PATHS, type ConfigView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';

export interface ConfigGetOptions {
  target: Target;
  output: OutputFormat;
  key: string;
}

export function newCmdConfigGet(f: Factory, runF: (o: ConfigGetOptions) => Promise<void> = (o) => configGetRun(f, o)): Command {
  return new Command('get')
    .description('print one runtime knob; table output is the bare value (for $(...) in scripts)')
    .argument('<key>', 'the knob, e.g. lease_ms (see `config show`)')
    .addHelpText('after', '\nExample:\n  lease=$(rustydb-admin config get lease_ms -o table)\n  rustydb-admin config get ha_mode -o json\n')
    .action(async (key: string, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), key });
    });
}

/** A refused key or value as the CLI reports it: input errors exit 2, a read-only key 5. */
export function configCliError(e: ConfigKeyError): CliError {
  return new CliError(e.kind === 'read-only' ? 'precondition' : 'usage', e.message);
}

export async function configGetRun(f: Factory, o: ConfigGetOptions): Promise<void> {
  let name: string;
  try {
    name = configKey(o.key).name;
  } catch (err) {
    throw err instanceof ConfigKeyError ? configCliError(err) : err;
  }
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const view = await client.get<ConfigView>(CONFIG_API_PATHS.config);
  const entry = view.keys.find((k) => k.key === name);
  if (!entry) {
    throw new CliError('failed', `the agent did not report ${name} (it reported: ${view.keys.map((k) => k.key).join(', ')}); is it an older rustydb-agent? Upgrade it`);
  }
  if (o.output === 'json') return printJson(f.io, entry);
  f.io.out.write(`${String(entry.value)}\n`);
}
