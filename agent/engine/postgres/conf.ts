/**
 * The configuration files the driver owns: `rustydb.auto.conf` (included from
 * postgresql.conf; the agent's settings and the standby's primary_conninfo)
 * and `pg_hba.conf`. Both are rendered whole from the settings, so rewriting
 * them is idempotent and a copy from another node (pg_basebackup and pg_rewind
 * bring the source's files) is corrected by rendering again.
 */

import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { EngineError, type EngineSettings, type PrimaryEndpoint } from '../driver.ts';
import type { EngineRunner } from './proc.ts';

export const AUTO_CONF = 'rustydb.auto.conf';
const INCLUDE_LINE = `include '${AUTO_CONF}'`;
/** A custom setting carrying the followed node id, so status() can tell whom it streams from. */
export const FOLLOWING_GUC = 'rustydb.following';
/**
 * The epoch of the primary record under which this engine was promoted. A
 * column `DEFAULT NULLIF(current_setting('rustydb.epoch', true), '')::bigint`
 * thus records in which epoch each row was committed: a zombie primary of an
 * older epoch stamps its writes with the older number.
 */
export const EPOCH_GUC = 'rustydb.epoch';

/** Longest Unix socket path (sun_path is 108 bytes with the NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * Settings the driver must control; `[engine.parameters]` cannot override them
 * (the agent would lose track of where the engine listens or whom it follows).
 */
const MANAGED = new Set([
  'listen_addresses',
  'port',
  'unix_socket_directories',
  'primary_conninfo',
  'primary_slot_name',
  'hot_standby',
  'wal_level',
  'password_encryption',
  'cluster_name',
  FOLLOWING_GUC,
  EPOCH_GUC,
]);

/** Defaults a node of a replicated cluster needs; `[engine.parameters]` may override them. */
const DEFAULTS: Record<string, string | number | boolean> = {
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: '256MB',
  // Standbys report their flush position every second, so the primary's lag figures stay fresh.
  wal_receiver_status_interval: '1s',
  // After a failover a standby's first try to stream from the new primary may come too
  // early; retry within half a second instead of PostgreSQL's default 5 s.
  wal_retrieve_retry_interval: '500ms',
};

/** Replication slot name for a node: slot names allow only [a-z0-9_], at most 63 characters. */
export function slotNameFor(nodeId: string): string {
  return nodeId
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 63);
}

/** A postgresql.conf value: numbers and booleans bare, strings single-quoted. */
export function confValue(v: string | number | boolean): string {
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  if (typeof v === 'number') return String(v);
  if (/[\r\n\0]/.test(v)) throw new EngineError('command-failed', 'a postgresql.conf value contains a line break: remove it from [engine.parameters]');
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** A libpq conninfo value, quoted. */
export function connValue(v: string): string {
  return `'${v.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

/** Where clients connect to reach a server listening on `host` (wildcards mean loopback). */
export function connectHost(host: string): string {
  if (host === '' || host === '*' || host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** The Unix socket directory: the data dir's parent, or none when that path is too long for a socket. */
export function socketDir(parent: string, port: number): string {
  return `${parent}/.s.PGSQL.${port}`.length <= MAX_SOCKET_PATH ? parent : '';
}

/** The follow target recorded in the include file. */
export interface FollowState {
  primary: PrimaryEndpoint | null;
}

/**
 * The replication user's password file for primary_conninfo: next to the data
 * directory, not in it, so pg_basebackup and pg_rewind neither copy nor replace it.
 */
export function passfilePath(dataDir: string): string {
  return `${resolve(dataDir)}.pgpass`;
}

/** A ~/.pgpass line matching any server for `user`. */
export function renderPassfile(user: string, password: string): string {
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/:/g, '\\:');
  return `*:*:*:${esc(user)}:${esc(password)}\n`;
}

/** Render rustydb.auto.conf (no secrets in it: primary_conninfo names a passfile). */
export function renderAutoConf(settings: EngineSettings, sockDir: string, primary: PrimaryEndpoint | null, warn: (msg: string) => void, epoch: number | null = null): string {
  const lines = [
    `# Managed by rustydb-agent for node ${settings.nodeId}: rewritten on every start, follow, clone and rewind.`,
    '# Put your settings in [engine.parameters] instead of editing this file.',
  ];
  const params: Record<string, string | number | boolean> = { ...DEFAULTS };
  for (const [k, v] of Object.entries(settings.parameters)) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(k)) throw new EngineError('command-failed', `[engine.parameters] has an invalid setting name "${k}": use PostgreSQL setting names`);
    if (MANAGED.has(k.toLowerCase())) {
      warn(`[engine.parameters] ${k} is managed by the agent and ignored`);
      continue;
    }
    params[k] = v;
  }
  for (const [k, v] of Object.entries(params)) lines.push(`${k} = ${confValue(v)}`);
  lines.push(
    '# Managed settings (not overridable).',
    `listen_addresses = ${confValue(settings.host)}`,
    `port = ${settings.port}`,
    `unix_socket_directories = ${confValue(sockDir)}`,
    'wal_level = replica',
    'hot_standby = on',
    "password_encryption = 'scram-sha-256'",
    `cluster_name = ${confValue(settings.nodeId)}`,
    `${EPOCH_GUC} = ${confValue(epoch === null ? '' : String(epoch))}`,
  );
  if (primary) {
    const conninfo = [
      `host=${connValue(primary.host)}`,
      `port=${primary.port}`,
      `user=${connValue(settings.replicationUser.name)}`,
      // The password sits in a passfile: the server logs primary_conninfo in full on every reload.
      `passfile=${connValue(passfilePath(settings.dataDir))}`,
      `application_name=${connValue(settings.nodeId)}`,
      'connect_timeout=5',
      'keepalives_idle=5',
      'keepalives_interval=2',
      'keepalives_count=3',
    ].join(' ');
    lines.push(
      `primary_conninfo = ${confValue(conninfo)}`,
      `primary_slot_name = ${confValue(slotNameFor(settings.nodeId))}`,
      `${FOLLOWING_GUC} = ${confValue(`${primary.nodeId} ${primary.host} ${primary.port}`)}`,
    );
  } else {
    lines.push("primary_conninfo = ''", "primary_slot_name = ''", `${FOLLOWING_GUC} = ''`);
  }
  return lines.join('\n') + '\n';
}

