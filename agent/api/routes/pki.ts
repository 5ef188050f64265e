/**
 * PKI routes:
 *   GET  /v1/pki/ca                 open: the cluster CA certificate (a joining node pins it by fingerprint)
 *   POST /v1/join-tokens            admin: a one-time join token (shown once; the state keeps its hash)
 *   POST /v1/cluster/rotate-certs   admin: re-issue every member's certificate
 * and the peer routes of a rotation (mutual TLS, see app.ts):
 *   POST /internal/v1/pki/prepare-rotation   a new key on this node, answered with its CSR
 *   POST /internal/v1/pki/install            the signed certificate for that key
 */

import type { FastifyPluginAsync } from 'fastify';
import { isApiError, ApiError } from '../errors.ts';
import { errorBodySchema } from '../wire.ts';
import { caAnswerSchema, joinTokenAnswerSchema, joinTokenBodySchema, PKI_PATHS, rotateCertsAnswerSchema, type CaAnswer, type JoinTokenBody, type RotateCertsAnswer } from '../wire-admin.ts';
import { fingerprint } from '../../security/pki.ts';
import { PKI_PEER_PATHS, type NodeCerts } from '../../security/node-certs.ts';
import type { ClusterState } from '../../state/cluster-state.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
const DEFAULT_TTL_S = 3600;

/** `GET /v1/pki/ca`: register outside the authenticated /v1 scope. */
export function pkiOpenRoutes(certs: NodeCerts): FastifyPluginAsync {
  return async (app) => {
    app.get(PKI_PATHS.ca, { schema: { response: { 200: caAnswerSchema, ...errors } } }, async (): Promise<CaAnswer> => {
      const ca = certs.localCaPem();
      if (ca === null) throw new ApiError('RDB_ERR_UNAVAILABLE', 'this node has not joined a cluster yet, so it has no cluster CA to show: ask a member');
      return { ca, fingerprint: fingerprint(ca) };
    });
  };
}

/** Join tokens and rotation: inside the /v1 scope (admin role). */
export function pkiAdminRoutes(certs: NodeCerts, state: ClusterState): FastifyPluginAsync {
  return async (app) => {
    app.post<{ Body: JoinTokenBody }>(
      PKI_PATHS.joinTokens,
      { schema: { body: joinTokenBodySchema, response: { 201: joinTokenAnswerSchema, ...errors } }, preValidation: async (req) => void (req.body ??= {}) },
      async (req, reply) => {
        const t = await certs.createJoinToken(req.body.role ?? 'follower', (req.body.ttl_seconds ?? DEFAULT_TTL_S) * 1000);
        reply.code(201);
        return t;
      },
    );

    app.post(PKI_PATHS.rotateCerts, { schema: { response: { 200: rotateCertsAnswerSchema, ...errors } } }, async (): Promise<RotateCertsAnswer> => {
      await certs.clusterCa(); // no CA, no rotation: say so before touching any node
      const s = await state.read('linearizable');
      return { nodes: await certs.rotateAll(s.members) };
    });
  };
}

/** The peer side of a rotation; register at the root (behind the mutual-TLS guard). */
export function pkiPeerRoutes(certs: NodeCerts): FastifyPluginAsync {
  return async (app) => {
    const fail = (err: unknown) => {
      const e = isApiError(err) ? err : new ApiError('RDB_ERR_INTERNAL', `certificate step failed: ${(err as Error).message}`);
      return { status: e.status, body: e.toBody() };
    };
    app.post(PKI_PEER_PATHS.prepare, async (_req, reply) => {
      try {
        return certs.prepareRotation();
      } catch (err) {
        const f = fail(err);
        return reply.code(f.status).send(f.body);
      }
    });
    app.post<{ Body: { cert: string; ca: string } }>(
      PKI_PEER_PATHS.install,
      {
        schema: {
          body: { type: 'object', additionalProperties: false, required: ['cert', 'ca'], properties: { cert: { type: 'string', maxLength: 16384 }, ca: { type: 'string', maxLength: 16384 } } },
        },
      },
      async (req, reply) => {
        try {
          return certs.completeRotation(req.body.cert, req.body.ca);
        } catch (err) {
          const f = fail(err);
          return reply.code(f.status).send(f.body);
        }
      },
    );
  };
}
