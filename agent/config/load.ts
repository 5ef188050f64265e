/**
 * Load rustydb.conf: read the file, parse the TOML, validate every section and
 * either return the fully defaulted `AgentConfig` or throw one `ConfigError`
 * listing every problem as `<file>:<line>: <key>: <message>`.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError, type TomlTable } from 'smol-toml';
import { indexKeyLines } from './lines.ts';
import { Reader } from './reader.ts';
import { ConfigError, type AgentConfig, type ConfigProblem } from './schema.ts';
import { crossCheck, readAgent, readApi, readCluster, readEngine, readHa, readLoadBalancing, readSecurity, readTls, type Ctx } from './sections.ts';

/** Command-line flags that stand in for keys of the file. */
export interface ConfigOverrides {
  /**
   * `--data-dir DIR`: engine.data_dir defaults to DIR/pgdata and agent.state_dir
   * to DIR/agent (keys written in the file still win). Relative to the working directory.
   */
  dataDir?: string;
  /** `--log-level`: replaces agent.log_level. */
  logLevel?: string;
}

/** Read and validate the config file at `path`. Throws ConfigError (also when the file cannot be read). */
export function loadConfig(path: string, overrides: ConfigOverrides = {}): AgentConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([{ file: path, line: null, key: '', message: `cannot read the config file (${reason}); check the path given to --config` }]);
  }
  return parseConfigText(text, path, overrides);
}

/**
 * Validate config `text` as if read from `file` (used in messages, and to
 * anchor relative paths in the file). Throws ConfigError.
 */
export function parseConfigText(text: string, file: string, overrides: ConfigOverrides = {}): AgentConfig {
  const doc = parseToml(text, file);
  const r = new Reader(file, indexKeyLines(text));
  const ctx: Ctx = { r, baseDir: dirname(resolve(file)) };
  const root = r.table(doc, [], '') ?? {};

  const { cluster, raftOk } = readCluster(ctx, root.cluster);
  const engine = readEngine(ctx, root.engine, overrides.dataDir);
  const config: AgentConfig = {
    file,
    cluster,
    ha: readHa(ctx, root.ha, cluster.raft, raftOk),
    loadBalancing: readLoadBalancing(ctx, root.load_balancing, cluster.nodes),
    engine,
    api: readApi(ctx, root.api, cluster.raftPort),
    tls: readTls(ctx, root.tls),
    security: readSecurity(ctx, root.security),
    agent: readAgent(ctx, root.agent, engine.dataDir, overrides.dataDir, overrides.logLevel),
  };
  const agentTable = root.agent as Record<string, unknown> | undefined;
  crossCheck(ctx, config, { stateDir: typeof agentTable === 'object' && agentTable !== null && Object.hasOwn(agentTable, 'state_dir') });

  if (r.problems.length > 0) throw new ConfigError(inFileOrder(r.problems));
  return config;
}

function parseToml(text: string, file: string): TomlTable {
  try {
    // Integers as bigint tell `5` from `5.0`; unsafe keys (__proto__) could poison the records built from the file.
    return parse(text, { integersAsBigInt: true, unsafeKeyBehaviour: 'throw' });
  } catch (err) {
    if (!(err instanceof TomlError)) throw err;
    const reason = err.message.split('\n')[0].replace(/^Invalid TOML document: /, '');
    throw new ConfigError([{ file, line: err.line, key: '', message: `invalid TOML: ${reason} (column ${err.column})` }]);
  }
}

/** Problems by line, those without a line last; the order found is kept otherwise. */
function inFileOrder(problems: ConfigProblem[]): ConfigProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => (a.p.line ?? Infinity) - (b.p.line ?? Infinity) || a.i - b.i)
    .map(({ p }) => p);
}

export { ConfigError, formatProblem, type AgentConfig, type ConfigProblem, type NodeEntry } from './schema.ts';
