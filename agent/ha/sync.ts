/**
 * Synchronous replication: which standbys a commit must reach, and how to change
 * that without ever losing track of an acknowledged commit.
 *
 * The primary record carries `sync = {k, standbys}`: the promise that every
 * acknowledged commit is flushed on at least k of those standbys. A failover
 * trusts that promise to find a standby holding every acknowledged commit, so
 * the record must never promise more than the engine enforced for any commit
 * still relevant. Changes therefore go in three steps (see `nextSyncStep`).
 */

import type { HaMode, MemberRecord, PrimaryRecord } from '../state/records.ts';

export interface SyncSet {
  k: number;
  standbys: string[];
}

/** Members the operator took out of replication: never counted on to confirm a commit. */
const OUT_OF_REPLICATION: ReadonlySet<string> = new Set(['removed', 'joining', 'fenced']);

/**
 * Members whose engines stream from the primary and may be synchronous: voters with an engine,
 * not removed, fenced or still joining (a joining node is cloning: waiting for it would stall writes).
 */
export function databaseStandbys(members: readonly MemberRecord[], primary: string): string[] {
  return members
    .filter((m) => m.kind === 'voter' && m.id !== primary && !OUT_OF_REPLICATION.has(m.adminState))
    .map((m) => m.id)
    .sort();
}

/**
 * The synchronous set the cluster wants. active_active: a commit is on a
 * majority of the database nodes (primary included), so k = majority - 1 of the
 * standbys (`ANY k`). active_passive: one standby (`FIRST 1`).
 * `minQuorumSize` raises k, never lowers it.
 */
export function desiredSync(mode: HaMode, standbys: readonly string[], minQuorumSize: number | null): SyncSet {
  const dbNodes = standbys.length + 1;
  let k = mode === 'active_passive' ? Math.min(1, standbys.length) : Math.floor(dbNodes / 2);
  if (minQuorumSize !== null) k = Math.max(k, Math.min(minQuorumSize, standbys.length));
  return { k, standbys: [...standbys].sort() };
}

/** `synchronous_standby_names` for a sync set ('' when k is 0: asynchronous). */
export function syncStandbyNames(mode: HaMode, s: SyncSet): string {
  if (s.k === 0 || s.standbys.length === 0) return '';
  const list = s.standbys.map((id) => `"${id}"`).join(', ');
  return mode === 'active_passive' ? `FIRST ${s.k} (${list})` : `ANY ${s.k} (${list})`;
}

/**
 * With 'available' durability the primary may lower k to the standbys that are
 * actually streaming, so writes continue; 'strict' never lowers it.
 */
export function effectiveSync(desired: SyncSet, streaming: readonly string[], durability: 'strict' | 'available'): SyncSet {
  if (durability === 'strict') return desired;
  const up = desired.standbys.filter((id) => streaming.includes(id)).length;
  return { k: Math.min(desired.k, up), standbys: desired.standbys };
}

export function sameSync(a: SyncSet, b: SyncSet): boolean {
  return a.k === b.k && a.standbys.length === b.standbys.length && a.standbys.every((s, i) => s === b.standbys[i]);
}

/** A record weak enough to cover commits made under either set: min k over the union (k 0 promises nothing). */
export function coveringSync(a: SyncSet, b: SyncSet): SyncSet {
  const k = Math.min(a.k, b.k);
  return { k, standbys: k === 0 ? [] : [...new Set([...a.standbys, ...b.standbys])].sort() };
}

/** Is a record promising `r` true for every commit the engine makes with set `e`? */
export function recordCovers(r: SyncSet, e: SyncSet): boolean {
  return r.k === 0 || (r.k <= e.k && e.standbys.every((s) => r.standbys.includes(s)));
}

export type SyncStep =
  | { kind: 'in-step' }
  /** 1. Record a set that covers both the old and the new engine setting. */
  | { kind: 'record'; sync: SyncSet; why: string }
  /** 2. Switch the engine to the target. */
  | { kind: 'engine'; value: string; why: string }
  /** 3. Record the target, once k of its standbys hold everything written before the switch. */
  | { kind: 'wait'; why: string };

/**
 * The next step to bring (recorded, engine) to `target`. `engineValue` is the
 * engine's current synchronous_standby_names; `caughtUp` lists standbys whose
 * flushed position has reached the primary's position at the engine switch.
 */
export function nextSyncStep(
  mode: HaMode,
  record: PrimaryRecord,
  engineValue: string,
  target: SyncSet,
  caughtUp: readonly string[],
): SyncStep {
  const recorded: SyncSet = record.sync;
  if (target.k === 0) target = { k: 0, standbys: [] };
  const targetValue = syncStandbyNames(mode, target);
  if (sameSync(recorded, target) && engineValue === targetValue) return { kind: 'in-step' };
  if (engineValue !== targetValue) {
    // The record already covers the engine's current setting; it must cover the target too.
    if (!recordCovers(recorded, target)) {
      const cover = coveringSync(recorded, target);
      return { kind: 'record', sync: cover, why: `widening the recorded synchronous set to ${describe(cover)} before changing the engine` };
    }
    return { kind: 'engine', value: targetValue, why: `setting synchronous_standby_names to '${targetValue}'` };
  }
  // Engine already runs the target; the record still covers the old set.
  const onTarget = target.standbys.filter((id) => caughtUp.includes(id)).length;
  if (onTarget >= target.k) return { kind: 'record', sync: target, why: `recording the synchronous set ${describe(target)}` };
  return { kind: 'wait', why: `waiting for ${target.k} of ${target.standbys.join(', ')} to catch up before recording ${describe(target)}` };
}

export function describe(s: SyncSet): string {
  return s.k === 0 ? 'asynchronous (k=0)' : `ANY ${s.k} of (${s.standbys.join(', ')})`;
}
