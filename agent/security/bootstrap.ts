/**
 * The first admin token. Nobody can create a token without one, so its HASH
 * comes from a file (`[security] bootstrap_token_file`, written by
 * `rustydb-admin node init --bootstrap` or the sandbox) that the first
 * leader imports into the replicated state, as the engine secrets are. The
 * plaintext never reaches the agent: it is printed once by `node init` and
 * kept in the operator's token file (0600).
 *
 * Importing is create-if-absent: an imported token that was later revoked
 * stays revoked when agents restart with the same file.
 */

import { readFileSync } from 'node:fs';
import type { ClusterStore } from '../raft/store.ts';
import { createToken, tokenKey, type BootstrapTokenFile, type TokenRecord } from './tokens.ts';

export class BootstrapTokenError extends Error {
  override readonly name = 'BootstrapTokenError';
}

/** A new admin token and the file content that lets the first leader import its hash. */
export async function newBootstrapToken(name = 'admin'): Promise<{ token: string; file: BootstrapTokenFile }> {
  const { token, record } = await createToken({ name, role: 'admin', createdBy: 'bootstrap' });
  return { token, file: { id: record.id, name: record.name, role: 'admin', salt: record.salt, hash: record.hash } };
}

/** Read and check a bootstrap token file; BootstrapTokenError names the file and what is wrong. */
export function readBootstrapTokenFile(path: string): BootstrapTokenFile {
  let f: Partial<BootstrapTokenFile>;
  try {
    f = JSON.parse(readFileSync(path, 'utf8')) as Partial<BootstrapTokenFile>;
  } catch (err) {
    throw new BootstrapTokenError(`[security] bootstrap_token_file ${path} cannot be read as JSON (${(err as Error).message}): rewrite it with \`rustydb-admin node init --bootstrap\``);
  }
  const hex = (v: unknown, len: number) => typeof v === 'string' && v.length === len && /^[0-9a-f]+$/.test(v);
  if (!hex(f.id, 12) || typeof f.name !== 'string' || f.name === '' || f.role !== 'admin' || !hex(f.salt, 32) || !hex(f.hash, 64)) {
    throw new BootstrapTokenError(
      `[security] bootstrap_token_file ${path} must hold {"id", "name", "role": "admin", "salt", "hash"} as written by \`rustydb-admin node init --bootstrap\` (it holds no plaintext token)`,
    );
  }
  return { id: f.id!, name: f.name, role: 'admin', salt: f.salt!, hash: f.hash! };
}

/** The record the first leader stores for a bootstrap file. */
export function bootstrapRecord(f: BootstrapTokenFile, now: Date): TokenRecord {
  return { id: f.id, name: f.name, role: 'admin', salt: f.salt, hash: f.hash, createdAt: now.toISOString(), createdBy: 'bootstrap', revokedAt: null };
}

/**
 * Runs until the token's record exists in the cluster: the leader creates it
 * (if absent), the others wait to see it. Errors (no quorum yet) are retried.
 */
export async function importBootstrapToken(o: {
  store: Pick<ClusterStore, 'get' | 'put' | 'isLeader'>;
  file: BootstrapTokenFile;
  stopping: () => boolean;
  onImported?: (created: boolean) => void;
  retryMs?: number;
}): Promise<void> {
  const key = tokenKey(o.file.id);
  while (!o.stopping()) {
    try {
      if (await o.store.get(key, { consistency: 'linearizable', timeoutMs: 2000 })) {
        o.onImported?.(false);
        return;
      }
      if (o.store.isLeader()) {
        const r = await o.store.put(key, JSON.stringify(bootstrapRecord(o.file, new Date())), { expectVersion: 0, requestId: `bootstrap-token-${o.file.id}` });
        o.onImported?.(r.ok);
        return;
      }
    } catch {
      // no quorum yet: retry
    }
    await new Promise((r) => setTimeout(r, o.retryMs ?? 300));
  }
}
