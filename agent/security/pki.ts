/**
 * The cluster's PKI: a CA per cluster, node certificates signed by it (EC
 * P-256, SAN = the node's addresses, EKU serverAuth + clientAuth, so one
 * certificate serves the node's listener and its calls to peers).
 *
 * X.509 is made by the system `openssl` binary (no hand-rolled ASN.1) in a
 * private temporary directory (0700, files 0600, removed afterwards) and
 * parsed with node:crypto's X509Certificate. Private keys are returned as
 * strings for the caller to store with {@link writeSecretFile}; nothing here
 * logs them.
 */

import { execFileSync } from 'node:child_process';
import { createHash, createPrivateKey, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** A certificate authority: its certificate and private key (PEM). */
export interface CaMaterial {
  certPem: string;
  keyPem: string;
}

/** A node's key and certificate (PEM). */
export interface NodeKeyCert {
  keyPem: string;
  certPem: string;
}

/** What we show of a certificate (never its key). */
export interface CertSummary {
  subject: string;
  issuer: string;
  /** "IP:127.0.0.1", "DNS:db1.example" */
  sans: string[];
  notBefore: string;
  notAfter: string;
  /** sha256 of the DER, lower-case hex without colons. */
  fingerprint: string;
}

/** openssl failed or a certificate/CSR is not what it must be. */
export class PkiError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PkiError';
  }
}

export const CA_DAYS = 3650;
export const NODE_CERT_DAYS = 365;
const OPENSSL_TIMEOUT_MS = 15_000;

/** Run openssl in a fresh private directory holding `files`; returns what `read` names, then removes the directory. */
function withOpenssl<T>(files: Record<string, string>, run: (dir: string, openssl: (args: string[]) => string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'rustydb-pki-'));
  try {
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content, { mode: 0o600 });
    const openssl = (args: string[]): string => {
      try {
        return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', timeout: OPENSSL_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        const e = err as { code?: string; stderr?: string; message: string };
        if (e.code === 'ENOENT') throw new PkiError('the openssl binary is not installed: install it (e.g. apt-get install openssl); the agent needs it for certificates');
        // openssl's stderr names the problem; it never contains key material.
        throw new PkiError(`openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim().split('\n').slice(0, 3).join(' / ')}`);
      }
    };
    return run(dir, openssl);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A subject value openssl's -subj accepts: no '/', '=', '+', ',' or quotes. */
function subjectValue(s: string): string {
  return s.replace(/[^A-Za-z0-9 ._-]/g, '_').slice(0, 60) || 'rustydb';
}

/** "IP:a" for addresses, "DNS:h" for names; deduplicated, in order. */
export function sanList(hosts: Iterable<string>): string[] {
  const out: string[] = [];
  for (const raw of hosts) {
    const h = raw.replace(/^\[|\]$/g, '').trim();
    if (h === '' || !/^[A-Za-z0-9.:_-]+$/.test(h)) continue;
    const san = isIP(h) ? `IP:${h}` : `DNS:${h}`;
    if (!out.includes(san)) out.push(san);
  }
  return out;
}

/** The host part of a URL or "host:port" (IPv6 brackets removed). */
export function hostOf(address: string): string {
  const withScheme = address.includes('://') ? address : `https://${address}`;
  return new URL(withScheme).hostname.replace(/^\[|\]$/g, '');
}

/** A new cluster CA (self-signed, CA:TRUE, pathlen 0: it signs node certificates only). */
export function createCa(o: { clusterName: string; days?: number }): CaMaterial {
  const ext = ['[v3ca]', 'basicConstraints=critical,CA:TRUE,pathlen:0', 'keyUsage=critical,keyCertSign,cRLSign', 'subjectKeyIdentifier=hash', ''].join('\n');
  return withOpenssl({ 'ext.cnf': ext }, (dir, openssl) => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'ca-key.pem']);
    openssl(['req', '-new', '-key', 'ca-key.pem', '-out', 'ca.csr', '-subj', `/CN=${subjectValue(`RustyDB CA ${o.clusterName}`)}`]);
    caSign(dir, openssl, { csr: 'ca.csr', out: 'ca.pem', selfSign: true, days: o.days ?? CA_DAYS, extensions: 'v3ca' });
    return { certPem: readFileSync(join(dir, 'ca.pem'), 'utf8'), keyPem: readFileSync(join(dir, 'ca-key.pem'), 'utf8') };
  });
}

