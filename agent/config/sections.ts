/**
 * The rules of each rustydb.conf section: read it through a `Reader`, fill
 * in defaults, and report what is wrong. Values that are wrong are replaced by
 * their defaults so later rules can run; the caller throws if anything was
 * reported, so a defaulted-after-error value never escapes.
 */
import { isAbsolute, resolve, relative } from 'node:path';
import { parseRaftSettings, RAFT_DEFAULTS, type RaftSettings } from '../raft/config.ts';
import type { KeyPath } from './lines.ts';
import { asInteger, describe, isTable, unknownKeyMessage, type Reader } from './reader.ts';
import {
  DEFAULTS,
  DURABILITY_MODES,
  ENGINE_KINDS,
  FENCING_MODES,
  HA_MODES,
  KNOWN_KEYS,
  LB_MODES,
  LOG_LEVELS,
  MANAGED_PARAMETERS,
  NODE_ID_PATTERN,
  NODE_KINDS,
  NODE_TAGS,
  type AgentConfig,
  type NodeEntry,
} from './schema.ts';
import { closest } from './suggest.ts';

const MAX_MS = 24 * 3600 * 1000;
const NODE_ID_RULE = `must match ${NODE_ID_PATTERN.source} (a lower-case letter, then lower-case letters, digits, _ or -): it names the node's replication slot and application_name`;

/** Where relative paths in the file are anchored (the file's directory). */
export interface Ctx {
  r: Reader;
  baseDir: string;
}

const didYouMean = (name: string, candidates: Iterable<string>): string => {
  const near = closest(name, candidates);
  return near === null ? '' : `; did you mean ${JSON.stringify(near)}?`;
};

/** `host:port` (IPv6 as `[addr]:port`); null when malformed or the port is out of range. */
export function parseHostPort(s: string): { host: string; port: number } | null {
  const m = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(s) ?? /^([^\s:/[\]@]+):(\d{1,5})$/.exec(s);
  if (!m) return null;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? { host: m[1], port } : null;
}

function hostPort(ctx: Ctx, path: KeyPath, value: string | undefined, example: string): void {
  if (value !== undefined && parseHostPort(value) === null) {
    ctx.r.report(path, `must be "host:port" with a port 1..65535 (e.g. "${example}"; IPv6 as "[::1]:${example.split(':')[1]}"), got ${JSON.stringify(value)}`);
  }
}

function host(ctx: Ctx, path: KeyPath, value: string | undefined): void {
  if (value === undefined) return;
  if (/\s|\/|@/.test(value)) ctx.r.report(path, `must be a host name or IP address, got ${JSON.stringify(value)}`);
  else if (/^[^:[\]]+:\d+$/.test(value)) ctx.r.report(path, `must be a host name or IP address without a port (the port has its own key), got ${JSON.stringify(value)}`);
}

const absPath = (ctx: Ctx, p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(ctx.baseDir, p));

// ---------------------------------------------------------------- [cluster]

export function readCluster(ctx: Ctx, value: unknown): { cluster: AgentConfig['cluster']; raftOk: boolean } {
  const { r } = ctx;
  const at = ['cluster'];
  const t = r.table(value, at, 'cluster');
  // A [cluster] that is not a table was reported; its "missing" keys would only be noise.
  const required = (hint: string): string | undefined => (value === undefined || t !== undefined ? hint : undefined);

  const nodeId = r.string(t, at, 'node_id', required('add node_id = "n1" under [cluster] (this node\'s unique name in the cluster)'));
  if (nodeId !== undefined && !NODE_ID_PATTERN.test(nodeId)) r.report([...at, 'node_id'], `${NODE_ID_RULE}; got ${JSON.stringify(nodeId)}`);
  const clusterName = r.string(t, at, 'cluster_name', required('add cluster_name = "..." under [cluster] (the same name on every node of the cluster)'));
  const nodeAddress = r.string(t, at, 'node_address', required('add node_address = "..." under [cluster] (the host name or IP address other nodes reach this node at)'));
  host(ctx, [...at, 'node_address'], nodeAddress);

  const { settings: raft, ok: raftOk } = readRaft(ctx, t?.raft);
  const regions = readRegions(ctx, t?.regions);
  const nodes = readNodes(ctx, t?.nodes, regions);

  if (nodeId !== undefined && !r.isBad([...at, 'node_id']) && Object.keys(nodes).length > 0 && !Object.hasOwn(nodes, nodeId)) {
    r.report(
      [...at, 'nodes'],
      `this node (cluster.node_id = ${JSON.stringify(nodeId)}) is not listed${didYouMean(nodeId, Object.keys(nodes))}; add [cluster.nodes.${nodeId}], or remove [cluster.nodes] to join an existing cluster instead`,
    );
  }

  return {
    raftOk,
    cluster: {
      enabled: r.boolean(t, at, 'enabled') ?? DEFAULTS.clusterEnabled,
      nodeId: nodeId ?? '',
      nodeAddress: nodeAddress ?? '',
      raftPort: r.integer(t, at, 'raft_port', 1, 65535) ?? DEFAULTS.raftPort,
      clusterName: clusterName ?? '',
      replicationFactor: r.integer(t, at, 'replication_factor', 1) ?? DEFAULTS.replicationFactor,
      joinExisting: r.boolean(t, at, 'join_existing') ?? false,
      raft,
      nodes,
      regions,
    },
  };
}

