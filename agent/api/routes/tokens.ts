/**
 * API-token management and the audit log (all admin-only, see roles.ts):
 * `POST /v1/tokens {name, role}` answers the plaintext token once;
 * `GET /v1/tokens` lists tokens without hashes; `DELETE /v1/tokens/:id`
 * revokes by id or name (the record stays, with `revokedAt`, so the audit
 * log keeps meaning); `GET /v1/audit?limit=N` lists the newest records.
 *
 * Create and revoke return only once this agent has applied the write, so a
 * revoked token is refused here at once (other agents within a heartbeat).
 */

import type { FastifyPluginAsync } from 'fastify';
import type { ClusterStore } from '../../raft/store.ts';
import type { AuditLog } from '../../security/audit.ts';
import { createToken, parseTokenRecord, tokenKey, TOKEN_KEY_PREFIX, type TokenRecord } from '../../security/tokens.ts';
import { ApiError } from '../errors.ts';
import { errorBodySchema, noQuerySchema } from '../wire.ts';
import {
  SECURITY_PATHS,
  auditQuerySchema,
  auditViewSchema,
  createTokenBodySchema,
  createdTokenSchema,
  tokenListSchema,
  tokenParamsSchema,
  tokenViewSchema,
  type AuditQuery,
  type AuditView,
  type CreateTokenBody,
  type CreatedTokenView,
  type TokenListView,
  type TokenView,
} from '../wire-security.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;
const APPLY_WAIT_MS = 3000;

export interface TokenRoutesDeps {
  store: Pick<ClusterStore, 'get' | 'list' | 'put'>;
  audit: AuditLog;
  now?: () => Date;
}

function view(r: TokenRecord): TokenView {
  return { id: r.id, name: r.name, role: r.role, createdAt: r.createdAt, createdBy: r.createdBy, revokedAt: r.revokedAt };
}

export function tokenRoutes(deps: TokenRoutesDeps): FastifyPluginAsync {
  const now = deps.now ?? (() => new Date());

  async function all(): Promise<{ record: TokenRecord; version: number }[]> {
    const rows = await deps.store.list(TOKEN_KEY_PREFIX, { consistency: 'linearizable' });
    return rows.flatMap((r) => {
      const record = parseTokenRecord(r.value);
      return record ? [{ record, version: r.version }] : [];
    });
  }

  /** Wait until this agent's own copy of `key` has reached `version` (the write is applied here). */
  async function appliedHere(key: string, version: number): Promise<void> {
    const deadline = Date.now() + APPLY_WAIT_MS;
    while (Date.now() < deadline) {
      const r = await deps.store.get(key, { consistency: 'local' });
      if (r && r.version >= version) return;
      await new Promise((res) => setTimeout(res, 20));
    }
  }

  return async (app) => {
    app.post<{ Body: CreateTokenBody }>(
      SECURITY_PATHS.tokens,
      { schema: { body: createTokenBodySchema, response: { 201: createdTokenSchema, ...errors } } },
      async (req, reply): Promise<CreatedTokenView> => {
        const { name, role } = req.body;
        const clash = (await all()).find((t) => t.record.name === name && t.record.revokedAt === null);
        if (clash) {
          throw new ApiError('RDB_ERR_CONFLICT', `a valid token named "${name}" exists already (id ${clash.record.id}): pick another name, or revoke it first`, { id: clash.record.id });
        }
        const createdBy = req.principal?.kind === 'token' ? req.principal.name : 'unknown';
        const { token, record } = await createToken({ name, role, createdBy, now: now() });
        const key = tokenKey(record.id);
        const r = await deps.store.put(key, JSON.stringify(record), { expectVersion: 0, requestId: `token-${record.id}` });
        if (!r.ok) throw new ApiError('RDB_ERR_CONFLICT', `token id ${record.id} is taken (a one-in-2^48 clash): retry`);
        await appliedHere(key, r.version);
        reply.code(201);
        return { ...view(record), token };
      },
    );

    app.get(SECURITY_PATHS.tokens, { schema: { querystring: noQuerySchema, response: { 200: tokenListSchema, ...errors } } }, async (): Promise<TokenListView> => ({
      tokens: (await all()).map((t) => view(t.record)),
    }));

    app.delete<{ Params: { id: string } }>(
      SECURITY_PATHS.token,
      { schema: { params: tokenParamsSchema, response: { 200: tokenViewSchema, ...errors } } },
      async (req): Promise<TokenView> => {
        const tokens = await all();
        const want = req.params.id;
        // An id wins over a name; among tokens of one name, the valid one.
        const hit =
          tokens.find((t) => t.record.id === want) ??
          tokens.find((t) => t.record.name === want && t.record.revokedAt === null) ??
          tokens.find((t) => t.record.name === want);
        if (!hit) throw new ApiError('RDB_ERR_NOT_FOUND', `no token with id or name "${want}": \`rustydb-admin token list\` shows them`, { token: want });
        if (hit.record.revokedAt !== null) return view(hit.record);
        const admins = tokens.filter((t) => t.record.role === 'admin' && t.record.revokedAt === null && t.record.id !== hit.record.id);
        if (hit.record.role === 'admin' && admins.length === 0) {
          throw new ApiError(
            'RDB_ERR_PRECONDITION',
            `"${hit.record.name}" is the last valid admin token: revoking it would lock every operator out; create another admin token first`,
            { id: hit.record.id },
          );
        }
        const revoked: TokenRecord = { ...hit.record, revokedAt: now().toISOString() };
        const key = tokenKey(hit.record.id);
        const r = await deps.store.put(key, JSON.stringify(revoked), { expectVersion: hit.version });
        if (!r.ok) throw new ApiError('RDB_ERR_CONFLICT', `token ${hit.record.id} changed while it was being revoked: retry`);
        await appliedHere(key, r.version);
        return view(revoked);
      },
    );

    app.get<{ Querystring: AuditQuery }>(
      SECURITY_PATHS.audit,
      { schema: { querystring: auditQuerySchema, response: { 200: auditViewSchema, ...errors } } },
      async (req): Promise<AuditView> => ({ records: await deps.audit.list(req.query.limit!) }),
    );
  };
}
