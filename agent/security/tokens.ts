/**
 * API tokens: `rdbt_<id>_<secret>`. Only a salted scrypt hash of the whole
 * token is stored (KV `/rustydb/tokens/<id>`, replicated); the plaintext is
 * shown once, when the token is created. Verification reads the record
 * LOCALLY (no quorum needed, so a cluster without a majority can still be
 * operated with a token), compares in constant time, and caches a success
 * keyed by (sha256 of the token, record version): scrypt does not run per
 * request, yet a revocation (a new version of the record) applies at once on
 * every node that has applied it.
 */

import { createHash, randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';

/** Roles from least to most powerful (index = rank). */
export const ROLES = ['read-only', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export const TOKEN_KEY_PREFIX = '/rustydb/tokens/';
export const tokenKey = (id: string): string => `${TOKEN_KEY_PREFIX}${id}`;

/** Token names: what the audit log shows as the principal. */
export const TOKEN_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$';
const TOKEN_RE = /^rdbt_([0-9a-f]{12})_([0-9a-f]{40})$/;

/** What is stored per token (never the plaintext). */
export interface TokenRecord {
  id: string;
  name: string;
  role: Role;
  /** hex, 16 bytes */
  salt: string;
  /** hex scrypt(token, salt) */
  hash: string;
  createdAt: string;
  /** Token name of the creator, or `bootstrap`. */
  createdBy: string;
  /** ISO time of revocation; null while the token is valid. */
  revokedAt: string | null;
}

/** A bootstrap token file ([security] bootstrap_token_file): the first admin token's hash, no plaintext. */
export interface BootstrapTokenFile {
  id: string;
  name: string;
  role: 'admin';
  salt: string;
  hash: string;
}

// scrypt cost: N=2^14, r=8 (~30-60 ms, 16 MiB): slow enough to make guessing a
// stolen hash expensive; the verification cache keeps it off the request path.
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;
const HASH_BYTES = 32;

export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/** Does `have` allow what needs `need`? */
export function roleAtLeast(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** The id and secret of a well-formed token string, else null (no I/O, constant shape check). */
export function parseToken(raw: string): { id: string; secret: string } | null {
  const m = TOKEN_RE.exec(raw);
  return m ? { id: m[1], secret: m[2] } : null;
}

/** A new random token (160-bit secret). */
export function generateToken(): { id: string; token: string } {
  const id = randomBytes(6).toString('hex');
  return { id, token: `rdbt_${id}_${randomBytes(20).toString('hex')}` };
}

/** scrypt(token, salt) as hex. Async: it runs on the thread pool, not on the event loop. */
export function hashToken(token: string, saltHex: string): Promise<string> {
  return new Promise((resolve, reject) =>
    scryptCb(token, Buffer.from(saltHex, 'hex'), HASH_BYTES, SCRYPT, (err, key) => (err ? reject(err) : resolve(key.toString('hex')))),
  );
}

/** Constant-time check of `token` against a stored salt and hash. */
export async function tokenMatches(token: string, rec: { salt: string; hash: string }): Promise<boolean> {
  const want = Buffer.from(rec.hash, 'hex');
  if (want.length !== HASH_BYTES) return false;
  const got = Buffer.from(await hashToken(token, rec.salt), 'hex');
  return timingSafeEqual(got, want);
}

/** A new token and the record to store for it. The plaintext `token` must be shown once and never stored or logged. */
export async function createToken(o: { name: string; role: Role; createdBy: string; now?: Date }): Promise<{ token: string; record: TokenRecord }> {
  const { id, token } = generateToken();
  const salt = randomBytes(16).toString('hex');
  const record: TokenRecord = {
    id,
    name: o.name,
    role: o.role,
    salt,
    hash: await hashToken(token, salt),
    createdAt: (o.now ?? new Date()).toISOString(),
    createdBy: o.createdBy,
    revokedAt: null,
  };
  return { token, record };
}

/** A record read from the store, checked field by field (a damaged record never authenticates). */
export function parseTokenRecord(value: string): TokenRecord | null {
  let r: Partial<TokenRecord>;
  try {
    r = JSON.parse(value) as Partial<TokenRecord>;
  } catch {
    return null;
  }
  const s = (v: unknown) => typeof v === 'string' && v.length > 0;
  if (!s(r.id) || !s(r.name) || !isRole(r.role) || !s(r.salt) || !s(r.hash) || !(r.revokedAt === null || s(r.revokedAt))) return null;
  return r as TokenRecord;
}

/** The principal a verified API token stands for. */
export interface TokenPrincipal {
  kind: 'token';
  id: string;
  name: string;
  role: Role;
}

/** Why a token was refused (for the agent log; the client only ever hears "not valid"). */
export type TokenRefusal = 'malformed' | 'unknown' | 'revoked' | 'mismatch';

/** How the verifier reads token records: a local (possibly stale, never blocking on a quorum) read. */
export interface TokenRecordReader {
  get(key: string, opts: { consistency: 'local' }): Promise<{ value: string; version: number } | null>;
}

/**
 * Verifies bearer tokens against the replicated records. One per agent.
 * Cache entries are keyed by sha256(token) and remember the record version
 * they were verified at: any write to the record (a revocation) misses the
 * cache and is checked afresh.
 */
export class TokenVerifier {
  private readonly cache = new Map<string, { version: number; principal: TokenPrincipal }>();

  constructor(
    private readonly store: TokenRecordReader,
    private readonly maxCache = 1000,
  ) {}

  async verify(raw: string): Promise<{ ok: true; principal: TokenPrincipal } | { ok: false; why: TokenRefusal }> {
    const parsed = parseToken(raw);
    if (!parsed) return { ok: false, why: 'malformed' };
    const kv = await this.store.get(tokenKey(parsed.id), { consistency: 'local' });
    const rec = kv ? parseTokenRecord(kv.value) : null;
    if (!kv || !rec || rec.id !== parsed.id) return { ok: false, why: 'unknown' };
    if (rec.revokedAt !== null) return { ok: false, why: 'revoked' };
    const digest = createHash('sha256').update(raw).digest('hex');
    const hit = this.cache.get(digest);
    if (hit && hit.version === kv.version) return { ok: true, principal: hit.principal };
    if (!(await tokenMatches(raw, rec))) return { ok: false, why: 'mismatch' };
    const principal: TokenPrincipal = { kind: 'token', id: rec.id, name: rec.name, role: rec.role };
    if (this.cache.size >= this.maxCache) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(digest, { version: kv.version, principal });
    return { ok: true, principal };
  }
}
