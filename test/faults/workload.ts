/**
 * The fault suite's clients: writers that insert unique ids and register
 * clients that read, write and compare-and-set a few keys, all through the
 * cluster's libpq multi-host connection string with
 * `target_session_attrs=read-write` (as an application would connect), each
 * operation recorded with harness-monotonic times and a definite outcome.
 *
 * node-postgres has no `target_session_attrs`, so every client drives one
 * long-lived `psql` fed on stdin. Each op is framed by `\warn` markers on
 * stderr (unbuffered, unlike stdout on a pipe):
 *
 *     \warn @B <n>
 *     <statement> \gset q<n>_
 *     \warn @E <n> :ERROR :q<n>_r
 *
 * so the harness knows whether the statement was sent at all (`@B` seen),
 * whether it returned (`@E`), its error flag and its one result column, and
 * every server message in between (errors, the sync-wait WARNING). A per-op
 * variable prefix means a failed statement can never show an earlier op's
 * result. psql in a pipe exits when its connection is lost and is restarted
 * for the next op; it is also restarted after any SQL error, since
 * `target_session_attrs` is only checked at connect and the node may have
 * become read-only. A long-lived session costs ~1 ms per op here; a fresh
 * `psql -c` per op ~120 ms (startup and SCRAM), which is why.
 *
 * Outcomes: `ok` (returned, no error, no sync-wait warning); `failed`
 * (definitely not applied: never sent, or the server answered with an ERROR,
 * which aborts an autocommit statement); `unknown` (sent, and then a timeout,
 * a lost connection, or a commit that came with PostgreSQL's "canceling wait
 * for synchronous replication" WARNING — committed locally, never confirmed
 * by the standbys).
 */

import { spawn, type ChildProcess } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { isSyncWaitCancelled, queryOnce, sleep, type PgNode } from '../integration/helpers/pg.ts';

/** One node of the cluster under test, reached directly (probes, schema, final reads). */
export interface FaultNode {
  id: string;
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
}

/** The pg helpers' shape of a node. */
export function pgNodeOfFault(n: FaultNode): PgNode {
  return { id: n.id, config: { host: n.host, port: n.port, user: n.user, password: n.password, database: n.database } };
}

/** The epoch of the node executing the statement, as the agent sets it before promoting (NULL until it does). */
export const EPOCH_EXPR = `NULLIF(current_setting('rustydb.epoch', true), '')::bigint`;

/**
 * Create the workload's and the prober's tables and the CAS function on the
 * primary (they replicate). Idempotent; earlier rows are kept (each run uses
 * its own id range and keys).
 */
export async function prepareSchema(primary: FaultNode): Promise<void> {
  const node = pgNodeOfFault(primary);
  await queryOnce(
    node,
    `CREATE TABLE IF NOT EXISTS fault_ids(id bigint PRIMARY KEY, client text, epoch bigint DEFAULT ${EPOCH_EXPR}, at timestamptz DEFAULT now());
     CREATE TABLE IF NOT EXISTS fault_kv(k text PRIMARY KEY, v text, version bigint NOT NULL, epoch bigint DEFAULT ${EPOCH_EXPR});
     CREATE TABLE IF NOT EXISTS fault_probe(node text, seq bigint, epoch bigint DEFAULT ${EPOCH_EXPR}, PRIMARY KEY (node, seq));
     -- Compare-and-set in one call: the row lock makes the version read and the update one step, so a
     -- refused CAS reports the version it was refused against (what the linearizability model needs).
     CREATE OR REPLACE FUNCTION fault_cas(p_key text, p_expect bigint, p_value text)
       RETURNS TABLE(ok boolean, version bigint, epoch bigint) LANGUAGE plpgsql AS $fn$
     DECLARE cur bigint;
     BEGIN
       SELECT f.version INTO cur FROM fault_kv f WHERE f.k = p_key FOR UPDATE;
       IF cur IS NULL THEN RAISE EXCEPTION 'fault_cas: key % does not exist', p_key; END IF;
       IF cur <> p_expect THEN
         RETURN QUERY SELECT false, cur, NULL::bigint;
         RETURN;
       END IF;
       UPDATE fault_kv f SET v = p_value, version = cur + 1, epoch = ${EPOCH_EXPR} WHERE f.k = p_key;
       RETURN QUERY SELECT true, cur + 1, ${EPOCH_EXPR};
     END $fn$;`,
    [],
    30_000,
  );
}

