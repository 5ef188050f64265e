/**
 * Creating a new cluster on the first node: initdb (data checksums on, so
 * pg_rewind can rewind it later), then the driver's configuration. The
 * replication role is created at the first start as primary (see `sql.ts`).
 */

import { chmodSync, existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../driver.ts';
import { readEpoch, readFollowing, writeConfig } from './conf.ts';
import type { DriverContext } from './context.ts';
import { tailLines } from './proc.ts';
import { isInitialized } from './status.ts';

/**
 * Run initdb unless `dataDir` already holds a cluster, then (re)write the
 * configuration. Idempotent, so a half-done init is finished by a retry.
 */
export async function bootstrap(ctx: DriverContext): Promise<void> {
  const { settings } = ctx;
  const { dataDir } = settings;
  const runner = ctx.runner();
  const initdb = ctx.server('initdb');
  const parent = runner.prepareParent(dataDir);
  if (!isInitialized(dataDir)) {
    if (existsSync(dataDir)) {
      if (readdirSync(dataDir).length > 0) {
        throw new EngineError('command-failed', `data directory ${dataDir} is not empty but holds no cluster: move it away or empty it, then init again`);
      }
      // An empty directory made by someone else: initdb needs to own it.
      runner.chown(dataDir);
      chmodSync(dataDir, 0o700);
    }
    // initdb reads the superuser password from a file so it never appears in argv.
    const pwfile = join(parent, `.rustydb-initdb-pw-${process.pid}`);
    runner.writeFile(pwfile, settings.superuser.password + '\n');
    try {
      const r = await runner.run(
        initdb,
        ['-D', dataDir, '--data-checksums', '-U', settings.superuser.name, `--pwfile=${pwfile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-locale', '--no-instructions'],
        { cwd: parent, timeoutMs: 300_000 },
      );
      if (r.code !== 0) {
        const tail = tailLines(r.stderr + '\n' + r.stdout, 15);
        throw new EngineError('command-failed', `initdb failed for ${dataDir} (exit ${r.code ?? r.signal}): ${tailLines(r.stderr, 3)}; fix the cause and init again`, tail);
      }
    } finally {
      rmSync(pwfile, { force: true });
    }
  }
  if (!statSync(dataDir).isDirectory()) throw new EngineError('command-failed', `${dataDir} is not a directory: move it away and init again`);
  // A retried init keeps whatever follow target a later step wrote. The first
  // primary serves epoch 1 (the bootstrap record's) unless a stamp is there already.
  writeConfig(runner, settings, dataDir, parent, readFollowing(dataDir), ctx.warn, readEpoch(dataDir) ?? 1);
}
