/**
 * `rustydb-admin config set KEY VALUE`: change one runtime knob cluster-wide
 * and print `KEY: old → new`. The key, the value and the rules between knobs
 * (e.g. lease_ms < failover_timeout_ms) are checked here with the agent's own
 * table (agent/api/config-keys.ts) before anything is sent, and again by the
 * agent, which writes the replicated config by compare-and-set.
 */

import { Command } from 'commander';
import { CONFIG_KEY_NAMES, configFromValues, configKey, ConfigKeyError, parseConfigValue, planConfigChange, type ConfigKeyName, type ConfigValue } from '../../../agent/api/config-keys.ts';
import { CONFIG_API_PATHS, configKeyPath, type ConfigSetView, type ConfigView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { configCliError } from './get.ts';

export interface ConfigSetOptions {
  target: Target;
  output: OutputFormat;
  key: string;
  value: string;
}

export function newCmdConfigSet(f: Factory, runF: (o: ConfigSetOptions) => Promise<void> = (o) => configSetRun(f, o)): Command {
  return new Command('set')
    .description('change a runtime knob on the whole cluster; prints the old and the new value')
    .argument('<key>', `the knob: ${CONFIG_KEY_NAMES.join(', ')}`)
    .argument('<value>', 'the new value, e.g. 3000, true, active_passive, auto')
    .addHelpText(
      'after',
      '\nExamples:\n  rustydb-admin config set lease_ms 3000\n  rustydb-admin config set failover_mode manual\n  rustydb-admin config set min_quorum_size auto\n\nelection_timeout_ms and heartbeat_interval_ms are read-only (exit 5): change them in rustydb.conf on every node and restart the agents one at a time.\n',
    )
    .action(async (key: string, value: string, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), key, value });
    });
}

/** `spec`-checked: throws the CliError for a ConfigKeyError, anything else as is. */
function checked<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw err instanceof ConfigKeyError ? configCliError(err) : err;
  }
}

export async function configSetRun(f: Factory, o: ConfigSetOptions): Promise<void> {
  // Key, read-only and value first: a typo exits 2 (a read-only key 5) without asking the cluster.
  const spec = checked(() => configKey(o.key));
  if (spec.readOnly) throw new CliError('precondition', spec.readOnly);
  const value = checked(() => parseConfigValue(spec, o.value));

  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const current = await client.get<ConfigView>(CONFIG_API_PATHS.config);
  const values = Object.fromEntries(current.keys.map((k) => [k.key, k.value])) as Record<ConfigKeyName, ConfigValue>;
  const missing = CONFIG_KEY_NAMES.filter((k) => !(k in values));
  // The rules between knobs need them all; an agent that lacks some still checks the change itself.
  if (missing.length === 0) {
    const { record, raft } = configFromValues(values);
    checked(() => planConfigChange(record, raft, spec.name, value));
  }

  const result = await client.put<ConfigSetView>(configKeyPath(spec.name), { value });
  if (o.output === 'json') return printJson(f.io, result);
  f.io.out.write(result.changed ? `${result.key}: ${String(result.previous)} → ${String(result.value)}\n` : `${result.key}: already ${String(result.value)} (unchanged)\n`);
}
