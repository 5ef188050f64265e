/**
 * Promotion without pg_ctl's 100 ms polling: a switchover's write
 * unavailability is the sum of such waits, so the driver asks the server
 * itself (`pg_promote(false)`) and watches `pg_is_in_recovery()` closely.
 */

import { EngineError, type EngineSettings } from '../driver.ts';
import type { DriverContext } from './context.ts';
import { pgCtlPromote, serverLogPath } from './ctl.ts';
import { sleep } from './replication.ts';
import { withSession } from './sql.ts';

const POLL_MS = 10;

/** Promote the running standby and return once it accepts writes. Throws EngineError('promote-failed'). */
export async function promoteNow(ctx: DriverContext): Promise<void> {
  const { settings } = ctx;
  const limitMs = ctx.timeouts.promoteS * 1000;
  try {
    await withSession(
      settings,
      async (c) => {
        await c.query('SELECT pg_promote(false)');
        const deadline = Date.now() + limitMs;
        while ((await c.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0].r) {
          if (Date.now() > deadline) {
            throw new EngineError('promote-failed', `${settings.nodeId} still in recovery ${ctx.timeouts.promoteS}s after promotion was requested; check the server log ${serverLogPath(settings.dataDir)}`);
          }
          await sleep(POLL_MS);
        }
      },
      { timeoutMs: limitMs + 2000 },
    );
  } catch (err) {
    if (err instanceof EngineError) throw err;
    // The session failed (server restarting, refused): pg_ctl works on the data directory instead.
    ctx.logger.warn({ node: settings.nodeId, err: (err as Error).message }, 'engine: pg_promote() failed; promoting with pg_ctl');
    await pgCtlPromote(ctx);
  }
}

/** Wait until a new session sees `name` = `value` (the postmaster has taken a reload). */
export async function waitSetting(settings: EngineSettings, name: string, value: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await withSession(settings, (c) => c.query<{ v: string | null }>('SELECT current_setting($1, true) AS v', [name]));
    if (r.rows[0].v === value) return;
    if (Date.now() > deadline) {
      throw new EngineError('promote-failed', `${settings.nodeId}: ${name} did not take the value ${value} after a reload within ${timeoutMs} ms; check the server log ${serverLogPath(settings.dataDir)}`);
    }
    await sleep(POLL_MS);
  }
}