/**
 * How far back a certificate's validity starts. A node whose clock runs behind
 * would otherwise find freshly issued certificates "not yet valid" and drop out
 * of the cluster's mutual TLS (the fault suite's clock-jump scenario found it:
 * a node one hour behind could neither reach nor be reached by its peers).
 */
export const BACKDATE_MS = 24 * 3600 * 1000;

/** `openssl ca` with its minimal bookkeeping in `dir`: the only way OpenSSL 3.0 sets notBefore. */
function caSign(dir: string, openssl: (args: string[]) => string, o: { csr: string; out: string; selfSign: boolean; days: number; extensions: string }): void {
  writeFileSync(
    join(dir, 'ca.cnf'),
    ['[ca]', 'default_ca = d', '[d]', 'database = index.txt', 'new_certs_dir = .', 'serial = serial', 'policy = p', 'unique_subject = no', 'copy_extensions = none', '[p]', 'commonName = supplied', ''].join('\n'),
  );
  writeFileSync(join(dir, 'index.txt'), '');
  writeFileSync(join(dir, 'serial'), `${randomBytes(16).toString('hex').replace(/^[89a-f]/, '1')}\n`);
  const stamp = (ms: number) => new Date(ms).toISOString().replace(/[-:T]/g, '').replace(/\.\d+Z$/, 'Z');
  const now = Date.now();
  openssl([
    'ca', '-batch', '-config', 'ca.cnf', '-in', o.csr, '-out', o.out, '-notext', '-md', 'sha256',
    ...(o.selfSign ? ['-selfsign', '-keyfile', 'ca-key.pem'] : ['-cert', 'ca.pem', '-keyfile', 'ca-key.pem']),
    '-startdate', stamp(now - BACKDATE_MS), '-enddate', stamp(now + o.days * 24 * 3600 * 1000),
    '-extfile', 'ext.cnf', '-extensions', o.extensions,
  ]);
}

/** A new private key and a CSR for it with CN = `commonName` (the node id). */
export function createKeyAndCsr(commonName: string): { keyPem: string; csrPem: string } {
  return withOpenssl({}, (dir, openssl) => {
    openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', 'key.pem']);
    openssl(['req', '-new', '-key', 'key.pem', '-out', 'csr.pem', '-subj', `/CN=${subjectValue(commonName)}`]);
    return { keyPem: readFileSync(join(dir, 'key.pem'), 'utf8'), csrPem: readFileSync(join(dir, 'csr.pem'), 'utf8') };
  });
}

/** A CSR for an existing key (rotation keeps nothing of the old key; join may reuse the bootstrap key). */
export function createCsr(keyPem: string, commonName: string): string {
  return withOpenssl({ 'key.pem': keyPem }, (dir, openssl) => {
    openssl(['req', '-new', '-key', 'key.pem', '-out', 'csr.pem', '-subj', `/CN=${subjectValue(commonName)}`]);
    return readFileSync(join(dir, 'csr.pem'), 'utf8');
  });
}

function nodeExtensions(sans: string[]): string {
  if (sans.length === 0) throw new PkiError('a node certificate needs at least one address (subjectAltName): give the node an address');
  return [
    '[v3]',
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=serverAuth,clientAuth',
    `subjectAltName=${sans.join(',')}`,
    'subjectKeyIdentifier=hash',
    '',
  ].join('\n');
}

/**
 * Sign a node's CSR with the CA. The CSR must be validly self-signed and name
 * `commonName`; everything else in it is ignored: the SANs, usages and
 * lifetime come from the signer, never from the requester.
 */