/** What an op does: insert a unique id, or read / blind-write / compare-and-set one register. */
export type OpKind = 'insert' | 'read' | 'write' | 'cas';

/** `ok`: acknowledged; `failed`: definitely not applied; `unknown`: may or may not have been applied. */
export type Outcome = 'ok' | 'failed' | 'unknown';

/**
 * One recorded client operation. Times are the harness's `performance.now()`
 * (monotonic; never the agents' clocks, which some scenarios skew).
 */
export interface Op {
  /** Unique in the history, in invoke order per client. */
  seq: number;
  client: string;
  kind: OpKind;
  /** insert: the id. */
  id?: number;
  /** read/write/cas: the key. */
  key?: string;
  /** write/cas: the value written. */
  value?: string;
  /** cas: the version the write requires. */
  expectVersion?: number;
  invoke: number;
  /** When the outcome became known (for `unknown`: when the client gave up). */
  complete: number;
  outcome: Outcome;
  /** ok writes: epoch the row was committed under (null: the engine had no epoch set). */
  epoch?: number | null;
  /** ok: the node that answered (its cluster_name), or `server` when it has none. */
  node?: string;
  /** ok: `address:port` of the server as it saw itself. */
  server?: string;
  /** ok read: the value (null when none written yet). */
  readValue?: string | null;
  /** ok read/write/cas: the key's version after the op (read, write, applied cas) or the one a refused cas saw. */
  version?: number;
  /** ok cas: whether it was applied. */
  casApplied?: boolean;
  /** failed/unknown: what happened, briefly. */
  error?: string;
}

/** Everything the clients did in one run. */
export interface History {
  /** A tag naming this run's keys and clients' rows. */
  tag: string;
  startedAt: number;
  stoppedAt: number;
  /** Ids invoked lie in [firstId, nextId). */
  firstId: number;
  nextId: number;
  /** The register keys (in fault_kv). */
  keys: string[];
  ops: Op[];
}

export interface WorkloadOptions {
  /** libpq connection string (URL or key=value) listing every node, with target_session_attrs=read-write. */
  connString: string;
  /** Clients inserting unique ids. */
  writers: number;
  /** Clients reading/writing/CASing the keys. */
  registers: number;
  /** Pause between one client's ops, ms. Default 5. */
  pauseMs?: number;
  /**
   * An op not answered within this long is given up: `unknown` if its statement was sent (that psql
   * is then left to settle, see lingerMs), `failed` if psql was still connecting (it is killed). Default 4000.
   */
  opTimeoutMs?: number;
  /** Number of register keys. Default 3. */
  keys?: number;
  /** First id; default derived from the wall clock so runs on one cluster do not collide. */
  firstId?: number;
  /** Pause before reconnecting after a connection failure, ms. Default 100. */
  reconnectMs?: number;
  /**
   * After an op timed out once sent (recorded \`unknown\` then), the client's next op waits until
   * that psql has settled, or this long, before a new session: PostgreSQL does not notice a client
   * leaving during a synchronous-replication wait, so reconnecting at once would pin one more
   * backend of a cut-off primary per timeout and fill max_connections. Default 30 000.
   */
  lingerMs?: number;
  /** psql executable. Default `psql` (on PATH). */
  psql?: string;
}

/** A running workload. */
export interface Workload {
  readonly tag: string;
  /** Ops recorded so far (a copy). */
  snapshot(): Op[];
  /** Stop every client after its op in flight (bounded by opTimeoutMs) and return the history. */
  stop(): Promise<History>;
}

/**
 * Start the clients. The register keys are created first (through the
 * connection string, so this fails when no node takes writes) with no value
 * and version 0 — the linearizability model's initial state.
 */
