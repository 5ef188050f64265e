/**
 * Short-lived SQL sessions to the local engine as the superuser, over TCP, with
 * short timeouts: the HA loop must never hang on a stuck server.
 */

import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { EngineSettings } from '../driver.ts';
import { connectHost } from './conf.ts';

export type SqlClient = pg.Client;

export interface SessionOptions {
  /** Connect and per-statement timeout. Default 2000 ms. */
  timeoutMs?: number;
  /** Another member's engine (same cluster credentials) instead of the local one. */
  at?: { host: string; port: number };
}

/** Open a session to the local engine, run `fn`, always close it. */
export async function withSession<T>(settings: EngineSettings, fn: (c: SqlClient) => Promise<T>, opts: SessionOptions = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 2000;
  const client = new pg.Client({
    host: connectHost(opts.at?.host ?? settings.host),
    port: opts.at?.port ?? settings.port,
    user: settings.superuser.name,
    password: settings.superuser.password,
    database: 'postgres',
    application_name: 'rustydb-agent',
    connectionTimeoutMillis: timeoutMs,
    statement_timeout: timeoutMs,
    query_timeout: timeoutMs + 500,
  });
  // A server going away mid-session emits 'error' on the client; the pending query rejects anyway.
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * A SCRAM-SHA-256 verifier for `password`, as PostgreSQL stores it, so that
 * CREATE ROLE never carries the clear-text password (statement logging or an
 * error report could otherwise write it to the server log). Only for ASCII
 * passwords: others need SASLprep, which the server applies itself.
 */
export function scramVerifier(password: string): string | null {
  if (!/^[\x20-\x7e]*$/.test(password)) return null;
  const iterations = 4096;
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/**
 * Create the replication role if it is missing (idempotent). Runs with
 * synchronous_commit=local so a primary whose synchronous standbys are away
 * cannot hang here, and with statement logging off for this session.
 */
export async function ensureReplicationRole(settings: EngineSettings): Promise<'created' | 'exists'> {
  const { name, password } = settings.replicationUser;
  return withSession(
    settings,
    async (c) => {
      await c.query("SET synchronous_commit = 'local'");
      await c.query("SET log_statement = 'none'");
      await c.query("SET log_min_error_statement = 'panic'");
      const r = await c.query<{ rolreplication: boolean; rolcanlogin: boolean }>('SELECT rolreplication, rolcanlogin FROM pg_roles WHERE rolname = $1', [name]);
      const ident = c.escapeIdentifier(name);
      if (r.rows.length > 0) {
        if (!r.rows[0].rolreplication || !r.rows[0].rolcanlogin) await c.query(`ALTER ROLE ${ident} WITH REPLICATION LOGIN`);
        return 'exists';
      }
      const secret = scramVerifier(password) ?? password;
      try {
        await c.query(`CREATE ROLE ${ident} WITH REPLICATION LOGIN PASSWORD ${c.escapeLiteral(secret)}`);
      } catch (err) {
        // Another session created it between our check and our CREATE.
        if ((err as { code?: string }).code === '42710') return 'exists';
        throw err;
      }
      return 'created';
    },
    { timeoutMs: 5000 },
  );
}