/** [cluster.raft] is the Raft module's: its issues are placed on their lines here. */
function readRaft(ctx: Ctx, value: unknown): { settings: RaftSettings; ok: boolean } {
  const at = ['cluster', 'raft'];
  if (value !== undefined && !isTable(value)) {
    ctx.r.report(at, `expected a table (a [cluster.raft] section), got ${describe(value)}`);
    return { settings: { ...RAFT_DEFAULTS }, ok: false };
  }
  const where = `${ctx.r.file} [cluster.raft]`;
  const result = parseRaftSettings(value as Record<string, unknown> | undefined, where);
  if (result.ok) return { settings: result.settings, ok: true };
  for (const issue of result.issues) {
    const name = issue.key.startsWith('cluster.raft.') ? issue.key.slice('cluster.raft.'.length) : null;
    const path = name === null ? at : [...at, name];
    let message = issue.message.startsWith(`${where}: `) ? issue.message.slice(where.length + 2) : issue.message;
    if (name !== null && message.startsWith('unknown key')) message = unknownKeyMessage(name, at, KNOWN_KEYS['cluster.raft']);
    ctx.r.report(path, message);
  }
  return { settings: { ...RAFT_DEFAULTS }, ok: false };
}

function readRegions(ctx: Ctx, value: unknown): Record<string, { priority: number }> {
  const regions: Record<string, { priority: number }> = {};
  for (const [name, v] of ctx.r.namedEntries(value, ['cluster', 'regions'])) {
    const at = ['cluster', 'regions', name];
    const t = ctx.r.table(v, at, 'cluster.regions.*');
    regions[name] = { priority: ctx.r.integer(t, at, 'priority', 0) ?? DEFAULTS.regionPriority };
  }
  return regions;
}

function readNodes(ctx: Ctx, value: unknown, regions: Record<string, unknown>): Record<string, NodeEntry> {
  const { r } = ctx;
  const nodes: Record<string, NodeEntry> = {};
  const seen = new Map<string, string>(); // "api 10.0.0.1:5433" -> key that has it
  const unique = (path: KeyPath, kind: 'api' | 'pg', addr: string | null): void => {
    if (addr === null || r.isBad(path)) return;
    const owner = seen.get(`${kind} ${addr}`);
    if (owner !== undefined) r.report(path, `${JSON.stringify(addr)} is also ${owner}; every member needs its own address`);
    else seen.set(`${kind} ${addr}`, path.join('.'));
  };

  for (const [id, v] of r.namedEntries(value, ['cluster', 'nodes'])) {
    const at = ['cluster', 'nodes', id];
    if (!NODE_ID_PATTERN.test(id)) r.report(at, `node id ${NODE_ID_RULE}; got ${JSON.stringify(id)}`);
    const t = r.table(v, at, 'cluster.nodes.*');
    if (t === undefined) continue;

    const kind = r.choice(t, at, 'kind', NODE_KINDS) ?? DEFAULTS.nodeKind;
    const api = r.string(t, at, 'api', 'add api = "host:port" (where this member\'s agent listens, e.g. "10.0.0.1:5433")');
    hostPort(ctx, [...at, 'api'], api, '10.0.0.1:5433');

    let pg: string | null = null;
    if (kind === 'witness') {
      if (Object.hasOwn(t, 'pg')) r.report([...at, 'pg'], 'a witness runs no engine; remove pg, or change kind');
    } else {
      pg = r.string(t, at, 'pg', `add pg = "host:port" (where this member's PostgreSQL listens, e.g. "10.0.0.1:5432"); only a witness has none`) ?? null;
      hostPort(ctx, [...at, 'pg'], pg ?? undefined, '10.0.0.1:5432');
    }

    const region = r.string(t, at, 'region') ?? DEFAULTS.nodeRegion;
    const regionNames = Object.keys(regions);
    if (regionNames.length > 0 && !Object.hasOwn(regions, region) && !r.isBad([...at, 'region'])) {
      const what = Object.hasOwn(t, 'region') ? `region ${JSON.stringify(region)} is not defined` : `no region given (default ${JSON.stringify(region)}), and that region is not defined`;
      r.report([...at, 'region'], `${what} in [cluster.regions] (defined: ${regionNames.join(', ')})${didYouMean(region, regionNames)}`);
    }

    const tags = r.strings(t, at, 'tags') ?? [];
    tags.forEach((tag, i) => {
      if (!NODE_TAGS.includes(tag)) r.report([...at, 'tags', i], `unknown tag ${JSON.stringify(tag)}; known tags are ${NODE_TAGS.join(', ')}${didYouMean(tag, NODE_TAGS)}`);
    });

    unique([...at, 'api'], 'api', api ?? null);
    unique([...at, 'pg'], 'pg', pg);
    nodes[id] = {
      api: api ?? '',
      pg,
      kind,
      region,
      weight: r.number(t, at, 'weight', 0) ?? DEFAULTS.nodeWeight,
      tags: [...new Set(tags)],
    };
  }
  return nodes;
}

