/**
 * The agent's configuration (`rustydb.conf`): the typed, fully defaulted
 * result of loading it, the keys each section accepts, the defaults, and the
 * error type. Loading and validation live in `load.ts`; every key is
 * documented in `docs/rustydb.conf.example`.
 */
import { RAFT_DEFAULTS, type RaftSettings } from '../raft/config.ts';

export type NodeKind = 'voter' | 'observer' | 'witness';
export type HaModeSetting = 'active_active' | 'active_passive';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error';

/** One initial member, from `[cluster.nodes.<id>]`. */
export interface NodeEntry {
  /** `host:port` of the member's agent (Raft peers and control API). */
  api: string;
  /** `host:port` of the member's engine; null for a witness, which runs none. */
  pg: string | null;
  kind: NodeKind;
  /** A name from `[cluster.regions]`; "default" when not given. */
  region: string;
  /** Load-balancing weight, >= 0; default 1. */
  weight: number;
  /** `nofailover` (never promoted), `noloadbalance` (never sent client traffic). */
  tags: string[];
}

/** The loaded configuration: every key present (defaults filled in) and typed. Paths are absolute. */
export interface AgentConfig {
  /** The file it was loaded from, as given. */
  file: string;
  cluster: {
    enabled: boolean;
    /** `^[a-z][a-z0-9_-]{0,62}$`: it names this node's replication slot and application_name. */
    nodeId: string;
    /** Host name or IP address the other nodes reach this node at. */
    nodeAddress: string;
    raftPort: number;
    clusterName: string;
    replicationFactor: number;
    /**
     * This node joins an existing cluster (`rustydb-admin cluster join`) instead of
     * founding one: with empty Raft state it waits to be added rather than bootstrapping.
     */
    joinExisting: boolean;
    raft: RaftSettings;
    /** The initial members; empty when the node joins an existing cluster instead. */
    nodes: Record<string, NodeEntry>;
    regions: Record<string, { priority: number }>;
  };
  ha: {
    /** null: chosen by the number of database nodes (2 -> active_passive, 3+ -> active_active). */
    mode: HaModeSetting | null;
    autoFailover: boolean;
    /** Standbys that must confirm a commit; null derives it from the mode. */
    minQuorumSize: number | null;
    /** How long the primary may be unreachable before an automatic failover. Always > leaseMs. */
    failoverTimeoutMs: number;
    /** A primary that cannot confirm its record with a quorum for this long stops accepting writes. */
    leaseMs: number;
    fencingMode: 'stop' | 'read_only';
    durability: 'strict' | 'available';
  };
  loadBalancing: {
    mode: 'round_robin' | 'least_connections' | 'weighted';
    weights: Record<string, number>;
    readFromFollowers: boolean;
  };
  engine: {
    kind: 'postgres';
    /** Explicit bin directory; at most one of binDir / release is set. */
    binDir: string | null;
    /** A key of `releases`. */
    release: string | null;
    /** Release name -> bin directory. */
    releases: Record<string, string>;
    dataDir: string;
    port: number;
    listenAddress: string;
    engineUser: string;
    parameters: Record<string, string | number | boolean>;
    /** Stop the engine when the agent exits cleanly (false: leave it running). */
    stopOnExit: boolean;
    /**
     * JSON file {superuserPassword, replicationPassword} the first leader uses for the
     * cluster's engine credentials instead of random ones (the sandbox uses it to print a
     * working connection string). Null: generated at random and kept in the replicated state.
     */
    secretsFile: string | null;
  };
  api: { listenAddress: string; port: number };
  /**
   * `caKeyFile`: the cluster CA's private key, read only by the first leader, which imports the CA
   * into the replicated state so that any later leader can sign node certificates.
   */
  tls: { enabled: boolean; certFile: string | null; keyFile: string | null; caFile: string | null; caKeyFile: string | null };
  /** `bootstrapTokenFile`: JSON {id, name, role, salt, hash} of the first admin token, imported by the first leader (no plaintext). */
  security: { bootstrapTokenFile: string | null };
  agent: { stateDir: string; logLevel: LogLevel };
}

/** One thing wrong with a config file. */
export interface ConfigProblem {
  file: string;
  /** 1-based line, or null when the problem has no place in the file (e.g. a missing section). */
  line: number | null;
  /** Dotted key, e.g. `cluster.raft.heartbeat_interval_ms`; '' for a TOML syntax error. */
  key: string;
  message: string;
}

