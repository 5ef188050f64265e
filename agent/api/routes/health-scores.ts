/**
 * `GET /v1/cluster/health`: a health score per member with its components,
 * computed by the agent asked (the `/health`-style paths are the load
 * balancers' probes, so this lives under /v1/cluster).
 */

import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import { CONFIG_API_PATHS, clusterHealthSchema, errorBodySchema, noQuerySchema, type ClusterHealthView } from '../wire.ts';

/** Registers nothing when the deps do not provide health scores (partial fakes in tests). */
export function clusterHealthRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    const { clusterHealth } = deps;
    if (!clusterHealth) return;
    app.get(
      CONFIG_API_PATHS.clusterHealth,
      { schema: { querystring: noQuerySchema, response: { 200: clusterHealthSchema, '4xx': errorBodySchema, '5xx': errorBodySchema } } },
      async (): Promise<ClusterHealthView> => clusterHealth.call(deps),
    );
  };
}
