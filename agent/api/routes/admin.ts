/**
 * The operator's member and node procedures (see agent/admin.ts for what
 * each does and refuses). Routes translate HTTP to `AdminDeps` calls; a
 * membership change that reaches a follower is answered 307 with the leader's
 * URL, which the CLI follows with the same body.
 */

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { LeaderElsewhere, type AdminDeps } from '../../admin.ts';
import { ApiError } from '../errors.ts';
import { errorBodySchema, operationPath, operationSchema } from '../wire.ts';
import {
  ADMIN_PATHS,
  addMemberBodySchema,
  drainBodySchema,
  engineAnswerSchema,
  joinBodySchema,
  memberAnswerSchema,
  memberParamsSchema,
  startBodySchema,
  stopBodySchema,
  type AddMemberBody,
  type DrainBody,
  type JoinBody,
  type StartBody,
  type StopBody,
} from '../wire-admin.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
const DEFAULT_DRAIN_MS = 60_000;
const DEFAULT_ENGINE_MS = 60_000;
type IdParams = { Params: { id: string } };

/** Run `fn`; if it must run on the leader, answer 307 to the same path there. */
async function onLeader<T>(req: FastifyRequest, reply: FastifyReply, fn: () => Promise<T>): Promise<T | FastifyReply> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof LeaderElsewhere) {
      if (err.url === null) throw new ApiError('RDB_ERR_NO_QUORUM', 'no Raft leader is known right now: retry in a few seconds');
      return reply.code(307).header('location', `${err.url.replace(/\/+$/, '')}${req.url}`).send();
    }
    throw err;
  }
}

/** The join token (rdbj_…) the caller presented: the authentication hook's principal, else the header itself. */
function joinTokenOf(req: FastifyRequest): string | undefined {
  const p = (req as { principal?: { kind?: string; raw?: unknown } }).principal;
  if (p?.kind === 'join-token' && typeof p.raw === 'string') return p.raw;
  const m = /^Bearer\s+(rdbj_\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

/** The join token and CSR, only when given (a plain-HTTP cluster has neither). */
function withJoin(req: FastifyRequest, csr?: string): { joinToken?: string; csr?: string } {
  const joinToken = joinTokenOf(req);
  return { ...(joinToken !== undefined && { joinToken }), ...(csr !== undefined && { csr }) };
}

// An empty POST (no body) means "defaults".
const emptyBodyOk = async (req: FastifyRequest) => void (req.body ??= {});

export function adminRoutes(admin: AdminDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: AddMemberBody }>(
      ADMIN_PATHS.members,
      { schema: { body: addMemberBodySchema, response: { 200: memberAnswerSchema, 201: memberAnswerSchema, ...errors } } },
      (req, reply) =>
        onLeader(req, reply, async () => {
          const b = req.body;
          const r = await admin.addMember({ id: b.id, kind: b.kind, apiUrl: b.api_url, pg: b.pg, region: b.region ?? 'default', cluster: b.cluster, ...withJoin(req, b.csr) });
          reply.code(r.created ? 201 : 200);
          return r;
        }),
    );

    app.get<IdParams>(ADMIN_PATHS.member, { schema: { params: memberParamsSchema, response: { 200: memberAnswerSchema, ...errors } } }, async (req) => {
      const m = await admin.member(req.params.id);
      if (!m) throw new ApiError('RDB_ERR_NOT_FOUND', `${req.params.id} is not and never was a member of this cluster`, { node: req.params.id });
      return { member: m };
    });

    app.delete<IdParams>(ADMIN_PATHS.member, { schema: { params: memberParamsSchema, response: { 200: memberAnswerSchema, ...errors } } }, (req, reply) =>
      onLeader(req, reply, async () => ({ member: await admin.removeMember(req.params.id) })),
    );

    app.post<IdParams>(ADMIN_PATHS.promote, { schema: { params: memberParamsSchema, response: { 200: memberAnswerSchema, ...errors } } }, (req, reply) =>
      onLeader(req, reply, async () => ({ member: await admin.promoteMember(req.params.id) })),
    );

    for (const [path, fn] of [
      [ADMIN_PATHS.fence, admin.fence],
      [ADMIN_PATHS.unfence, admin.unfence],
      [ADMIN_PATHS.undrain, admin.undrain],
    ] as const) {
      app.post<IdParams>(path, { schema: { params: memberParamsSchema, response: { 200: memberAnswerSchema, ...errors } } }, async (req) => ({ member: await fn.call(admin, req.params.id) }));
    }

    app.post<{ Body: DrainBody }>(
      ADMIN_PATHS.nodeDrain,
      { schema: { body: drainBodySchema, response: { 202: operationSchema, ...errors } }, preValidation: emptyBodyOk },
      async (req, reply) => {
        const op = await admin.drain({ timeoutMs: req.body.timeout_ms ?? DEFAULT_DRAIN_MS, terminate: req.body.terminate ?? true });
        reply.code(202).header('location', operationPath(op.id));
        return op;
      },
    );

    app.post<{ Body: StopBody }>(
      ADMIN_PATHS.nodeStop,
      { schema: { body: stopBodySchema, response: { 200: engineAnswerSchema, ...errors } }, preValidation: emptyBodyOk },
      async (req) => admin.stopEngine({ force: req.body.force ?? false, timeoutMs: req.body.timeout_ms ?? DEFAULT_ENGINE_MS }),
    );

    app.post<{ Body: StartBody }>(
      ADMIN_PATHS.nodeStart,
      { schema: { body: startBodySchema, response: { 200: engineAnswerSchema, ...errors } }, preValidation: emptyBodyOk },
      async (req) => admin.startEngine({ timeoutMs: req.body.timeout_ms ?? DEFAULT_ENGINE_MS }),
    );

    app.post(ADMIN_PATHS.nodeReinit, { schema: { response: { 202: operationSchema, ...errors } } }, async (_req, reply) => {
      const op = await admin.reinit();
      reply.code(202).header('location', operationPath(op.id));
      return op;
    });

    app.post<{ Body: JoinBody }>(ADMIN_PATHS.nodeJoin, { schema: { body: joinBodySchema, response: { 200: memberAnswerSchema, ...errors } } }, async (req) => ({
      member: await admin.join({ clusterAddress: req.body.cluster_address, kind: req.body.kind ?? 'voter', ...withJoin(req) }),
    }));
  };
}
