/**
 * The CLI's client of the agents' control API. It tries the endpoints in
 * order when one cannot be reached (connection refused, reset, timed out),
 * but never after an HTTP answer: an agent that answered has spoken for the
 * cluster. API errors become CliErrors, so their exit codes come from
 * errors.ts like every other failure.
 *
 * Leader redirects: an answer 307/308 with a Location, or an error whose
 * details carry the leader's URL (`leaderUrl`/`leader_url`, e.g. a 421 "not
 * the leader"), is followed with the same method and body, at most
 * {@link MAX_REDIRECTS} hops. (Today's agent forwards writes to the Raft
 * leader itself, agent/raft/node.ts, so it sends neither; the client is ready
 * for both.)
 *
 * Timeouts: each request (connect + answer) is bounded by
 * `AbortSignal.timeout` (undici's own timers are only second-accurate);
 * callers may pass their own `timeoutMs` and a `signal` (Ctrl-C).
 *
 * Transport: undici when a dispatcher is configured (given in the options, or
 * installed globally with setGlobalDispatcher, as the tests' MockAgent is);
 * otherwise node:http(s). Loading undici costs ~70 ms, half of the CLI's
 * startup budget for `cluster status` (measured by `npm run bench:cli`), and
 * a one-shot CLI needs nothing of it that node:http lacks.
 *
 * Exports: DEFAULT_REQUEST_TIMEOUT_MS, MAX_REDIRECTS, ApiClientOptions,
 * RequestOptions, HttpMethod, ApiRequestError, ApiResponse, ApiClient
 * (get/post/put/delete/send).
 */

import type { Dispatcher } from 'undici';
import type { ApiErrorBody, ApiErrorCode } from '../../agent/api/wire.ts';
import { CliError, type CliErrorKind } from '../errors.ts';

/** Per-request timeout when none is given. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** Leader redirects followed per request before giving up. */
export const MAX_REDIRECTS = 3;

export interface ApiClientOptions {
  /** Each request (connect + answer) gives up after this long and moves to the next endpoint. */
  timeoutMs: number;
  /** For tests (an undici MockAgent); default: undici's global dispatcher if one is installed, else node:http. */
  dispatcher?: Dispatcher;
  /** API token sent as `Authorization: Bearer`; default: the process's {@link setTokenSource}. Never printed. */
  token?: string | null;
  /** PEM CA certificate(s) trusted for https endpoints; default: the process's {@link setCaSource}, else the system's. */
  ca?: string | null;
}

/** Where the trusted CA comes from when a client is given none: set once per run by cli.ts. */
let caSource: (() => string | null) | null = null;

/**
 * Set (or clear) the CA source every {@link ApiClient} without its own `ca`
 * uses for https: cli.ts sets it from --ca-file, RUSTYDB_CA_FILE or the
 * context's ca_file; read on the first https request.
 */
export function setCaSource(source: (() => string | null) | null): void {
  if (source === null) {
    caSource = null;
    return;
  }
  let cached: { ca: string | null } | null = null;
  caSource = () => (cached ??= { ca: source() }).ca;
}

/** Where the API token comes from when a client is given none: set once per run by cli.ts, read on the first request. */
let tokenSource: (() => string | null) | null = null;

/**
 * Set (or clear, with null) the API token source every {@link ApiClient}
 * without its own `token` uses. cli.ts sets it before each command from
 * --token-file, RUSTYDB_TOKEN or the context's token_file; the source is
 * called on the first request (so a command that sends none never reads it).
 */
export function setTokenSource(source: (() => string | null) | null): void {
  if (source === null) {
    tokenSource = null;
    return;
  }
  let cached: { token: string | null } | null = null;
  tokenSource = () => (cached ??= { token: source() }).token;
}

/** Per-call options of {@link ApiClient.send}. */
export interface RequestOptions {
  /** Overrides the client's per-request timeout for this call. */
  timeoutMs?: number;
  /** Aborts the request (Ctrl-C): the call rejects with CliError 'interrupted'. */
  signal?: AbortSignal;
}

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** How each API error code reaches the operator. */
const KIND_OF: Record<ApiErrorCode, CliErrorKind> = {
  RDB_ERR_INVALID: 'usage',
  RDB_ERR_TOO_LARGE: 'usage',
  RDB_ERR_UNAUTHORIZED: 'auth',
  RDB_ERR_FORBIDDEN: 'auth',
  RDB_ERR_PRECONDITION: 'precondition',
  RDB_ERR_RATE_LIMITED: 'auth',
  RDB_ERR_NO_QUORUM: 'precondition',
  RDB_ERR_CONFLICT: 'conflict',
  RDB_ERR_NOT_FOUND: 'precondition',
  RDB_ERR_UNAVAILABLE: 'failed',
  RDB_ERR_INTERNAL: 'failed',
};

