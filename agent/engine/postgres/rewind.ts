/**
 * pg_rewind a former primary onto the current primary's timeline, so it can
 * follow it without a full clone. pg_rewind needs a cleanly shut down target:
 * after a crash (or `stop('immediate')`), crash recovery runs first in
 * single-user mode.
 */

import { existsSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EngineError, type PrimaryEndpoint } from '../driver.ts';
import { connectHost, connValue } from './conf.ts';
import type { DriverContext } from './context.ts';
import { clusterState } from './ctl.ts';
import { tailLines } from './proc.ts';
import { configureStandby } from './replication.ts';
import { withSession } from './sql.ts';
import { isInitialized, postmasterPid } from './status.ts';

const CLEAN_STATES = new Set(['shut down', 'shut down in recovery']);

/**
 * Crash recovery in single-user mode, so the control file says "shut down".
 * Single-user mode refuses standby mode, so the signal files step aside meanwhile.
 */
async function ensureCleanShutdown(ctx: DriverContext): Promise<void> {
  const { dataDir } = ctx.settings;
  const state = await clusterState(ctx);
  if (CLEAN_STATES.has(state)) return;
  ctx.logger.info({ node: ctx.settings.nodeId, state }, 'engine: not shut down cleanly; running crash recovery in single-user mode before pg_rewind');
  const aside: string[] = [];
  for (const f of ['standby.signal', 'recovery.signal']) {
    const p = join(dataDir, f);
    if (existsSync(p)) {
      renameSync(p, `${p}.rustydb-aside`);
      aside.push(p);
    }
  }
  try {
    const r = await ctx
      .runner()
      .run(ctx.server('postgres'), ['--single', '-D', dataDir, '-c', 'archive_mode=off', 'postgres'], { cwd: dirname(resolve(dataDir)), timeoutMs: 30 * 60_000 });
    const after = await clusterState(ctx);
    if (r.code !== 0 || !CLEAN_STATES.has(after)) {
      throw new EngineError(
        'rewind-failed',
        `crash recovery of ${dataDir} before pg_rewind failed (exit ${r.code ?? r.signal}, state "${after}"): ${tailLines(r.stderr, 3)}; clone this node again`,
        tailLines(r.stderr + '\n' + r.stdout, 15),
      );
    }
  } finally {
    for (const p of aside) renameSync(`${p}.rustydb-aside`, p);
  }
}

/** Rewind the stopped local server onto `primary`, then configure it to follow `primary`. */
export async function rewind(ctx: DriverContext, primary: PrimaryEndpoint): Promise<void> {
  const { settings } = ctx;
  const { dataDir } = settings;
  if (!isInitialized(dataDir)) throw new EngineError('not-initialized', `no cluster in ${dataDir} to rewind: clone it instead`);
  if (postmasterPid(dataDir) !== null) throw new EngineError('rewind-failed', `the server in ${dataDir} is running: stop it before rewinding`);
  const pgRewind = ctx.tool('pg_rewind');
  await ensureCleanShutdown(ctx);
  const source = [
    `host=${connValue(connectHost(primary.host))}`,
    `port=${primary.port}`,
    `user=${connValue(settings.superuser.name)}`,
    'dbname=postgres',
    'connect_timeout=10',
    'application_name=rustydb-rewind',
  ].join(' ');
  // A just-promoted source names its new timeline in pg_control only after a
  // checkpoint; without one pg_rewind finds "no rewind required" and the
  // standby can never stream again.
  await withSession(settings, (c) => c.query('CHECKPOINT'), { timeoutMs: 120_000, at: { host: primary.host, port: primary.port } });
  ctx.logger.info({ node: settings.nodeId, primary: primary.nodeId }, 'engine: rewinding onto the primary (pg_rewind)');
  const r = await ctx.runner().run(pgRewind, [`--target-pgdata=${dataDir}`, `--source-server=${source}`], {
    cwd: dirname(resolve(dataDir)),
    // In the environment, not in argv: argv is visible to every user in ps.
    env: { PGPASSWORD: settings.superuser.password },
    timeoutMs: 60 * 60_000,
  });
  if (r.code !== 0) {
    throw new EngineError(
      'rewind-failed',
      `pg_rewind onto ${primary.nodeId} (${primary.host}:${primary.port}) failed (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 2)}; clone this node again instead`,
      tailLines(r.stderr + '\n' + r.stdout, 15),
    );
  }
  ctx.logger.info({ node: settings.nodeId, primary: primary.nodeId, output: tailLines(r.stderr + '\n' + r.stdout, 2) }, 'engine: rewind done');
  // pg_rewind copied the source's configuration files: render ours again.
  configureStandby(ctx, primary);
}
