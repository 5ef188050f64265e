/**
 * Agent-to-agent routes used during HA work (peer routes: mutual TLS in the
 * security issue). They are thin: the HA loop does the work.
 */

import type { FastifyPluginAsync } from 'fastify';
import { INTERNAL, type Observation, type PositionReport } from '../../ha/peers.ts';

export interface InternalHandler {
  observe(): Observation;
  prepare(epoch: number, holdMs: number): Promise<PositionReport>;
  demote(epoch: number, holdMs: number): Promise<PositionReport>;
  release(epoch?: number): void;
  wake(): void;
}

const holdBody = {
  type: 'object',
  additionalProperties: false,
  required: ['epoch', 'holdMs'],
  properties: { epoch: { type: 'integer', minimum: 1 }, holdMs: { type: 'integer', minimum: 100, maximum: 600_000 } },
} as const;

export function internalRoutes(h: InternalHandler): FastifyPluginAsync {
  return async (app) => {
    app.get(INTERNAL.observe, async () => h.observe());
    app.post<{ Body: { epoch: number; holdMs: number } }>(INTERNAL.prepare, { schema: { body: holdBody } }, async (req, reply) => {
      try {
        return await h.prepare(req.body.epoch, req.body.holdMs);
      } catch (err) {
        return reply.code(409).send({ error: { code: 'RDB_ERR_CONFLICT', message: (err as Error).message } });
      }
    });
    app.post<{ Body: { epoch: number; holdMs: number } }>(INTERNAL.demote, { schema: { body: holdBody } }, async (req, reply) => {
      try {
        return await h.demote(req.body.epoch, req.body.holdMs);
      } catch (err) {
        return reply.code(409).send({ error: { code: 'RDB_ERR_CONFLICT', message: (err as Error).message } });
      }
    });
    app.post<{ Body: { epoch?: number } | undefined }>(
      INTERNAL.release,
      { schema: { body: { type: ['object', 'null'], additionalProperties: false, properties: { epoch: { type: 'integer', minimum: 1 } } } } },
      async (req) => {
        h.release(req.body?.epoch);
        return {};
      },
    );
    app.post(INTERNAL.wake, async () => {
      h.wake();
      return {};
    });
  };
}
