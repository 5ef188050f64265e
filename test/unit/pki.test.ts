/**
 * The PKI (real openssl): a CA signs node certificates with the signer's
 * SANs and usages; a CSR for another node or garbage is refused; keys are
 * written 0600. Join tokens: shape, single use (except a re-run by the same
 * node), expiry, role, wrong secret.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BACKDATE_MS, certSummary, createCa, createKeyAndCsr, fingerprint, isSignedBy, issueNodeCert, keyMatches, PkiError, sanList, selfSignedCert, signCsr, writeSecretFile } from '../../agent/security/pki.ts';
import { checkJoinToken, newJoinToken, parseJoinToken, type JoinTokenRecord } from '../../agent/security/join-tokens.ts';
import { certFingerprint, readTlsMaterial, TlsFilesError } from '../../agent/security/tls-client.ts';

const ca = createCa({ clusterName: 'unit' });
const other = createCa({ clusterName: 'other' });

test('a node certificate is signed by the CA, carries the signer-given SANs and both TLS usages', () => {
  const n = issueNodeCert(ca, { commonName: 'n1', sans: sanList(['10.0.0.1', 'db1.example', '10.0.0.1']) });
  assert.equal(isSignedBy(n.certPem, ca.certPem), true);
  assert.equal(isSignedBy(n.certPem, other.certPem), false);
  assert.equal(keyMatches(n.certPem, n.keyPem), true);
  assert.equal(keyMatches(n.certPem, ca.keyPem), false);
  const s = certSummary(n.certPem);
  assert.equal(s.subject, 'CN=n1');
  assert.deepEqual(s.sans, ['IP:10.0.0.1', 'DNS:db1.example']);
  assert.equal(s.fingerprint, fingerprint(n.certPem));
  assert.equal(certFingerprint(n.certPem), s.fingerprint);
  const x = new X509Certificate(n.certPem);
  assert.equal(x.ca, false);
  assert.deepEqual([...(x.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  assert.equal(new X509Certificate(ca.certPem).ca, true);
  // Valid from a day back, so a node whose clock runs behind still accepts its peers.
  for (const pem of [n.certPem, ca.certPem]) {
    const from = Date.parse(new X509Certificate(pem).validFrom);
    assert.ok(Date.now() - from >= BACKDATE_MS - 60_000, `valid only from ${new X509Certificate(pem).validFrom}`);
  }
  assert.ok(Date.parse(x.validTo) - Date.now() > 364 * 24 * 3600 * 1000, 'a node certificate still lasts a year from now');
});

test('signCsr refuses a CSR for another node, and garbage', () => {
  const { csrPem } = createKeyAndCsr('n2');
  assert.throws(() => signCsr(ca, csrPem, { commonName: 'n1', sans: ['IP:127.0.0.1'] }), (e: unknown) => e instanceof PkiError && /is for "n2" but the node is n1/.test(e.message));
  assert.throws(() => signCsr(ca, 'not a csr', { commonName: 'n1', sans: ['IP:127.0.0.1'] }), PkiError);
  // A CSR whose signature does not match its key (tampered) is refused by openssl's -verify.
  const tampered = csrPem.replace(/([A-Za-z0-9+/]{10})([A-Za-z0-9+/])/, (_m, a: string, b: string) => a + (b === 'A' ? 'B' : 'A'));
  assert.throws(() => signCsr(ca, tampered, { commonName: 'n2', sans: ['IP:127.0.0.1'] }), PkiError);
});

test('a self-signed bootstrap certificate is not signed by the CA', () => {
  const { keyPem } = createKeyAndCsr('n4');
  const cert = selfSignedCert(keyPem, { commonName: 'n4', sans: ['IP:127.0.0.1'] });
  assert.equal(isSignedBy(cert, ca.certPem), false);
  assert.equal(keyMatches(cert, keyPem), true);
});

test('key files are written 0600; readTlsMaterial refuses a key that is not the certificate\'s', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rustydb-pki-test-'));
  try {
    const n = issueNodeCert(ca, { commonName: 'n1', sans: ['IP:127.0.0.1'] });
    writeSecretFile(join(dir, 'k.pem'), n.keyPem);
    writeSecretFile(join(dir, 'c.pem'), n.certPem);
    writeSecretFile(join(dir, 'other-k.pem'), other.keyPem);
    assert.equal(statSync(join(dir, 'k.pem')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'k.pem'), 'utf8'), n.keyPem);
    const m = readTlsMaterial({ certFile: join(dir, 'c.pem'), keyFile: join(dir, 'k.pem'), caFile: join(dir, 'missing-ca.pem') });
    assert.equal(m.caPem, n.certPem, 'no CA file yet (a joining node): its own certificate stands in');
    assert.throws(() => readTlsMaterial({ certFile: join(dir, 'c.pem'), keyFile: join(dir, 'other-k.pem'), caFile: null }), TlsFilesError);
    assert.throws(() => readTlsMaterial({ certFile: join(dir, 'nope.pem'), keyFile: join(dir, 'k.pem'), caFile: null }), /cert_file .*nope\.pem cannot be read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('join tokens: shape, CA pin, single use, re-run by the same node, expiry, role, wrong secret', async () => {
  const fp = fingerprint(ca.certPem);
  const now = new Date('2030-01-01T00:00:00Z');
  const { token, record } = await newJoinToken({ role: 'follower', ttlMs: 3600_000, caFingerprint: fp, now });
  const p = parseJoinToken(token)!;
  assert.ok(p, token);
  assert.ok(fp.startsWith(p.caFingerprintPrefix));
  assert.equal(p.id, record.id);
  assert.ok(!JSON.stringify(record).includes(p.secret), 'the record holds no secret');
  assert.equal(parseJoinToken('rdbj_nope'), null);

  const voter = { nodeId: 'n4', kind: 'voter' as const, now };
  assert.deepEqual(await checkJoinToken(record, p, voter), { ok: true });
  const used: JoinTokenRecord = { ...record, usedAt: now.toISOString(), usedBy: 'n4' };
  assert.deepEqual(await checkJoinToken(used, p, voter), { ok: true }, 'the same node may re-run its join');
  const reused = await checkJoinToken(used, p, { ...voter, nodeId: 'n5' });
  assert.equal(reused.ok, false);
  assert.equal(!reused.ok && reused.reason, 'used');
  const late = await checkJoinToken(record, p, { ...voter, now: new Date(now.getTime() + 3600_001) });
  assert.equal(!late.ok && late.reason, 'expired');
  const wrongRole = await checkJoinToken(record, p, { ...voter, kind: 'witness' });
  assert.equal(!wrongRole.ok && wrongRole.reason, 'role');
  const wrongSecret = await checkJoinToken(record, { ...p, secret: p.secret.replace(/^./, (c) => (c === '0' ? '1' : '0')) }, voter);
  assert.equal(!wrongSecret.ok && wrongSecret.reason, 'mismatch');
  const unknown = await checkJoinToken(null, p, voter);
  assert.equal(!unknown.ok && unknown.reason, 'unknown');
});
