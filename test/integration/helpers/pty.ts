/**
 * A real pseudo-terminal for CLI tests, driven through tmux: the command runs
 * in a detached tmux session (its stdin, stdout and stderr are the pane's
 * terminal), keys are sent with `send-keys`, the screen is read with
 * `capture-pane -p`. Each instance has its own tmux server (`-L` socket). The
 * command's exit code is written to a file; the pane then stays (a sleep) so
 * the final screen can still be read, until close() kills the server.
 */

import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const TMUX = '/usr/bin/tmux';

/** Single-quote for sh. */
function q(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface PtyOptions {
  /** argv of the command; argv[0] is looked up in PATH by sh. */
  argv: string[];
  /** The command's environment (the tmux server's, too). */
  env: NodeJS.ProcessEnv;
  cwd?: string;
  width?: number;
  height?: number;
}

export class Pty {
  private readonly socket: string;
  private readonly dir: string;
  private readonly rcFile: string;

  private constructor(private readonly env: NodeJS.ProcessEnv) {
    this.dir = mkdtempSync('/tmp/rustydb-pty-');
    this.socket = `rustydb-pty-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.rcFile = join(this.dir, 'rc');
  }

  /** Start `argv` in a new session of a new tmux server. */
  static start(o: PtyOptions): Pty {
    const env: NodeJS.ProcessEnv = { ...o.env, TERM: 'xterm-256color' };
    delete env.TMUX;
    const pty = new Pty(env);
    const cmd = `${o.cwd ? `cd ${q(o.cwd)} && ` : ''}${o.argv.map(q).join(' ')}; echo $? > ${q(pty.rcFile)}.tmp && mv ${q(pty.rcFile)}.tmp ${q(pty.rcFile)}; sleep 600`;
    pty.tmux('new-session', '-d', '-s', 'main', '-x', String(o.width ?? 200), '-y', String(o.height ?? 50), `sh -c ${q(cmd)}`);
    return pty;
  }

  private tmux(...args: string[]): string {
    return execFileSync(TMUX, ['-L', this.socket, ...args], { env: this.env, encoding: 'utf8', timeout: 10_000 });
  }

  /** Type `text` literally (no key names). */
  type(text: string): void {
    this.tmux('send-keys', '-t', 'main', '-l', text);
  }

  /** Send tmux key names: `Enter`, `C-c`, … */
  keys(...names: string[]): void {
    this.tmux('send-keys', '-t', 'main', ...names);
  }

  /** The visible screen (with escape codes when `ansi`); '' once the pane is gone. */
  screen(ansi = false): string {
    try {
      return this.tmux('capture-pane', '-p', ...(ansi ? ['-e'] : []), '-t', 'main');
    } catch {
      return '';
    }
  }

  /** Resolves with the screen once it matches `re`; rejects with the screen after `timeoutMs`. */
  async waitFor(re: RegExp, timeoutMs = 30_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = this.screen();
      if (re.test(last)) return last;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`the terminal never showed ${re}; it shows:\n${last}`);
  }

  /** The exit code of the command, once it has exited. */
  async exitCode(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!existsSync(this.rcFile)) {
      if (Date.now() > deadline) throw new Error(`the command did not exit within ${timeoutMs} ms; the terminal shows:\n${this.screen()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return Number(readFileSync(this.rcFile, 'utf8').trim());
  }

  /** Kill this tmux server and remove the scratch dir. */
  close(): void {
    try {
      this.tmux('kill-server');
    } catch {
      // already gone with its last session
    }
    rmSync(this.dir, { recursive: true, force: true });
    // kill-server leaves its socket file behind.
    rmSync(join(this.env.TMUX_TMPDIR ?? '/tmp', `tmux-${process.getuid?.() ?? 0}`, this.socket), { force: true });
  }
}
