/**
 * Force-quorum routes (see agent/procedures/force-quorum.ts for what the
 * procedure checks and does). `GET /v1/node/position` and
 * `POST /v1/node/force-quorum` are operator routes (behind `authenticate`);
 * `GET /internal/v1/position` is the same position as a peer route, which the
 * forcing agent asks the other survivors.
 */

import type { FastifyPluginAsync } from 'fastify';
import type { ForceQuorumDeps } from '../../procedures/force-quorum.ts';
import { errorBodySchema, noQuerySchema, operationSchema } from '../wire.ts';
import { FORCE_QUORUM_PATHS, forceQuorumBodySchema, nodePositionSchema, type ForceQuorumBody } from '../wire-admin.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;

/** Operator routes, registered in the `/v1` scope. */
export function forceQuorumRoutes(fq: ForceQuorumDeps): FastifyPluginAsync {
  return async (app) => {
    app.get(FORCE_QUORUM_PATHS.position, { schema: { querystring: noQuerySchema, response: { 200: nodePositionSchema, ...errors } } }, async () => fq.position());
    app.post<{ Body: ForceQuorumBody }>(
      FORCE_QUORUM_PATHS.forceQuorum,
      { schema: { body: forceQuorumBodySchema, response: { 200: operationSchema, ...errors } } },
      async (req) => fq.forceQuorum(req.body),
    );
  };
}

/** The peer route (no token, like /internal/v1/* and the Raft routes). */
export function positionPeerRoute(fq: ForceQuorumDeps): FastifyPluginAsync {
  return async (app) => {
    app.get(FORCE_QUORUM_PATHS.peerPosition, { logLevel: 'warn', schema: { response: { 200: nodePositionSchema } } }, async () => fq.position());
  };
}
