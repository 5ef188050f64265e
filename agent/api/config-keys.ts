/**
 * The cluster's runtime knobs (`rustydb-admin config show|get|set`, `GET /v1/config`,
 * `PUT /v1/config/:key`): one table of keys with their types, allowed values,
 * descriptions and the `ClusterConfigRecord` field each maps to, plus the rules
 * that check a change. The CLI validates with this file before it sends a
 * request, and the agent validates again with the same code before it writes,
 * so the two cannot disagree about what is allowed.
 *
 * It imports nothing that pulls in Fastify or undici: the CLI loads it.
 */

import { closest } from '../config/suggest.ts';
import type { ClusterConfigRecord } from '../state/records.ts';

/** A knob's value as the API carries it. */
export type ConfigValue = string | number | boolean;

export const CONFIG_KEY_NAMES = [
  'ha_mode',
  'min_quorum_size',
  'read_from_followers',
  'failover_mode',
  'failover_timeout_ms',
  'lease_ms',
  'durability',
  'fencing_mode',
  'election_timeout_ms',
  'heartbeat_interval_ms',
] as const;
export type ConfigKeyName = (typeof CONFIG_KEY_NAMES)[number];

/** The Raft timings of one node's `[cluster.raft]`: shown by `config get`, fixed at runtime. */
export interface RaftTiming {
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
}

/** Upper bound of every millisecond knob; the same as rustydb.conf's [ha]. */
export const MAX_CONFIG_MS = 24 * 3600 * 1000;
/** Upper bound of min_quorum_size: far above any real cluster, low enough to catch typos. */
export const MAX_MIN_QUORUM_SIZE = 64;

export interface ConfigKeySpec {
  name: ConfigKeyName;
  /** How the value is written on the command line. */
  type: 'enum' | 'integer' | 'boolean' | 'integer-or-auto';
  /** For `enum`: the accepted words. */
  values?: readonly string[];
  /** For integers: the inclusive range. */
  min?: number;
  max?: number;
  /** What is allowed, in words, for error messages and `config show`. */
  allowed: string;
  description: string;
  /** The `ClusterConfigRecord` field the key is stored in; null when it is not stored there. */
  field: keyof ClusterConfigRecord | null;
  /** Why `config set` cannot change it (and what to do instead); null when it can. */
  readOnly: string | null;
}

const restartRaft = (key: string): string =>
  `${key} is [cluster.raft] ${key} in rustydb.conf and cannot change while the cluster runs: change it in rustydb.conf on every node, then restart the agents one at a time (wait for \`rustydb-admin cluster status\` to show has_quorum=true before the next)`;

const ms = (min: number): Pick<ConfigKeySpec, 'type' | 'min' | 'max' | 'allowed'> => ({
  type: 'integer',
  min,
  max: MAX_CONFIG_MS,
  allowed: `an integer number of milliseconds from ${min} to ${MAX_CONFIG_MS}`,
});