// ---------------------------------------------------------------- [ha]

export function readHa(ctx: Ctx, value: unknown, raft: RaftSettings, raftOk: boolean): AgentConfig['ha'] {
  const { r } = ctx;
  const at = ['ha'];
  const t = r.table(value, at, 'ha');
  const lease = r.integer(t, at, 'lease_ms', 1, MAX_MS, 'milliseconds');
  const failover = r.integer(t, at, 'failover_timeout_ms', 1, MAX_MS, 'milliseconds');
  const hb = raft.heartbeatIntervalMs;
  // Defaults: the lease lasts one election timeout, and nobody may promote until
  // two more heartbeats have passed, so the old primary's lease always expires first.
  const leaseMs = lease ?? raft.electionTimeoutMs;
  const failoverTimeoutMs = failover ?? raft.electionTimeoutMs + 2 * hb;

  const leaseOk = !r.isBad([...at, 'lease_ms']);
  const failoverOk = !r.isBad([...at, 'failover_timeout_ms']);
  if (raftOk && leaseOk && failoverOk) {
    const leaseText = lease === undefined ? `${leaseMs}, the default: cluster.raft.election_timeout_ms` : String(leaseMs);
    const failoverText =
      failover === undefined ? `${failoverTimeoutMs}, the default: cluster.raft.election_timeout_ms + 2 × heartbeat_interval_ms` : String(failoverTimeoutMs);
    if (leaseMs >= failoverTimeoutMs) {
      r.report(
        [...at, lease !== undefined ? 'lease_ms' : 'failover_timeout_ms'],
        `ha.lease_ms (${leaseText}) must be less than ha.failover_timeout_ms (${failoverText}): the old primary's lease must run out before another node may be promoted`,
      );
    }
    if (failover !== undefined && failoverTimeoutMs < 2 * hb) {
      r.report(
        [...at, 'failover_timeout_ms'],
        `ha.failover_timeout_ms (${failoverTimeoutMs}) must be at least 2 × cluster.raft.heartbeat_interval_ms (2 × ${hb} = ${2 * hb}): one late heartbeat must not trigger a failover`,
      );
    }
    if (lease !== undefined && leaseMs <= hb) {
      r.report(
        [...at, 'lease_ms'],
        `ha.lease_ms (${leaseMs}) must be greater than cluster.raft.heartbeat_interval_ms (${hb}): the primary renews its lease on heartbeats, and a shorter lease would run out between them`,
      );
    }
  }

  return {
    mode: r.choice(t, at, 'mode', HA_MODES) ?? null,
    autoFailover: r.boolean(t, at, 'auto_failover') ?? DEFAULTS.haAutoFailover,
    minQuorumSize: r.integer(t, at, 'min_quorum_size', 1) ?? null,
    failoverTimeoutMs,
    leaseMs,
    fencingMode: r.choice(t, at, 'fencing_mode', FENCING_MODES) ?? DEFAULTS.fencingMode,
    durability: r.choice(t, at, 'durability', DURABILITY_MODES) ?? DEFAULTS.durability,
  };
}

// ---------------------------------------------------------------- [load_balancing]

