/**
 * Cluster-level routes: the cluster view, failover history, and switchover /
 * failover requests with their operations.
 *
 * Switchover and failover only record intent (Patroni's do_POST_failover): the
 * deps validate and write the request, the HA loop performs it, and the client
 * follows the returned operation at its Location until it succeeds or fails.
 */

import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { isStoreError } from '../../raft/store.ts';
import type { OperationRecord } from '../../state/records.ts';
import type { ApiDeps } from '../deps.ts';
import { ApiError } from '../errors.ts';
import {
  API_PATHS,
  clusterQuerySchema,
  clusterViewSchema,
  errorBodySchema,
  failoverBodySchema,
  historyQuerySchema,
  historyViewSchema,
  operationParamsSchema,
  operationPath,
  operationSchema,
  switchoverBodySchema,
  type ClusterQuery,
  type ClusterView,
  type FailoverRequestBody,
  type HistoryQuery,
  type HistoryView,
  type SwitchoverRequest,
} from '../wire.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
const accepted = { 202: operationSchema, ...errors } as const;

export function clusterRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get<{ Querystring: ClusterQuery }>(
      API_PATHS.cluster,
      { schema: { querystring: clusterQuerySchema, response: { 200: clusterViewSchema, ...errors } } },
      async (req): Promise<ClusterView> => {
        const consistency = req.query.consistency ?? 'linearizable';
        try {
          return await deps.clusterView({ consistency });
        } catch (err) {
          // A linearizable read needs a quorum; without one, point at the stale-but-available view.
          if (consistency === 'linearizable' && isStoreError(err) && (err.code === 'no-leader' || err.code === 'timeout')) {
            throw new ApiError(
              'RDB_ERR_NO_QUORUM',
              `could not confirm the cluster state with a quorum (${err.message}): bring a majority of voters back, or use ?consistency=local for this node's possibly stale view`,
              { store: err.code },
            );
          }
          throw err;
        }
      },
    );

    app.get<{ Querystring: HistoryQuery }>(
      API_PATHS.history,
      { schema: { querystring: historyQuerySchema, response: { 200: historyViewSchema, ...errors } } },
      async (req): Promise<HistoryView> => ({ history: await deps.history(req.query.limit!) }),
    );

    app.post<{ Body: SwitchoverRequest | undefined }>(
      API_PATHS.switchover,
      // An empty POST (no body at all) means "switch over to the best candidate".
      { schema: { body: switchoverBodySchema, response: accepted }, preValidation: async (req) => void (req.body ??= {}) },
      async (req, reply) => {
        const body = req.body ?? {};
        const op = await deps.requestFailover({ to: body.to ?? null, force: false, planned: true, requestId: body.request_id ?? null });
        return acceptedOperation(reply, op);
      },
    );

    app.post<{ Body: FailoverRequestBody }>(
      API_PATHS.failover,
      { schema: { body: failoverBodySchema, response: accepted } },
      async (req, reply) => {
        const { to, force = false, request_id } = req.body;
        const op = await deps.requestFailover({ to, force, planned: false, requestId: request_id ?? null });
        return acceptedOperation(reply, op);
      },
    );

    app.get<{ Params: { id: string } }>(
      API_PATHS.operation,
      { schema: { params: operationParamsSchema, response: { 200: operationSchema, ...errors } } },
      async (req) => {
        const op = await deps.operation(req.params.id);
        if (!op) {
          throw new ApiError('RDB_ERR_NOT_FOUND', `no operation with id "${req.params.id}": check the id returned by the switchover/failover request`, {
            id: req.params.id,
          });
        }
        return op;
      },
    );
  };
}

/** 202 with the operation and where to poll it. */
function acceptedOperation(reply: FastifyReply, op: OperationRecord): OperationRecord {
  reply.code(202).header('location', operationPath(op.id));
  return op;
}