/** An error answer of the API, as a CliError that keeps the API's code and the HTTP status. */
export class ApiRequestError extends CliError {
  constructor(
    kind: CliErrorKind,
    message: string,
    readonly status: number,
    readonly code: ApiErrorCode | null,
    readonly endpoint: string,
  ) {
    super(kind, message, code ? `(${code}, HTTP ${status} from ${endpoint})` : `(HTTP ${status} from ${endpoint})`);
    this.name = 'ApiRequestError';
  }
}

/** A 2xx answer: the parsed body and the headers the caller may need (Location). */
export interface ApiResponse<T> {
  status: number;
  body: T;
  location: string | null;
  /** The endpoint (origin) that answered, after redirects. */
  endpoint: string;
}

export class ApiClient {
  constructor(
    readonly endpoints: string[],
    private readonly opts: ApiClientOptions,
  ) {
    if (endpoints.length === 0) throw new CliError('usage', 'no endpoint to talk to: give --endpoint URL');
  }

  async get<T>(path: string, ro?: RequestOptions): Promise<T> {
    return (await this.send<T>('GET', path, undefined, ro)).body;
  }

  async post<T>(path: string, body: unknown, ro?: RequestOptions): Promise<T> {
    return (await this.send<T>('POST', path, body, ro)).body;
  }

  async put<T>(path: string, body: unknown, ro?: RequestOptions): Promise<T> {
    return (await this.send<T>('PUT', path, body, ro)).body;
  }

  async delete<T>(path: string, body?: unknown, ro?: RequestOptions): Promise<T> {
    return (await this.send<T>('DELETE', path, body, ro)).body;
  }

  /**
   * One request, to the first endpoint that can be reached, following leader
   * redirects. Writes are retried on another endpoint only after a
   * connection-level failure; callers make them idempotent with a request_id.
   * Reads also move on after a 503 (that agent cannot answer for the cluster now).
   */
  async send<T>(method: HttpMethod, path: string, body: unknown, ro: RequestOptions = {}): Promise<ApiResponse<T>> {
    const timeoutMs = ro.timeoutMs ?? this.opts.timeoutMs;
    const failures: string[] = [];
    // A read that one agent cannot serve (503: it is cut off, catching up, or no longer a member)
    // may succeed on the next endpoint; the first such answer is reported if none can.
    let unavailable: CliError | null = null;
    for (const endpoint of this.endpoints) {
      let url = endpoint + path;
      for (let hops = 0; ; hops++) {
        const origin = new URL(url).origin;
        let res: RawResponse;
        try {
          res = await this.transport(method, url, body, timeoutMs, ro.signal);
        } catch (err) {
          if (ro.signal?.aborted) throw new CliError('interrupted', `interrupted (Ctrl-C) during ${method} ${path} to ${origin}`);
          const why = connectionFailure(err, timeoutMs);
          if (why === null) throw err;
          failures.push(`${url === endpoint + path ? endpoint : url} (${why})`);
          break;
        }
        const location = typeof res.headers.location === 'string' ? res.headers.location : null;
        const next = redirectTarget(res.status, location, res.text, url);
        if (next !== null) {
          if (hops >= MAX_REDIRECTS) {
            throw new CliError('failed', `${method} ${path} was redirected more than ${MAX_REDIRECTS} times (last to ${next}); the agents disagree about the leader: retry shortly`);
          }
          url = next;
          continue;
        }
        if (res.status >= 200 && res.status < 300) {
          try {
            return { status: res.status, body: JSON.parse(res.text) as T, location, endpoint: origin };
          } catch {
            throw new CliError('failed', `${origin} answered ${method} ${path} with something that is not JSON; is it a rustydb-agent?`);
          }
        }
        const e = apiError(origin, method, path, res.status, res.text);
        if (method === 'GET' && res.status === 503) {
          unavailable ??= e;
          break;
        }
        throw e;
      }
    }
    if (unavailable) throw unavailable;
    throw new CliError(
      'unreachable',
      `no agent could be reached: ${failures.join(', ')}; check that the agents run and the endpoints (--endpoint, RUSTYDB_ENDPOINTS or the context) are right`,
    );
  }