/** `<file>:<line>: <key>: <message>`, leaving out what is unknown. */
export function formatProblem(p: ConfigProblem): string {
  const where = p.line === null ? p.file : `${p.file}:${p.line}`;
  return p.key === '' ? `${where}: ${p.message}` : `${where}: ${p.key}: ${p.message}`;
}

/**
 * The config cannot be used. `message` lists every problem, one per line, so
 * the agent can print it as is and exit 2.
 */
export class ConfigError extends Error {
  constructor(readonly problems: ConfigProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ConfigError';
  }
}

export const NODE_ID_PATTERN = /^[a-z][a-z0-9_-]{0,62}$/;
export const NODE_KINDS: readonly NodeKind[] = ['voter', 'observer', 'witness'];
export const NODE_TAGS: readonly string[] = ['nofailover', 'noloadbalance'];
export const HA_MODES: readonly HaModeSetting[] = ['active_active', 'active_passive'];
export const FENCING_MODES = ['read_only', 'stop'] as const;
export const DURABILITY_MODES = ['strict', 'available'] as const;
export const LB_MODES = ['round_robin', 'least_connections', 'weighted'] as const;
export const ENGINE_KINDS = ['postgres'] as const;
export const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error'];

/** Defaults that are constants; derived ones (timeouts, api.port, state_dir) are computed in load.ts. */
export const DEFAULTS = {
  clusterEnabled: true,
  raftPort: 5433,
  replicationFactor: 3,
  nodeKind: 'voter' as NodeKind,
  nodeRegion: 'default',
  nodeWeight: 1,
  regionPriority: 0,
  haAutoFailover: true,
  fencingMode: 'read_only' as const,
  durability: 'strict' as const,
  lbMode: 'round_robin' as const,
  readFromFollowers: false,
  engineKind: 'postgres' as const,
  enginePort: 5432,
  listenAddress: '127.0.0.1',
  engineUser: 'postgres',
  stopOnExit: true,
  tlsEnabled: false,
  logLevel: 'info' as LogLevel,
} as const;

/** Postgres settings the agent derives from other keys or manages itself; [engine.parameters] may not set them. */
export const MANAGED_PARAMETERS: Record<string, string> = {
  port: 'set engine.port instead',
  listen_addresses: 'set engine.listen_address instead',
  data_directory: 'set engine.data_dir instead',
  synchronous_standby_names: 'the agent sets it from ha.mode and the live standbys',
  primary_conninfo: 'the agent points standbys at the current primary',
  primary_slot_name: 'the agent names each standby\'s replication slot after its node id',
};

/** `electionTimeoutMs` -> `election_timeout_ms`: the [cluster.raft] key names, for suggestions only. */
const RAFT_KEYS = Object.keys(RAFT_DEFAULTS).map((field) => field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`));

/**
 * The keys each table accepts, by table path; `*` stands for a name the
 * operator chooses (a node id, a region). [cluster.raft] is validated by
 * `parseRaftSettings`; its names are listed here for "did you mean".
 */
export const KNOWN_KEYS: Record<string, readonly string[]> = {
  '': ['cluster', 'ha', 'load_balancing', 'engine', 'api', 'tls', 'security', 'agent'],
  cluster: ['enabled', 'node_id', 'node_address', 'raft_port', 'cluster_name', 'replication_factor', 'join_existing', 'raft', 'nodes', 'regions'],
  'cluster.raft': RAFT_KEYS,
  'cluster.nodes.*': ['api', 'pg', 'kind', 'region', 'weight', 'tags'],
  'cluster.regions.*': ['priority'],
  ha: ['mode', 'auto_failover', 'min_quorum_size', 'failover_timeout_ms', 'lease_ms', 'fencing_mode', 'durability'],
  load_balancing: ['mode', 'weights', 'read_from_followers'],
  engine: ['kind', 'bin_dir', 'release', 'releases', 'data_dir', 'port', 'listen_address', 'engine_user', 'parameters', 'stop_on_exit', 'secrets_file'],
  api: ['listen_address', 'port'],
  tls: ['enabled', 'cert_file', 'key_file', 'ca_file', 'ca_key_file'],
  security: ['bootstrap_token_file'],
  agent: ['state_dir', 'log_level'],
};
