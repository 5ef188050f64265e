/**
 * The control API's one error taxonomy: every failure a client can see is a
 * code from {@link API_ERRORS}, answered with that code's HTTP status and the
 * body {@link ApiErrorBody} (wire.ts). Like fastify's `lib/errors.js`: one
 * table, so a code can never be answered with two different statuses.
 */

import { StoreError } from '../raft/store.ts';
import type { ApiErrorBody, ApiErrorCode } from './wire.ts';

export type { ApiErrorCode };

/** Each code's HTTP status and the message used when the thrower gives none. */
export const API_ERRORS: Readonly<Record<ApiErrorCode, { status: number; defaultMessage: string }>> = {
  RDB_ERR_INVALID: { status: 400, defaultMessage: 'the request is invalid: fix it as the message says and retry' },
  RDB_ERR_TOO_LARGE: { status: 413, defaultMessage: 'the request body is too large: send the documented JSON object only' },
  RDB_ERR_UNAUTHORIZED: { status: 401, defaultMessage: 'no valid API token was given: pass one with the Authorization header' },
  RDB_ERR_FORBIDDEN: { status: 403, defaultMessage: "the API token's role does not allow this action: use a token with the needed role" },
  RDB_ERR_NOT_FOUND: { status: 404, defaultMessage: 'no such resource: check the path and the id' },
  RDB_ERR_CONFLICT: {
    status: 409,
    defaultMessage: 'another operation is in progress: wait for it to finish (GET /v1/operations/<id>) and retry',
  },
  RDB_ERR_PRECONDITION: {
    status: 412,
    defaultMessage: 'the action is unsafe in the current cluster state: check GET /v1/cluster, fix the cause and retry',
  },
  RDB_ERR_RATE_LIMITED: {
    status: 429,
    defaultMessage: 'too many failed authentications from this address: wait a minute, then retry with a valid API token',
  },
  RDB_ERR_NO_QUORUM: {
    status: 503,
    defaultMessage: 'the cluster has no quorum: bring a majority of voters back; GET /v1/cluster?consistency=local shows this node\'s possibly stale view',
  },
  RDB_ERR_UNAVAILABLE: { status: 503, defaultMessage: 'the agent cannot serve this request right now: retry shortly' },
  RDB_ERR_INTERNAL: { status: 500, defaultMessage: 'internal error in the agent: see the agent log and report it' },
};

/**
 * An expected failure, thrown by routes and by `ApiDeps` implementations. Its
 * `status` always comes from {@link API_ERRORS}; `message` says what happened
 * and what to do next; `details` carries machine-readable context (e.g. the
 * conflicting operation's id).
 */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details?: Record<string, unknown>;

  constructor(code: ApiErrorCode, message?: string, details?: Record<string, unknown>) {
    super(message ?? API_ERRORS[code].defaultMessage);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code].status;
    if (details !== undefined) this.details = details;
  }

  /** The response body for this error. */
  toBody(): ApiErrorBody {
    return { error: { code: this.code, message: this.message, ...(this.details !== undefined ? { details: this.details } : {}) } };
  }
}

export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}

/**
 * Translate a replicated-store failure that reached a route. Each branch keeps
 * the store's promise about whether a write happened, so the client knows
 * whether a retry (with the same request_id) is safe.
 */
export function fromStoreError(e: StoreError): ApiError {
  const details = { store: e.code, ...(e.leader ? { leader: e.leader } : {}) };
  switch (e.code) {
    case 'no-leader':
      return new ApiError('RDB_ERR_NO_QUORUM', `no Raft leader is known (${e.message}); nothing was changed: bring a majority of voters back, then retry`, details);
    case 'timeout':
    case 'outcome-unknown':
      return new ApiError(
        'RDB_ERR_UNAVAILABLE',
        `the cluster did not answer in time (${e.message}); a requested change may or may not have been recorded: retry with the same request_id, which never repeats it`,
        details,
      );
    case 'dropped':
    case 'not-leader':
    case 'unreachable':
    case 'stopped':
      return new ApiError('RDB_ERR_UNAVAILABLE', `the cluster could not take the request (${e.message}); nothing was changed: retry shortly`, details);
    case 'refused':
      return new ApiError('RDB_ERR_CONFLICT', `the cluster refused the request (${e.message}): wait for the pending change to finish and retry`, details);
    case 'invalid':
      // The agent built a bad command: a bug, not the client's fault.
      return new ApiError('RDB_ERR_INTERNAL', `the agent sent the cluster an invalid command (${e.message}): see the agent log and report it`, details);
  }
}

