/**
 * Wire format of API-token management and the audit log, shared by the
 * agent's routes and the CLI (like wire.ts, imports nothing at run time).
 * Token hashes and salts never leave the agent: {@link TokenView} is the
 * record without them, and the plaintext appears only in the answer to the
 * POST that created it.
 */

import type { Role } from '../security/tokens.ts';
import type { Check, Props, Same } from './wire.ts';

export const SECURITY_PATHS = {
  tokens: '/v1/tokens',
  /** Route pattern: id or name; use {@link tokenPath}. */
  token: '/v1/tokens/:id',
  audit: '/v1/audit',
} as const;

export function tokenPath(idOrName: string): string {
  return `/v1/tokens/${encodeURIComponent(idOrName)}`;
}

/** `POST /v1/tokens`. */
export interface CreateTokenBody {
  name: string;
  role: Role;
}

/** A token as listed: no salt, no hash. */
export interface TokenView {
  id: string;
  name: string;
  role: Role;
  createdAt: string;
  createdBy: string;
  revokedAt: string | null;
}

/** `POST /v1/tokens` answer: the only time the plaintext token is sent. */
export interface CreatedTokenView extends TokenView {
  token: string;
}

export interface TokenListView {
  tokens: TokenView[];
}

/** One mutating API call, as recorded in the replicated audit log. No secrets, no bodies. */
export interface AuditRecord {
  /** ISO time the call finished. */
  at: string;
  /** Token name, `join:<node>` for a join token, or `anonymous` (never recorded today: 401s are logged, not audited). */
  principal: string;
  /** The principal's role (`join` for a join token). */
  role: string;
  method: string;
  /** The route pattern, e.g. `/v1/members/:id/fence`. */
  route: string;
  /** What it acted on: the path's id or key, else the body's `to`/`id`/`name`/`primary`; null when none. */
  target: string | null;
  status: number;
  outcome: 'ok' | 'redirected' | 'denied' | 'failed';
  /** The agent that served the call. */
  node: string;
}

export interface AuditView {
  records: AuditRecord[];
}

export interface AuditQuery {
  limit?: number;
}

export const AUDIT_DEFAULT_LIMIT = 100;
export const AUDIT_MAX_LIMIT = 10_000;

// ---------------------------------------------------------------------------
// Schemas

const str = { type: 'string' } as const;
const strOrNull = { type: ['string', 'null'] } as const;
const ROLE_ENUM = ['read-only', 'operator', 'admin'] as const;

function closed<P extends Record<string, object>>(properties: P, required: string[] = Object.keys(properties)) {
  return { type: 'object', additionalProperties: false, required, properties } as const;
}

export const createTokenBodySchema = closed({
  name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$', description: '1 to 64 letters, digits, ., _, @ or -, starting with a letter or digit' },
  role: { enum: ROLE_ENUM },
});

export const tokenParamsSchema = closed({ id: { type: 'string', minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9._@-]+$', description: 'a token id or name' } });

const tokenViewProps = { id: str, name: str, role: { enum: ROLE_ENUM }, createdAt: str, createdBy: str, revokedAt: strOrNull };
export const tokenViewSchema = closed(tokenViewProps);
export const createdTokenSchema = closed({ ...tokenViewProps, token: str });
export const tokenListSchema = closed({ tokens: { type: 'array', items: tokenViewSchema } });

export const auditRecordSchema = closed({
  at: str,
  principal: str,
  role: str,
  method: str,
  route: str,
  target: strOrNull,
  status: { type: 'integer' },
  outcome: { enum: ['ok', 'redirected', 'denied', 'failed'] },
  node: str,
});
export const auditViewSchema = closed({ records: { type: 'array', items: auditRecordSchema } });
export const auditQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: AUDIT_MAX_LIMIT, default: AUDIT_DEFAULT_LIMIT } },
} as const;

/** Fails to compile when a type and its schema list different fields. */
export type SecurityDriftChecks = [
  Check<Same<Props<typeof createTokenBodySchema>, keyof CreateTokenBody>>,
  Check<Same<Props<typeof tokenViewSchema>, keyof TokenView>>,
  Check<Same<Props<typeof createdTokenSchema>, keyof CreatedTokenView>>,
  Check<Same<Props<typeof auditRecordSchema>, keyof AuditRecord>>,
];