export function readLoadBalancing(ctx: Ctx, value: unknown, nodes: Record<string, NodeEntry>): AgentConfig['loadBalancing'] {
  const { r } = ctx;
  const at = ['load_balancing'];
  const t = r.table(value, at, 'load_balancing');
  const weights: Record<string, number> = {};
  const ids = Object.keys(nodes);
  for (const [id, v] of r.namedEntries(t?.weights, [...at, 'weights'])) {
    const path = [...at, 'weights', id];
    const w = r.numberValue(path, v, 0);
    if (w === undefined) continue;
    if (ids.length > 0 && !Object.hasOwn(nodes, id)) {
      r.report(path, `no member ${JSON.stringify(id)} in [cluster.nodes] (members: ${ids.join(', ')})${didYouMean(id, ids)}`);
      continue;
    }
    weights[id] = w;
  }
  return {
    mode: r.choice(t, at, 'mode', LB_MODES) ?? DEFAULTS.lbMode,
    weights,
    readFromFollowers: r.boolean(t, at, 'read_from_followers') ?? DEFAULTS.readFromFollowers,
  };
}

// ---------------------------------------------------------------- [engine]

const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;
const ENGINE_USER = /^[a-z_][a-z0-9_-]{0,31}$/;

export function readEngine(ctx: Ctx, value: unknown, dataDirOverride: string | undefined): AgentConfig['engine'] {
  const { r } = ctx;
  const at = ['engine'];
  const t = r.table(value, at, 'engine');

  const binDir = absPath(ctx, r.string(t, at, 'bin_dir'));
  const release = r.string(t, at, 'release');
  const releases: Record<string, string> = {};
  for (const [name, v] of r.namedEntries(t?.releases, [...at, 'releases'])) {
    if (typeof v !== 'string' || v.trim() === '') r.report([...at, 'releases', name], `expected the bin directory of release ${JSON.stringify(name)} as a non-empty string, got ${describe(v)}`);
    else releases[name] = resolve(ctx.baseDir, v);
  }
  if (binDir !== undefined && release !== undefined) {
    r.report([...at, 'release'], 'set either engine.bin_dir or engine.release, not both: bin_dir names one installation, release picks one from [engine.releases]');
  } else if (release !== undefined && !Object.hasOwn(releases, release)) {
    const names = Object.keys(releases);
    r.report(
      [...at, 'release'],
      names.length === 0
        ? `release ${JSON.stringify(release)} is not defined; add [engine.releases] with ${release} = "/path/to/bin"`
        : `release ${JSON.stringify(release)} is not a key of [engine.releases] (defined: ${names.join(', ')})${didYouMean(release, names)}`,
    );
  }

  const dataDir = absPath(ctx, r.string(t, at, 'data_dir', dataDirOverride === undefined ? 'add data_dir = "/var/lib/rustydb/pgdata" under [engine], or start the agent with --data-dir' : undefined));

  const engineUser = r.string(t, at, 'engine_user');
  if (engineUser !== undefined && !ENGINE_USER.test(engineUser)) {
    r.report([...at, 'engine_user'], `must be an operating-system user name (${ENGINE_USER.source}), got ${JSON.stringify(engineUser)}`);
  }
  const listenAddress = r.string(t, at, 'listen_address');
  host(ctx, [...at, 'listen_address'], listenAddress);

  return {
    kind: r.choice(t, at, 'kind', ENGINE_KINDS) ?? DEFAULTS.engineKind,
    binDir: binDir ?? null,
    release: release ?? null,
    releases,
    dataDir: dataDir ?? (dataDirOverride !== undefined ? resolve(dataDirOverride, 'pgdata') : ''),
    port: r.integer(t, at, 'port', 1, 65535) ?? DEFAULTS.enginePort,
    listenAddress: listenAddress ?? DEFAULTS.listenAddress,
    engineUser: engineUser ?? DEFAULTS.engineUser,
    parameters: readParameters(ctx, t?.parameters),
    stopOnExit: r.boolean(t, at, 'stop_on_exit') ?? DEFAULTS.stopOnExit,
    secretsFile: absPath(ctx, r.string(t, at, 'secrets_file')) ?? null,
  };
}

function readParameters(ctx: Ctx, value: unknown): Record<string, string | number | boolean> {
  const { r } = ctx;
  const parameters: Record<string, string | number | boolean> = {};
  for (const [name, v] of r.namedEntries(value, ['engine', 'parameters'])) {
    const path = ['engine', 'parameters', name];
    if (!PARAMETER_NAME.test(name)) {
      r.report(path, `is not a PostgreSQL setting name (${PARAMETER_NAME.source})`);
    } else if (Object.hasOwn(MANAGED_PARAMETERS, name)) {
      r.report(path, `is managed by the agent: ${MANAGED_PARAMETERS[name]}`);
    } else if (typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v))) {
      parameters[name] = v;
    } else if (asInteger(v) !== null) {
      parameters[name] = asInteger(v) as number;
    } else {
      r.report(path, `expected a string, number or boolean (as in postgresql.conf), got ${describe(v)}`);
    }
  }
  return parameters;
}

