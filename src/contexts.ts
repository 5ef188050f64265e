/**
 * Where the cluster is: named contexts in `admin.toml` and the resolution
 * order every command follows (`--endpoint` > `RUSTYDB_ENDPOINTS` >
 * `--context` / current context > the default endpoint).
 *
 * The file (directory: `RUSTYDB_CONFIG_DIR`, else `$XDG_CONFIG_HOME/rustydb`,
 * else `~/.config/rustydb`):
 *
 * ```toml
 * current = "sandbox"
 * [contexts.sandbox]
 * endpoints = ["http://127.0.0.1:7001", "http://127.0.0.1:7002"]
 * ca_file = "/etc/rustydb/ca.pem"      # unused until TLS (issue 5)
 * token_file = "~/.rustydb-token"      # the API token (one line, keep it 0600)
 * ```
 */

import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify, TomlError } from 'smol-toml';
import { CliError } from './errors.ts';

/** Where the cluster is when nothing says otherwise. */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:5433';
export const CONTEXTS_FILE = 'admin.toml';

/** One named cluster. `caFile` and `tokenFile` are kept for TLS and tokens (not used yet). */
export interface Context {
  endpoints: string[];
  caFile: string | null;
  tokenFile: string | null;
}

/** The whole contexts file. */
export interface ContextsDoc {
  current: string | null;
  contexts: Record<string, Context>;
}

/** The cluster a command talks to, and which rule chose it (for messages). */
export interface Target {
  endpoints: string[];
  source: 'flag' | 'env' | 'context' | 'default';
  /** The context used, when `source` is `context`. */
  context: string | null;
  caFile: string | null;
  tokenFile: string | null;
}

/** The directory of admin.toml. */
export function configDir(env: NodeJS.ProcessEnv): string {
  if (env.RUSTYDB_CONFIG_DIR) return env.RUSTYDB_CONFIG_DIR;
  if (env.XDG_CONFIG_HOME) return join(env.XDG_CONFIG_HOME, 'rustydb');
  return join(env.HOME || homedir(), '.config', 'rustydb');
}

export function contextsPath(env: NodeJS.ProcessEnv): string {
  return join(configDir(env), CONTEXTS_FILE);
}

/** Split `a,b , c` into URLs, each checked to be http(s) (a typo is a usage error, not "unreachable"). */
export function parseEndpoints(list: string, from: string): string[] {
  const urls = list
    .split(',')
    .map((s) => s.trim().replace(/\/+$/, ''))
    .filter((s) => s !== '');
  if (urls.length === 0) throw new CliError('usage', `${from} lists no endpoint: give URLs such as http://127.0.0.1:5433, comma-separated`);
  for (const u of urls) {
    let ok = false;
    try {
      ok = ['http:', 'https:'].includes(new URL(u).protocol);
    } catch {
      // not a URL
    }
    if (!ok) throw new CliError('usage', `${from}: "${u}" is not an http(s) URL; write it as http://HOST:PORT`);
  }
  return urls;
}

/** Read admin.toml; a missing file is an empty document; a malformed one is a usage error naming file and line. */
export function readContexts(path: string): ContextsDoc {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { current: null, contexts: {} };
    throw new CliError('usage', `cannot read ${path}: ${(err as Error).message}; fix its permissions or remove it`);
  }
  let raw: Record<string, unknown>;
  try {
    raw = parse(text) as Record<string, unknown>;
  } catch (err) {
    if (err instanceof TomlError) {
      const first = err.message.split('\n')[0];
      throw new CliError('usage', `${path}:${err.line}:${err.column}: ${first}; fix the file or remove it`, err.message);
    }
    throw err;
  }
  const bad = (what: string) => new CliError('usage', `${path}: ${what}; fix the file or remove it`);
  if (raw.current !== undefined && typeof raw.current !== 'string') throw bad('"current" must be a string (a context name)');
  const contexts: Record<string, Context> = {};
  const table = raw.contexts ?? {};
  if (typeof table !== 'object' || table === null || Array.isArray(table)) throw bad('"contexts" must be a table of [contexts.NAME]');
  for (const [name, v] of Object.entries(table as Record<string, unknown>)) {
    const c = v as Record<string, unknown>;
    if (typeof c !== 'object' || c === null || !Array.isArray(c.endpoints) || !c.endpoints.every((e) => typeof e === 'string')) {
      throw bad(`[contexts.${name}] needs endpoints = ["http://HOST:PORT", ...]`);
    }
    for (const k of ['ca_file', 'token_file'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'string') throw bad(`[contexts.${name}] ${k} must be a string (a file path)`);
    }
    contexts[name] = { endpoints: c.endpoints as string[], caFile: (c.ca_file as string | undefined) ?? null, tokenFile: (c.token_file as string | undefined) ?? null };
  }
  return { current: (raw.current as string | undefined) ?? null, contexts };
}

