/**
 * The engine driver contract: everything the agent does to the local database
 * engine goes through this interface, so the HA loop never runs a binary or a
 * SQL statement itself. The driver that ships is PostgreSQL (`postgres/`).
 *
 * Every method is idempotent where it can be (start on a running engine, stop
 * on a stopped one, follow the primary already followed): the HA loop retries
 * an action on its next cycle when the previous attempt failed half-way.
 */

/** A WAL position as PostgreSQL prints it ("0/3000148"), or null when unknown. */
export type Lsn = string;

/** Where a standby streams from. */
export interface PrimaryEndpoint {
  nodeId: string;
  host: string;
  port: number;
}

export interface EngineStatus {
  /** The postmaster is running and accepts connections. */
  running: boolean;
  /** Running and in recovery (a standby); false on a primary. */
  inRecovery: boolean;
  /** Current timeline id (from pg_control_checkpoint on a standby, from the server on a primary). */
  timeline: number | null;
  /** Primary: pg_current_wal_flush_lsn(). Standby: pg_last_wal_receive_lsn() (flushed to the standby's disk). */
  flushLsn: Lsn | null;
  /** Standby: pg_last_wal_replay_lsn(). */
  replayLsn: Lsn | null;
  /** Standby: the WAL receiver is streaming, and from which node (the driver records whom it follows). */
  streamingFrom: string | null;
  /** Standby: the node it is configured to follow (streaming or not); null when it follows no one. */
  following: string | null;
  /** Server version as the server reports it (`SHOW server_version`), e.g. "15.18". */
  version: string | null;
  /** Primary: the current synchronous_standby_names. */
  syncStandbyNames: string | null;
  /** Primary: connected standbys as pg_stat_replication shows them. */
  replicas: ReplicaStatus[];
  /** Does a data directory with a cluster exist at all? */
  initialized: boolean;
  /** When the running server started (ISO time, from pg_postmaster_start_time()); null when not running. */
  startedAt: string | null;
  /** Why the engine is not running (last start failure), for status output. */
  problem: string | null;
  /** Not running as a database, yet its postmaster is alive: hung, paused, or busy starting or stopping. */
  unresponsive?: boolean;
}

export interface ReplicaStatus {
  /** application_name: the node id. */
  nodeId: string;
  state: string; // 'streaming', 'catchup', ...
  syncState: string; // 'sync', 'quorum', 'potential', 'async'
  flushLsn: Lsn | null;
  replayLsn: Lsn | null;
  /** Bytes of WAL between the primary's flush position and this standby's flush position. */
  lagBytes: number | null;
  /** pg_stat_replication.replay_lag in ms; null when the server has no recent sample (idle, or just connected). */
  lagMs: number | null;
}

/** Settings the driver needs to run the engine; derived from [engine] and the node identity. */
export interface EngineSettings {
  nodeId: string;
  dataDir: string;
  host: string; // address the engine listens on (127.0.0.1 in the sandbox)
  port: number;
  binDir: string;
  /** Unprivileged OS user that runs the engine when the agent runs as root. */
  engineUser: string;
  /** Superuser and replication credentials, generated per cluster and never logged. */
  superuser: { name: string; password: string };
  replicationUser: { name: string; password: string };
  /** Addresses allowed to connect for replication (the members), written into pg_hba.conf. */
  replicationPeers: string[];
  /** Extra postgresql.conf settings from [engine.parameters]. */
  parameters: Record<string, string | number | boolean>;
}

/** The status of an engine that is not running. */
export function notRunning(initialized: boolean, problem: string | null): EngineStatus {
  return {
    running: false,
    inRecovery: false,
    timeline: null,
    flushLsn: null,
    replayLsn: null,
    streamingFrom: null,
    following: null,
    version: null,
    syncStandbyNames: null,
    replicas: [],
    initialized,
    problem,
    startedAt: null,
  };
}

/** Typed failure of an engine action: `code` for the loop, `message` for people. */
export class EngineError extends Error {
  constructor(
    readonly code:
      | 'binary-missing'
      | 'start-failed'
      | 'stop-failed'
      | 'promote-failed'
      | 'clone-failed'
      | 'rewind-failed'
      | 'not-initialized'
      | 'command-failed',
    message: string,
    readonly detail?: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineDriver {
  /** Create a new cluster (first node only): initdb with data checksums, users, pg_hba. */
  init(): Promise<void>;
  /** Start the engine as it is configured (primary, or standby if standby.signal exists). */
  start(): Promise<void>;
  stop(mode: 'smart' | 'fast' | 'immediate'): Promise<void>;
  status(): Promise<EngineStatus>;
  /**
   * Promote a standby to primary, waiting until it accepts writes. `epoch` (the
   * primary record's) is stamped into the engine first as `rustydb.epoch`.
   */
  promote(epoch?: number | null): Promise<void>;
  /**
   * Become (or stay) a standby of `primary`: write primary_conninfo and the
   * replication slot name, create standby.signal, restart/reload as needed.
   * `null` stops WAL streaming entirely (used before a failover comparison so a
   * still-running old primary cannot move this standby while candidates compare).
   */
  follow(primary: PrimaryEndpoint | null): Promise<void>;
  /** pg_rewind this (stopped) former primary onto `primary`'s timeline. */
  rewind(primary: PrimaryEndpoint): Promise<void>;
  /**
   * Make a fresh copy from `primary` with pg_basebackup (replication slot,
   * streamed WAL). An existing data directory is moved aside, not deleted,
   * until the new copy is running. `onProgress` reports bytes done/total.
   */
  clone(primary: PrimaryEndpoint, opts?: { onProgress?: (done: number, total: number) => void }): Promise<void>;
  /** Delete the data directory a clone moved aside, once the new copy streams. */
  discardPrevious(): Promise<void>;
  /** Primary: set synchronous_standby_names (e.g. `ANY 1 ("n2","n3")`; '' for none) and reload. */
  setSyncStandbys(value: string): Promise<void>;
  /**
   * Primary: create/drop the physical replication slots for these standbys. Resolves false when
   * a slot no longer wanted is still in use (a removed standby still streams): call again later.
   */
  syncSlots(standbys: string[]): Promise<boolean>;
  /**
   * The members' engine addresses: the only hosts (with loopback and this host) allowed to connect
   * for replication and as the superuser. Rewrites pg_hba.conf and reloads when the set changes.
   */
  setReplicationPeers(hosts: string[]): Promise<void>;
  /** Client sessions connected now (not replication, not the agent's own); 0 when the engine is stopped. */
  clientSessions(): Promise<number>;
  /** Terminate every client session (drain's last step); returns how many were asked to end. */
  terminateClientSessions(): Promise<number>;
  /** The bin dir the server binaries (postgres, pg_ctl, initdb) are run from now. */
  readonly binDir: string;
  /**
   * Run the server binaries from `dir` from now on (a minor upgrade, or its
   * rollback). Only while the engine is stopped: throws EngineError
   * ('command-failed') if it runs, ('binary-missing') if `dir` lacks a binary.
   * The tools of the same major (pg_basebackup, pg_rewind) are looked up again.
   */
  switchBinDir(dir: string): Promise<void>;
  /** CHECKPOINT (a restartpoint on a standby): makes the next shutdown and start quick. */
  checkpoint(): Promise<void>;
  /** Space on the data directory's file system (null when it cannot be read). */
  dataDirSpace?(): { dir: string; freeBytes: number; totalBytes: number } | null;
}
