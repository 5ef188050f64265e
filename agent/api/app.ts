/**
 * The agent's HTTP application: control API, health checks, and whatever
 * extra plugins the agent passes (the Raft peer routes). `buildApp` does not
 * listen; `main` does, tests use `app.inject()`.
 *
 * Layout (Fastify encapsulation):
 *   root ── extra plugins (own paths, limits and error bodies)
 *        └─ control API scope: RDB_ERR_* error handler
 *             ├─ health checks (open), and the raft-info peer route
 *             └─ /v1 scope: `authenticate` hook, then cluster, node, config and cluster-health routes
 */

import type { AdminDeps } from '../admin.ts';
import { adminRoutes } from './routes/admin.ts';
import type { ForceQuorumDeps } from '../procedures/force-quorum.ts';
import { forceQuorumRoutes, positionPeerRoute } from './routes/force-quorum.ts';
import Fastify, { type RouteOptions, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify';
import { isStoreError } from '../raft/store.ts';
import type { ApiDeps } from './deps.ts';
import { ApiError, fromStoreError, isApiError } from './errors.ts';
import { noQuerySchema } from './wire.ts';
import { raftInfoRoutes } from './raft-info.ts';
import { clusterRoutes } from './routes/cluster.ts';
import { configRoutes } from './routes/config.ts';
import { clusterHealthRoutes } from './routes/health-scores.ts';
import { healthRoutes } from './routes/health.ts';
import { nodeRoutes } from './routes/node.ts';
import { tokenRoutes, type TokenRoutesDeps } from './routes/tokens.ts';
import type { ServerOptions as HttpsServerOptions } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { NodeCerts } from '../security/node-certs.ts';
import type { ClusterState } from '../state/cluster-state.ts';
import { pkiAdminRoutes, pkiOpenRoutes } from './routes/pki.ts';
import type { UpgradeNodeDeps } from '../procedures/upgrade-node.ts';
import { upgradeNodeRoutes } from './routes/upgrade-node.ts';
import { upgradeJournalRoutes } from './routes/upgrade-journal.ts';
import type { ClusterStore } from '../raft/store.ts';

/** Largest accepted request body of the control API (route options may raise it, as the Raft peer routes do). */
export const API_BODY_LIMIT = 64 * 1024;

/** Deepest JSON nesting the control API accepts: its bodies are flat; deep nesting is only ever an attack on the parser. */
export const MAX_JSON_DEPTH = 16;

export interface BuildAppOptions {
  /**
   * Registered at the root before the API (e.g. `raftPeerRoutes(node)`). They
   * keep their own error handling; they are not behind `authenticate`.
   */
  plugins?: FastifyPluginAsync[];
  /**
   * Runs as an `onRequest` hook in front of every `/v1/*` route, before the
   * body is read or validated; throw `ApiError('RDB_ERR_UNAUTHORIZED' | 'RDB_ERR_FORBIDDEN')`
   * to refuse. The health checks never run it.
   */
  authenticate?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** A `preHandler` on every `/v1/*` route, after validation: permission checks that depend on the body (agent/security/auth.ts). */
  authorize?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** An `onResponse` hook on every `/v1/*` route: records mutating calls (agent/security/audit.ts). */
  audit?: (req: FastifyRequest, reply: FastifyReply) => Promise<void>;
  /** API-token management and the audit log routes (agent/api/routes/tokens.ts). */
  tokens?: TokenRoutesDeps;
  /**
   * Serve HTTPS with these options (main.ts: TLS 1.3 only, client certificates
   * requested but optional). With it, peer routes (`/raft/*`, `/internal/*`)
   * answer 401 unless the client presented a certificate the cluster CA verifies.
   */
  https?: HttpsServerOptions;
  /** Join tokens, certificate rotation and the open CA route (agent/security/node-certs.ts). */
  pki?: { certs: NodeCerts; state: ClusterState };
  /** The agent's pino logger; none by default (tests). */
  logger?: FastifyBaseLogger;
  /** The operator's member and node procedures (join, remove, fence, drain, stop/start, reinit). */
  admin?: AdminDeps;
  /** `cluster force-quorum`: this node's position (also as a peer route) and the forced reconfiguration. */
  forceQuorum?: ForceQuorumDeps;
  /** `node upgrade`: a minor upgrade of this node's engine (agent/procedures/upgrade-node.ts). */
  upgradeNode?: UpgradeNodeDeps;
  /** The replicated store behind the procedure journals (`GET|PUT /v1/procedures/upgrade`, agent/api/routes/upgrade-journal.ts). */
  procedures?: ClusterStore;
}

export function buildApp(deps: ApiDeps, opts: BuildAppOptions = {}): FastifyInstance {
  // The https variant has another server type; the routes do not care which one serves them.
  const app = Fastify({
    ...(opts.https ? { https: opts.https } : {}),
    ...(opts.logger ? { loggerInstance: opts.logger } : { logger: false }),
    bodyLimit: API_BODY_LIMIT,
    // Fastify's Ajv strips unknown fields by default; we want them to be a 400 naming the field.
    ajv: { customOptions: { removeAdditional: false } },
  });

  // Mutual TLS for agent-to-agent routes: before any plugin, so it covers them all.
  if (opts.https) app.addHook('onRequest', requirePeerCertificate);
  for (const plugin of opts.plugins ?? []) app.register(plugin);

  app.register(async (api) => {
    api.setErrorHandler(handleError);
    strictJsonBodies(api);
    api.addHook('onRoute', closeUndeclaredParts);
    api.register(healthRoutes(deps));
    // A peer route (agent to agent), beside the HA loop's /internal/v1/*: not behind `authenticate`.
    if (deps.raftInfo) api.register(raftInfoRoutes(deps.raftInfo.bind(deps)));
    if (opts.forceQuorum) api.register(positionPeerRoute(opts.forceQuorum));
    if (opts.pki) api.register(pkiOpenRoutes(opts.pki.certs));
    api.register(async (v1) => {
      if (opts.authenticate) v1.addHook('onRequest', opts.authenticate);
      if (opts.authorize) v1.addHook('preHandler', opts.authorize);
      if (opts.audit) v1.addHook('onResponse', opts.audit);
      if (opts.tokens) v1.register(tokenRoutes(opts.tokens));
      if (opts.pki) v1.register(pkiAdminRoutes(opts.pki.certs, opts.pki.state));
      v1.register(clusterRoutes(deps));
      v1.register(nodeRoutes(deps));
      if (opts.admin) v1.register(adminRoutes(opts.admin));
      if (opts.forceQuorum) v1.register(forceQuorumRoutes(opts.forceQuorum));
      if (opts.upgradeNode) v1.register(upgradeNodeRoutes(opts.upgradeNode));
      v1.register(configRoutes(deps));
      v1.register(clusterHealthRoutes(deps));
      if (opts.procedures) v1.register(upgradeJournalRoutes(opts.procedures));
    });
  });

  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError('RDB_ERR_NOT_FOUND', `no route ${req.method} ${req.url.split('?')[0]}: check the path (the API is under /v1)`);
    return reply.code(e.status).send(e.toBody());
  });

  return app;
}