export async function startWorkload(opts: WorkloadOptions): Promise<Workload> {
  const o = { pauseMs: 5, opTimeoutMs: 4000, keys: 3, reconnectMs: 100, lingerMs: 30_000, psql: 'psql', ...opts };
  const connString = withConnectTimeout(o.connString, 2);
  const tag = `r${Date.now().toString(36)}${Math.floor(Math.random() * 1296).toString(36)}`;
  const keys = Array.from({ length: o.keys }, (_, i) => `${tag}-k${i}`);
  await createKeys(o.psql, connString, keys);

  let onStop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (onStop = resolve));
  const shared: Shared = { ops: [], nextId: o.firstId ?? Date.now() * 1000, nextSeq: 0, stopping: false, stopped };
  const firstId = shared.nextId;
  const startedAt = performance.now();
  const clients: Client[] = [];
  for (let i = 1; i <= o.writers; i++) clients.push(new Client(`w${i}`, 'writer', { ...o, connString }, shared, keys));
  for (let i = 1; i <= o.registers; i++) clients.push(new Client(`r${i}`, 'register', { ...o, connString }, shared, keys));
  const loops = clients.map((c) => c.run());
  return {
    tag,
    snapshot: () => shared.ops.map((x) => ({ ...x })),
    async stop(): Promise<History> {
      shared.stopping = true;
      onStop();
      await Promise.all(loops);
      await Promise.all(clients.map((c) => c.close()));
      return { tag, startedAt, stoppedAt: performance.now(), firstId, nextId: shared.nextId, keys, ops: shared.ops.slice() };
    },
  };
}

/** What the checker needs from the final primary once the cluster has settled. */
export interface FinalState {
  /** Harness time of the reads (linearizability: the final register reads happen then). */
  invoke: number;
  complete: number;
  /** Ids of this run's range present in fault_ids. */
  ids: number[];
  /** `node:seq` of every probe row with seq ≥ the given first probe seq. */
  probes: string[];
  /** The run's registers as stored. */
  kv: { k: string; v: string | null; version: number }[];
}

/** Read this run's rows from `primary` (the final primary, after healing and settling). */
export async function readFinal(primary: FaultNode, history: Pick<History, 'firstId' | 'nextId' | 'keys'>, firstProbeSeq = 0): Promise<FinalState> {
  const node = pgNodeOfFault(primary);
  const invoke = performance.now();
  const ids = await queryOnce<{ id: string }>(node, 'SELECT id::text AS id FROM fault_ids WHERE id >= $1 AND id < $2', [history.firstId, history.nextId], 60_000);
  const probes = await queryOnce<{ key: string }>(node, `SELECT node || ':' || seq AS key FROM fault_probe WHERE seq >= $1`, [firstProbeSeq], 60_000);
  const kv = await queryOnce<{ k: string; v: string | null; version: string }>(node, 'SELECT k, v, version::text AS version FROM fault_kv WHERE k = ANY($1)', [history.keys], 60_000);
  return {
    invoke,
    complete: performance.now(),
    ids: ids.map((r) => Number(r.id)),
    probes: probes.map((r) => r.key),
    kv: kv.map((r) => ({ k: r.k, v: r.v, version: Number(r.version) })),
  };
}

// ---------------------------------------------------------------------------

interface Shared {
  ops: Op[];
  nextId: number;
  nextSeq: number;
  stopping: boolean;
  /** Resolves when stop() is called (ends lingering). */
  stopped: Promise<void>;
}

type ClientOptions = Required<Omit<WorkloadOptions, 'firstId'>>;

/** A psql given up on (timed out) may be waiting in a commit; grace for it to exit once told to, ms. */
const EXIT_GRACE_MS = 1000;

/** Columns every statement appends to its one result: the answering node and its address. */
const WHO = `coalesce(nullif(current_setting('cluster_name'), ''), '-'), coalesce(host(inet_server_addr()), 'local') || ':' || coalesce(inet_server_port()::text, '-')`;

/** An op as issued: its record (outcome fields still unset) and its SQL, which returns one row, one column `r` of `|`-joined fields. */
interface Planned {
  op: Op;
  sql: string;
}

class Client {
  private session: PsqlSession | null = null;
  /** Register clients: the last version seen per key (their CAS expects it). */
  private readonly seen = new Map<string, number>();
  private n = 0;