/** Write admin.toml atomically (tmp + rename), mode 0600, creating its directory (0700). */
export function writeContexts(path: string, doc: ContextsDoc): void {
  const out: Record<string, unknown> = {};
  if (doc.current !== null) out.current = doc.current;
  const contexts: Record<string, Record<string, unknown>> = {};
  for (const [name, c] of Object.entries(doc.contexts)) {
    contexts[name] = { endpoints: c.endpoints, ...(c.caFile !== null && { ca_file: c.caFile }), ...(c.tokenFile !== null && { token_file: c.tokenFile }) };
  }
  out.contexts = contexts;
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, stringify(out) + '\n', { mode: 0o600 });
    chmodSync(tmp, 0o600); // the umask may have narrowed it; never wider than 0600
    renameSync(tmp, path);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // not a file we can remove (e.g. a directory in the way): the message below says where
    }
    throw new CliError('failed', `cannot write ${path}: ${(err as Error).message}; check the directory's permissions`);
  }
}

/** Add or replace context `name` (keeping the others), optionally making it current; returns the file written. */
export function saveContext(env: NodeJS.ProcessEnv, name: string, ctx: Context, makeCurrent: boolean): string {
  const path = contextsPath(env);
  const doc = readContexts(path);
  doc.contexts[name] = ctx;
  if (makeCurrent) doc.current = name;
  writeContexts(path, doc);
  return path;
}

/** The global flags that say where the cluster is. */
export interface TargetFlags {
  endpoint?: string;
  context?: string;
}

/** The global flags that say which API token to send. */
export interface TokenFlags extends TargetFlags {
  tokenFile?: string;
}

/**
 * The API token to send, or null: `--token-file` > `RUSTYDB_TOKEN` > the
 * context's `token_file` (when the context also chose the endpoints, so a
 * token is never sent to a cluster it was not made for). Messages name the
 * file, never the token.
 */
export function resolveToken(flags: TokenFlags, env: NodeJS.ProcessEnv): string | null {
  if (flags.tokenFile !== undefined) return readTokenFile(flags.tokenFile, '--token-file');
  if (env.RUSTYDB_TOKEN) return env.RUSTYDB_TOKEN.trim();
  const t = resolveTarget(flags, env);
  if (t.tokenFile === null) return null;
  return readTokenFile(t.tokenFile, `token_file of context "${t.context}"`);
}

function readTokenFile(path: string, from: string): string {
  const file = path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('usage', `cannot read the API token file ${file} (${from}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; fix the path or its permissions`);
  }
  const token = text.trim();
  if (token === '' || /\s/.test(token)) throw new CliError('usage', `the API token file ${file} (${from}) must hold one token on one line; rewrite it`);
  return token;
}

/** The global flags that say which CA to trust. */
export interface CaFlags extends TargetFlags {
  caFile?: string;
}

/**
 * The CA certificate (PEM) to trust for https endpoints, or null (the
 * system's): `--ca-file` > `RUSTYDB_CA_FILE` > the context's `ca_file`.
 */
export function resolveCa(flags: CaFlags, env: NodeJS.ProcessEnv): string | null {
  const read = (path: string, from: string): string => {
    const file = path.startsWith('~/') ? join(homedir(), path.slice(2)) : path;
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new CliError('usage', `cannot read the CA certificate ${file} (${from}): ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; fix the path`);
    }
  };
  if (flags.caFile !== undefined) return read(flags.caFile, '--ca-file');
  if (env.RUSTYDB_CA_FILE) return read(env.RUSTYDB_CA_FILE, 'RUSTYDB_CA_FILE');
  let t: Target;
  try {
    t = resolveTarget(flags, env);
  } catch {
    return null; // the command reports the bad context itself
  }
  return t.caFile === null ? null : read(t.caFile, `ca_file of context "${t.context}"`);
}

/** Resolve where the cluster is: `--endpoint` > `RUSTYDB_ENDPOINTS` > `--context` / current context > default. */
export function resolveTarget(flags: TargetFlags, env: NodeJS.ProcessEnv): Target {
  const none = { context: null, caFile: null, tokenFile: null };
  if (flags.endpoint !== undefined) return { endpoints: parseEndpoints(flags.endpoint, '--endpoint'), source: 'flag', ...none };
  if (env.RUSTYDB_ENDPOINTS) return { endpoints: parseEndpoints(env.RUSTYDB_ENDPOINTS, 'RUSTYDB_ENDPOINTS'), source: 'env', ...none };
  const path = contextsPath(env);
  const doc = readContexts(path);
  const name = flags.context ?? doc.current;
  if (name !== null) {
    const ctx = doc.contexts[name];
    if (!ctx) {
      const known = Object.keys(doc.contexts);
      throw new CliError('usage', `no context "${name}" in ${path} (${known.length ? `known: ${known.join(', ')}` : 'it has none'}); pick another with --context, or use --endpoint URL`);
    }
    return { endpoints: parseEndpoints(ctx.endpoints.join(','), `[contexts.${name}] endpoints in ${path}`), source: 'context', context: name, caFile: ctx.caFile, tokenFile: ctx.tokenFile };
  }
  return { endpoints: [DEFAULT_ENDPOINT], source: 'default', ...none };
}