const NO_BODY_SCHEMA = { type: 'object', additionalProperties: false, properties: {} } as const;

/**
 * A /v1 route that declares no query string or (for POST/PUT/DELETE) no body
 * takes none: any field there is a 400 naming it, as on every other route,
 * and an absent body means `{}`.
 */
function closeUndeclaredParts(route: RouteOptions): void {
  if (!route.url.startsWith('/v1/')) return;
  const schema = { ...(route.schema ?? {}) } as Record<string, unknown>;
  schema.querystring ??= noQuerySchema;
  if (schema.body === undefined && [route.method].flat().some((m) => m !== 'GET' && m !== 'HEAD')) {
    schema.body = NO_BODY_SCHEMA;
    const noBodyMeansEmpty = async (req: FastifyRequest) => void (req.body ??= {});
    route.preValidation = [noBodyMeansEmpty, ...[route.preValidation ?? []].flat()] as RouteOptions['preValidation'];
  }
  route.schema = schema;
}

/**
 * The control API's JSON parser: Fastify's own (which refuses `__proto__` and
 * `constructor.prototype`), after two checks it lacks: the bytes must be
 * valid UTF-8 (Node would otherwise decode bad bytes to U+FFFD and carry on),
 * and nesting must stay within {@link MAX_JSON_DEPTH} (counted before
 * parsing, so a 64 KiB `[[[[…` never reaches the parser or the validator).
 */
function strictJsonBodies(api: FastifyInstance): void {
  const parse = api.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  api.removeContentTypeParser('application/json');
  api.addContentTypeParser('application/json', { parseAs: 'buffer' }, (req, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new ApiError('RDB_ERR_INVALID', 'the request body is not valid UTF-8: send JSON encoded as UTF-8'), undefined);
    }
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      return done(new ApiError('RDB_ERR_INVALID', `the request body is nested deeper than ${MAX_JSON_DEPTH} levels: send the documented (flat) JSON object`), undefined);
    }
    parse(req, text, done);
  });
}

