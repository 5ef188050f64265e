/**
 * Observing the local engine: is the postmaster alive (postmaster.pid), and
 * what does the server say about itself (role, timeline, LSNs, replication).
 * Never throws because the engine is down: that is an answer, not an error.
 */

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { notRunning, type EngineSettings, type EngineStatus, type ReplicaStatus } from '../driver.ts';
import { FOLLOWING_GUC, parseFollowing } from './conf.ts';
import { withSession, type SqlClient } from './sql.ts';

/** Does `dataDir` hold a cluster? */
export function isInitialized(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION')) && existsSync(join(dataDir, 'global', 'pg_control'));
}

/** The live postmaster's pid from postmaster.pid, or null (no file, or a stale one). */
export function postmasterPid(dataDir: string): number | null {
  let text: string;
  try {
    text = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8');
  } catch {
    return null;
  }
  const pid = Number(text.split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive but not ours to signal (agent not root); still running.
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

export { notRunning };

/** Timeline id from a WAL file name: its first 8 hex digits. */
function timelineOfWalFile(name: string | null): number | null {
  return name && /^[0-9A-F]{24}$/i.test(name) ? parseInt(name.slice(0, 8), 16) : null;
}

interface ServerRow {
  in_recovery: boolean;
  version: string;
  sync_names: string;
  following: string | null;
  primary_walfile: string | null;
  primary_flush: string | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  checkpoint_tli: number | null;
  started_epoch: number | null;
}

interface ReceiverRow {
  status: string;
  received_tli: number | null;
}

interface ReplicaRow {
  application_name: string;
  state: string;
  sync_state: string;
  flush_lsn: string | null;
  replay_lsn: string | null;
  lag: string | null;
  lag_ms: string | null;
}

async function query(c: SqlClient): Promise<Omit<EngineStatus, 'running' | 'initialized' | 'problem' | 'startedAt'> & { startedAt: string | null }> {
  // One round trip for the server's own state; the CASEs keep primary-only functions off a standby.
  const s = (
    await c.query<ServerRow>(`
      SELECT pg_is_in_recovery() AS in_recovery,
             current_setting('server_version') AS version,
             current_setting('synchronous_standby_names') AS sync_names,
             current_setting('${FOLLOWING_GUC}', true) AS following,
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_walfile_name(pg_current_wal_lsn()) END AS primary_walfile,
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS primary_flush,
             pg_last_wal_receive_lsn()::text AS receive_lsn,
             pg_last_wal_replay_lsn()::text AS replay_lsn,
             (pg_control_checkpoint()).timeline_id AS checkpoint_tli,
             EXTRACT(EPOCH FROM pg_postmaster_start_time())::float8 AS started_epoch`)
  ).rows[0];
  if (!s.in_recovery) {
    const replicas = (
      await c.query<ReplicaRow>(`
        SELECT application_name, state, sync_state, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn,
               pg_wal_lsn_diff(pg_current_wal_flush_lsn(), flush_lsn)::bigint::text AS lag,
               round(EXTRACT(EPOCH FROM replay_lag) * 1000)::bigint::text AS lag_ms
          FROM pg_stat_replication
         ORDER BY application_name`)
    ).rows.map(
      (r): ReplicaStatus => ({
        nodeId: r.application_name,
        state: r.state,
        syncState: r.sync_state,
        flushLsn: r.flush_lsn,
        replayLsn: r.replay_lsn,
        lagBytes: r.lag === null ? null : Number(r.lag),
        lagMs: r.lag_ms === null ? null : Number(r.lag_ms),
      }),
    );
    return {
      inRecovery: false,
      // The WAL being written names the timeline at once; pg_control lags until the next checkpoint after a promotion.
      timeline: timelineOfWalFile(s.primary_walfile) ?? s.checkpoint_tli,
      flushLsn: s.primary_flush,
      replayLsn: null,
      streamingFrom: null,
      following: null,
      version: s.version,
      syncStandbyNames: s.sync_names,
      replicas,
      startedAt: iso(s.started_epoch),
    };
  }
  const rcv = (await c.query<ReceiverRow>('SELECT status, received_tli FROM pg_stat_wal_receiver')).rows[0];
  const streaming = rcv?.status === 'streaming';
  return {
    inRecovery: true,
    timeline: rcv?.received_tli ?? s.checkpoint_tli,
    flushLsn: s.receive_lsn,
    replayLsn: s.replay_lsn,
    streamingFrom: streaming ? (parseFollowing(s.following)?.nodeId ?? 'unknown') : null,
    following: parseFollowing(s.following)?.nodeId ?? null,
    version: s.version,
    syncStandbyNames: s.sync_names,
    replicas: [],
    startedAt: iso(s.started_epoch),
  };
}

const iso = (epochS: number | null): string | null => (epochS === null ? null : new Date(Number(epochS) * 1000).toISOString());

/** The engine's status; `problem` is the driver's last start failure, reported when not running. */
export async function readStatus(settings: EngineSettings, problem: string | null): Promise<EngineStatus> {
  const initialized = isInitialized(settings.dataDir);
  if (!initialized) return notRunning(false, problem ?? 'no cluster in the data directory: init or clone it');
  if (postmasterPid(settings.dataDir) === null) return notRunning(true, problem);
  try {
    const q = await withSession(settings, query);
    return { running: true, initialized: true, problem: null, ...q };
  } catch (err) {
    // Starting, shutting down, or stuck: running as a process but not as a database.
    return { ...notRunning(true, `postmaster is up but does not answer: ${(err as Error).message}`), unresponsive: true };
  }
}
