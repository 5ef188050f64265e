/**
 * Streaming replication: following a primary (primary_conninfo + slot in the
 * driver's include file, standby.signal), cloning with pg_basebackup,
 * replication slots and the synchronous standby set on a primary.
 */

import { existsSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError, type PrimaryEndpoint } from '../driver.ts';
import { slotNameFor, writeConfig } from './conf.ts';
import type { DriverContext } from './context.ts';
import { tailLines } from './proc.ts';
import { withSession } from './sql.ts';
import { postmasterPid } from './status.ts';

const STANDBY_SIGNAL = 'standby.signal';

/** Sleep, for polling the server. */
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export function hasStandbySignal(dataDir: string): boolean {
  return existsSync(join(dataDir, STANDBY_SIGNAL));
}

/** The running server's role: 'primary', 'standby', or 'stopped'. */
export async function runningRole(ctx: DriverContext): Promise<'primary' | 'standby' | 'stopped'> {
  const { dataDir } = ctx.settings;
  if (postmasterPid(dataDir) === null) return 'stopped';
  try {
    const r = await withSession(ctx.settings, (c) => c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r'));
    return r.rows[0].r ? 'standby' : 'primary';
  } catch (err) {
    // Starting up: standby.signal says what it will be (the server removes it on promotion).
    if (hasStandbySignal(dataDir)) return 'standby';
    throw new EngineError('command-failed', `cannot tell whether the running server in ${dataDir} is a primary: ${(err as Error).message}; retry when it answers`);
  }
}

/** Write the follow target and standby.signal (the server, if stopped, starts as a standby). */
function writeStandbyConfig(ctx: DriverContext, primary: PrimaryEndpoint | null): void {
  const runner = ctx.runner();
  const { dataDir } = ctx.settings;
  const parent = runner.prepareParent(dataDir);
  writeConfig(runner, ctx.settings, dataDir, parent, primary, ctx.warn);
  if (!hasStandbySignal(dataDir)) runner.writeFile(join(dataDir, STANDBY_SIGNAL), '');
}

/**
 * Follow `primary` (or stop streaming with null). A running standby reloads;
 * a stopped server is left stopped, configured to start as a standby; a running
 * primary is refused (it must be stopped and rewound first).
 */
export async function follow(ctx: DriverContext, primary: PrimaryEndpoint | null): Promise<void> {
  const { settings } = ctx;
  const role = await runningRole(ctx);
  if (role === 'primary') {
    if (primary === null) return; // nothing streams into a primary
    throw new EngineError('command-failed', `${settings.nodeId} is running as primary: stop it and rewind before following ${primary.nodeId}`);
  }
  writeStandbyConfig(ctx, primary);
  ctx.logger.info({ node: settings.nodeId, primary: primary?.nodeId ?? null, running: role !== 'stopped' }, primary ? 'engine: following primary' : 'engine: WAL streaming turned off');
  if (role === 'stopped') return;
  await withSession(settings, (c) => c.query('SELECT pg_reload_conf()'));
  if (primary !== null) return;
  // The caller is about to compare WAL positions: the receiver must really be gone.
  const deadline = Date.now() + ctx.timeouts.followS * 1000;
  await withSession(settings, async (c) => {
    for (;;) {
      const r = await c.query<{ conninfo: string; receivers: number }>(
        "SELECT current_setting('primary_conninfo') AS conninfo, (SELECT count(*) FROM pg_stat_wal_receiver)::int AS receivers",
      );
      if (r.rows[0].conninfo === '' && r.rows[0].receivers === 0) return;
      if (Date.now() > deadline) {
        throw new EngineError(
          'command-failed',
          `the WAL receiver of ${settings.nodeId} did not stop within ${ctx.timeouts.followS}s after primary_conninfo was cleared; check the server log, or stop the server`,
        );
      }
      await sleep(20); // a switchover waits on this
    }
  });
}

/** Config for a stopped server (after clone/rewind): follow `primary`, start as a standby. */
export function configureStandby(ctx: DriverContext, primary: PrimaryEndpoint): void {
  writeStandbyConfig(ctx, primary);
}

/** Parse pg_basebackup's progress line ("  12345/67890 kB (18%), 0/1 tablespace"). */
export function parseProgress(line: string): { done: number; total: number } | null {
  const m = /(\d+)\/(\d+) kB \(\d+%\)/.exec(line);
  if (!m) return null;
  const done = Number(m[1]) * 1024;
  // The total is an estimate pg_basebackup revises upwards; never report done > total.
  return { done, total: Math.max(done, Number(m[2]) * 1024) };
}

/**
 * pg_basebackup from `primary` into `<dataDir>.new` over this node's slot, then
 * swap: the current data dir becomes `<dataDir>.previous` (kept until
 * `discardPrevious`), `.new` becomes the data dir, configured as a standby.
 */
export async function clone(ctx: DriverContext, primary: PrimaryEndpoint, onProgress?: (done: number, total: number) => void): Promise<void> {
  const { settings } = ctx;
  const { dataDir } = settings;
  if (postmasterPid(dataDir) !== null) {
    throw new EngineError('clone-failed', `the server in ${dataDir} is running: stop it before cloning`);
  }
  const runner = ctx.runner();
  const parent = runner.prepareParent(dataDir);
  const pgBasebackup = ctx.tool('pg_basebackup');
  const newDir = `${dataDir}.new`;
  const slot = slotNameFor(settings.nodeId);
  const attempt = (createSlot: boolean) => {
    rmSync(newDir, { recursive: true, force: true });
    const args = ['-D', newDir, '-h', primary.host, '-p', String(primary.port), '-U', settings.replicationUser.name, '-w'];
    args.push('-X', 'stream', '--checkpoint=fast', '-P', '-v', '-S', slot, ...(createSlot ? ['-C'] : []));
    return runner.run(pgBasebackup, args, {
      cwd: parent,
      env: { PGPASSWORD: settings.replicationUser.password, PGCONNECT_TIMEOUT: '10' },
      onStderrLine: (line) => {
        const p = parseProgress(line);
        if (p && onProgress) onProgress(p.done, p.total);
      },
    });
  };
  ctx.logger.info({ node: settings.nodeId, primary: primary.nodeId, slot }, 'engine: cloning from primary (pg_basebackup)');
  let r = await attempt(true);
  // -C fails before copying anything when the slot is already there: use it as it is.
  if (r.code !== 0 && /replication slot .* already exists/.test(r.stderr)) r = await attempt(false);
  if (r.code !== 0) {
    rmSync(newDir, { recursive: true, force: true });
    const tail = tailLines(r.stderr, 12);
    throw new EngineError(
      'clone-failed',
      `pg_basebackup from ${primary.nodeId} (${primary.host}:${primary.port}) failed (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 2)}; check the primary is up and accepts replication from this node, then clone again`,
      tail,
    );
  }
  const previous = `${dataDir}.previous`;
  if (existsSync(dataDir)) {
    rmSync(previous, { recursive: true, force: true });
    renameSync(dataDir, previous);
  }
  renameSync(newDir, dataDir);
  configureStandby(ctx, primary);
  ctx.logger.info({ node: settings.nodeId, primary: primary.nodeId, previous: existsSync(previous) ? previous : null }, 'engine: clone done');
}

/** Delete `<dataDir>.previous`. */
export function discardPrevious(ctx: DriverContext): void {
  rmSync(`${ctx.settings.dataDir}.previous`, { recursive: true, force: true });
}

/**
 * ALTER SYSTEM SET synchronous_standby_names and reload, then wait until a new
 * session sees the value, so the caller's next commit runs under it.
 */
export async function setSyncStandbys(ctx: DriverContext, value: string): Promise<void> {
  const { settings } = ctx;
  await withSession(settings, async (c) => {
    await c.query(`ALTER SYSTEM SET synchronous_standby_names = ${c.escapeLiteral(value)}`);
    await c.query('SELECT pg_reload_conf()');
  });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const r = await withSession(settings, (c) => c.query<{ v: string }>("SELECT current_setting('synchronous_standby_names') AS v"));
    if (r.rows[0].v === value) break;
    if (Date.now() > deadline) {
      throw new EngineError('command-failed', `synchronous_standby_names did not take the value ${JSON.stringify(value)} after reload; check the server log for a syntax error`);
    }
    await sleep(50);
  }
  ctx.logger.info({ node: settings.nodeId, synchronous_standby_names: value }, 'engine: synchronous standbys set');
}

