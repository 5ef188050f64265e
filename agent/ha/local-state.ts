/**
 * What one agent must remember about its own engine across restarts and that
 * no other node can tell it: the epoch in which it last ran as primary. After a
 * failover that is what tells it to rewind before following the new primary.
 * And whether the operator stopped the engine (`node stop`): that must hold
 * across an agent restart, and even when the node can no longer reach the
 * cluster (after `cluster remove`), so it lives here and not in the cluster.
 * Likewise the engine release `node upgrade` moved it to: the config's
 * `[engine] release` is only where a new node starts; and an upgrade under
 * way, so that an agent killed mid-upgrade puts the node back at start-up.
 */

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LocalHaState {
  lastPrimaryEpoch: number | null;
  /** The operator stopped the engine: keep it stopped until `node start`. */
  engineHeld: boolean;
  /** The `[engine.releases]` name `node upgrade` last switched to; null: the config's choice. */
  release: string | null;
  /**
   * A `node upgrade` is under way: written before the member is marked
   * `upgrading`, cleared once its admin state is restored. Set at agent
   * start-up means the agent died mid-upgrade (see `recoverInterruptedUpgrade`).
   */
  upgradeInProgress: UpgradeInProgress | null;
}

/** What an agent that died mid-upgrade needs to put the node back as it was. */
export interface UpgradeInProgress {
  /** The admin state to restore (`active`, `draining` or `drained`). */
  previousAdminState: 'active' | 'draining' | 'drained';
  /** `release` before the upgrade (null: the config's choice) and the bin dir it ran from. */
  fromRelease: string | null;
  fromBinDir: string;
  /** The release asked for. */
  toRelease: string;
  /** The `upgrade` operation to mark failed if it is still running. */
  operationId: string;
}

const ADMIN_BEFORE = ['active', 'draining', 'drained'];

function checkUpgradeInProgress(v: unknown): UpgradeInProgress | null {
  if (v === undefined || v === null) return null;
  const u = v as Partial<UpgradeInProgress>;
  if (typeof u !== 'object' || !ADMIN_BEFORE.includes(u.previousAdminState as string)) throw new Error('upgradeInProgress.previousAdminState is not active, draining or drained');
  if (u.fromRelease !== null && typeof u.fromRelease !== 'string') throw new Error('upgradeInProgress.fromRelease is not a string or null');
  for (const k of ['fromBinDir', 'toRelease', 'operationId'] as const) {
    if (typeof u[k] !== 'string') throw new Error(`upgradeInProgress.${k} is not a string`);
  }
  return { previousAdminState: u.previousAdminState!, fromRelease: u.fromRelease ?? null, fromBinDir: u.fromBinDir!, toRelease: u.toRelease!, operationId: u.operationId! };
}

export class LocalStateFile {
  private state: LocalHaState;

  constructor(private readonly path: string) {
    this.state = LocalStateFile.read(path);
  }

  get(): LocalHaState {
    return { ...this.state };
  }

  /** Change some fields; durable before it returns: written to a temporary file, fsynced, renamed. */
  set(patch: Partial<LocalHaState>): void {
    const next = { ...this.state, ...patch };
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(next));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
    this.state = { ...next };
  }

  private static read(path: string): LocalHaState {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lastPrimaryEpoch: null, engineHeld: false, release: null, upgradeInProgress: null };
      throw err;
    }
    try {
      const v = JSON.parse(text) as Partial<LocalHaState>;
      if (v.lastPrimaryEpoch !== null && !Number.isInteger(v.lastPrimaryEpoch)) throw new Error('lastPrimaryEpoch is not an integer');
      if (v.engineHeld !== undefined && typeof v.engineHeld !== 'boolean') throw new Error('engineHeld is not a boolean');
      if (v.release !== undefined && v.release !== null && typeof v.release !== 'string') throw new Error('release is not a string');
      // Files written before engineHeld (or release, upgradeInProgress) existed have no such field.
      return { lastPrimaryEpoch: v.lastPrimaryEpoch ?? null, engineHeld: v.engineHeld ?? false, release: v.release ?? null, upgradeInProgress: checkUpgradeInProgress(v.upgradeInProgress) };
    } catch (err) {
      throw new Error(`${path} is corrupt (${(err as Error).message}); if this node's engine is a standby, delete the file and restart the agent`);
    }
  }
}
