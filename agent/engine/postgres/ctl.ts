/**
 * pg_ctl: start, stop and promote the local server, and pg_controldata for
 * whether it was shut down cleanly.
 */

import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { EngineError } from '../driver.ts';
import type { DriverContext } from './context.ts';
import { tailLines } from './proc.ts';
import { postmasterPid } from './status.ts';

/** The server log: next to the data directory (in its parent), so it survives a clone swapping the directory. */
export function serverLogPath(dataDir: string): string {
  return `${resolve(dataDir)}.log`;
}

/** The last `n` lines of the server log (read from its end; the log grows across starts). */
export function serverLogTail(dataDir: string, n: number): string {
  const path = serverLogPath(dataDir);
  try {
    const size = statSync(path).size;
    const len = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(len);
    const fd = openSync(path, 'r');
    try {
      readSync(fd, buf, 0, len, size - len);
    } finally {
      closeSync(fd);
    }
    return tailLines(buf.toString('utf8'), n);
  } catch {
    return `(no server log at ${path})`;
  }
}

/** pg_ctl start -w. Throws EngineError('start-failed') with the end of the server log. */
export async function pgCtlStart(ctx: DriverContext): Promise<void> {
  const { dataDir } = ctx.settings;
  const t = ctx.timeouts.startS;
  const log = serverLogPath(dataDir);
  const r = await ctx
    .runner()
    .run(ctx.server('pg_ctl'), ['start', '-D', dataDir, '-w', '-t', String(t), '-l', log], { cwd: dirname(resolve(dataDir)), timeoutMs: (t + 30) * 1000 });
  if (r.code === 0) return;
  const tail = serverLogTail(dataDir, 12);
  const stillStarting = postmasterPid(dataDir) !== null;
  throw new EngineError(
    'start-failed',
    stillStarting
      ? `PostgreSQL in ${dataDir} did not become ready within ${t}s and is still starting; the server log (${log}) ends with:\n${tail}`
      : `PostgreSQL in ${dataDir} failed to start; fix the cause and start again. The server log (${log}) ends with:\n${tail}`,
    tailLines(r.stderr + '\n' + r.stdout, 10) + '\n' + tail,
  );
}

/**
 * pg_ctl stop -m mode, then wait for the postmaster to go (polled every 10 ms:
 * pg_ctl's own -w polls every 100 ms, and a switchover waits on this). A
 * stopped server is fine. Throws EngineError('stop-failed').
 */
export async function pgCtlStop(ctx: DriverContext, mode: 'smart' | 'fast' | 'immediate'): Promise<void> {
  const { dataDir } = ctx.settings;
  if (postmasterPid(dataDir) === null) return;
  const t = ctx.timeouts.stopS;
  const r = await ctx
    .runner()
    .run(ctx.server('pg_ctl'), ['stop', '-D', dataDir, '-m', mode, '-W'], { cwd: dirname(resolve(dataDir)), timeoutMs: 30_000 });
  const deadline = Date.now() + t * 1000;
  // pg_ctl fails when the server went away on its own meanwhile: stopped is stopped.
  while (postmasterPid(dataDir) !== null) {
    if (r.code !== 0 || Date.now() > deadline) {
      throw new EngineError(
        'stop-failed',
        `PostgreSQL in ${dataDir} did not stop (${mode}) within ${r.code !== 0 ? 0 : t}s: ${tailLines(r.stderr, 3)}; ${mode === 'immediate' ? 'kill the postmaster' : "retry with mode 'fast' or 'immediate'"}`,
        tailLines(r.stderr + '\n' + r.stdout, 10),
      );
    }
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** pg_ctl promote -w. Throws EngineError('promote-failed'). */
export async function pgCtlPromote(ctx: DriverContext): Promise<void> {
  const { dataDir } = ctx.settings;
  const t = ctx.timeouts.promoteS;
  const r = await ctx
    .runner()
    .run(ctx.server('pg_ctl'), ['promote', '-D', dataDir, '-w', '-t', String(t)], { cwd: dirname(resolve(dataDir)), timeoutMs: (t + 30) * 1000 });
  if (r.code === 0) return;
  throw new EngineError(
    'promote-failed',
    `pg_ctl promote failed for ${dataDir} (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 3)}; check the server log ${serverLogPath(dataDir)}`,
    tailLines(r.stderr + '\n' + r.stdout, 10) + '\n' + serverLogTail(dataDir, 10),
  );
}

/** "Database cluster state" from pg_control ("shut down", "in production", ...). */
export async function clusterState(ctx: DriverContext): Promise<string> {
  const { dataDir } = ctx.settings;
  const r = await ctx.runner().run(ctx.tool('pg_controldata'), ['-D', dataDir], { cwd: dirname(resolve(dataDir)), timeoutMs: 30_000 });
  const m = /^Database cluster state:\s*(.+)$/m.exec(r.stdout);
  if (r.code !== 0 || !m) {
    throw new EngineError('command-failed', `pg_controldata cannot read ${dataDir}: ${tailLines(r.stderr, 3)}; the data directory may be damaged: clone it again`);
  }
  return m[1].trim();
}
