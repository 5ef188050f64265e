/**
 * Authentication and authorization of the control API (`/v1/*`):
 *
 * - {@link makeAuth}`().authenticate` (onRequest, before the body is read):
 *   `Authorization: Bearer rdbt_…` → the token's principal on `req.principal`,
 *   then the route's minimum role from roles.ts. No or a bad token → 401,
 *   too weak a role → 403, too many failures from one address → 429 (before
 *   any hashing, so a guesser cannot burn the agent's CPU). A join token
 *   (`Bearer rdbj_…`) passes only on the routes that take one; their handlers
 *   verify it.
 * - `authorize` (preHandler, after validation): roles that depend on the
 *   request (a forced failover needs admin).
 *
 * The token itself is never logged; a refusal is logged with the address,
 * route and reason.
 */

import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError } from '../api/errors.ts';
import { routeRule } from './roles.ts';
import { roleAtLeast, TokenVerifier, type TokenPrincipal, type TokenRecordReader } from './tokens.ts';

/** Who is calling: set by `authenticate` on every /v1 request it lets through (public routes: unset). */
export type Principal = TokenPrincipal | { kind: 'join-token'; raw: string };

declare module 'fastify' {
  interface FastifyRequest {
    principal?: Principal;
  }
}

/** Failed authentications allowed per address and window before answering 429. */
export interface AuthRateLimit {
  maxFailures: number;
  windowMs: number;
}

export const DEFAULT_AUTH_RATE_LIMIT: AuthRateLimit = { maxFailures: 50, windowMs: 60_000 };

export interface AuthOptions {
  /** Token records, read locally. */
  store: TokenRecordReader;
  rateLimit?: AuthRateLimit;
  /** Wall-clock ms (tests pass a fake clock). */
  now?: () => number;
  logger?: FastifyBaseLogger;
}

type Hook = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

/**
 * Per-address failure counter over fixed windows. Bounded: when it holds too
 * many addresses, expired windows are dropped first, then the oldest.
 */
export class FailureLimiter {
  private readonly seen = new Map<string, { start: number; failures: number }>();

  constructor(
    private readonly limit: AuthRateLimit,
    private readonly now: () => number,
    private readonly maxAddresses = 10_000,
  ) {}

  /** Seconds until `ip` may try again, or 0 when it may now. */
  blockedFor(ip: string): number {
    const e = this.seen.get(ip);
    if (!e) return 0;
    const left = e.start + this.limit.windowMs - this.now();
    if (left <= 0) {
      this.seen.delete(ip);
      return 0;
    }
    return e.failures >= this.limit.maxFailures ? Math.ceil(left / 1000) : 0;
  }

  fail(ip: string): void {
    const t = this.now();
    const e = this.seen.get(ip);
    if (e && t - e.start < this.limit.windowMs) {
      e.failures++;
      return;
    }
    if (this.seen.size >= this.maxAddresses) this.prune(t);
    this.seen.set(ip, { start: t, failures: 1 });
  }

  private prune(t: number): void {
    for (const [ip, e] of this.seen) if (t - e.start >= this.limit.windowMs) this.seen.delete(ip);
    while (this.seen.size >= this.maxAddresses) this.seen.delete(this.seen.keys().next().value as string);
  }
}

/** The hooks buildApp takes (`authenticate`, `authorize`), sharing one verifier and one limiter. */
export function makeAuth(o: AuthOptions): { authenticate: Hook; authorize: Hook; verifier: TokenVerifier } {
  const verifier = new TokenVerifier(o.store);
  const limiter = new FailureLimiter(o.rateLimit ?? DEFAULT_AUTH_RATE_LIMIT, o.now ?? Date.now);

  const refuse = (req: FastifyRequest, route: string, why: string, message: string): ApiError => {
    limiter.fail(req.ip);
    (o.logger ?? req.log).warn({ ip: req.ip, method: req.method, route, why }, 'API request refused: not authenticated');
    return new ApiError('RDB_ERR_UNAUTHORIZED', message);
  };

  const authenticate: Hook = async (req, reply) => {
    const route = req.routeOptions.url ?? req.url.split('?')[0];
    const rule = routeRule(req.method, req.routeOptions.url);
    if (rule.role === 'public') return;
    const wait = limiter.blockedFor(req.ip);
    if (wait > 0) {
      reply.header('retry-after', String(wait));
      throw new ApiError('RDB_ERR_RATE_LIMITED', `too many failed authentications from ${req.ip}: retry in ${wait} s with a valid API token`, { retryAfterSeconds: wait });
    }
    const header = req.headers.authorization;
    if (header === undefined || header === '') {
      throw refuse(req, route, 'no token', 'no API token was given: send "Authorization: Bearer <token>" (rustydb-admin reads it from the context\'s token_file, --token-file or RUSTYDB_TOKEN)');
    }
    const m = /^Bearer +(\S+) *$/i.exec(header);
    if (!m) throw refuse(req, route, 'not a bearer token', 'the Authorization header must be "Bearer <token>"');
    const raw = m[1];
    if (raw.startsWith('rdbj_')) {
      if (rule.joinToken) {
        req.principal = { kind: 'join-token', raw };
        return;
      }
      throw refuse(req, route, 'join token on another route', 'a join token only lets a new node join (POST /v1/node/join, POST /v1/members): use an API token for anything else');
    }
    let result;
    try {
      result = await verifier.verify(raw);
    } catch (err) {
      // The local store is shutting down or broken: not the client's fault, and not a failed guess.
      throw new ApiError('RDB_ERR_UNAVAILABLE', `cannot check the API token right now (${(err as Error).message}): retry shortly`);
    }
    if (!result.ok) {
      throw refuse(req, route, result.why, 'the API token is not valid (unknown, revoked or mistyped): check the token file, or ask an admin for a new token (rustydb-admin token create)');
    }
    req.principal = result.principal;
    checkRole(result.principal, rule.role, req.method, route);
  };

  const authorize: Hook = async (req) => {
    const rule = routeRule(req.method, req.routeOptions.url);
    const p = req.principal;
    if (!rule.escalate || p?.kind !== 'token') return;
    if (rule.escalate.test({ body: req.body, query: req.query })) checkRole(p, rule.escalate.role, req.method, `${req.routeOptions.url} ${rule.escalate.when}`);
  };

  return { authenticate, authorize, verifier };
}

function checkRole(p: TokenPrincipal, need: Exclude<ReturnType<typeof routeRule>['role'], 'public'>, method: string, what: string): void {
  if (roleAtLeast(p.role, need)) return;
  throw new ApiError('RDB_ERR_FORBIDDEN', `token "${p.name}" has role ${p.role}, but ${method} ${what} needs ${need}: use a token with that role`, {
    role: p.role,
    required: need,
  });
}
