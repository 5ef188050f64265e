/**
 * What one agent must remember about its own engine across restarts and that
 * no other node can tell it: the epoch in which it last ran as primary. After a
 * failover that is what tells it to rewind before following the new primary.
 */

import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export interface LocalHaState {
  lastPrimaryEpoch: number | null;
}

export class LocalStateFile {
  private state: LocalHaState;

  constructor(private readonly path: string) {
    this.state = LocalStateFile.read(path);
  }

  get(): LocalHaState {
    return { ...this.state };
  }

  /** Durable before it returns: written to a temporary file, fsynced, renamed. */
  set(next: LocalHaState): void {
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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { lastPrimaryEpoch: null };
      throw err;
    }
    try {
      const v = JSON.parse(text) as LocalHaState;
      if (v.lastPrimaryEpoch !== null && !Number.isInteger(v.lastPrimaryEpoch)) throw new Error('lastPrimaryEpoch is not an integer');
      return { lastPrimaryEpoch: v.lastPrimaryEpoch };
    } catch (err) {
      throw new Error(`${path} is corrupt (${(err as Error).message}); if this node's engine is a standby, delete the file and restart the agent`);
    }
  }
}
