/**
 * `node upgrade`'s pre-checks (a pure function of the installed releases, the
 * running engine and the node's role), the version parsing behind them, and
 * the sandbox's release naming (exact versions, the major alias, the embedded
 * copy).
 */

import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkUpgrade, leadershipHandoff, parseServerVersion, shortVersion, type HandoffInput, type UpgradeCheckInput } from '../../agent/procedures/upgrade-node.ts';
import { LocalStateFile } from '../../agent/ha/local-state.ts';
import { discoverReleases, materializeReleases } from '../../src/sandbox/releases.ts';

const OLD = '/opt/pg/15.17/bin';
const NEW = '/usr/lib/postgresql/15/bin';
const PG16 = '/usr/lib/postgresql/16/bin';

/** A healthy streaming standby n2 on 15.17, with 15.17, 15.18 and 16.1 installed. */
function input(over: Partial<UpgradeCheckInput> = {}): UpgradeCheckInput {
  return {
    node: 'n2',
    target: '15.18',
    releases: [
      { name: '15.17', binDir: OLD, version: '15.17' },
      { name: '15.18', binDir: NEW, version: '15.18' },
      { name: '16.1', binDir: PG16, version: '16.1' },
    ],
    currentBinDir: OLD,
    engine: { running: true, inRecovery: true, streamingFrom: 'n1', version: '15.17' },
    isPrimary: false,
    adminState: 'active',
    busy: null,
    ...over,
  };
}

function refusal(over: Partial<UpgradeCheckInput>): { code: string; message: string } {
  const c = checkUpgrade(input(over));
  assert.equal(c.verdict, 'refuse', `expected a refusal, got ${JSON.stringify(c)}`);
  return c as { code: string; message: string };
}

test('a streaming standby may move to another installed minor release', () => {
  assert.deepEqual(checkUpgrade(input()), { verdict: 'go', from: '15.17', to: '15.18', binDir: NEW });
  // Drained and draining nodes too (their admin state is restored afterwards).
  assert.equal(checkUpgrade(input({ adminState: 'drained' })).verdict, 'go');
  assert.equal(checkUpgrade(input({ adminState: 'draining' })).verdict, 'go');
  // A minor downgrade is a minor change as well.
  assert.equal(checkUpgrade(input({ target: '15.17', currentBinDir: NEW, engine: { running: true, inRecovery: true, streamingFrom: 'n1', version: '15.18' } })).verdict, 'go');
});

test('the running version is read from the server, in its long Debian form too', () => {
  const c = checkUpgrade(input({ engine: { running: true, inRecovery: true, streamingFrom: 'n1', version: '15.17 (Debian 15.17-1)' } }));
  assert.deepEqual(c, { verdict: 'go', from: '15.17', to: '15.18', binDir: NEW });
});

test('a release that is not installed is refused, listing the installed ones', () => {
  const r = refusal({ target: '15.99' });
  assert.equal(r.code, 'RDB_ERR_PRECONDITION');
  assert.match(r.message, /release "15\.99" is not installed on n2 \(installed: 15\.17, 15\.18, 16\.1\)/);
});

test('a major version is refused with the reason, even on a healthy standby', () => {
  const r = refusal({ target: '16.1' });
  assert.equal(r.code, 'RDB_ERR_PRECONDITION');
  assert.match(r.message, /a major upgrade needs pg_upgrade; RustyDB does minor upgrades only/);
  // The major comes from the binary, not the name: a "16.1" that is really 15.18 is a minor change.
  assert.equal(checkUpgrade(input({ target: '16.1', releases: [{ name: '16.1', binDir: PG16, version: '15.18' }] })).verdict, 'go');
});

test('the primary is refused: switch over first', () => {
  const r = refusal({ isPrimary: true, engine: { running: true, inRecovery: false, streamingFrom: null, version: '15.17' } });
  assert.equal(r.code, 'RDB_ERR_PRECONDITION');
  assert.match(r.message, /n2 is the primary: switch over first/);
});