  constructor(
    readonly name: string,
    private readonly role: 'writer' | 'register',
    private readonly o: ClientOptions,
    private readonly shared: Shared,
    private readonly keys: string[],
  ) {}

  async run(): Promise<void> {
    while (!this.shared.stopping) {
      const planned = this.plan();
      const sent = await this.execute(planned);
      if (sent !== 'recorded') this.shared.ops.push(planned.op);
      // Connection failures would otherwise spawn psql in a tight loop.
      if (!sent) await sleep(this.o.reconnectMs);
      else if (this.o.pauseMs > 0) await sleep(this.o.pauseMs);
    }
  }

  async close(): Promise<void> {
    await this.session?.close();
    this.session = null;
  }

  private plan(): Planned {
    const base = { seq: this.shared.nextSeq++, client: this.name, invoke: 0, complete: 0, outcome: 'failed' as Outcome };
    if (this.role === 'writer') {
      const id = this.shared.nextId++;
      return {
        op: { ...base, kind: 'insert', id },
        sql: `INSERT INTO fault_ids(id, client) VALUES (${id}, '${this.name}') RETURNING concat_ws('|', coalesce(epoch::text, '-'), ${WHO}) AS r`,
      };
    }
    const key = this.keys[Math.floor(Math.random() * this.keys.length)];
    const value = `${this.name}.${++this.n}`;
    const dice = Math.random();
    if (dice < 0.4) {
      // FOR UPDATE makes the read commit like a write (it waits for the synchronous standbys),
      // so a primary cut off from the cluster cannot answer it from stale data. A plain SELECT
      // is only as fresh as the node answering it: a frozen agent's engine serves old values.
      return { op: { ...base, kind: 'read', key }, sql: `SELECT concat_ws('|', coalesce(v, '-'), version, ${WHO}) AS r FROM fault_kv WHERE k = '${key}' FOR UPDATE` };
    }
    if (dice < 0.6) {
      return {
        op: { ...base, kind: 'write', key, value },
        sql: `UPDATE fault_kv SET v = '${value}', version = version + 1, epoch = ${EPOCH_EXPR} WHERE k = '${key}' RETURNING concat_ws('|', version, coalesce(epoch::text, '-'), ${WHO}) AS r`,
      };
    }
    const expectVersion = this.seen.get(key) ?? 0;
    return {
      op: { ...base, kind: 'cas', key, value, expectVersion },
      sql: `SELECT concat_ws('|', ok, version, coalesce(epoch::text, '-'), ${WHO}) AS r FROM fault_cas('${key}', ${expectVersion}, '${value}')`,
    };
  }

  /** Run one op and fill in its outcome; false when it could not even be sent (no session); 'recorded' when it pushed the op itself. */
  private async execute(p: Planned): Promise<boolean | 'recorded'> {
    const op = p.op;
    op.invoke = performance.now();
    if (!this.session || this.session.dead) this.session = new PsqlSession(this.o.psql, this.o.connString, `fault-${this.name}`);
    const session = this.session;
    const r = await session.run(op.seq, p.sql, this.o.opTimeoutMs);
    op.complete = performance.now();
    if (!r.sent) {
      op.outcome = 'failed';
      op.error = r.why;
      this.dropSession();
      return false;
    }
    if (!r.returned) {
      op.outcome = 'unknown';
      op.error = r.why;
      this.session = null;
      if (r.stuck) {
        this.shared.ops.push(op); // recorded now, at the timeout; the wait below is not part of the op
        await session.close(this.o.lingerMs, this.shared.stopped);
        return 'recorded';
      }
      void session.close();
      return true;
    }
    const syncWarning = r.messages.find((m) => isSyncWaitCancelled({ message: m }));
    if (syncWarning) {
      // Committed here, never confirmed by the standbys; the session is usually being terminated too.
      op.outcome = 'unknown';
      op.error = syncWarning.trim();
      this.dropSession();
      return true;
    }
    if (r.error || r.value === null) {
      // An ERROR aborts the autocommit statement. Reconnect: the node may have become read-only.
      op.outcome = 'failed';
      op.error = firstLine(r.messages) ?? 'error (no message)';
      this.dropSession();
      return true;
    }
    this.record(op, r.value.split('|'));
    return true;
  }