  private transport(method: HttpMethod, url: string, body: unknown, timeoutMs: number, signal: AbortSignal | undefined): Promise<RawResponse> {
    const headers: Record<string, string> = body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' };
    const token = this.opts.token !== undefined ? this.opts.token : (tokenSource?.() ?? null);
    if (token) headers.authorization = `Bearer ${token}`;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const timeout = AbortSignal.timeout(timeoutMs);
    const all = signal ? AbortSignal.any([timeout, signal]) : timeout;
    const ca = url.startsWith('https:') ? (this.opts.ca !== undefined ? this.opts.ca : (caSource?.() ?? null)) : null;
    if (this.opts.dispatcher || undiciInstalled()) return viaUndici(this.opts.dispatcher, method, url, headers, payload, all, ca);
    return viaNodeHttp(method, url, headers, payload, all, ca);
  }
}

/** An answer, whatever the transport. */
interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** undici's global dispatcher has been set (undici sets it when loaded; tests install a MockAgent). */
function undiciInstalled(): boolean {
  return (globalThis as Record<symbol, unknown>)[Symbol.for('undici.globalDispatcher.1')] !== undefined;
}

/** One undici Agent per trusted CA (a CLI run has one). */
const caAgents = new Map<string, Dispatcher>();

async function viaUndici(dispatcher: Dispatcher | undefined, method: HttpMethod, url: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, ca: string | null = null): Promise<RawResponse> {
  const { request, Agent } = await import('undici');
  if (!dispatcher && ca !== null) {
    if (!caAgents.has(ca)) caAgents.set(ca, new Agent({ connect: { ca } }));
    dispatcher = caAgents.get(ca);
  }
  const res = await request(url, { method, headers, body, signal, ...(dispatcher && { dispatcher }) });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

async function viaNodeHttp(method: HttpMethod, url: string, headers: Record<string, string>, body: string | undefined, signal: AbortSignal, ca: string | null = null): Promise<RawResponse> {
  const { request } = url.startsWith('https:') ? await import('node:https') : await import('node:http');
  return new Promise<RawResponse>((resolve, reject) => {
    const h = body === undefined ? headers : { ...headers, 'content-length': String(Buffer.byteLength(body)) };
    const req = request(url, { method, headers: h, signal, ...(ca !== null && { ca }) }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      res.on('error', reject);
      res.on('aborted', () => reject(signal.reason ?? Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' })));
    });
    req.on('error', (err) => reject(signal.aborted ? (signal.reason ?? err) : err));
    req.end(body);
  });
}

/**
 * Where a redirect points, absolute, or null: a 307/308 with a Location, or
 * an error answer naming the leader's API URL in its details.
 */
function redirectTarget(status: number, location: string | null, text: string, from: string): string | null {
  if ((status === 307 || status === 308) && location) return new URL(location, from).href;
  if (status < 400) return null;
  let details: Record<string, unknown> | undefined;
  try {
    details = (JSON.parse(text) as ApiErrorBody).error?.details;
  } catch {
    return null;
  }
  const leader = details?.leaderUrl ?? details?.leader_url;
  if (typeof leader !== 'string' || !/^https?:\/\//.test(leader)) return null;
  const here = new URL(from);
  const there = new URL(here.pathname + here.search, leader);
  return there.origin === here.origin ? null : there.href;
}

/** Why a request never got an answer, or null when the error is something else (a bug, a mock mismatch). */
function connectionFailure(err: unknown, timeoutMs: number): string | null {
  const e = err as { name?: string; code?: string; message?: string; cause?: { code?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs} ms`;
  const code = e?.code ?? e?.cause?.code;
  if (typeof code !== 'string') return null;
  if (/^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE)$/.test(code)) return code;
  if (/^UND_ERR_(CONNECT_TIMEOUT|SOCKET|CLOSED|HEADERS_TIMEOUT|BODY_TIMEOUT)$/.test(code)) return code;
  return null;
}

function apiError(endpoint: string, method: string, path: string, status: number, text: string): ApiRequestError {
  let parsed: ApiErrorBody | null = null;
  try {
    parsed = JSON.parse(text) as ApiErrorBody;
  } catch {
    // not the API's error shape: described by status below
  }
  const code = parsed?.error?.code;
  if (code && code in KIND_OF) return new ApiRequestError(KIND_OF[code], parsed!.error.message, status, code, endpoint);
  const kind: CliErrorKind = status === 401 || status === 403 ? 'auth' : status === 404 ? 'precondition' : status >= 400 && status < 500 ? 'usage' : 'failed';
  return new ApiRequestError(kind, `${method} ${path} failed with HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`, status, null, endpoint);
}