test('a standby that does not stream, or whose engine is down, is refused', () => {
  assert.match(refusal({ engine: { running: true, inRecovery: true, streamingFrom: null, version: '15.17' } }).message, /not streaming from the primary/);
  assert.match(refusal({ engine: { running: false, inRecovery: false, streamingFrom: null, version: null } }).message, /engine is not running.*node start n2/);
});

test('fenced, joining and removed members are refused; a running action or upgrade is a conflict', () => {
  assert.match(refusal({ adminState: 'fenced' }).message, /n2 is fenced.*unfence/);
  assert.match(refusal({ adminState: 'joining' }).message, /n2 is joining/);
  assert.equal(refusal({ busy: 'cloning from n1' }).code, 'RDB_ERR_CONFLICT');
  assert.equal(refusal({ adminState: 'upgrading' }).code, 'RDB_ERR_CONFLICT');
});

test('the release it already runs is a no-op that says so (the primary too)', () => {
  const running = { running: true, inRecovery: true, streamingFrom: 'n1', version: '15.18 (Debian 15.18-0+deb12u1)' };
  assert.deepEqual(checkUpgrade(input({ currentBinDir: NEW, engine: running })), { verdict: 'noop', version: '15.18', message: 'n2 is already on 15.18 (release 15.18): nothing to do' });
  assert.equal(checkUpgrade(input({ currentBinDir: NEW, isPrimary: true, engine: { ...running, inRecovery: false, streamingFrom: null } })).verdict, 'noop');
  // Same version from another installation (e.g. a rebuilt copy) is a real switch.
  assert.equal(checkUpgrade(input({ currentBinDir: '/elsewhere', engine: running })).verdict, 'go');
});

test('a release whose postgres does not report a version is refused as broken', () => {
  assert.match(refusal({ releases: [{ name: '15.18', binDir: NEW, version: null }] }).message, /release "15\.18" on n2 is broken/);
});

test('version strings', () => {
  assert.equal(parseServerVersion('postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)\n'), '15.18');
  assert.equal(parseServerVersion('postgres (PostgreSQL) 15.17\n'), '15.17');
  assert.equal(parseServerVersion('bash: postgres: not found'), null);
  assert.equal(shortVersion('15.18 (Debian 15.18-0+deb12u1)'), '15.18');
  assert.equal(shortVersion('15.17'), '15.17');
  assert.equal(shortVersion(null), null);
});

/** A fake bin dir whose postgres reports `version`. */
function fakeRelease(root: string, name: string, version: string): string {
  const bin = join(root, name, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const b of ['postgres', 'pg_ctl', 'initdb']) {
    writeFileSync(join(bin, b), `#!/bin/sh\necho "${b} (PostgreSQL) ${version}"\n`);
    chmodSync(join(bin, b), 0o755);
  }
  return bin;
}

