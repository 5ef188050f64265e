/**
 * What every part of the driver needs: the settings, the command runner (as
 * the engine user) and the binaries, resolved lazily so that a missing user or
 * binary is reported by the action that needs it, not by the constructor.
 */

import { join } from 'node:path';
import type { EngineSettings } from '../driver.ts';
import { findBinDir, findTools, type ToolName } from './binaries.ts';
import type { EngineLogger } from './logger.ts';
import { EngineRunner, resolveEngineIdentity } from './proc.ts';

/** Timeouts of engine actions, in seconds. */
export interface DriverTimeouts {
  /** pg_ctl start -t: how long a start may take (crash recovery included). Default 120. */
  startS: number;
  /** pg_ctl stop -t. Default 60. */
  stopS: number;
  /** pg_ctl promote -t, and the wait for the server to accept writes. Default 60. */
  promoteS: number;
  /** How long follow(null) waits for the WAL receiver to stop. Default 15. */
  followS: number;
}

export const DEFAULT_TIMEOUTS: DriverTimeouts = { startS: 120, stopS: 60, promoteS: 60, followS: 15 };

export class DriverContext {
  private runnerCache: EngineRunner | null = null;
  private toolsCache: Record<ToolName, string> | null = null;
  private serverChecked = false;

  constructor(
    readonly settings: EngineSettings,
    readonly logger: EngineLogger,
    readonly timeouts: DriverTimeouts,
    private readonly toolPaths?: Record<ToolName, string>,
  ) {}

  /** Runs commands as the engine user; throws EngineError when that user does not exist. */
  runner(): EngineRunner {
    this.runnerCache ??= new EngineRunner(resolveEngineIdentity(this.settings.engineUser), this.logger);
    return this.runnerCache;
  }

  /** Path of a server binary (postgres, pg_ctl, initdb); throws 'binary-missing' when the bin dir lacks them. */
  server(name: 'postgres' | 'pg_ctl' | 'initdb'): string {
    if (!this.serverChecked) {
      findBinDir({ binDir: this.settings.binDir, releases: {} });
      this.serverChecked = true;
    }
    return join(this.settings.binDir, name);
  }

  /** Path of pg_basebackup / pg_rewind / pg_controldata of the server's major version. */
  tool(name: ToolName): string {
    this.toolsCache ??= this.toolPaths ?? findTools(this.settings.binDir);
    return this.toolsCache[name];
  }

  /** Log a configuration warning once per distinct message. */
  private warned = new Set<string>();
  warn = (msg: string): void => {
    if (this.warned.has(msg)) return;
    this.warned.add(msg);
    this.logger.warn({ node: this.settings.nodeId }, msg);
  };
}
