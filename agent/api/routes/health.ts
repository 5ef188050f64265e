/**
 * Load-balancer health checks with Patroni's meanings, so existing HAProxy,
 * pgbouncer and Kubernetes probe configs work unchanged. Each answers GET,
 * HEAD and OPTIONS with 200 or 503; GET adds `{"role","state"}` and nothing
 * else (the routes are open, so they give away no cluster details).
 *
 * They read only the HA loop's cached snapshot: a probe never waits on the
 * engine or on Raft, and a stuck loop shows up as a failing /liveness rather
 * than as probes that hang.
 */

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { ApiDeps, HealthSnapshot } from '../deps.ts';
import {
  HEALTH_PATHS,
  errorBodySchema,
  healthBodySchema,
  noQuerySchema,
  readinessQuerySchema,
  replicaHealthQuerySchema,
  type HealthBody,
  type ReplicaHealthQuery,
} from '../wire.ts';

/** /liveness fails once the HA loop has not completed a cycle for this many intervals. */
export const LIVENESS_INTERVALS = 3;

/** Admin states in which a replica must not get load-balanced reads. */
const NOT_SERVING: ReadonlySet<string> = new Set(['draining', 'drained', 'fenced', 'upgrading', 'removed']);

const UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/**
 * Parse Patroni's `?lag=`: bytes ("1048576") or a PostgreSQL-style size
 * ("1024kB", "10MB", "1GB"; units of 1024, case-insensitive). Null if malformed.
 */
export function parseByteSize(text: string): number | null {
  const m = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?b)?\s*$/i.exec(text);
  if (!m) return null;
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]);
}

/** What a check is asked beyond the snapshot (from the query string). */
export interface HealthQuery {
  /** Max replica lag in bytes; null = no lag condition. */
  maxLagBytes: number | null;
  requireStreaming: boolean;
}

/** Primary that may accept writes: the record names it and its lease is fresh. */
export function isWritablePrimary(s: HealthSnapshot): boolean {
  return s.role === 'primary' && s.writable;
}

/** A replica a load balancer may send reads to (Patroni's /replica). */
export function isServingReplica(s: HealthSnapshot, q: HealthQuery): boolean {
  if (s.role !== 'replica' || !s.engineRunning) return false;
  if (s.tags.includes('noloadbalance') || NOT_SERVING.has(s.adminState)) return false;
  // `config set read_from_followers false`: routers must send reads to the primary.
  if (s.readFromFollowers === false) return false;
  if (q.requireStreaming && !s.streaming) return false;
  // Unknown lag fails a lag condition: we cannot show the replica is close enough.
  if (q.maxLagBytes !== null && (s.lagBytes === null || s.lagBytes > q.maxLagBytes)) return false;
  return true;
}

/** The HA loop completed a cycle recently enough (Kubernetes livenessProbe). */
export function isLive(s: HealthSnapshot, now: number): boolean {
  return now - s.lastCycleAt <= LIVENESS_INTERVALS * s.loopIntervalMs;
}

/** Ready for traffic: writable primary, or a replica that streams (within `?lag=`). */
export function isReady(s: HealthSnapshot, q: HealthQuery): boolean {
  if (isWritablePrimary(s)) return true;
  if (s.role !== 'replica' || !s.engineRunning || !s.streaming) return false;
  return q.maxLagBytes === null || (s.lagBytes !== null && s.lagBytes <= q.maxLagBytes);
}

type Check = (s: HealthSnapshot, q: HealthQuery, now: number) => boolean;

const CHECKS: { paths: readonly string[]; querystring: object; check: Check }[] = [
  { paths: HEALTH_PATHS.primary, querystring: noQuerySchema, check: (s) => isWritablePrimary(s) },
  { paths: HEALTH_PATHS.replica, querystring: replicaHealthQuerySchema, check: (s, q) => isServingReplica(s, q) },
  { paths: HEALTH_PATHS.readOnly, querystring: replicaHealthQuerySchema, check: (s, q) => isWritablePrimary(s) || isServingReplica(s, q) },
  { paths: HEALTH_PATHS.health, querystring: noQuerySchema, check: (s) => s.engineRunning },
  { paths: HEALTH_PATHS.liveness, querystring: noQuerySchema, check: (s, _q, now) => isLive(s, now) },
  { paths: HEALTH_PATHS.readiness, querystring: readinessQuerySchema, check: (s, q) => isReady(s, q) },
];

function queryOf(raw: ReplicaHealthQuery): HealthQuery {
  // The schema's pattern already rejected a malformed lag; parseByteSize agrees with it.
  const maxLagBytes = raw.lag === undefined ? null : parseByteSize(raw.lag);
  return { maxLagBytes, requireStreaming: raw.replication_state === 'streaming' };
}

/** Fastify plugin with the health checks. Register it outside any auth. */
export function healthRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    for (const { paths, querystring, check } of CHECKS) {
      for (const url of paths) {
        app.route<{ Querystring: ReplicaHealthQuery }>({
          method: ['GET', 'HEAD', 'OPTIONS'],
          url,
          // Probes arrive every second or two: log only trouble.
          logLevel: 'warn',
          schema: { querystring, response: { 200: healthBodySchema, 503: healthBodySchema, '4xx': errorBodySchema } },
          handler: async (req: FastifyRequest<{ Querystring: ReplicaHealthQuery }>, reply: FastifyReply) => {
            let ok = false;
            let body: HealthBody = { role: 'unknown', state: 'stopped' };
            try {
              const s = deps.health();
              ok = check(s, queryOf(req.query), deps.now());
              body = { role: s.role, state: s.engineRunning ? 'running' : 'stopped' };
            } catch (err) {
              // A broken snapshot must not make a probe pass, nor leak details.
              req.log.error({ err }, `health snapshot failed while serving ${req.url}`);
            }
            reply.code(ok ? 200 : 503);
            return req.method === 'GET' ? body : reply.send();
          },
        });
      }
    }
  };
}