/** Every runtime knob, in the order `config show` lists them. */
export const CONFIG_KEYS: Readonly<Record<ConfigKeyName, ConfigKeySpec>> = {
  ha_mode: {
    name: 'ha_mode',
    type: 'enum',
    values: ['active_active', 'active_passive'],
    allowed: 'active_active or active_passive',
    description: 'active_active: a commit waits for a quorum of standbys (3+ nodes); active_passive: for one synchronous standby (a pair)',
    field: 'haMode',
    readOnly: null,
  },
  min_quorum_size: {
    name: 'min_quorum_size',
    type: 'integer-or-auto',
    min: 0,
    max: MAX_MIN_QUORUM_SIZE,
    allowed: `auto, or an integer from 0 to ${MAX_MIN_QUORUM_SIZE}`,
    description: 'standbys that must confirm a commit at least (raises what ha_mode asks, never lowers it; capped by the standbys there are); auto: what ha_mode asks',
    field: 'minQuorumSize',
    readOnly: null,
  },
  read_from_followers: {
    name: 'read_from_followers',
    type: 'boolean',
    allowed: 'true or false',
    description: "false: standbys' /replica and /read-only health checks answer 503, so routers send reads to the primary",
    field: 'readFromFollowers',
    readOnly: null,
  },
  failover_mode: {
    name: 'failover_mode',
    type: 'enum',
    values: ['automatic', 'manual'],
    allowed: 'automatic or manual',
    description: 'automatic: the leader promotes a standby when the primary fails; manual: only `cluster failover` does',
    field: 'autoFailover',
    readOnly: null,
  },
  failover_timeout_ms: {
    name: 'failover_timeout_ms',
    ...ms(1),
    description: 'how long the primary may be unhealthy before an automatic failover; must exceed lease_ms',
    field: 'failoverTimeoutMs',
    readOnly: null,
  },
  lease_ms: {
    name: 'lease_ms',
    ...ms(1),
    description: 'a primary that cannot confirm its record with a quorum for this long stops accepting writes',
    field: 'leaseMs',
    readOnly: null,
  },
  durability: {
    name: 'durability',
    type: 'enum',
    values: ['strict', 'available'],
    allowed: 'strict or available',
    description: 'strict: writes wait when too few synchronous standbys stream (no acknowledged write is lost); available: the primary runs with fewer to keep accepting writes',
    field: 'durability',
    readOnly: null,
  },
  fencing_mode: {
    name: 'fencing_mode',
    type: 'enum',
    values: ['lease'],
    allowed: 'lease (the only fencing that exists: a primary whose lease runs out stops its engine)',
    description: 'how a primary cut off from the quorum is stopped from accepting writes: its lease (lease_ms) runs out and it stops its engine',
    field: null,
    readOnly: null,
  },
  election_timeout_ms: {
    name: 'election_timeout_ms',
    ...ms(1),
    description: "the Raft election timeout of the leader's [cluster.raft] (read-only at runtime)",
    field: null,
    readOnly: restartRaft('election_timeout_ms'),
  },
  heartbeat_interval_ms: {
    name: 'heartbeat_interval_ms',
    ...ms(1),
    description: "the Raft heartbeat interval of the leader's [cluster.raft], also the HA loop's period (read-only at runtime)",
    field: null,
    readOnly: restartRaft('heartbeat_interval_ms'),
  },
};

/** read_from_followers when the record predates the key: standbys keep serving reads, as they did before it existed. */
export const READ_FROM_FOLLOWERS_DEFAULT = true;

export type ConfigErrorKind = 'unknown-key' | 'bad-value' | 'read-only' | 'rule';

/**
 * A knob or value refused. `unknown-key`, `bad-value` and `rule` are the
 * caller's input (CLI exit 2, API RDB_ERR_INVALID); `read-only` is a key that
 * exists but cannot change at runtime (CLI exit 5, API RDB_ERR_PRECONDITION).
 */
export class ConfigKeyError extends Error {
  constructor(
    readonly kind: ConfigErrorKind,
    readonly key: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigKeyError';
  }
}

/** The spec of `name`; an unknown name throws, listing the known keys and the closest one. */
export function configKey(name: string): ConfigKeySpec {
  if ((CONFIG_KEY_NAMES as readonly string[]).includes(name)) return CONFIG_KEYS[name as ConfigKeyName];
  const near = closest(name, CONFIG_KEY_NAMES);
  throw new ConfigKeyError(
    'unknown-key',
    name,
    `unknown config key ${JSON.stringify(name)}${near ? `; did you mean ${near}?` : ''} (known keys: ${CONFIG_KEY_NAMES.join(', ')})`,
  );
}

const bad = (spec: ConfigKeySpec, raw: ConfigValue, hint = ''): ConfigKeyError =>
  new ConfigKeyError('bad-value', spec.name, `${spec.name} cannot be ${JSON.stringify(raw)}: it must be ${spec.allowed}${hint}`);

