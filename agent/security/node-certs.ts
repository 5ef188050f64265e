/**
 * The agent's certificate procedures over the replicated state:
 *
 * - the cluster CA lives at `/rustydb/pki/ca` (imported once by the first
 *   leader from `[tls] ca_file` + `ca_key_file`), so any agent can sign;
 * - join tokens (create; verify-and-consume with a compare-and-set, then sign
 *   the joining node's CSR with SANs taken from its member addresses, never
 *   from the CSR);
 * - this node's side of a join (store the signed certificate and the CA, swap
 *   the live TLS identity) and of a rotation (new key + CSR, then install);
 * - `rotateAll`: every member makes a new key, the CA signs it, the member
 *   swaps its listener's secure context and its outbound identity. Old and new
 *   certificates come from the same CA, so both are accepted during the switch.
 *
 * Private keys are written 0600 and never logged or returned by an API.
 */

import { existsSync, readFileSync } from 'node:fs';
import { request } from 'undici';
import { ApiError } from '../api/errors.ts';
import type { RaftNode } from '../raft/node.ts';
import { StaleRecordError, type ClusterState } from '../state/cluster-state.ts';
import type { MemberKind, MemberRecord } from '../state/records.ts';
import { checkJoinToken, joinTokenKey, newJoinToken, parseJoinToken, MAX_TTL_MS, type JoinTokenRecord, type JoinTokenRole } from './join-tokens.ts';
import { certSummary, createCsr, createKeyAndCsr, fingerprint, hostOf, isSignedBy, keyMatches, PkiError, sanList, signCsr, writePublicFile, writeSecretFile, type CaMaterial } from './pki.ts';
import { peerDispatcher, type NodeTls } from './tls-client.ts';

/** KV key of the cluster CA (certificate and key, PEM). */
export const CA_KEY = '/rustydb/pki/ca';

/** Peer routes of a rotation (mutual TLS; see api/routes/pki.ts). */
export const PKI_PEER_PATHS = {
  prepare: '/internal/v1/pki/prepare-rotation',
  install: '/internal/v1/pki/install',
} as const;

export interface NodeCertFiles {
  certFile: string;
  keyFile: string;
  caFile: string;
}

