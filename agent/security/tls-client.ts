/**
 * The node's TLS identity, in one place for both directions:
 *
 * - the listener's options (TLS 1.3 only; a client certificate is asked for
 *   but not required, because operators come with an API token instead; peer
 *   routes check `socket.authorized`, see api/app.ts);
 * - every outbound agent-to-agent call (Raft transport, HA peer calls, join,
 *   force-quorum probes, raft-info): presents the node certificate and trusts
 *   only the cluster CA.
 *
 * Rotation swaps the material with {@link NodeTls.update}: new connections
 * use it at once (the undici connector reads it per connection), open
 * keep-alive connections finish on the old certificate, which stays valid
 * (same CA) — so nothing is dropped during the switch.
 */

import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { SecureContextOptions } from 'node:tls';
import { createRequire } from 'node:module';
import type { Agent, buildConnector, Dispatcher } from 'undici';

// undici is required on first use, not imported: the CLI bundles this module
// (join, force-quorum) and its start-up must not pay for undici.
let undiciModule: typeof import('undici') | null = null;
function undici(): typeof import('undici') {
  undiciModule ??= createRequire(import.meta.url)('undici') as typeof import('undici');
  return undiciModule;
}

/** The node's key, its certificate and the cluster CA it trusts (all PEM). */
export interface TlsMaterial {
  caPem: string;
  certPem: string;
  keyPem: string;
}

/** Options of a TLS 1.3-only listener that asks peers for a certificate (Node https/tls server options). */
export function serverTlsOptions(m: TlsMaterial): SecureContextOptions & { requestCert: true; rejectUnauthorized: false; minVersion: 'TLSv1.3' } {
  return { key: m.keyPem, cert: m.certPem, ca: m.caPem, minVersion: 'TLSv1.3', requestCert: true, rejectUnauthorized: false };
}

/** Connect + TLS handshake deadline of calls to peers (ms). */
export const CONNECT_TIMEOUT_MS = 1000;

/** A node's live TLS identity; see the module comment. */
export class NodeTls {
  private m: TlsMaterial;
  private connector: buildConnector.connector;
  private readonly listeners: ((m: TlsMaterial) => void)[] = [];
  /** Dispatcher for undici calls to peers (request/fetch `dispatcher` option). */
  readonly dispatcher: Agent;

  constructor(m: TlsMaterial) {
    this.m = m;
    this.connector = NodeTls.build(m);
    this.dispatcher = new (undici().Agent)({ connect: this.connect, keepAliveTimeout: 10_000 });
  }

  private static build(m: TlsMaterial): buildConnector.connector {
    // A short connect timeout: undici only honours a request's abort signal once its connection is up, so
    // a peer that accepts TCP but never finishes the handshake (frozen) would hold callers for undici's 10 s default.
    return undici().buildConnector({ ca: m.caPem, cert: m.certPem, key: m.keyPem, minVersion: 'TLSv1.3', rejectUnauthorized: true, timeout: CONNECT_TIMEOUT_MS });
  }

  /** undici `connect` option: each new connection uses the material current at that moment. */
  readonly connect: buildConnector.connector = (opts, cb) => this.connector(opts, cb);

  get material(): TlsMaterial {
    return this.m;
  }

  /** Replace the material (after a join or a rotation) and tell the listeners (the server's setSecureContext). */
  update(m: TlsMaterial): void {
    this.m = m;
    this.connector = NodeTls.build(m);
    for (const l of this.listeners) l(m);
  }

  onUpdate(fn: (m: TlsMaterial) => void): void {
    this.listeners.push(fn);
  }
}

// The agent's one identity, for the call sites that are not handed it
// explicitly (HA peer calls, raft-info, force-quorum probes, join). Null while
// TLS is off (old configs, tests over plain HTTP): undici's default applies.
let current: NodeTls | null = null;

/** Install the agent's identity for every outbound peer call (main.ts, once). */
export function setAgentTls(t: NodeTls | null): void {
  current = t;
}

export function agentTls(): NodeTls | null {
  return current;
}

/** The dispatcher outbound agent calls use: the node identity's, or undefined (plain HTTP, undici's default). */
export function peerDispatcher(): Dispatcher | undefined {
  return current?.dispatcher;
}

/** sha256 of a PEM certificate's DER (lower-case hex): what join tokens pin. */
export function certFingerprint(pem: string): string {
  return createHash('sha256').update(new X509Certificate(pem).raw).digest('hex');
}

/** Path of the open route that serves the cluster CA certificate. */
export const PKI_CA_PATH = '/v1/pki/ca';

/**
 * Fetch the cluster CA from `baseUrl` WITHOUT trusting the server, and accept
 * it only if its fingerprint starts with `fingerprintPrefix` (from the join
 * token): the token is what makes this first contact trustworthy. Every later
 * call then verifies the server against the returned CA.
 */
export async function fetchPinnedCa(baseUrl: string, fingerprintPrefix: string, timeoutMs = 5000): Promise<string> {
  const { Agent: UndiciAgent, request } = undici();
  const insecure = new UndiciAgent({ connect: { rejectUnauthorized: false, minVersion: 'TLSv1.3' } });
  try {
    const res = await request(new URL(PKI_CA_PATH, baseUrl), { method: 'GET', dispatcher: insecure, signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`GET ${PKI_CA_PATH} answered HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    const ca = (JSON.parse(text) as { ca?: string }).ca;
    if (typeof ca !== 'string') throw new Error(`GET ${PKI_CA_PATH} did not return a certificate`);
    const fp = certFingerprint(ca);
    if (!fp.startsWith(fingerprintPrefix.toLowerCase())) {
      throw new PinError(`the CA served at ${baseUrl} (sha256 ${fp.slice(0, 16)}…) is not the one the join token names (${fingerprintPrefix}…): wrong cluster address, or someone in between; do not join through it`);
    }
    return ca;
  } finally {
    void insecure.close();
  }
}

/** The CA a server presented does not match the pinned fingerprint. */
export class PinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PinError';
  }
}

/** The node's TLS files cannot be used; the message names the file and the fix. */
export class TlsFilesError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsFilesError';
  }
}

/**
 * Read `[tls]` cert_file, key_file and ca_file. A node that has not joined
 * yet has no ca_file: its (self-signed) certificate stands in for the CA
 * until the join brings the cluster's.
 */
export function readTlsMaterial(files: { certFile: string | null; keyFile: string | null; caFile: string | null }): TlsMaterial {
  const read = (file: string | null, key: string, fix: string): string => {
    if (!file) throw new TlsFilesError(`[tls] ${key} is not set: ${fix}`);
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      throw new TlsFilesError(`[tls] ${key} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ${fix}`);
    }
  };
  const fix = 'create the node certificate with `rustydb-admin node init` (or point the key at the right file)';
  const certPem = read(files.certFile, 'cert_file', fix);
  const keyPem = read(files.keyFile, 'key_file', fix);
  const caPem = files.caFile && existsSync(files.caFile) ? read(files.caFile, 'ca_file', fix) : certPem;
  try {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) {
      throw new TlsFilesError(`[tls] key_file ${files.keyFile} is not the key of cert_file ${files.certFile}: fix the paths, or re-issue the certificate`);
    }
  } catch (err) {
    if (err instanceof TlsFilesError) throw err;
    throw new TlsFilesError(`[tls] cert_file ${files.certFile} / key_file ${files.keyFile} are not a PEM certificate and key (${(err as Error).message})`);
  }
  return { caPem, certPem, keyPem };
}
