/**
 * Join tokens: `rdbj_<id>_<secret>_<ca-fingerprint-prefix>`, one-time
 * permission for one node to join with one role before an expiry. The
 * replicated state keeps only a salted scrypt hash of the secret at
 * `/rustydb/join-tokens/<id>`; the fingerprint prefix lets the joining node
 * pin the cluster CA before it trusts anything the cluster says.
 *
 * Pure functions here; the leader's compare-and-set that marks a token used
 * is in admin.ts (addMember).
 */

import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const scrypt = promisify(scryptCb) as (secret: string, salt: Buffer, keylen: number) => Promise<Buffer>;

export const JOIN_TOKEN_PREFIX = 'rdbj_';
export const JOIN_ROLES = ['follower', 'observer', 'witness'] as const;
export type JoinTokenRole = (typeof JOIN_ROLES)[number];
/** The member kind each token role admits. */
export const KIND_OF_JOIN_ROLE = { follower: 'voter', observer: 'observer', witness: 'witness' } as const;

/** Hex characters of the CA fingerprint carried in a token (64 bits: enough to pin, short enough to paste). */
export const FINGERPRINT_PREFIX_CHARS = 16;
export const MAX_TTL_MS = 7 * 24 * 3600_000;

export const joinTokenKey = (id: string) => `/rustydb/join-tokens/${id}`;
export const JOIN_TOKEN_KEY_PREFIX = '/rustydb/join-tokens/';

/** What the replicated state holds of a join token (no secret). */
export interface JoinTokenRecord {
  id: string;
  role: JoinTokenRole;
  /** hex */
  salt: string;
  /** hex scrypt(secret, salt) */
  hash: string;
  createdAt: string;
  expiresAt: string;
  usedAt: string | null;
  /** The node that used it: a re-run of that node's join is allowed, anyone else is refused. */
  usedBy: string | null;
}

export interface ParsedJoinToken {
  id: string;
  secret: string;
  caFingerprintPrefix: string;
}

const TOKEN_RE = /^rdbj_([0-9a-f]{12})_([0-9a-f]{32})_([0-9a-f]{16})$/;

/** Parse a token; null when it does not have the shape of one. */
export function parseJoinToken(token: string): ParsedJoinToken | null {
  const m = TOKEN_RE.exec(token.trim());
  return m ? { id: m[1], secret: m[2], caFingerprintPrefix: m[3] } : null;
}

async function hashSecret(secret: string, salt: Buffer): Promise<Buffer> {
  return scrypt(secret, salt, 32);
}

/** A new token (shown once to the operator) and the record to store. */
export async function newJoinToken(o: { role: JoinTokenRole; ttlMs: number; caFingerprint: string; now?: Date }): Promise<{ token: string; record: JoinTokenRecord }> {
  const now = o.now ?? new Date();
  const id = randomBytes(6).toString('hex');
  const secret = randomBytes(16).toString('hex');
  const salt = randomBytes(16);
  const hash = await hashSecret(secret, salt);
  const token = `${JOIN_TOKEN_PREFIX}${id}_${secret}_${o.caFingerprint.slice(0, FINGERPRINT_PREFIX_CHARS).toLowerCase()}`;
  return {
    token,
    record: {
      id,
      role: o.role,
      salt: salt.toString('hex'),
      hash: hash.toString('hex'),
      createdAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + o.ttlMs).toISOString(),
      usedAt: null,
      usedBy: null,
    },
  };
}

/** Why a token was refused (the operator sees the message; it never contains the secret). */
export type JoinTokenRefusal = { ok: false; reason: 'unknown' | 'mismatch' | 'expired' | 'used' | 'role'; message: string };

/**
 * Check a presented token against its record for node `nodeId` joining as
 * member kind `kind`. Constant-time comparison of the hash. A token already
 * used by this same node is accepted again (its join was interrupted).
 */
export async function checkJoinToken(
  record: JoinTokenRecord | null,
  presented: ParsedJoinToken,
  o: { nodeId: string; kind: 'voter' | 'observer' | 'witness'; now?: Date },
): Promise<{ ok: true } | JoinTokenRefusal> {
  const refuse = (reason: JoinTokenRefusal['reason'], message: string): JoinTokenRefusal => ({ ok: false, reason, message });
  const create = 'create a new one with `rustydb-admin cluster token create`';
  if (!record || record.id !== presented.id) return refuse('unknown', `join token ${presented.id} is not known to this cluster: ${create}`);
  const expected = Buffer.from(record.hash, 'hex');
  const got = await hashSecret(presented.secret, Buffer.from(record.salt, 'hex'));
  if (expected.length !== got.length || !timingSafeEqual(expected, got)) return refuse('mismatch', `join token ${presented.id} is not valid (wrong secret): ${create}`);
  const now = o.now ?? new Date();
  if (record.usedAt !== null && record.usedBy !== o.nodeId) {
    return refuse('used', `join token ${presented.id} was already used (by ${record.usedBy} at ${record.usedAt}); tokens are single-use: ${create}`);
  }
  if (record.usedAt === null && now.getTime() > Date.parse(record.expiresAt)) {
    return refuse('expired', `join token ${presented.id} expired at ${record.expiresAt}: ${create}`);
  }
  if (KIND_OF_JOIN_ROLE[record.role] !== o.kind) {
    return refuse('role', `join token ${presented.id} admits a ${record.role}, not a ${o.kind}: join with --role ${record.role}, or create a token with --role for this node`);
  }
  return { ok: true };
}