const TRUE_WORDS = new Set(['true', 'on', 'yes']);
const FALSE_WORDS = new Set(['false', 'off', 'no']);

function integerOf(spec: ConfigKeySpec, raw: ConfigValue): number {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < (spec.min ?? 0) || n > (spec.max ?? Number.MAX_SAFE_INTEGER)) {
    const unitHint = typeof raw === 'string' && /^\s*\d+(\.\d+)?\s*(ms|s|m|h)\s*$/i.test(raw) ? ' (write milliseconds as a bare number, e.g. 5000)' : '';
    throw bad(spec, raw, unitHint);
  }
  return n;
}

/**
 * The typed value of `raw` for `spec`: a string as typed on the command line
 * ("5000", "true", "auto") or an already typed JSON value. `min_quorum_size`'s
 * `auto` is returned as the string "auto". Throws `bad-value` naming the key,
 * the value and what is allowed.
 */
export function parseConfigValue(spec: ConfigKeySpec, raw: ConfigValue): ConfigValue {
  switch (spec.type) {
    case 'boolean': {
      if (typeof raw === 'boolean') return raw;
      const w = String(raw).trim().toLowerCase();
      if (TRUE_WORDS.has(w)) return true;
      if (FALSE_WORDS.has(w)) return false;
      throw bad(spec, raw);
    }
    case 'integer':
      return integerOf(spec, raw);
    case 'integer-or-auto':
      if (typeof raw === 'string' && raw.trim().toLowerCase() === 'auto') return 'auto';
      return integerOf(spec, raw);
    case 'enum': {
      const w = typeof raw === 'string' ? raw.trim() : raw;
      if (typeof w === 'string' && spec.values!.includes(w)) return w;
      const near = typeof w === 'string' ? closest(w, spec.values!) : null;
      throw bad(spec, raw, near ? `; did you mean ${near}?` : '');
    }
  }
}

/** Every knob's current value, from the replicated record and the Raft timings. */
export function configValues(record: ClusterConfigRecord, raft: RaftTiming): Record<ConfigKeyName, ConfigValue> {
  return {
    ha_mode: record.haMode,
    min_quorum_size: record.minQuorumSize ?? 'auto',
    read_from_followers: record.readFromFollowers ?? READ_FROM_FOLLOWERS_DEFAULT,
    failover_mode: record.autoFailover ? 'automatic' : 'manual',
    failover_timeout_ms: record.failoverTimeoutMs,
    lease_ms: record.leaseMs,
    durability: record.durability,
    fencing_mode: 'lease',
    election_timeout_ms: raft.electionTimeoutMs,
    heartbeat_interval_ms: raft.heartbeatIntervalMs,
  };
}

/**
 * The record and Raft timings that `values` (e.g. a `GET /v1/config` answer)
 * describe: the inverse of {@link configValues}, so the CLI can check a change
 * with {@link planConfigChange} before it sends it.
 */
export function configFromValues(values: Readonly<Record<ConfigKeyName, ConfigValue>>): { record: ClusterConfigRecord; raft: RaftTiming } {
  return {
    record: {
      haMode: values.ha_mode as ClusterConfigRecord['haMode'],
      autoFailover: values.failover_mode === 'automatic',
      minQuorumSize: values.min_quorum_size === 'auto' ? null : Number(values.min_quorum_size),
      failoverTimeoutMs: Number(values.failover_timeout_ms),
      leaseMs: Number(values.lease_ms),
      durability: values.durability as ClusterConfigRecord['durability'],
      readFromFollowers: values.read_from_followers === true,
    },
    raft: { electionTimeoutMs: Number(values.election_timeout_ms), heartbeatIntervalMs: Number(values.heartbeat_interval_ms) },
  };
}

