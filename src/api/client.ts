/**
 * The CLI's client of the agents' control API. It tries the endpoints in
 * order when one cannot be reached (connection refused, reset, timed out),
 * but never after an HTTP answer: an agent that answered has spoken for the
 * cluster. API errors become CliErrors, so their exit codes come from
 * errors.ts like every other failure.
 *
 * undici is imported on first use: `--version` and `--help` do not load it.
 */

import type { Dispatcher } from 'undici';
import type { ApiErrorBody, ApiErrorCode } from '../../agent/api/wire.ts';
import { CliError, type CliErrorKind } from '../errors.ts';

/** Per-request timeout when none is given. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

export interface ApiClientOptions {
  /** Each request (connect + answer) gives up after this long and moves to the next endpoint. */
  timeoutMs: number;
  /** For tests (an undici MockAgent); default: undici's global dispatcher. */
  dispatcher?: Dispatcher;
}

/** How each API error code reaches the operator. */
const KIND_OF: Record<ApiErrorCode, CliErrorKind> = {
  RDB_ERR_INVALID: 'usage',
  RDB_ERR_UNAUTHORIZED: 'auth',
  RDB_ERR_FORBIDDEN: 'auth',
  RDB_ERR_PRECONDITION: 'precondition',
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
  /** The endpoint that answered. */
  endpoint: string;
}

export class ApiClient {
  constructor(
    readonly endpoints: string[],
    private readonly opts: ApiClientOptions,
  ) {
    if (endpoints.length === 0) throw new CliError('usage', 'no endpoint to talk to: give --endpoint URL');
  }

  async get<T>(path: string): Promise<T> {
    return (await this.send<T>('GET', path, undefined)).body;
  }

  async post<T>(path: string, body: unknown): Promise<T> {
    return (await this.send<T>('POST', path, body)).body;
  }

  /**
   * One request, to the first endpoint that can be reached. POSTs are retried
   * on another endpoint only after a connection-level failure; callers make
   * them idempotent with a request_id.
   */
  async send<T>(method: 'GET' | 'POST', path: string, body: unknown): Promise<ApiResponse<T>> {
    const { request } = await import('undici');
    const failures: string[] = [];
    for (const endpoint of this.endpoints) {
      let res: Dispatcher.ResponseData;
      try {
        res = await request(endpoint + path, {
          method,
          headers: body === undefined ? { accept: 'application/json' } : { accept: 'application/json', 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.opts.timeoutMs),
          ...(this.opts.dispatcher && { dispatcher: this.opts.dispatcher }),
        });
      } catch (err) {
        const why = connectionFailure(err, this.opts.timeoutMs);
        if (why === null) throw err;
        failures.push(`${endpoint} (${why})`);
        continue;
      }
      const text = await res.body.text();
      const location = typeof res.headers.location === 'string' ? res.headers.location : null;
      if (res.statusCode >= 200 && res.statusCode < 300) {
        try {
          return { status: res.statusCode, body: JSON.parse(text) as T, location, endpoint };
        } catch {
          throw new CliError('failed', `${endpoint} answered ${method} ${path} with something that is not JSON; is it a rustydb-agent?`);
        }
      }
      throw apiError(endpoint, method, path, res.statusCode, text);
    }
    throw new CliError(
      'unreachable',
      `no agent could be reached: ${failures.join(', ')}; check that the agents run and the endpoints (--endpoint, RUSTYDB_ENDPOINTS or the context) are right`,
    );
  }
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