  private record(op: Op, f: string[]): void {
    const epochOf = (s: string): number | null => (s === '-' ? null : Number(s));
    const who = (nodeField: string, server: string): void => {
      op.server = server;
      op.node = nodeField === '-' ? server : nodeField;
    };
    op.outcome = 'ok';
    switch (op.kind) {
      case 'insert':
        op.epoch = epochOf(f[0]);
        who(f[1], f[2]);
        break;
      case 'read':
        op.readValue = f[0] === '-' ? null : f[0];
        op.version = Number(f[1]);
        who(f[2], f[3]);
        break;
      case 'write':
        op.version = Number(f[0]);
        op.epoch = epochOf(f[1]);
        who(f[2], f[3]);
        break;
      case 'cas':
        op.casApplied = f[0] === 't' || f[0] === 'true';
        op.version = Number(f[1]);
        op.epoch = op.casApplied ? epochOf(f[2]) : null;
        who(f[3], f[4]);
        break;
    }
    if (op.key !== undefined && op.version !== undefined) this.seen.set(op.key, op.version);
  }

  private dropSession(): void {
    const s = this.session;
    this.session = null;
    void s?.close();
  }
}

function firstLine(messages: string[]): string | undefined {
  return messages.find((m) => /^(ERROR|FATAL|psql)/.test(m)) ?? messages[0];
}

