/**
 * Clock faults with libfaketime (Debian `faketime`): an agent started with
 * {@link fakeClockEnv} reads its wall clock through a file we rewrite at run
 * time, so the wall clock can jump forward or back while the monotonic clock
 * (performance.now, timers: what leases must use) runs on untouched. With
 * `monotonic: true` both run at `rate` — a node whose clock really runs fast.
 */

import { existsSync, writeFileSync } from 'node:fs';

export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1';

export function clockFaultSupport(): { ok: true } | { ok: false; reason: string } {
  return existsSync(LIBFAKETIME) ? { ok: true } : { ok: false, reason: `${LIBFAKETIME} is missing: apt-get install faketime` };
}

export interface FakeClock {
  /** Environment for the agent process (LD_PRELOAD and libfaketime's settings). */
  env: Record<string, string>;
  /** Wall clock offset from now on, seconds (negative: back in time). */
  offset(seconds: number): void;
}

/**
 * A fake clock controlled through `file`. `rate` > 1 makes the clock run fast
 * (applies from the process start; only used with a fresh process).
 */
export function fakeClock(file: string, opts: { monotonic?: boolean; rate?: number } = {}): FakeClock {
  const rate = opts.rate ?? 1;
  const write = (seconds: number) => writeFileSync(file, `${seconds >= 0 ? '+' : ''}${seconds}${rate !== 1 ? ` x${rate}` : ''}\n`);
  write(0);
  const env: Record<string, string> = {
    LD_PRELOAD: LIBFAKETIME,
    FAKETIME_TIMESTAMP_FILE: file,
    // Re-read the file at most once a second: a jump lands within a second, and PostgreSQL's
    // many clock reads do not each open a file.
    FAKETIME_CACHE_DURATION: '1',
  };
  if (!opts.monotonic) env.FAKETIME_DONT_FAKE_MONOTONIC = '1';
  return { env, offset: write };
}
