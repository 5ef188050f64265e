import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseTarget } from '../../agent/ha/candidates.ts';
import { compareLsn, lsnDiff, parseLsn } from '../../agent/ha/lsn.ts';
import { desiredSync, nextSyncStep, recordCovers, syncStandbyNames } from '../../agent/ha/sync.ts';
import type { MemberRecord, PrimaryRecord } from '../../agent/state/records.ts';

function member(id: string, over: Partial<MemberRecord> = {}): MemberRecord {
  return { id, kind: 'voter', apiUrl: '', pgHost: '127.0.0.1', pgPort: 5432, region: 'r', weight: 1, tags: [], adminState: 'active', ...over };
}
const five = ['n1', 'n2', 'n3', 'n4', 'n5'].map((id) => member(id));
const rec = (k: number, standbys: string[]): PrimaryRecord => ({ node: 'n1', epoch: 3, since: '', reason: '', sync: { k, standbys } });

test('LSNs compare as 64-bit positions, not as strings', () => {
  assert.equal(compareLsn('0/9000000', '0/10000000'), -1);
  assert.equal(compareLsn('1/0', '0/FFFFFFFF'), 1);
  assert.equal(lsnDiff('0/3000100', '0/3000000'), 256);
  assert.throws(() => parseLsn('garbage'), /not a WAL position: "garbage"/);
});

test('quorum commit: k = majority - 1 of the standbys; active_passive uses FIRST 1', () => {
  assert.deepEqual(desiredSync('active_active', ['n2', 'n3'], null), { k: 1, standbys: ['n2', 'n3'] });
  assert.deepEqual(desiredSync('active_active', ['n2', 'n3', 'n4', 'n5'], null), { k: 2, standbys: ['n2', 'n3', 'n4', 'n5'] });
  assert.deepEqual(desiredSync('active_active', ['n2', 'n3', 'n4', 'n5'], 3), { k: 3, standbys: ['n2', 'n3', 'n4', 'n5'] });
  assert.equal(syncStandbyNames('active_passive', desiredSync('active_passive', ['n2'], null)), 'FIRST 1 ("n2")');
  assert.equal(syncStandbyNames('active_active', { k: 0, standbys: ['n2'] }), '');
});

test('a record covers an engine setting only if it promises no more than the engine enforces', () => {
  assert.equal(recordCovers({ k: 1, standbys: ['n2', 'n3'] }, { k: 2, standbys: ['n2', 'n3'] }), true);
  assert.equal(recordCovers({ k: 2, standbys: ['n2', 'n3'] }, { k: 1, standbys: ['n2', 'n3'] }), false);
  assert.equal(recordCovers({ k: 1, standbys: ['n2'] }, { k: 1, standbys: ['n2', 'n3'] }), false);
  assert.equal(recordCovers({ k: 0, standbys: [] }, { k: 1, standbys: ['n9'] }), true);
});

test('replacing a synchronous standby: widen the record, switch the engine, record the target only once it caught up', () => {
  const r = rec(1, ['n2', 'n3']);
  const target = { k: 1, standbys: ['n3', 'n4'] };
  const s1 = nextSyncStep('active_active', r, 'ANY 1 ("n2", "n3")', target, []);
  assert.deepEqual(s1.kind === 'record' && s1.sync, { k: 1, standbys: ['n2', 'n3', 'n4'] });
  const widened = rec(1, ['n2', 'n3', 'n4']);
  const s2 = nextSyncStep('active_active', widened, 'ANY 1 ("n2", "n3")', target, []);
  assert.deepEqual(s2.kind === 'engine' && s2.value, 'ANY 1 ("n3", "n4")');
  const s3 = nextSyncStep('active_active', widened, 'ANY 1 ("n3", "n4")', target, []);
  assert.equal(s3.kind, 'wait');
  const s4 = nextSyncStep('active_active', widened, 'ANY 1 ("n3", "n4")', target, ['n4']);
  assert.deepEqual(s4.kind === 'record' && s4.sync, target);
  assert.equal(nextSyncStep('active_active', rec(1, ['n3', 'n4']), 'ANY 1 ("n3", "n4")', target, []).kind, 'in-step');
});

test('failover: with ANY 2 of 4, three reports are needed; the most advanced one is promoted', () => {
  const r = rec(2, ['n2', 'n3', 'n4', 'n5']);
  const two = chooseTarget({ record: r, members: five, to: null, force: false, reports: [{ id: 'n2', flushLsn: '0/5000000', timeline: 1 }, { id: 'n3', flushLsn: '0/6000000', timeline: 1 }] });
  assert.equal(two.ok, false);
  assert.match(two.why, /only 2 of the 4 synchronous standbys reported .* 3 are needed/);
  const three = chooseTarget({ record: r, members: five, to: null, force: false, reports: [{ id: 'n2', flushLsn: '0/5000000', timeline: 1 }, { id: 'n3', flushLsn: '0/6000000', timeline: 1 }, { id: 'n5', flushLsn: '0/5800000', timeline: 1 }] });
  assert.equal(three.ok, true);
  assert.equal(three.ok && three.target, 'n3');
});

test('failover never promotes a node tagged nofailover, an observer, or a lagging --to without --force', () => {
  const r = rec(1, ['n2', 'n3']);
  const reports = [{ id: 'n2', flushLsn: '0/6000000', timeline: 1 }, { id: 'n3', flushLsn: '0/5000000', timeline: 1 }];
  const tagged = chooseTarget({ record: r, members: [member('n1'), member('n2', { tags: ['nofailover'] }), member('n3')], reports, to: null, force: false });
  assert.equal(tagged.ok, false);
  assert.match(tagged.why, /\(n2\) cannot be promoted/);
  const observer = chooseTarget({ record: r, members: [member('n1'), member('n2'), member('n3', { kind: 'observer' })], reports, to: 'n3', force: false });
  assert.match(observer.why, /observer/);
  const behind = chooseTarget({ record: r, members: five, reports, to: 'n3', force: false });
  assert.equal(behind.ok, false);
  assert.match(behind.why, /n3 is behind \(0\/5000000 < 0\/6000000\)/);
  const forced = chooseTarget({ record: r, members: five, reports, to: 'n3', force: true });
  assert.equal(forced.ok, true);
  assert.equal(forced.ok && forced.dataLossBytes, 0x1000000);
});

test('an asynchronous primary (k = 0) is never failed over automatically', () => {
  const c = chooseTarget({ record: rec(0, []), members: five, to: null, force: false, reports: [{ id: 'n2', flushLsn: '0/6000000', timeline: 1 }] });
  assert.equal(c.ok, false);
  assert.match(c.why, /no standby provably holds every acknowledged commit/);
});
