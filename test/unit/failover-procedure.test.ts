/**
 * The failover procedure's timing rule: candidates hold WAL streaming off for
 * holdMs, so the new primary record must be committed well inside that
 * window. A comparison that ran past half the hold changes nothing and
 * releases the candidates; one inside it commits the new record.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runFailover, type FailoverContext } from '../../agent/procedures/failover.ts';
import type { PeerClient } from '../../agent/ha/peers.ts';
import type { ClusterState, Snapshot } from '../../agent/state/cluster-state.ts';
import type { MemberRecord, PrimaryRecord } from '../../agent/state/records.ts';

const member = (id: string): MemberRecord => ({ id, kind: 'voter', apiUrl: `https://${id}`, pgHost: '127.0.0.1', pgPort: 1, region: 'default', weight: 1, tags: [], adminState: 'active' });
const old: PrimaryRecord = { node: 'n1', epoch: 3, since: '', reason: 'test', sync: { k: 1, standbys: ['n2', 'n3'] } };
const snapshot: Snapshot = { identity: null, config: null, primary: { value: old, version: 7 }, members: ['n1', 'n2', 'n3'].map(member), failoverRequest: null };

function context(prepareTakesMs: number) {
  let clock = 0;
  const calls: string[] = [];
  const peers = {
    prepare: async (url: string) => {
      clock += prepareTakesMs;
      calls.push(`prepare ${url}`);
      return { nodeId: url.slice(8), flushLsn: url.endsWith('n2') ? '0/3000100' : '0/3000000', timeline: 1 };
    },
    release: async (url: string, epoch?: number) => void calls.push(`release ${url}${epoch ? ` epoch ${epoch}` : ''}`),
    wake: async (url: string) => void calls.push(`wake ${url}`),
  } as unknown as PeerClient;
  const state = {
    putPrimary: async (r: PrimaryRecord, v: number, _id: string, timeoutMs: number) => void calls.push(`put epoch ${r.epoch} on ${r.node} (expect v${v}, within ${timeoutMs} ms)`),
    appendHistory: async () => void calls.push('history'),
  } as unknown as ClusterState;
  const c: FailoverContext = { state, peers, snapshot, request: null, primaryHealthy: false, reason: 'test', holdMs: 10_000, isoNow: () => '', now: () => clock, log: () => {} };
  return { c, calls };
}

test('a quick comparison commits the most advanced candidate within the rest of the budget', async () => {
  const { c, calls } = context(100);
  const out = await runFailover(c);
  assert.equal(out.ok, true);
  assert.ok(calls.includes('put epoch 4 on n2 (expect v7, within 4800 ms)'), calls.join('\n'));
  // The released candidates learn the new epoch: a stale cycle of theirs cannot follow n1 again.
  assert.deepEqual(calls.filter((x) => x.startsWith('release')).sort(), ['release https://n2 epoch 4', 'release https://n3 epoch 4']);
});

test('a comparison that ran past half the hold commits nothing and releases the candidates', async () => {
  const { c, calls } = context(2500); // two candidates: 5000 ms, the whole budget
  const out = await runFailover(c);
  assert.equal(out.ok, false);
  assert.match(out.message, /too close to their 10000 ms hold; nothing changed/);
  assert.equal(calls.filter((x) => x.startsWith('put')).length, 0);
  assert.deepEqual(calls.filter((x) => x.startsWith('release')).sort(), ['release https://n2', 'release https://n3']);
});
