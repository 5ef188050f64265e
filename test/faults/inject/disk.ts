/**
 * Disk faults: a directory moved onto a small tmpfs that we fill up (ENOSPC)
 * and free again. The directory's contents are carried over both ways, so the
 * node keeps its state.
 */

import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';

const FILLER = '.rdbf-filler';

/**
 * Mount a tmpfs of `sizeMb` over `dir`, keeping what `dir` holds and its owner
 * and mode (PostgreSQL insists on its data directory's); the owner must be stopped.
 */
export function mountSmallDisk(dir: string, sizeMb: number): void {
  const st = statSync(dir);
  const keep = mkdtempSync(join(dirname(dir), '.rdbf-keep-'));
  execFileSync('cp', ['-a', `${dir}/.`, keep]);
  const mode = (st.mode & 0o7777).toString(8).padStart(4, '0');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMb}m,mode=${mode},uid=${st.uid},gid=${st.gid}`, 'tmpfs', dir]);
  execFileSync('cp', ['-a', `${keep}/.`, dir]);
  rmSync(keep, { recursive: true, force: true });
}

/** Undo {@link mountSmallDisk}: copy the contents back onto the real disk (the owner must be stopped). */
export function unmountSmallDisk(dir: string): void {
  const keep = mkdtempSync(join(dirname(dir), '.rdbf-keep-'));
  rmSync(join(dir, FILLER), { force: true });
  execFileSync('cp', ['-a', `${dir}/.`, keep]);
  execFileSync('umount', [dir]);
  execFileSync('cp', ['-a', `${keep}/.`, dir]);
  rmSync(keep, { recursive: true, force: true });
}

/** Fill the file system of `dir` until a write fails with ENOSPC; returns the bytes written. */
export function fillDisk(dir: string): number {
  const fd = openSync(join(dir, FILLER), 'a');
  const chunk = Buffer.alloc(1024 * 1024, 0x5a);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
    // Fill the last partial block too.
    for (let size = 64 * 1024; size >= 512; size /= 2) {
      try {
        written += writeSync(fd, chunk.subarray(0, size));
      } catch {
        // next smaller size
      }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

/** Give the space back. */
export function freeDisk(dir: string): void {
  rmSync(join(dir, FILLER), { force: true });
}

/** Free bytes on the file system of `dir`. */
export function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Is `dir` a mount point of a tmpfs? */
export function isSmallDisk(dir: string): boolean {
  return statfsSync(dir).type === 0x01021994; // TMPFS_MAGIC
}
