/**
 * `GET /v1/config` (every runtime knob with its value and source) and
 * `PUT /v1/config/:key` (validate with the shared key table, then write the
 * replicated config record by compare-and-set). Any agent takes a PUT: the
 * Raft node forwards the write to the leader.
 */

import type { FastifyPluginAsync } from 'fastify';
import type { ApiDeps } from '../deps.ts';
import {
  CONFIG_API_PATHS,
  configKeyParamsSchema,
  configSetBodySchema,
  configSetViewSchema,
  configViewSchema,
  errorBodySchema,
  noQuerySchema,
  type ConfigSetBody,
  type ConfigSetView,
  type ConfigView,
} from '../wire.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;

/** Registers nothing when the deps do not provide the config (partial fakes in tests). */
export function configRoutes(deps: ApiDeps): FastifyPluginAsync {
  return async (app) => {
    const { config, setConfig } = deps;
    if (!config || !setConfig) return;

    app.get(
      CONFIG_API_PATHS.config,
      { schema: { querystring: noQuerySchema, response: { 200: configViewSchema, ...errors } } },
      async (): Promise<ConfigView> => config.call(deps),
    );

    app.put<{ Params: { key: string }; Body: ConfigSetBody }>(
      CONFIG_API_PATHS.configKey,
      { schema: { params: configKeyParamsSchema, querystring: noQuerySchema, body: configSetBodySchema, response: { 200: configSetViewSchema, ...errors } } },
      async (req): Promise<ConfigSetView> => setConfig.call(deps, req.params.key, req.body.value),
    );
  };
}