/** Parse the value of FOLLOWING_GUC ("n1 127.0.0.1 5432") back into an endpoint. */
export function parseFollowing(value: string | null | undefined): PrimaryEndpoint | null {
  const m = /^(\S+) (\S+) (\d+)$/.exec((value ?? '').trim());
  return m ? { nodeId: m[1], host: m[2], port: Number(m[3]) } : null;
}

/** The follow target currently written in the data dir's include file, or null. */
export function readFollowing(dataDir: string): PrimaryEndpoint | null {
  const path = join(dataDir, AUTO_CONF);
  if (!existsSync(path)) return null;
  const m = new RegExp(`^${FOLLOWING_GUC.replace('.', '\\.')} = '(.*)'$`, 'm').exec(readFileSync(path, 'utf8'));
  return m ? parseFollowing(m[1].replace(/''/g, "'").replace(/\\\\/g, '\\')) : null;
}

/** A pg_hba address column for a peer: IPs as host CIDRs, CIDRs and host names as given. */
function hbaAddress(peer: string): string {
  if (peer.includes('/')) return peer;
  const v = isIP(peer);
  if (v === 4) return `${peer}/32`;
  if (v === 6) return `${peer}/128`;
  return peer;
}

function hbaUser(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/**
 * pg_hba.conf: the superuser from this host, loopback and the peers (pg_rewind
 * connects as superuser from the node being rewound); replication for the
 * replication user from the peers and loopback only; every other role with a
 * password from anywhere; all by SCRAM.
 */
export function renderHba(settings: EngineSettings): string {
  const su = hbaUser(settings.superuser.name);
  const repl = hbaUser(settings.replicationUser.name);
  const trusted = [...new Set([hbaAddress(connectHost(settings.host)), '127.0.0.1/32', '::1/128', ...settings.replicationPeers.map(hbaAddress)])];
  const lines = [
    `# Managed by rustydb-agent for node ${settings.nodeId}: rewritten by the agent.`,
    '# TYPE  DATABASE     USER  ADDRESS  METHOD',
    'local   all          all            scram-sha-256',
    ...trusted.map((a) => `host    replication  ${repl}  ${a}  scram-sha-256`),
    'host    replication  all   all      reject',
    ...trusted.map((a) => `host    all          ${su}  ${a}  scram-sha-256`),
    `host    all          ${su}  all      reject`,
    `host    all          ${repl}  all    reject`,
    'host    all          all   all      scram-sha-256',
  ];
  return lines.join('\n') + '\n';
}

/** The epoch written in the data dir's include file (see EPOCH_GUC), or null. */
export function readEpoch(dataDir: string): number | null {
  const path = join(dataDir, AUTO_CONF);
  if (!existsSync(path)) return null;
  const m = new RegExp(`^${EPOCH_GUC.replace('.', '\\.')} = '(\\d+)'$`, 'm').exec(readFileSync(path, 'utf8'));
  return m ? Number(m[1]) : null;
}

/** Append the include of rustydb.auto.conf to postgresql.conf unless it is there. */
export function ensureInclude(runner: EngineRunner, dataDir: string): void {
  const path = join(dataDir, 'postgresql.conf');
  const text = readFileSync(path, 'utf8');
  if (text.split('\n').some((l) => l.trim() === INCLUDE_LINE)) return;
  runner.writeFile(path, `${text.endsWith('\n') ? text : text + '\n'}\n# Added by rustydb-agent: its settings, last so they win.\n${INCLUDE_LINE}\n`);
}

/** Write the driver's include file and pg_hba.conf into `dataDir`. */
export function writeConfig(
  runner: EngineRunner,
  settings: EngineSettings,
  dataDir: string,
  parent: string,
  primary: PrimaryEndpoint | null,
  warn: (msg: string) => void,
  /** The epoch to stamp (promotion); undefined keeps the one the file has. */
  epoch?: number | null,
): void {
  const stamp = epoch === undefined ? readEpoch(dataDir) : epoch;
  ensureInclude(runner, dataDir);
  if (primary) runner.writeFile(passfilePath(dataDir), renderPassfile(settings.replicationUser.name, settings.replicationUser.password));
  runner.writeFile(join(dataDir, AUTO_CONF), renderAutoConf(settings, socketDir(parent, settings.port), primary, warn, stamp));
  runner.writeFile(join(dataDir, 'pg_hba.conf'), renderHba(settings));
}