/** The deepest nesting of `[`/`{` outside strings (an upper bound for malformed text, which the parser then refuses). */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) max = Math.max(max, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

/** Paths only cluster members may call (Raft traffic, HA peer calls, rotation steps). */
export function isPeerPath(url: string): boolean {
  return url.startsWith('/raft/') || url.startsWith('/internal/');
}

/** 401 on a peer route unless the TLS client certificate was verified against the cluster CA. */
async function requirePeerCertificate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
  if (!isPeerPath(req.url)) return;
  if ((req.raw.socket as Partial<TLSSocket>).authorized === true) return;
  const e = new ApiError('RDB_ERR_UNAUTHORIZED', `${req.url.split('?')[0]} is a peer route: it needs a client certificate signed by the cluster CA (mutual TLS); only cluster members may call it`);
  await reply.code(e.status).send(e.toBody());
}

/** Every error of the control API leaves here as an RDB_ERR_* body; a 500 never carries internals. */
function handleError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toApiError(err, req);
  // Only a 500 is a bug worth a stack in the log; a 503 (no quorum) is the cluster's state.
  if (e.status === 500) req.log.error({ err }, `${req.method} ${req.url} failed: ${e.code}`);
  else if (e.status > 500) req.log.warn(`${req.method} ${req.url}: ${e.code}: ${e.message}`);
  return reply.code(e.status).send(e.toBody());
}

export function toApiError(err: unknown, req: FastifyRequest): ApiError {
  if (isApiError(err)) return err;
  if (isStoreError(err)) return fromStoreError(err);
  const fe = err as Partial<FastifyError>;
  if (Array.isArray(fe.validation) && fe.validation.length > 0) return validationError(fe as FastifyError, req);
  // Fastify's own client errors (body too large, malformed JSON, wrong content type): safe, fixed messages.
  if (typeof fe.code === 'string' && fe.code.startsWith('FST_') && typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ApiError(fe.statusCode === 413 ? 'RDB_ERR_TOO_LARGE' : 'RDB_ERR_INVALID', `${fe.message}: fix the request and retry${fe.statusCode === 413 ? ` (limit ${API_BODY_LIMIT} bytes)` : ''}`, {
      fastify: fe.code,
    });
  }
  return new ApiError('RDB_ERR_INTERNAL', `internal error while serving ${req.method} ${req.url.split('?')[0]}: see the agent log for request ${req.id}`, {
    requestId: req.id,
  });
}

const WHERE: Record<string, { words: string; schemaKey: 'body' | 'querystring' | 'params' | 'headers' }> = {
  body: { words: 'request body', schemaKey: 'body' },
  querystring: { words: 'query string', schemaKey: 'querystring' },
  params: { words: 'path', schemaKey: 'params' },
  headers: { words: 'headers', schemaKey: 'headers' },
};

/** One message naming the field; Ajv stops at the first error (allErrors is off). */
function validationError(err: FastifyError, req: FastifyRequest): ApiError {
  const v = err.validation![0] as { keyword: string; instancePath: string; params: Record<string, unknown>; message?: string };
  const where = WHERE[err.validationContext ?? 'body'] ?? WHERE.body;
  const location = where.schemaKey === 'querystring' ? 'query' : where.schemaKey === 'params' ? 'path' : where.schemaKey;
  const parent = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
  const join = (name: string) => (parent ? `${parent}.${name}` : name);

  if (v.keyword === 'additionalProperties') {
    const field = join(String(v.params.additionalProperty));
    const allowed = parent ? [] : Object.keys(routeSchema(req, where.schemaKey)?.properties ?? {});
    const hint = allowed.length > 0 ? `accepted: ${allowed.join(', ')}` : 'none is accepted here';
    return new ApiError('RDB_ERR_INVALID', `unknown field "${field}" in the ${where.words}: remove it (${hint})`, { field, location });
  }
  if (v.keyword === 'required') {
    const field = join(String(v.params.missingProperty));
    return new ApiError('RDB_ERR_INVALID', `missing field "${field}" in the ${where.words}: add it`, { field, location });
  }
  if (!parent) {
    return new ApiError('RDB_ERR_INVALID', `the ${where.words} ${v.message ?? 'is invalid'}: send a JSON object`, { location });
  }
  // A regex means nothing to an operator: say what the field should look like instead.
  const description = parent.includes('.') ? undefined : routeSchema(req, where.schemaKey)?.properties?.[parent]?.description;
  const problem =
    v.keyword === 'pattern'
      ? `must be ${description ?? 'in the documented format'}`
      : `${v.message ?? 'is invalid'}${Array.isArray(v.params.allowedValues) ? ` (${v.params.allowedValues.join(', ')})` : ''}`;
  return new ApiError('RDB_ERR_INVALID', `field "${parent}" in the ${where.words} ${problem}: fix it and retry`, { field: parent, location });
}

type PartSchema = { properties?: Record<string, { description?: string }> };

function routeSchema(req: FastifyRequest, key: 'body' | 'querystring' | 'params' | 'headers'): PartSchema | undefined {
  return (req.routeOptions.schema as Record<string, PartSchema | undefined> | undefined)?.[key];
}
