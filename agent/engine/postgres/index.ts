/**
 * The PostgreSQL engine driver: stock server binaries (initdb, pg_ctl,
 * postgres, pg_basebackup, pg_rewind), run as the engine user. Each concern
 * lives in its own module; this class sequences them and runs the actions
 * that change the engine one at a time (a start never interleaves with a stop
 * or a clone). status() does not wait for them: it only reads.
 */

import { existsSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { EngineError, type EngineDriver, type EngineSettings, type EngineStatus, type PrimaryEndpoint } from '../driver.ts';
import { findBinDir, type ToolName } from './binaries.ts';
import { bootstrap } from './bootstrap.ts';
import { EPOCH_GUC, readFollowing, renderHba, writeConfig } from './conf.ts';
import { DEFAULT_TIMEOUTS, DriverContext, type DriverTimeouts } from './context.ts';
import { pgCtlStart, pgCtlStop, serverLogPath } from './ctl.ts';
import { promoteNow, waitSetting } from './promote.ts';
import { silentLogger, type EngineLogger } from './logger.ts';
import * as replication from './replication.ts';
import { rewind } from './rewind.ts';
import { ensureReplicationRole, withSession } from './sql.ts';
import { isInitialized, postmasterPid, readStatus } from './status.ts';

export { findBinDir, findTools, type BinSearch, type ToolName } from './binaries.ts';
export { slotNameFor, AUTO_CONF } from './conf.ts';
export { serverLogPath } from './ctl.ts';
export type { EngineLogger } from './logger.ts';
export type { DriverTimeouts } from './context.ts';

/** Tuning of the driver beyond EngineSettings. */
export interface PostgresDriverOptions {
  timeouts?: Partial<DriverTimeouts>;
  /** Paths of pg_basebackup, pg_rewind, pg_controldata; found with `findTools` when absent. */
  tools?: Record<ToolName, string>;
}

export class PostgresDriver implements EngineDriver {
  private ctx: DriverContext;
  /** Tail of the chain of engine-changing actions (one at a time). */
  private queue: Promise<unknown> = Promise.resolve();
  /** Why the last start failed; shown by status() while the engine is down. */
  private problem: string | null = null;

  constructor(
    settings: EngineSettings,
    logger: EngineLogger = silentLogger,
    private readonly options: PostgresDriverOptions = {},
  ) {
    this.ctx = new DriverContext(settings, logger, { ...DEFAULT_TIMEOUTS, ...options.timeouts }, options.tools);
  }

  get binDir(): string {
    return this.ctx.settings.binDir;
  }

  /** Where the server writes its log (the data directory's parent). */
  get logFile(): string {
    return serverLogPath(this.ctx.settings.dataDir);
  }

  /**
   * Run `fn` after every earlier engine-changing action settled. Anything it
   * throws that is not already an EngineError (a SQL error, a file system
   * error) becomes one with `code`, so callers handle one error type.
   */
  private exclusive<T>(code: EngineError['code'], what: string, fn: () => Promise<T>): Promise<T> {
    const guarded = async (): Promise<T> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof EngineError) throw err;
        throw new EngineError(
          code,
          `${what} on ${this.ctx.settings.nodeId} failed: ${(err as Error).message}; check the engine and its log (${this.logFile}), then retry`,
        );
      }
    };
    const run = this.queue.then(guarded, guarded);
    this.queue = run.catch(() => {});
    return run;
  }

  init(): Promise<void> {
    return this.exclusive('command-failed', 'init', async () => {
      await bootstrap(this.ctx);
      this.ctx.logger.info({ node: this.ctx.settings.nodeId, dataDir: this.ctx.settings.dataDir }, 'engine: cluster initialized');
    });
  }

  start(): Promise<void> {
    return this.exclusive('start-failed', 'start', async () => {
      const { settings } = this.ctx;
      const { dataDir } = settings;
      if (!isInitialized(dataDir)) throw new EngineError('not-initialized', `no cluster in ${dataDir}: init (first node) or clone it before starting`);
      if (postmasterPid(dataDir) === null) {
        const runner = this.ctx.runner();
        const parent = runner.prepareParent(dataDir);
        // Render the settings afresh (the port may have changed), keeping whom we follow.
        writeConfig(runner, settings, dataDir, parent, readFollowing(dataDir), this.ctx.warn);
        try {
          await pgCtlStart(this.ctx);
        } catch (err) {
          this.problem = (err as Error).message;
          throw err;
        }
        this.problem = null;
        this.ctx.logger.info({ node: settings.nodeId, standby: replication.hasStandbySignal(dataDir) }, 'engine: started');
      }
      if (!replication.hasStandbySignal(dataDir)) await this.ensureRole();
    });
  }

  stop(mode: 'smart' | 'fast' | 'immediate'): Promise<void> {
    return this.exclusive('stop-failed', 'stop', async () => {
      const wasRunning = postmasterPid(this.ctx.settings.dataDir) !== null;
      await pgCtlStop(this.ctx, mode);
      if (wasRunning) this.ctx.logger.info({ node: this.ctx.settings.nodeId, mode }, 'engine: stopped');
    });
  }

  status(): Promise<EngineStatus> {
    return readStatus(this.ctx.settings, this.problem);
  }

  promote(epoch: number | null = null): Promise<void> {
    return this.exclusive('promote-failed', 'promote', async () => {
      const { settings } = this.ctx;
      const t0 = performance.now();
      const ms: Record<string, number> = {};
      const lap = (name: string) => (ms[name] = Math.round(performance.now() - t0));
      const role = await replication.runningRole(this.ctx);
      if (role === 'stopped') throw new EngineError('promote-failed', `${settings.nodeId} is not running: start it as a standby, then promote`);
      // One write, one reload: a primary follows no one (the include file says what the server
      // is), and the new epoch is stamped before the first write can happen (EPOCH_GUC): every
      // session the promoted server runs reads it after this reload.
      const runner = this.ctx.runner();
      writeConfig(runner, settings, settings.dataDir, runner.prepareParent(settings.dataDir), null, this.ctx.warn, epoch ?? undefined);
      await withSession(settings, (c) => c.query('SELECT pg_reload_conf()'));
      if (epoch !== null) await waitSetting(settings, EPOCH_GUC, String(epoch), 5000);
      lap('stampedMs');
      if (role === 'standby') {
        await promoteNow(this.ctx);
        lap('writableMs');
      }
      await this.ensureRole();
      // pg_control names the new timeline only after a checkpoint; until then a
      // pg_rewind against this server wrongly finds "no rewind required".
      await withSession(settings, (c) => c.query('CHECKPOINT'), { timeoutMs: 120_000 });
      lap('checkpointedMs');
      this.ctx.logger.info({ node: settings.nodeId, epoch, ...ms }, 'engine: promoted to primary');
    });
  }

  follow(primary: PrimaryEndpoint | null): Promise<void> {
    return this.exclusive('command-failed', 'follow', () => replication.follow(this.ctx, primary));
  }

  rewind(primary: PrimaryEndpoint): Promise<void> {
    return this.exclusive('rewind-failed', 'rewind', () => rewind(this.ctx, primary));
  }

  clone(primary: PrimaryEndpoint, opts: { onProgress?: (done: number, total: number) => void } = {}): Promise<void> {
    return this.exclusive('clone-failed', 'clone', () => replication.clone(this.ctx, primary, opts.onProgress));
  }

  discardPrevious(): Promise<void> {
    return this.exclusive('command-failed', 'discarding the previous data directory', async () => replication.discardPrevious(this.ctx));
  }

  setSyncStandbys(value: string): Promise<void> {
    return this.exclusive('command-failed', 'setting synchronous_standby_names', () => replication.setSyncStandbys(this.ctx, value));
  }

  syncSlots(standbys: string[]): Promise<boolean> {
    return this.exclusive('command-failed', 'syncing replication slots', () => replication.syncSlots(this.ctx, standbys));
  }

  setReplicationPeers(hosts: string[]): Promise<void> {
    return this.exclusive('command-failed', 'updating pg_hba.conf', async () => {
      const s = this.ctx.settings;
      const next = [...new Set(hosts)].sort();
      if (next.join(',') === [...s.replicationPeers].sort().join(',')) return;
      s.replicationPeers = next;
      if (!isInitialized(s.dataDir)) return; // written with the rest at init/clone
      this.ctx.runner().writeFile(join(s.dataDir, 'pg_hba.conf'), renderHba(s));
      if (postmasterPid(s.dataDir) !== null) await withSession(s, (c) => c.query('SELECT pg_reload_conf()'));
      this.ctx.logger.info({ node: s.nodeId, peers: next }, 'engine: pg_hba.conf follows the members');
    });
  }

  async clientSessions(): Promise<number> {
    if (postmasterPid(this.ctx.settings.dataDir) === null) return 0;
    const r = await withSession(this.ctx.settings, (c) => c.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity ${CLIENT_SESSIONS}`));
    return Number(r.rows[0]?.n ?? 0);
  }

  async terminateClientSessions(): Promise<number> {
    if (postmasterPid(this.ctx.settings.dataDir) === null) return 0;
    const r = await withSession(this.ctx.settings, (c) => c.query<{ n: string }>(`SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity ${CLIENT_SESSIONS}`));
    const n = Number(r.rows[0]?.n ?? 0);
    if (n > 0) this.ctx.logger.info({ node: this.ctx.settings.nodeId, sessions: n }, 'engine: terminated client sessions (drain)');
    return n;
  }

  switchBinDir(dir: string): Promise<void> {
    return this.exclusive('command-failed', 'switching the bin dir', async () => {
      const { settings } = this.ctx;
      if (dir === settings.binDir) return;
      if (postmasterPid(settings.dataDir) !== null) {
        throw new EngineError('command-failed', `cannot switch ${settings.nodeId} to ${dir} while its engine runs: stop it first`);
      }
      findBinDir({ binDir: dir, releases: {} }); // throws 'binary-missing' naming what lacks
      const from = settings.binDir;
      // A fresh context: the binaries (and the tools of their major) are resolved again.
      this.ctx = new DriverContext({ ...settings, binDir: dir }, this.ctx.logger, this.ctx.timeouts, this.options.tools);
      this.ctx.logger.info({ node: settings.nodeId, from, to: dir }, 'engine: bin dir switched');
    });
  }

  dataDirSpace(): { dir: string; freeBytes: number; totalBytes: number } | null {
    const dir = this.ctx.settings.dataDir;
    try {
      const s = statfsSync(existsSync(dir) ? dir : dirname(dir));
      return { dir, freeBytes: s.bavail * s.bsize, totalBytes: s.blocks * s.bsize };
    } catch {
      return null;
    }
  }

  checkpoint(): Promise<void> {
    return this.exclusive('command-failed', 'checkpoint', async () => {
      await withSession(this.ctx.settings, (c) => c.query('CHECKPOINT'), { timeoutMs: 120_000 });
    });
  }

  /** The replication role, created at the first start as primary. */
  private async ensureRole(): Promise<void> {
    const { settings } = this.ctx;
    try {
      const r = await ensureReplicationRole(settings);
      if (r === 'created') this.ctx.logger.info({ node: settings.nodeId, role: settings.replicationUser.name }, 'engine: replication role created');
    } catch (err) {
      throw new EngineError(
        'command-failed',
        `${settings.nodeId} runs as primary but the replication role ${settings.replicationUser.name} could not be ensured: ${(err as Error).message}; standbys cannot connect until it exists (retried on the next start)`,
      );
    }
  }
}

/** Sessions of clients: not walsenders or background workers, not this agent's own (application_name). */
const CLIENT_SESSIONS = "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name <> 'rustydb-agent'";

/** Is there a data directory a clone moved aside? */
export function hasPrevious(dataDir: string): boolean {
  return existsSync(`${dataDir}.previous`) && existsSync(join(`${dataDir}.previous`, 'PG_VERSION'));
}
