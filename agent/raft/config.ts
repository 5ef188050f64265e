/**
 * Raft settings from the `[cluster.raft]` section of rustydb.conf: defaults,
 * validation with messages that name the key, and the conversion from
 * milliseconds to the core's ticks.
 */

/** Validated Raft settings. Each field names its config key. */
export interface RaftSettings {
  /** `election_timeout_ms`, default 5000. */
  electionTimeoutMs: number;
  /** `heartbeat_interval_ms`, default 1000; at most election_timeout_ms / 5. */
  heartbeatIntervalMs: number;
  /** `snapshot_interval`: take a snapshot every N applied entries, default 10000. */
  snapshotInterval: number;
  /** `max_log_entries`: snapshot early when the log holds more, default 50000. */
  maxLogEntries: number;
  /** `retention_logs`: entries kept behind a snapshot for slow followers, default 5000 (0 allowed: keep none). */
  retentionLogs: number;
  /** `max_inflight_msgs`: AppendEntries in flight per follower, default 256. */
  maxInflightMsgs: number;
  /** `max_msg_bytes`: entry bytes per AppendEntries, default 1 MiB. */
  maxMsgBytes: number;
}

/** One problem in the config. `key` is the dotted path, e.g. "cluster.raft.heartbeat_interval_ms". */
export type ConfigIssue = { key: string; message: string };

export const RAFT_DEFAULTS: Readonly<RaftSettings> = Object.freeze({
  electionTimeoutMs: 5000,
  heartbeatIntervalMs: 1000,
  snapshotInterval: 10_000,
  maxLogEntries: 50_000,
  retentionLogs: 5000,
  maxInflightMsgs: 256,
  maxMsgBytes: 1024 * 1024,
});

const SECTION = 'cluster.raft';

/** Timers below this are not kept reliably by the event loop; the tick is half a heartbeat. */
const MIN_TICK_MS = 10;
const MIN_HEARTBEAT_MS = 2 * MIN_TICK_MS;

interface KeySpec {
  field: keyof RaftSettings;
  /** Smallest accepted value. */
  min: number;
  unit: string;
}

const KEYS: Record<string, KeySpec> = {
  election_timeout_ms: { field: 'electionTimeoutMs', min: 1, unit: 'milliseconds' },
  heartbeat_interval_ms: { field: 'heartbeatIntervalMs', min: 1, unit: 'milliseconds' },
  snapshot_interval: { field: 'snapshotInterval', min: 1, unit: 'entries' },
  max_log_entries: { field: 'maxLogEntries', min: 1, unit: 'entries' },
  // Zero is meaningful here: compact right up to the snapshot.
  retention_logs: { field: 'retentionLogs', min: 0, unit: 'entries' },
  max_inflight_msgs: { field: 'maxInflightMsgs', min: 1, unit: 'messages' },
  max_msg_bytes: { field: 'maxMsgBytes', min: 1, unit: 'bytes' },
};

function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'a table';
  return `a value of type ${typeof v}`;
}

/** An integer (TOML parsers may hand out bigint) or null. */
function asInteger(v: unknown): number | null {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
  return Number.isSafeInteger(v) ? (v as number) : null;
}

/**
 * Validate `[cluster.raft]` (`undefined` when the section is absent: all defaults).
 * `where` locates the section in messages, e.g. "/etc/rustydb.conf [cluster.raft]".
 * Returns every issue found, not just the first.
 */
