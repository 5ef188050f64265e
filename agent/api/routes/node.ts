/** `GET /v1/node`: this node as a member, with its engine and Raft state. */

import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { API_PATHS, errorBodySchema, noQuerySchema, nodeViewSchema, type NodeView } from '../wire.ts';

export function nodeRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    app.get(
      API_PATHS.node,
      { schema: { querystring: noQuerySchema, response: { 200: nodeViewSchema, '4xx': errorBodySchema, '5xx': errorBodySchema } } },
      async (): Promise<NodeView> => deps.nodeView(),
    );
  };
}
