/**
 * Running engine commands as the engine's OS user, and giving that user the
 * files and directories it needs. PostgreSQL refuses to run as root, so when
 * the agent is root every command runs as `engine_user` (setuid/setgid in the
 * child); otherwise it runs as the agent's own user.
 */

import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { userInfo } from 'node:os';
import { dirname, resolve } from 'node:path';
import { EngineError } from '../driver.ts';
import type { EngineLogger } from './logger.ts';

/** The OS identity engine commands run as. */
export interface EngineIdentity {
  name: string;
  uid: number;
  gid: number;
  /** True when the agent must switch to this identity (it runs as root). */
  switchUser: boolean;
}

/** Resolve the engine user: `name` when running as root, the current user otherwise. */
export function resolveEngineIdentity(name: string): EngineIdentity {
  const myUid = process.getuid?.() ?? 0;
  if (myUid !== 0) {
    return { name: userInfo().username, uid: myUid, gid: process.getgid?.() ?? 0, switchUser: false };
  }
  const id = (flag: string): number => {
    try {
      return Number(execFileSync('id', [flag, name], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'pipe'] }).trim());
    } catch {
      throw new EngineError(
        'command-failed',
        `engine user "${name}" does not exist, and PostgreSQL refuses to run as root: create it (e.g. useradd --system ${name}) or set [engine] engine_user`,
      );
    }
  };
  const uid = id('-u');
  if (uid === 0) {
    throw new EngineError('command-failed', `engine user "${name}" is root, which PostgreSQL refuses: set [engine] engine_user to an unprivileged user`);
  }
  return { name, uid, gid: id('-g'), switchUser: true };
}

export interface RunOptions {
  /** Extra environment (e.g. PGPASSWORD); never logged. */
  env?: Record<string, string>;
  /** Working directory; must be reachable by the engine user. */
  cwd: string;
  /** Kill the command after this long (SIGKILL). Default: none. */
  timeoutMs?: number;
  /** Called with each line the command writes to stderr (progress). */
  onStderrLine?: (line: string) => void;
}

export interface RunResult {
  /** Exit code, or null when killed by a signal. */
  code: number | null;
  signal: string | null;
  /** The last 64 KiB of each stream. */
  stdout: string;
  stderr: string;
}

const TAIL_BYTES = 64 * 1024;

/** The last `n` non-empty lines of some output, for error messages. */
export function tailLines(text: string, n: number): string {
  return text
    .split(/\r?\n|\r/)
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .join('\n');
}

/** Runs commands as the engine user. */
export class EngineRunner {
  constructor(
    readonly identity: EngineIdentity,
    private readonly logger: EngineLogger,
  ) {}

  /**
   * Run `file args` and collect its output. Never rejects for a non-zero exit
   * (the caller maps it to the right EngineError); rejects only when the
   * command cannot be started at all.
   */
  run(file: string, args: string[], opts: RunOptions): Promise<RunResult> {
    const id = this.identity;
    // A clean environment: the agent's PG* variables must not steer engine tools.
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      LC_ALL: 'C', // English messages: some are parsed ("already exists")
      LANG: 'C',
      HOME: opts.cwd,
      USER: id.name,
      LOGNAME: id.name,
      ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
      ...opts.env,
    };
    this.logger.debug({ cmd: file, args }, 'engine: running command');
    return new Promise((resolvePromise, reject) => {
      const child = spawn(file, args, {
        cwd: opts.cwd,
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(id.switchUser ? { uid: id.uid, gid: id.gid } : {}),
        ...(opts.timeoutMs ? { timeout: opts.timeoutMs, killSignal: 'SIGKILL' as const } : {}),
      });
      let stdout = '';
      let stderr = '';
      let partial = '';
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (d: string) => {
        stdout = (stdout + d).slice(-TAIL_BYTES);
      });
      child.stderr.on('data', (d: string) => {
        stderr = (stderr + d).slice(-TAIL_BYTES);
        if (opts.onStderrLine) {
          const parts = (partial + d).split(/\r?\n|\r/);
          partial = parts.pop() ?? '';
          for (const line of parts) if (line) opts.onStderrLine(line);
        }
      });
      child.once('error', (err) => {
        reject(new EngineError('command-failed', `cannot run ${file}: ${err.message}; check the engine bin dir and that ${id.name} may execute it`));
      });
      child.once('close', (code, signal) => {
        if (partial && opts.onStderrLine) opts.onStderrLine(partial);
        resolvePromise({ code, signal, stdout, stderr });
      });
    });
  }

  /** Give a path to the engine user (no-op when not switching users). */
  chown(path: string): void {
    if (this.identity.switchUser) chownSync(path, this.identity.uid, this.identity.gid);
  }

  /** Write a file owned by the engine user, mode 0600, atomically (temp file + rename). */
  writeFile(path: string, content: string): void {
    const tmp = `${path}.rustydb-tmp`;
    writeFileSync(tmp, content, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    this.chown(tmp);
    renameSync(tmp, path);
  }

  /**
   * Make `dataDir`'s parent exist and be writable by the engine user (it holds
   * the server log, the Unix socket, and the `.new`/`.previous` copies of a
   * clone), and check every ancestor is searchable by it.
   */
  prepareParent(dataDir: string): string {
    const parent = dirname(resolve(dataDir));
    const id = this.identity;
    if (!existsSync(parent)) {
      // Create level by level so each new directory can be handed over.
      const missing: string[] = [];
      for (let d = parent; !existsSync(d); d = dirname(d)) missing.unshift(d);
      for (const d of missing) {
        mkdirSync(d, { mode: 0o755 });
        this.chown(d);
      }
    }
    if (id.switchUser) {
      for (let d = dirname(parent); ; d = dirname(d)) {
        if (!allows(statSync(d), id, 0o1)) {
          throw new EngineError(
            'command-failed',
            `engine user ${id.name} cannot reach ${dataDir}: ${d} is not searchable by it; grant search permission (chmod o+x ${d}) or put the data directory elsewhere`,
          );
        }
        if (d === dirname(d)) break;
      }
      const st = statSync(parent);
      if (!allows(st, id, 0o3)) {
        // Only take over a directory we own; never a shared one like /tmp.
        if (st.uid !== process.getuid?.() || (st.mode & 0o1000) !== 0) {
          throw new EngineError(
            'command-failed',
            `engine user ${id.name} cannot write ${parent} (the data directory's parent): chown it to ${id.name} or put the data directory in a directory of its own`,
          );
        }
        chownSync(parent, id.uid, id.gid);
      }
    }
    return parent;
  }
}

/** Does `st` grant `bits` (1 = x, 2 = w, 4 = r; combinable) to this identity? */
function allows(st: Stats, id: EngineIdentity, bits: number): boolean {
  const shift = st.uid === id.uid ? 6 : st.gid === id.gid ? 3 : 0;
  return ((st.mode >> shift) & bits) === bits;
}
