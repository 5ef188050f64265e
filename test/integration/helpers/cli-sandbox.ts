/**
 * What the CLI integration tests share: a /tmp root with a real sandbox in
 * it (opened, brought up, and taken down again), the environment the real
 * `rustydb-admin` runs with against that sandbox, a runner for the binary
 * (or any command) that never rejects, and a sweeper for agents a test
 * started outside the sandbox (`node init` + `cluster join`, scripts).
 */

import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox, type SandboxOptions } from '../../../src/sandbox/cluster.ts';

/** This repository's bin/rustydb-admin (a node script: run it with process.execPath). */
export const ADMIN_BIN = fileURLToPath(new URL('../../../bin/rustydb-admin', import.meta.url));

/** A sandbox under its own /tmp root: `dir` is `<root>/sb`; the CLI's config dir is `<root>/config`. */
export interface TestSandbox {
  root: string;
  dir: string;
  sb: Sandbox;
}

/** What a finished child process gave: its exit code (-1 when killed by a signal or the timeout), and its output. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Environment overrides; a key set to undefined is removed (e.g. `{ NO_COLOR: undefined }` at a terminal). */
export type EnvOverrides = Record<string, string | undefined>;

/**
 * A fresh `/tmp/rustydb-<name>-XXXXXX`, mode 0755: the agents run
 * PostgreSQL as `postgres`, which must reach the data dirs under it.
 */
export function makeTestRoot(name: string): string {
  const root = mkdtempSync(`/tmp/rustydb-${name}-`);
  chmodSync(root, 0o755);
  return root;
}

/**
 * Make a root, open a sandbox in `<root>/sb` with `opts` (3 nodes unless
 * given) and bring it up. If that fails, what was started is taken down and
 * the root removed before the error is rethrown (the caller has nothing to
 * close then).
 */
export async function openTestSandbox(name: string, opts: Omit<Partial<SandboxOptions>, 'dir'> = {}, upTimeoutMs = 120_000): Promise<TestSandbox> {
  const root = makeTestRoot(name);
  const dir = join(root, 'sb');
  try {
    const sb = await Sandbox.open({ nodes: 3, ...opts, dir });
    await sb.up({ timeoutMs: upTimeoutMs });
    return { root, dir, sb };
  } catch (err) {
    await closeTestSandbox({ root, dir });
    throw err;
  }
}

/**
 * Stop the sandbox (agents and engines) and delete it, then remove the root.
 * Re-opened from sandbox.json, so agents a test restarted are stopped too.
 * Accepts undefined (a `before` that failed early) and does nothing then.
 */
export async function closeTestSandbox(t: Pick<TestSandbox, 'root' | 'dir'> | undefined): Promise<void> {
  if (!t) return;
  try {
    if (existsSync(join(t.dir, 'sandbox.json'))) await (await Sandbox.openExisting(t.dir)).down({ purge: true });
  } finally {
    rmSync(t.root, { recursive: true, force: true });
  }
}

/**
 * The environment for a child CLI: this process's, with the CLI config dir
 * under `root` and no colours, then `extra`. NODE_TEST_CONTEXT is removed:
 * a node child that inherits it reports to the test runner instead of
 * printing its own output.
 */
export function childEnv(root: string, extra: EnvOverrides = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, RUSTYDB_CONFIG_DIR: join(root, 'config'), NO_COLOR: '1', ...extra };
  delete env.NODE_TEST_CONTEXT;
  for (const [k, v] of Object.entries(extra)) if (v === undefined) delete env[k];
  return env;
}

/** {@link childEnv} pointed at the sandbox: every node's endpoint, the admin token and the CA file, then `extra`. */
export function adminEnv(t: TestSandbox, extra: EnvOverrides = {}): NodeJS.ProcessEnv {
  return childEnv(t.root, { ...t.sb.cliEnv(), ...extra });
}

/**
 * Run `file args` with stdin closed and stdout/stderr pipes (not terminals).
 * Never rejects: a failure to start, a signal or the timeout is code -1.
 */
export function runCommand(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000, maxBuffer = 1024 * 1024): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { env, timeout: timeoutMs, maxBuffer }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** Run the real rustydb-admin with `args` (see {@link runCommand}); build `env` with {@link adminEnv}. */
export function runAdmin(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 120_000): Promise<RunResult> {
  return runCommand(process.execPath, [ADMIN_BIN, ...args], env, timeoutMs);
}

/**
 * SIGTERM every agent whose command line names a path under `dir` (they stop
 * their engines), wait up to 15 s for them, then SIGKILL whatever still runs
 * there. For agents started outside a Sandbox, which `down` does not know.
 */
export async function stopEverythingUnder(dir: string): Promise<void> {
  const ours = () =>
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid)
      .map((p) => {
        try {
          return { pid: Number(p), args: readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0') };
        } catch {
          return null;
        }
      })
      .filter((p): p is { pid: number; args: string[] } => p !== null && p.args.some((a) => a.startsWith(dir)));
  const signal = (pid: number, sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // gone
    }
  };
  for (const p of ours()) if (p.args.includes('--config')) signal(p.pid, 'SIGTERM');
  const deadline = Date.now() + 15_000;
  while (ours().some((p) => p.args.includes('--config')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  for (const p of ours()) signal(p.pid, 'SIGKILL');
}