export function parseRaftSettings(
  section: Record<string, unknown> | undefined,
  where: string,
): { ok: true; settings: RaftSettings } | { ok: false; issues: ConfigIssue[] } {
  const settings: RaftSettings = { ...RAFT_DEFAULTS };
  const issues: ConfigIssue[] = [];
  if (section === undefined) return { ok: true, settings };
  if (typeof section !== 'object' || section === null || Array.isArray(section)) {
    return { ok: false, issues: [{ key: SECTION, message: `${where}: [cluster.raft] must be a table of settings, got ${describe(section)}` }] };
  }

  const bad = new Set<string>();
  for (const [name, value] of Object.entries(section)) {
    const key = `${SECTION}.${name}`;
    const spec = Object.hasOwn(KEYS, name) ? KEYS[name] : undefined;
    if (!spec) {
      issues.push({ key, message: `${where}: unknown key ${name}; known keys are ${Object.keys(KEYS).join(', ')}` });
      continue;
    }
    const n = asInteger(value);
    if (n === null || n < spec.min) {
      const want = spec.min === 0 ? 'a non-negative integer' : 'a positive integer';
      issues.push({ key, message: `${where}: ${name} must be ${want} (${spec.unit}), got ${describe(value)}` });
      bad.add(name);
      continue;
    }
    settings[spec.field] = n;
  }

  // Cross-key rules, checked only between keys that are individually valid.
  const rule = (a: string, b: string, holds: boolean, message: string): void => {
    if (!holds && !bad.has(a) && !bad.has(b)) issues.push({ key: `${SECTION}.${a}`, message: `${where}: ${message}` });
  };
  const s = settings;
  rule(
    'heartbeat_interval_ms',
    'heartbeat_interval_ms',
    s.heartbeatIntervalMs >= MIN_HEARTBEAT_MS,
    `heartbeat_interval_ms (${s.heartbeatIntervalMs}) must be at least ${MIN_HEARTBEAT_MS}: the agent ticks every half heartbeat and cannot keep timers shorter than ${MIN_TICK_MS} ms`,
  );
  rule(
    'heartbeat_interval_ms',
    'election_timeout_ms',
    s.heartbeatIntervalMs * 5 <= s.electionTimeoutMs,
    `heartbeat_interval_ms (${s.heartbeatIntervalMs}) must be at most one fifth of election_timeout_ms (${s.electionTimeoutMs}) so a follower hears several heartbeats per election timeout`,
  );
  rule(
    'snapshot_interval',
    'max_log_entries',
    s.snapshotInterval <= s.maxLogEntries,
    `snapshot_interval (${s.snapshotInterval}) must be at most max_log_entries (${s.maxLogEntries}): the log would hit its limit before the regular snapshot is due`,
  );
  rule(
    'retention_logs',
    'max_log_entries',
    s.retentionLogs < s.maxLogEntries,
    `retention_logs (${s.retentionLogs}) must be less than max_log_entries (${s.maxLogEntries}): otherwise compaction cannot bring the log under its limit`,
  );
  return issues.length > 0 ? { ok: false, issues } : { ok: true, settings };
}

/**
 * Convert milliseconds to the core's ticks. The driver ticks every
 * `tickMs = max(10, floor(heartbeatIntervalMs / 2))`: half a heartbeat bounds
 * heartbeat jitter to half an interval while waking the event loop only twice
 * per heartbeat, and with heartbeat <= election/5 the election timeout spans at
 * least ~10 ticks, so its randomization in [n, 2n) ticks has room to spread
 * candidates apart. 10 ms is the shortest timer worth trusting on a busy host.
 * Ticks are rounded to nearest and clamped so that
 * `1 <= heartbeatTicks < electionTicks` even for unvalidated settings.
 */
export function ticksFor(s: RaftSettings): { tickMs: number; electionTicks: number; heartbeatTicks: number; electionJitterTicks: number } {
  // Ticks of at most 100 ms: the election timeout's random spread needs fine steps, or
  // two followers often pick the same instant and split the vote.
  const tickMs = Math.max(MIN_TICK_MS, Math.min(MAX_TICK_MS, Math.floor(s.heartbeatIntervalMs / 2)));
  const heartbeatTicks = Math.max(1, Math.round(s.heartbeatIntervalMs / tickMs));
  const electionTicks = Math.max(heartbeatTicks + 1, Math.round(s.electionTimeoutMs / tickMs));
  // Spread the timeout over [T, T + max(T/5, 10 ticks)) rather than [T, 2T): a follower
  // notices a dead leader within ~1.2 T instead of ~1.5 T on average (the failover time).
  const electionJitterTicks = Math.min(electionTicks, Math.max(10, Math.ceil(electionTicks / 5)));
  return { tickMs, electionTicks, heartbeatTicks, electionJitterTicks };
}

/** The coarsest tick the driver uses. */
const MAX_TICK_MS = 100;