test('sandbox releases: named by exact version, the major aliases the newest system one, the embedded tree is copied', () => {
  const root = mkdtempSync(join(tmpdir(), 'rustydb-releases-'));
  try {
    const sys = join(root, 'sys');
    fakeRelease(sys, '15', '15.18');
    fakeRelease(sys, '14', '14.9');
    const native = join(root, 'embedded', 'native');
    const embeddedBin = fakeRelease(join(root, 'embedded'), 'native', '15.17');
    mkdirSync(join(native, 'lib'));
    writeFileSync(join(native, 'lib', 'libx.so.1'), 'x');
    symlinkSync('libx.so.1', join(native, 'lib', 'libx.so'));

    const found = discoverReleases({ systemRoot: sys, embeddedNative: native });
    assert.deepEqual(
      found.map((r) => [r.name, r.origin]),
      [
        ['14.9', 'system'],
        ['15.17', 'embedded'],
        ['15.18', 'system'],
      ],
    );
    assert.equal(found.find((r) => r.name === '15.17')?.binDir, embeddedBin);

    const sb = join(root, 'sb');
    mkdirSync(sb);
    const releases = materializeReleases(sb, found);
    assert.deepEqual(releases, {
      '14.9': join(sys, '14', 'bin'),
      '15.17': join(sb, 'releases', '15.17', 'bin'),
      '15.18': join(sys, '15', 'bin'),
      '14': join(sys, '14', 'bin'),
      '15': join(sys, '15', 'bin'),
    });
    // A copy with its libraries and symlinks, not a link into node_modules.
    assert.ok(existsSync(join(sb, 'releases', '15.17', 'bin', 'postgres')));
    assert.ok(existsSync(join(sb, 'releases', '15.17', 'lib', 'libx.so')));
    // Made once: a second call finds the copy.
    assert.deepEqual(materializeReleases(sb, found), releases);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a system release wins over the embedded one of the same version', () => {
  const root = mkdtempSync(join(tmpdir(), 'rustydb-releases-'));
  try {
    fakeRelease(join(root, 'sys'), '15', '15.17');
    fakeRelease(join(root, 'embedded'), 'native', '15.17');
    const found = discoverReleases({ systemRoot: join(root, 'sys'), embeddedNative: join(root, 'embedded', 'native') });
    assert.deepEqual(found.map((r) => [r.name, r.origin]), [['15.17', 'system']]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('another procedure pending (a switchover/failover, a force-quorum) is a conflict naming it; nothing starts', () => {
  const r = refusal({ otherProcedure: 'a switchover/failover to n3 (request r-1) has not finished: wait until it has, then retry' });
  assert.equal(r.code, 'RDB_ERR_CONFLICT');
  assert.match(r.message, /^n2 is not upgraded now: a switchover\/failover to n3 \(request r-1\)/);
  assert.equal(checkUpgrade(input({ otherProcedure: null })).verdict, 'go');
});

test('Raft leadership before the upgrade: a follower stays; a leader hands over to the primary, else another reachable active voter; none: refused', () => {
  const base: HandoffInput = {
    self: 'n2', isLeader: true, voters: ['n1', 'n2', 'n3'], primary: 'n1',
    adminStates: { n1: 'active', n2: 'active', n3: 'active' }, reachable: ['n1', 'n3'],
  };
  assert.equal(leadershipHandoff({ ...base, isLeader: false }).kind, 'stay');
  assert.deepEqual(leadershipHandoff(base), { kind: 'transfer', to: 'n1' });
  assert.deepEqual(leadershipHandoff({ ...base, reachable: ['n3'] }), { kind: 'transfer', to: 'n3' });
  assert.deepEqual(leadershipHandoff({ ...base, adminStates: { ...base.adminStates, n1: 'drained' } }), { kind: 'transfer', to: 'n3' });
  const no = leadershipHandoff({ ...base, reachable: [], adminStates: { ...base.adminStates, n3: 'fenced' } });
  assert.equal(no.kind, 'refuse');
  assert.match((no as { message: string }).message, /could not hand Raft leadership away from n2.*n1: active, unreachable; n3: fenced, unreachable/);
  // An observer (not a voter) is never the target.
  assert.equal(leadershipHandoff({ ...base, voters: ['n2'], reachable: ['n1', 'n3'] }).kind, 'refuse');
});

test('ha-state.json keeps an upgrade under way across a restart, and rejects a malformed one naming the field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rdb-ha-state-'));
  try {
    const path = join(dir, 'ha-state.json');
    const u = { previousAdminState: 'drained' as const, fromRelease: null, fromBinDir: '/opt/pg/15.17/bin', toRelease: '15.18', operationId: 'upgrade-n2-1' };
    new LocalStateFile(path).set({ upgradeInProgress: u });
    assert.deepEqual(new LocalStateFile(path).get().upgradeInProgress, u);
    new LocalStateFile(path).set({ upgradeInProgress: null });
    assert.equal(new LocalStateFile(path).get().upgradeInProgress, null);
    writeFileSync(path, JSON.stringify({ lastPrimaryEpoch: null, engineHeld: false, release: null }));
    assert.equal(new LocalStateFile(path).get().upgradeInProgress, null, 'a file from before the field existed');
    writeFileSync(path, JSON.stringify({ lastPrimaryEpoch: null, upgradeInProgress: { ...u, previousAdminState: 'upgrading' } }));
    assert.throws(() => new LocalStateFile(path), /corrupt \(upgradeInProgress.previousAdminState/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