export function signCsr(ca: CaMaterial, csrPem: string, o: { commonName: string; sans: string[]; days?: number }): string {
  if (!/^-----BEGIN CERTIFICATE REQUEST-----[\s\S]+-----END CERTIFICATE REQUEST-----\s*$/.test(csrPem.trim() + '\n') || csrPem.length > 8192) {
    throw new PkiError('the certificate request is not a PEM CSR (-----BEGIN CERTIFICATE REQUEST-----): send the CSR the agent made');
  }
  return withOpenssl({ 'ca.pem': ca.certPem, 'ca-key.pem': ca.keyPem, 'csr.pem': csrPem, 'ext.cnf': nodeExtensions(o.sans) }, (dir, openssl) => {
    openssl(['req', '-in', 'csr.pem', '-noout', '-verify']);
    const subject = openssl(['req', '-in', 'csr.pem', '-noout', '-subject', '-nameopt', 'RFC2253']).trim();
    const cn = /CN=([^,]+)/.exec(subject)?.[1];
    if (cn !== subjectValue(o.commonName)) {
      throw new PkiError(`the certificate request is for "${cn ?? subject}" but the node is ${o.commonName}: the CSR must name the joining node`);
    }
    caSign(dir, openssl, { csr: 'csr.pem', out: 'cert.pem', selfSign: false, days: o.days ?? NODE_CERT_DAYS, extensions: 'v3' });
    return readFileSync(join(dir, 'cert.pem'), 'utf8');
  });
}

/** Key + CA-signed certificate in one step (node init --bootstrap, the sandbox). */
export function issueNodeCert(ca: CaMaterial, o: { commonName: string; sans: string[]; days?: number }): NodeKeyCert {
  const { keyPem, csrPem } = createKeyAndCsr(o.commonName);
  return { keyPem, certPem: signCsr(ca, csrPem, o) };
}

/**
 * A self-signed certificate for `keyPem`: what a node that has not joined yet
 * serves until the cluster's CA signs its key (the local CLI trusts it by file).
 */
export function selfSignedCert(keyPem: string, o: { commonName: string; sans: string[]; days?: number }): string {
  return withOpenssl({ 'key.pem': keyPem, 'ext.cnf': nodeExtensions(o.sans) }, (dir, openssl) => {
    openssl([
      'req', '-x509', '-new', '-key', 'key.pem', '-out', 'cert.pem', '-sha256', '-days', String(o.days ?? 30),
      '-subj', `/CN=${subjectValue(o.commonName)}`, '-config', 'ext.cnf', '-extensions', 'v3',
    ]);
    return readFileSync(join(dir, 'cert.pem'), 'utf8');
  });
}

function parse(pem: string, what: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch (err) {
    throw new PkiError(`${what} is not a PEM certificate (${(err as Error).message})`);
  }
}

/** sha256 of the certificate's DER: lower-case hex, no colons. */
export function fingerprint(certPem: string): string {
  return createHash('sha256').update(parse(certPem, 'the certificate').raw).digest('hex');
}

export function certSummary(certPem: string): CertSummary {
  const c = parse(certPem, 'the certificate');
  const sans = (c.subjectAltName ?? '')
    .split(/,\s*/)
    .filter(Boolean)
    .map((s) => s.replace(/^IP Address:/, 'IP:'));
  return { subject: c.subject, issuer: c.issuer, sans, notBefore: c.validFrom, notAfter: c.validTo, fingerprint: fingerprint(certPem) };
}

/** Was `certPem` issued and signed by the CA `caPem` (and is it within its validity now)? */
export function isSignedBy(certPem: string, caPem: string, now = new Date()): boolean {
  const c = parse(certPem, 'the certificate');
  const ca = parse(caPem, 'the CA certificate');
  return c.checkIssued(ca) && c.verify(ca.publicKey) && new Date(c.validFrom) <= now && now <= new Date(c.validTo);
}

/** Does `keyPem` belong to `certPem`? */
export function keyMatches(certPem: string, keyPem: string): boolean {
  try {
    return parse(certPem, 'the certificate').checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

/** Write a file only the owner can read (0600, atomically; the directory is made 0700 if missing). */
export function writeSecretFile(path: string, content: string): void {
  writeFileMode(path, content, 0o600);
}

/** Write a public file (certificates) atomically, 0644. */
export function writePublicFile(path: string, content: string): void {
  writeFileMode(path, content, 0o644);
}

function writeFileMode(path: string, content: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode); // the umask may have changed it
  renameSync(tmp, path);
}
