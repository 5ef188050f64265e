/**
 * `POST /v1/node/upgrade {version, timeout_ms?, operation_id?}` on the node's
 * own agent: a minor upgrade of this node's engine (agent/procedures/upgrade-node.ts).
 * Refusals come back at once (412 precondition, 409 another action or
 * procedure runs); a known `operation_id` answers 202 with that operation;
 * otherwise 202 with the `upgrade` operation to follow at its Location
 * (already succeeded when the node runs that release).
 */

import type { FastifyPluginAsync } from 'fastify';
import type { UpgradeNodeDeps } from '../../procedures/upgrade-node.ts';
import { errorBodySchema, operationPath, operationSchema } from '../wire.ts';
import { UPGRADE_PATHS, upgradeNodeBodySchema, type UpgradeNodeBody } from '../wire-admin.ts';

/** How long the new release may take to stream and catch up, unless the request says. */
export const DEFAULT_UPGRADE_TIMEOUT_MS = 300_000;

export function upgradeNodeRoutes(u: UpgradeNodeDeps): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: UpgradeNodeBody }>(
      UPGRADE_PATHS.node,
      { schema: { body: upgradeNodeBodySchema, response: { 202: operationSchema, '4xx': errorBodySchema, '5xx': errorBodySchema } } },
      async (req, reply) => {
        const op = await u.upgrade({ version: req.body.version, timeoutMs: req.body.timeout_ms ?? DEFAULT_UPGRADE_TIMEOUT_MS, ...(req.body.operation_id !== undefined && { operationId: req.body.operation_id }) });
        reply.code(202).header('location', operationPath(op.id));
        return op;
      },
    );
  };
}