/** `record` with one parsed knob written into its field. */
function withValue(record: ClusterConfigRecord, key: ConfigKeyName, value: ConfigValue): ClusterConfigRecord {
  switch (key) {
    case 'ha_mode':
      return { ...record, haMode: value as ClusterConfigRecord['haMode'] };
    case 'min_quorum_size':
      return { ...record, minQuorumSize: value === 'auto' ? null : (value as number) };
    case 'read_from_followers':
      return { ...record, readFromFollowers: value as boolean };
    case 'failover_mode':
      return { ...record, autoFailover: value === 'automatic' };
    case 'failover_timeout_ms':
      return { ...record, failoverTimeoutMs: value as number };
    case 'lease_ms':
      return { ...record, leaseMs: value as number };
    case 'durability':
      return { ...record, durability: value as ClusterConfigRecord['durability'] };
    case 'fencing_mode': // only `lease` parses, and it is not stored
      return record;
    case 'election_timeout_ms':
    case 'heartbeat_interval_ms':
      throw new ConfigKeyError('read-only', key, CONFIG_KEYS[key].readOnly!);
  }
}

/**
 * The rules between the timing knobs, the same as rustydb.conf's [ha]
 * (agent/config/sections.ts `readHa`): each broken rule as a sentence naming
 * the keys and the values, or an empty list.
 */
export function haTimingProblems(leaseMs: number, failoverTimeoutMs: number, heartbeatIntervalMs: number): string[] {
  const out: string[] = [];
  if (leaseMs >= failoverTimeoutMs) {
    out.push(`lease_ms (${leaseMs}) must be less than failover_timeout_ms (${failoverTimeoutMs}): the old primary's lease must run out before another node may be promoted`);
  }
  if (failoverTimeoutMs < 2 * heartbeatIntervalMs) {
    out.push(
      `failover_timeout_ms (${failoverTimeoutMs}) must be at least 2 × heartbeat_interval_ms (2 × ${heartbeatIntervalMs} = ${2 * heartbeatIntervalMs}): one late heartbeat must not trigger a failover`,
    );
  }
  if (leaseMs <= heartbeatIntervalMs) {
    out.push(
      `lease_ms (${leaseMs}) must be greater than heartbeat_interval_ms (${heartbeatIntervalMs}): the primary renews its lease on heartbeats, and a shorter lease would run out between them`,
    );
  }
  return out;
}

/** A checked change: the value before and after, and the record to write. */
export interface ConfigChange {
  key: ConfigKeyName;
  previous: ConfigValue;
  value: ConfigValue;
  /** False when the knob already had this value (nothing to write). */
  changed: boolean;
  record: ClusterConfigRecord;
}

/**
 * Check `key = raw` against the current record and Raft timings: the key
 * exists, can change at runtime, the value parses, and the result keeps the
 * timing rules. Throws {@link ConfigKeyError}; returns the record to write.
 */
export function planConfigChange(record: ClusterConfigRecord, raft: RaftTiming, key: string, raw: ConfigValue): ConfigChange {
  const spec = configKey(key);
  if (spec.readOnly) throw new ConfigKeyError('read-only', spec.name, spec.readOnly);
  const value = parseConfigValue(spec, raw);
  const next = withValue(record, spec.name, value);
  // Only rules this change touches: a cluster seeded before a rule existed can still change other knobs.
  if (next.leaseMs !== record.leaseMs || next.failoverTimeoutMs !== record.failoverTimeoutMs) {
    const problems = haTimingProblems(next.leaseMs, next.failoverTimeoutMs, raft.heartbeatIntervalMs);
    if (problems.length > 0) {
      throw new ConfigKeyError('rule', spec.name, `cannot set ${spec.name} to ${value}: ${problems.join('; ')}`);
    }
  }
  const previous = configValues(record, raft)[spec.name];
  const after = configValues(next, raft)[spec.name];
  return { key: spec.name, previous, value: after, changed: previous !== after, record: next };
}

/** A knob's value as text: what `config get KEY -o table` prints, and what `config set` takes back. */
export function formatConfigValue(v: ConfigValue): string {
  return String(v);
}