// ---------------------------------------------------------------- [api], [tls], [agent]

export function readApi(ctx: Ctx, value: unknown, raftPort: number): AgentConfig['api'] {
  const { r } = ctx;
  const at = ['api'];
  const t = r.table(value, at, 'api');
  const listenAddress = r.string(t, at, 'listen_address');
  host(ctx, [...at, 'listen_address'], listenAddress);
  return { listenAddress: listenAddress ?? DEFAULTS.listenAddress, port: r.integer(t, at, 'port', 1, 65535) ?? raftPort };
}

export function readTls(ctx: Ctx, value: unknown): AgentConfig['tls'] {
  const { r } = ctx;
  const at = ['tls'];
  const t = r.table(value, at, 'tls');
  const enabled = r.boolean(t, at, 'enabled') ?? DEFAULTS.tlsEnabled;
  const needed = (what: string): string | undefined => (enabled ? `add ${what}: it is required when tls.enabled = true` : undefined);
  return {
    enabled,
    certFile: absPath(ctx, r.string(t, at, 'cert_file', needed('cert_file = "/path/to/agent.crt" (PEM certificate)'))) ?? null,
    keyFile: absPath(ctx, r.string(t, at, 'key_file', needed('key_file = "/path/to/agent.key" (PEM private key)'))) ?? null,
    caFile: absPath(ctx, r.string(t, at, 'ca_file', needed('ca_file = "/path/to/ca.crt" (the cluster CA certificate)'))) ?? null,
    caKeyFile: absPath(ctx, r.string(t, at, 'ca_key_file')) ?? null,
  };
}

export function readSecurity(ctx: Ctx, value: unknown): AgentConfig['security'] {
  const at = ['security'];
  const t = ctx.r.table(value, at, 'security');
  return { bootstrapTokenFile: absPath(ctx, ctx.r.string(t, at, 'bootstrap_token_file')) ?? null };
}

export function readAgent(ctx: Ctx, value: unknown, dataDir: string, dataDirOverride: string | undefined, logLevelOverride: string | undefined): AgentConfig['agent'] {
  const { r } = ctx;
  const at = ['agent'];
  const t = r.table(value, at, 'agent');
  const stateDir = absPath(ctx, r.string(t, at, 'state_dir'));
  let logLevel = r.choice(t, at, 'log_level', LOG_LEVELS) ?? DEFAULTS.logLevel;
  if (logLevelOverride !== undefined) {
    if ((LOG_LEVELS as readonly string[]).includes(logLevelOverride)) logLevel = logLevelOverride as typeof logLevel;
    else r.reportFlag('--log-level', `must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(logLevelOverride)}${didYouMean(logLevelOverride, LOG_LEVELS)}`);
  }
  // Without --data-dir the agent's state sits beside the data directory: <parent>/agent.
  const derived = dataDirOverride !== undefined ? resolve(dataDirOverride, 'agent') : resolve(dataDir, '..', 'agent');
  return { stateDir: stateDir ?? derived, logLevel };
}

// ---------------------------------------------------------------- across sections

const inside = (dir: string, parent: string): boolean => {
  const rel = relative(parent, dir);
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
};

/** Rules between sections: ports on one host, and directories that must not overlap. */
export function crossCheck(ctx: Ctx, c: AgentConfig, explicit: { stateDir: boolean }): void {
  const { r } = ctx;
  const portKeys: [KeyPath, number][] = [
    [['cluster', 'raft_port'], c.cluster.raftPort],
    [['api', 'port'], c.api.port],
  ];
  if (!r.isBad(['engine', 'port'])) {
    for (const [key, port] of portKeys) {
      if (!r.isBad(key) && port === c.engine.port) {
        r.report(['engine', 'port'], `engine.port (${port}) is also ${key.join('.')}: the engine and the agent run on one host and need different ports`);
        break;
      }
    }
  }
  if (c.engine.dataDir !== '' && !r.isBad(['engine', 'data_dir']) && !r.isBad(['agent', 'state_dir'])) {
    const [a, b] = [c.agent.stateDir, c.engine.dataDir];
    if (inside(a, b) || inside(b, a)) {
      r.report(
        explicit.stateDir ? ['agent', 'state_dir'] : ['engine', 'data_dir'],
        `agent.state_dir (${a}) and engine.data_dir (${b}) must not contain one another: re-cloning the engine replaces its data directory; set agent.state_dir to a separate directory`,
      );
    }
  }
}