export interface NodeCertsOptions {
  nodeId: string;
  tls: NodeTls;
  files: NodeCertFiles;
  state: ClusterState;
  raft: RaftNode;
  /** Deadline of one call to a peer during a rotation. */
  peerTimeoutMs?: number;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/** One member's outcome in a rotation. */
export interface RotatedNode {
  node: string;
  ok: boolean;
  /** sha256 of the new certificate (ok only). */
  fingerprint?: string;
  notAfter?: string;
  error?: string;
}

export interface CreatedJoinToken {
  token: string;
  id: string;
  role: JoinTokenRole;
  expiresAt: string;
}

/** The SANs of a member's certificate: the hosts of its API and engine addresses. */
export function memberSans(apiUrl: string, pgHost: string | null): string[] {
  return sanList([hostOf(apiUrl), ...(pgHost ? [pgHost] : [])]);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class NodeCerts {
  /** The key of a rotation in progress on this node (made by prepareRotation, used by completeRotation). */
  private pendingKey: string | null = null;

  constructor(private readonly o: NodeCertsOptions) {}

  /** The CA this node trusts, if this node is a member (its certificate is signed by it); null before it joins. */
  localCaPem(): string | null {
    const m = this.o.tls.material;
    return isSignedBy(m.certPem, m.caPem) ? m.caPem : null;
  }

  /** The cluster CA from the replicated state; ApiError when there is none (yet). */
  async clusterCa(): Promise<CaMaterial> {
    const r = await this.o.raft.get(CA_KEY, { consistency: 'linearizable', timeoutMs: 5000 });
    if (!r) {
      throw new ApiError('RDB_ERR_UNAVAILABLE', 'the cluster CA is not in the replicated state yet (the first leader imports it from [tls] ca_key_file): retry shortly; if it persists, give the founding node ca_key_file');
    }
    return JSON.parse(r.value) as CaMaterial;
  }

  /**
   * The first leader imports the CA from the files (once; later leaders find
   * it). Runs in the background until the CA is in the state or `stopping()`.
   */
  async importCa(caFile: string | null, caKeyFile: string | null, stopping: () => boolean): Promise<void> {
    let warned = false;
    while (!stopping()) {
      try {
        if (await this.o.raft.get(CA_KEY, { consistency: 'linearizable', timeoutMs: 2000 })) return;
        if (this.o.raft.isLeader()) {
          if (caFile && caKeyFile && existsSync(caKeyFile)) {
            const ca: CaMaterial = { certPem: readFileSync(caFile, 'utf8'), keyPem: readFileSync(caKeyFile, 'utf8') };
            if (!keyMatches(ca.certPem, ca.keyPem)) {
              this.o.logger.warn({ caFile, caKeyFile }, `[tls] ca_key_file ${caKeyFile} is not the key of ca_file ${caFile}: not importing the CA; fix the files`);
              return;
            }
            await this.o.state.createIfAbsent(CA_KEY, ca, 'pki-ca');
            this.o.logger.info({ fingerprint: fingerprint(ca.certPem) }, 'imported the cluster CA into the replicated state');
            continue;
          }
          if (!warned) {
            warned = true;
            this.o.logger.warn({}, 'this leader has no [tls] ca_key_file and the cluster CA is not in the replicated state: joins and certificate rotation wait until a node with ca_key_file leads');
          }
        }
      } catch {
        // no quorum yet
      }
      await sleep(500);
    }
  }

  /** A new join token (the operator sees it once; the state keeps its hash). */
  async createJoinToken(role: JoinTokenRole, ttlMs: number): Promise<CreatedJoinToken> {
    if (!(ttlMs > 0 && ttlMs <= MAX_TTL_MS)) throw new ApiError('RDB_ERR_INVALID', `the token lifetime must be between 1 s and ${MAX_TTL_MS / 3600_000} h`);
    const ca = await this.clusterCa();
    const { token, record } = await newJoinToken({ role, ttlMs, caFingerprint: fingerprint(ca.certPem) });
    await this.o.state.createIfAbsent(joinTokenKey(record.id), record, `join-token-${record.id}`);
    this.o.logger.info({ token: record.id, role, expiresAt: record.expiresAt }, `join token ${record.id} created`);
    return { token, id: record.id, role, expiresAt: record.expiresAt };
  }

  /**
   * Verify and consume `token` for node `nodeId` (kind `kind`), then sign its
   * CSR for its addresses. A token is consumed with a compare-and-set, so two
   * nodes racing with one token cannot both pass; a re-run by the same node is accepted.
   */
  async admitJoin(o: { token: string | undefined; nodeId: string; kind: MemberKind; csr: string | undefined; apiUrl: string; pgHost: string | null }): Promise<{ certPem: string; caPem: string }> {
    if (!o.token) {
      throw new ApiError('RDB_ERR_UNAUTHORIZED', `${o.nodeId} came without a join token: this cluster admits nodes with one (create it with \`rustydb-admin cluster token create\`, pass it to \`cluster join --token\`)`);
    }
    const parsed = parseJoinToken(o.token);
    if (!parsed) throw new ApiError('RDB_ERR_UNAUTHORIZED', 'the join token is malformed (expected rdbj_<id>_<secret>_<fingerprint>): copy it again from `cluster token create`');
    if (!o.csr) throw new ApiError('RDB_ERR_INVALID', `${o.nodeId} sent no certificate request (csr): upgrade its agent`);
    for (let attempt = 0; ; attempt++) {
      const r = await this.o.raft.get(joinTokenKey(parsed.id), { consistency: 'linearizable', timeoutMs: 5000 });
      const record = r ? (JSON.parse(r.value) as JoinTokenRecord) : null;
      const verdict = await checkJoinToken(record, parsed, { nodeId: o.nodeId, kind: o.kind });
      if (!verdict.ok) {
        this.o.logger.warn({ node: o.nodeId, token: parsed.id, reason: verdict.reason }, `join of ${o.nodeId} refused: ${verdict.reason} token`);
        throw new ApiError('RDB_ERR_UNAUTHORIZED', verdict.message, { reason: verdict.reason });
      }
      if (record!.usedAt === null) {
        try {
          await this.o.state.replace(joinTokenKey(parsed.id), { ...record!, usedAt: new Date().toISOString(), usedBy: o.nodeId }, r!.version);
        } catch (err) {
          if (err instanceof StaleRecordError && attempt < 3) continue; // someone else used it meanwhile: check again
          throw err;
        }
      }
      break;
    }
    const ca = await this.clusterCa();
    try {
      const certPem = signCsr(ca, o.csr, { commonName: o.nodeId, sans: memberSans(o.apiUrl, o.pgHost) });
      this.o.logger.info({ node: o.nodeId, token: parsed.id, fingerprint: fingerprint(certPem) }, `signed the certificate of joining node ${o.nodeId}`);
      return { certPem, caPem: ca.certPem };
    } catch (err) {
      if (err instanceof PkiError) throw new ApiError('RDB_ERR_INVALID', err.message);
      throw err;
    }
  }

  /** Sign a CSR of member `m` (rotation). */
  async signFor(m: Pick<MemberRecord, 'id' | 'apiUrl' | 'pgHost'>, csr: string): Promise<{ certPem: string; caPem: string }> {
    const ca = await this.clusterCa();
    return { certPem: signCsr(ca, csr, { commonName: m.id, sans: memberSans(m.apiUrl, m.pgHost) }), caPem: ca.certPem };
  }

  /** A CSR for this node's current key (join: the key `node init` made). */
  csrForCurrentKey(): string {
    return createCsr(this.o.tls.material.keyPem, this.o.nodeId);
  }

  /** Store a signed certificate (and the CA, and a new key if given) and switch the live identity to it. */
  install(certPem: string, caPem: string, keyPem: string = this.o.tls.material.keyPem): void {
    if (!isSignedBy(certPem, caPem)) throw new ApiError('RDB_ERR_INVALID', `the certificate offered to ${this.o.nodeId} is not signed by the cluster CA: refusing it`);
    if (!keyMatches(certPem, keyPem)) throw new ApiError('RDB_ERR_INVALID', `the certificate offered to ${this.o.nodeId} is not for its key: refusing it`);
    const f = this.o.files;
    // Key first: a crash between the writes leaves a key without its certificate, which the next rotation replaces.
    writeSecretFile(f.keyFile, keyPem);
    writePublicFile(f.caFile, caPem);
    writePublicFile(f.certFile, certPem);
    this.o.tls.update({ caPem, certPem, keyPem });
    const s = certSummary(certPem);
    this.o.logger.info({ fingerprint: s.fingerprint, notAfter: s.notAfter }, 'new node certificate in use');
  }

  /** Rotation, step 1 on this node: a new key (kept in memory until step 2) and its CSR. */
  prepareRotation(): { csr: string } {
    const { keyPem, csrPem } = createKeyAndCsr(this.o.nodeId);
    this.pendingKey = keyPem;
    return { csr: csrPem };
  }

  /** Rotation, step 2 on this node: install the certificate the CA signed for the pending key. */
  completeRotation(certPem: string, caPem: string): RotatedNode {
    const key = this.pendingKey;
    if (key === null) throw new ApiError('RDB_ERR_PRECONDITION', `${this.o.nodeId} has no rotation in progress: start again with \`rustydb-admin cluster rotate-certs\``);
    this.install(certPem, caPem, key);
    this.pendingKey = null;
    const s = certSummary(certPem);
    return { node: this.o.nodeId, ok: true, fingerprint: s.fingerprint, notAfter: s.notAfter };
  }

  /** Re-issue every member's certificate, one member at a time; a member that fails is reported, the others go on. */
  async rotateAll(members: readonly MemberRecord[]): Promise<RotatedNode[]> {
    const out: RotatedNode[] = [];
    for (const m of members.filter((x) => x.adminState !== 'removed')) {
      try {
        if (m.id === this.o.nodeId) {
          const { csr } = this.prepareRotation();
          const signed = await this.signFor(m, csr);
          out.push(this.completeRotation(signed.certPem, signed.caPem));
          continue;
        }
        const { csr } = await this.peerCall<{ csr: string }>(m.apiUrl, PKI_PEER_PATHS.prepare, {});
        const signed = await this.signFor(m, csr);
        out.push(await this.peerCall<RotatedNode>(m.apiUrl, PKI_PEER_PATHS.install, { cert: signed.certPem, ca: signed.caPem }));
      } catch (err) {
        const e = err as Error;
        this.o.logger.warn({ node: m.id, err: e.message }, `rotating the certificate of ${m.id} failed`);
        out.push({ node: m.id, ok: false, error: e.message });
      }
    }
    return out;
  }

  private async peerCall<T>(apiUrl: string, path: string, body: unknown): Promise<T> {
    const res = await request(new URL(path, apiUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      dispatcher: peerDispatcher(),
      signal: AbortSignal.timeout(this.o.peerTimeoutMs ?? 10_000),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`POST ${apiUrl}${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }
}