/**
 * Physical slots for exactly these standbys: create the missing ones
 * (reserving WAL from now), drop the others that no standby is using.
 */
export async function syncSlots(ctx: DriverContext, standbys: string[]): Promise<boolean> {
  const { settings } = ctx;
  const own = slotNameFor(settings.nodeId);
  const want = new Set(standbys.map(slotNameFor).filter((s) => s !== own));
  return withSession(settings, async (c) => {
    let complete = true;
    const have = (await c.query<{ slot_name: string; active: boolean }>("SELECT slot_name, active FROM pg_replication_slots WHERE slot_type = 'physical'")).rows;
    const haveNames = new Set(have.map((s) => s.slot_name));
    for (const slot of want) {
      if (haveNames.has(slot)) continue;
      try {
        await c.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]);
        ctx.logger.info({ node: settings.nodeId, slot }, 'engine: replication slot created');
      } catch (err) {
        if ((err as { code?: string }).code !== '42710') throw err; // created meanwhile (e.g. by pg_basebackup -C)
      }
    }
    for (const s of have) {
      if (want.has(s.slot_name)) continue;
      if (s.active) {
        complete = false; // dropped once its walsender is gone
        continue;
      }
      try {
        await c.query('SELECT pg_drop_replication_slot($1)', [s.slot_name]);
        ctx.logger.info({ node: settings.nodeId, slot: s.slot_name }, 'engine: replication slot dropped');
      } catch (err) {
        // Became active meanwhile (55006) or already gone (42704): next call sorts it out.
        const code = (err as { code?: string }).code;
        if (code !== '55006' && code !== '42704') throw err;
        if (code === '55006') complete = false;
      }
    }
    return complete;
  });
}