/** Add `connect_timeout` (seconds, per host) unless given: a frozen host would otherwise hold every connect. */
export function withConnectTimeout(conn: string, seconds: number): string {
  if (/connect_timeout=/.test(conn)) return conn;
  if (/^postgres(ql)?:\/\//.test(conn)) return `${conn}${conn.includes('?') ? '&' : '?'}connect_timeout=${seconds}`;
  return `${conn} connect_timeout=${seconds}`;
}

/** Insert the run's keys (no value, version 0) through the connection string, retrying briefly. */
async function createKeys(psql: string, connString: string, keys: string[]): Promise<void> {
  const values = keys.map((k) => `('${k}', NULL, 0)`).join(', ');
  let last = '';
  for (let attempt = 0; attempt < 20; attempt++) {
    const s = new PsqlSession(psql, connString, 'fault-setup');
    const r = await s.run(0, `WITH ins AS (INSERT INTO fault_kv(k, v, version) VALUES ${values} ON CONFLICT (k) DO NOTHING RETURNING 1) SELECT count(*) AS r FROM ins`, 10_000);
    await s.close();
    if (r.sent && r.returned && !r.error) return;
    last = r.sent && r.returned ? (firstLine(r.messages) ?? 'error') : r.why;
    await sleep(500);
  }
  throw new Error(`could not create the workload's keys through ${redact(connString)}: ${last}; is a node writable and was prepareSchema run?`);
}

function redact(conn: string): string {
  return conn.replace(/:\/\/([^:@/]+):[^@]*@/, '://$1:***@').replace(/password=\S+/, 'password=***');
}

// ---------------------------------------------------------------------------
// One long-lived psql

/** How one statement went. */
type RunResult =
  | { sent: false; why: string }
  /** `stuck`: timed out with the statement sent and psql left running (close() it, with patience). */
  | { sent: true; returned: false; why: string; stuck?: boolean }
  | { sent: true; returned: true; error: boolean; value: string | null; messages: string[] };

interface Pending {
  n: number;
  began: boolean;
  messages: string[];
  timedOut: boolean;
  resolve: (r: RunResult) => void;
}

/**
 * A psql process connected through a multi-host string, fed one statement
 * at a time. `dead` once it exited; a new one is made for the next op.
 */
export class PsqlSession {
  dead = false;
  private readonly child: ChildProcess;
  private pending: Pending | null = null;
  private buf = '';
  /** Everything psql said outside any op (its connection errors), last lines. */
  private readonly stray: string[] = [];
  private readonly closed: Promise<void>;

  constructor(psql: string, connString: string, appName: string) {
    this.child = spawn(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=0', '-d', connString], {
      stdio: ['pipe', 'ignore', 'pipe'],
      env: { ...process.env, PGAPPNAME: appName, PSQLRC: '/dev/null' },
    });
    this.child.stdin!.on('error', () => {}); // EPIPE when psql has exited: reported via 'close'
    this.child.stderr!.setEncoding('utf8');
    this.child.stderr!.on('data', (d: string) => this.onData(d));
    this.closed = new Promise((resolve) => {
      this.child.on('close', () => {
        this.dead = true;
        if (this.buf) this.onLine(this.buf);
        this.buf = '';
        this.settleOnExit();
        resolve();
      });
      this.child.on('error', (err) => {
        this.stray.push(`psql: ${err.message}`);
        this.dead = true;
      });
    });
  }

  /** Send statement `sql` as op `n` (one at a time); resolves with what happened, within about `timeoutMs`. */
  run(n: number, sql: string, timeoutMs: number): Promise<RunResult> {
    if (this.pending) throw new Error(`psql session: op ${n} sent while op ${this.pending.n} is in flight (a harness bug)`);
    if (this.dead) return Promise.resolve({ sent: false, why: this.lastWords() });
    return new Promise<RunResult>((resolve) => {
      const timer = setTimeout(() => {
        const p = this.pending;
        if (p?.n !== n) return;
        if (p.began) {
          // Sent and unanswered: unknown now. psql is left running (see WorkloadOptions.lingerMs).
          p.resolve({ sent: true, returned: false, stuck: true, why: `no answer within ${timeoutMs} ms${p.messages.length > 0 ? `; ${p.messages.slice(-2).join(' / ')}` : ''}` });
          return;
        }
        p.timedOut = true;
        this.child.kill('SIGKILL'); // still connecting: settled on 'close', once all its stderr is read
      }, timeoutMs);
      this.pending = {
        n,
        began: false,
        messages: [],
        timedOut: false,
        resolve: (r) => {
          clearTimeout(timer);
          this.pending = null;
          resolve(r);
        },
      };
      this.child.stdin!.write(`\\warn @B ${n}\n${sql.replace(/\s*\n\s*/g, ' ')} \\gset q${n}_\n\\warn @E ${n} :ERROR :q${n}_r\n`);
    });
  }

  /** End the process: stdin closed, killed if still there after `graceMs` or once `cut` resolves. */
  async close(graceMs = EXIT_GRACE_MS, cut?: Promise<void>): Promise<void> {
    if (this.dead) return;
    this.child.stdin!.end();
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    void cut?.then(() => this.child.kill('SIGKILL'));
    await this.closed;
    clearTimeout(t);
  }

  private onData(d: string): void {
    this.buf += d;
    let i: number;
    while ((i = this.buf.indexOf('\n')) >= 0) {
      const line = this.buf.slice(0, i);
      this.buf = this.buf.slice(i + 1);
      this.onLine(line);
    }
  }

  private onLine(line: string): void {
    const p = this.pending;
    const m = /^@([BE]) (\d+)(?: (\S+) (.*))?$/.exec(line);
    if (p && m && Number(m[2]) === p.n) {
      if (m[1] === 'B') {
        p.began = true;
        return;
      }
      const error = m[3] !== 'false';
      const raw = m[4] ?? '';
      // An unset variable is echoed as its own name: no row came back.
      const value = raw === `:q${p.n}_r` ? null : raw;
      p.resolve({ sent: true, returned: true, error, value, messages: p.messages });
      return;
    }
    if (p?.began) p.messages.push(line);
    else {
      this.stray.push(line);
      if (this.stray.length > 20) this.stray.shift();
    }
  }

  private settleOnExit(): void {
    const p = this.pending;
    if (!p) return;
    const said = [...p.messages, ...this.stray].filter((l) => l.trim() !== '').slice(-3).join(' / ');
    const why = p.timedOut ? `not connected within the op timeout (psql killed)${said ? `; ${said}` : ''}` : `psql exited: ${said || 'no message'}`;
    if (p.began) p.resolve({ sent: true, returned: false, why });
    else p.resolve({ sent: false, why });
  }

  private lastWords(): string {
    return this.stray.filter((l) => l.trim() !== '').slice(-2).join(' / ') || 'psql exited';
  }
}
