/**
 * `node upgrade`: move this node's engine to another installed minor release
 * of the same major, without ever leaving it down.
 *
 * The checks come first and are one pure function ({@link checkUpgrade}); a
 * refused upgrade changes nothing. Then, on the HA loop's one slot (the loop
 * does nothing else with the engine meanwhile): remember the admin state, mark
 * the member `upgrading` (no client traffic, visible in `cluster status`, never
 * a failover candidate), let client sessions end (then terminate them),
 * CHECKPOINT, stop (fast), switch the bin dir, start, wait until the standby
 * streams from the primary and has caught up, restore the admin state it had
 * (a drained node stays drained), and persist the release so an agent restart
 * keeps it. If the new release does not start, the old one is switched back
 * and started, and the operation fails with `rolledBack: true`.
 */

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { UpgradeNodeResult } from '../api/wire-admin.ts';
import { ApiError } from '../api/errors.ts';
import type { EngineDriver, EngineStatus } from '../engine/driver.ts';
import type { LocalStateFile } from '../ha/local-state.ts';
import { BusyError, type HaLoop } from '../ha/loop.ts';
import { lsnDiff } from '../ha/lsn.ts';
import type { PeerClient } from '../ha/peers.ts';
import { StaleRecordError, type ClusterState } from '../state/cluster-state.ts';
import { KEY, type AdminState, type OperationRecord } from '../state/records.ts';

// ---------------------------------------------------------------------------
// Versions

/** "15.18" from `postgres (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)`; null when the text has no version. */
export function parseServerVersion(output: string): string | null {
  const m = /\(PostgreSQL\)\s+(\d+(?:\.\d+)?)/.exec(output);
  return m ? m[1] : null;
}

/** The short form of `SHOW server_version` ("15.18 (Debian 15.18-0+deb12u1)" -> "15.18"); null stays null. */
export function shortVersion(v: string | null | undefined): string | null {
  if (v === null || v === undefined) return null;
  const m = /^\s*(\d+(?:\.\d+)*)/.exec(v);
  return m ? m[1] : v.trim();
}

/** The major of a short version ("15.18" -> "15"). */
export function majorOf(v: string): string {
  return v.split('.')[0];
}

const execFileP = promisify(execFile);

/** The exact version `<binDir>/postgres --version` reports, or null (missing, broken, not PostgreSQL). */
export async function binDirVersion(binDir: string): Promise<string | null> {
  try {
    const { stdout } = await execFileP(join(binDir, 'postgres'), ['--version'], { timeout: 5000, encoding: 'utf8' });
    return parseServerVersion(stdout);
  } catch {
    return null;
  }
}

// ---------------------------------------------------------------------------
// Pre-checks (pure)

/** A release of `[engine.releases]` as this node sees it. */
export interface InstalledRelease {
  name: string;
  /** Canonical path (symlinks resolved): two names of one installation compare equal. */
  binDir: string;
  /** What its `postgres --version` says ("15.18"); null when that failed. */
  version: string | null;
}

export interface UpgradeCheckInput {
  node: string;
  /** The release name asked for. */
  target: string;
  releases: InstalledRelease[];
  /** Canonical path of the bin dir the engine runs from now. */
  currentBinDir: string;
  /** The engine as the driver sees it now (`version` from `SHOW server_version`). */
  engine: Pick<EngineStatus, 'running' | 'inRecovery' | 'streamingFrom' | 'version'>;
  /** The primary record names this node. */
  isPrimary: boolean;
  /** This node's admin state in the replicated state (null: not a member). */
  adminState: AdminState | null;
  /** A long action running on this node (the HA loop's slot), or null. */
  busy: string | null;
}

export type UpgradeCheck =
  | { verdict: 'go'; from: string; to: string; binDir: string }
  | { verdict: 'noop'; version: string; message: string }
  | { verdict: 'refuse'; code: 'RDB_ERR_PRECONDITION' | 'RDB_ERR_CONFLICT'; message: string };

/** Admin states an upgrade starts from (and restores at the end). */
const UPGRADABLE: readonly AdminState[] = ['active', 'draining', 'drained'];

/**
 * May `node` move to release `target` now? Every refusal says why and what to
 * do; the order puts what the operator must fix about the request (unknown
 * release, major version) before the cluster's state.
 */
export function checkUpgrade(i: UpgradeCheckInput): UpgradeCheck {
  const refuse = (message: string, code: 'RDB_ERR_PRECONDITION' | 'RDB_ERR_CONFLICT' = 'RDB_ERR_PRECONDITION'): UpgradeCheck => ({ verdict: 'refuse', code, message });
  const n = i.node;
  if (i.busy !== null) return refuse(`${n} is busy ${i.busy}: wait for it to finish, then retry`, 'RDB_ERR_CONFLICT');
  if (i.adminState === 'upgrading') return refuse(`${n} is being upgraded already: follow that operation (\`rustydb-admin cluster status\` shows the node as upgrading)`, 'RDB_ERR_CONFLICT');
  const rel = i.releases.find((r) => r.name === i.target);
  if (!rel) {
    const names = i.releases.map((r) => (r.version && r.version !== r.name ? `${r.name} (${r.version})` : r.name));
    return refuse(`release "${i.target}" is not installed on ${n} (installed: ${names.length ? names.join(', ') : 'none'}): install it and add it to [engine.releases] in ${n}'s rustydb.conf, then restart its agent`);
  }
  if (rel.version === null) return refuse(`release "${i.target}" on ${n} is broken: ${join(rel.binDir, 'postgres')} --version did not report a PostgreSQL version; fix the installation`);
  const running = shortVersion(i.engine.version);
  if (!i.engine.running || running === null) return refuse(`${n}'s engine is not running, so its release is unknown: start it first (\`rustydb-admin node start ${n}\`), then upgrade`);
  if (rel.binDir === i.currentBinDir && rel.version === running) return { verdict: 'noop', version: running, message: `${n} is already on ${running} (release ${i.target}): nothing to do` };
  if (majorOf(rel.version) !== majorOf(running)) {
    return refuse(`${n} runs PostgreSQL ${running} and release "${i.target}" is PostgreSQL ${rel.version}: a major upgrade needs pg_upgrade; RustyDB does minor upgrades only (pick a ${majorOf(running)}.x release)`);
  }
  if (i.isPrimary) return refuse(`${n} is the primary: switch over first (\`rustydb-admin cluster failover\`), then upgrade it`);
  if (i.adminState === null || !UPGRADABLE.includes(i.adminState)) {
    return refuse(`${n} is ${i.adminState ?? 'not a member'}: only an active, draining or drained member is upgraded${i.adminState === 'fenced' ? ` (unfence it first: \`rustydb-admin node unfence ${n}\`)` : ''}`);
  }
  if (!i.engine.inRecovery || i.engine.streamingFrom === null) {
    return refuse(`${n} is not streaming from the primary (${i.engine.inRecovery ? 'its WAL receiver is not connected' : 'it is not in recovery'}): wait until replication is healthy (\`rustydb-admin cluster status\`), then retry`);
  }
  return { verdict: 'go', from: running, to: rel.version, binDir: rel.binDir };
}

// ---------------------------------------------------------------------------
// The procedure

export interface UpgradeNodeDeps {
  /** Check, then start the upgrade on this node; answers at once with the operation (already ended for a no-op). */
  upgrade(o: { version: string; timeoutMs: number }): Promise<OperationRecord>;
}

export interface UpgradeNodeOptions {
  nodeId: string;
  loop: HaLoop;
  state: ClusterState;
  peers: PeerClient;
  local: LocalStateFile;
  /** `[engine.releases]`: release name -> bin dir. */
  releases: Record<string, string>;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** How far behind the primary (bytes) counts as caught up. Default 1 MiB. */
  lagOkBytes?: number;
  /** Longest wait for client sessions to end before terminating them. Default 10 s. */
  drainMs?: number;
}

const POLL_MS = 250;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = () => new Date().toISOString();

function canonical(dir: string): string {
  try {
    return realpathSync(dir);
  } catch {
    return dir;
  }
}

export function makeUpgradeNode(o: UpgradeNodeOptions): UpgradeNodeDeps {
  const me = o.nodeId;
  const lagOk = o.lagOkBytes ?? 1024 * 1024;

  function driver(): EngineDriver {
    try {
      return o.loop.engineDriver();
    } catch (err) {
      throw new ApiError('RDB_ERR_PRECONDITION', (err as Error).message, { node: me });
    }
  }

  async function installed(): Promise<InstalledRelease[]> {
    return Promise.all(Object.entries(o.releases).map(async ([name, dir]) => ({ name, binDir: canonical(dir), version: await binDirVersion(dir) })));
  }

  /** Compare-and-set of this member's admin state, from one of `from`. */
  async function setAdminState(to: AdminState, from: readonly AdminState[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const m = await o.state.member(me);
      if (!m) throw new Error(`${me} is no longer a member`);
      if (m.value.adminState === to) return;
      if (!from.includes(m.value.adminState)) throw new Error(`${me} became ${m.value.adminState} meanwhile`);
      try {
        await o.state.replace(KEY.member(me), { ...m.value, adminState: to }, m.version);
        o.logger.info({ member: me, from: m.value.adminState, to }, `member ${me}: ${m.value.adminState} -> ${to} (upgrade)`);
        return;
      } catch (err) {
        if (!(err instanceof StaleRecordError) || attempt >= 3) throw err;
      }
    }
  }

  /** Write the operation; a lost quorum is retried a while (the outcome must reach the record). */
  async function record(op: OperationRecord, tries = 1): Promise<void> {
    for (let i = 0; i < tries; i++) {
      try {
        return await o.state.putOperation(op);
      } catch {
        await sleep(500);
      }
    }
    o.logger.warn({ op: op.id }, `could not record ${op.id}: ${op.message}`);
  }

  /** Streaming from the primary, and no more than `lagOk` bytes behind its flush position. */
  async function caughtUp(d: EngineDriver): Promise<{ ok: boolean; why: string }> {
    const s = await d.status();
    if (!s.running) return { ok: false, why: 'the engine is not running' };
    if (!s.inRecovery || s.streamingFrom === null) return { ok: false, why: 'not streaming yet' };
    const p = o.loop.snapshot?.primary?.value.node;
    const pm = o.loop.snapshot?.members.find((m) => m.id === p);
    if (!pm) return { ok: false, why: 'no primary known' };
    const obs = await o.peers.observe(pm.apiUrl).catch(() => null);
    if (!obs?.engine.flushLsn || !s.flushLsn) return { ok: false, why: `cannot compare positions with ${pm.id}` };
    const lag = lsnDiff(obs.engine.flushLsn, s.flushLsn);
    return lag <= lagOk ? { ok: true, why: `streaming from ${s.streamingFrom}, ${Math.max(0, lag)} bytes behind` } : { ok: false, why: `${lag} bytes behind ${pm.id}` };
  }

  async function waitCaughtUp(d: EngineDriver, timeoutMs: number): Promise<{ ok: boolean; why: string }> {
    const deadline = performance.now() + timeoutMs;
    let last = { ok: false, why: 'not checked' };
    while (performance.now() < deadline) {
      last = await caughtUp(d).catch((err) => ({ ok: false, why: (err as Error).message }));
      if (last.ok) return last;
      await sleep(POLL_MS);
    }
    return last;
  }

  /** Let client sessions end for a while, then terminate the rest (the node is out of the load balancer by now). */
  async function letSessionsEnd(d: EngineDriver, ms: number): Promise<number> {
    const deadline = performance.now() + ms;
    let left = await d.clientSessions().catch(() => 0);
    while (left > 0 && performance.now() < deadline) {
      await sleep(POLL_MS);
      left = await d.clientSessions().catch(() => left);
    }
    return left > 0 ? d.terminateClientSessions().catch(() => 0) : 0;
  }

  return {
    async upgrade({ version, timeoutMs }) {
      const d = driver();
      const snap = await o.state.read('linearizable');
      const member = snap.members.find((m) => m.id === me) ?? null;
      const engine = await d.status();
      const check = checkUpgrade({
        node: me,
        target: version,
        releases: await installed(),
        currentBinDir: canonical(d.binDir),
        engine,
        isPrimary: snap.primary?.value.node === me,
        adminState: member?.adminState ?? null,
        busy: o.loop.busyWith(),
      });
      if (check.verdict === 'refuse') throw new ApiError(check.code, check.message, { node: me, version });
      const op: OperationRecord = {
        id: `upgrade-${me}-${randomUUID().slice(0, 8)}`,
        kind: 'upgrade',
        state: 'running',
        message: `upgrading ${me} to ${version}`,
        startedAt: iso(),
        finishedAt: null,
        result: { node: me },
      };
      if (check.verdict === 'noop') {
        const result: UpgradeNodeResult = { node: me, from: check.version, to: check.version, release: version, durationMs: 0, rolledBack: false };
        const done: OperationRecord = { ...op, state: 'succeeded', message: check.message, finishedAt: iso(), result: { ...result } };
        await record(done);
        return done;
      }
      const before = member!.adminState;
      const oldBinDir = d.binDir;
      const t0 = performance.now();
      const step = (message: string) => record({ ...op, message });
      type Outcome = { ok: boolean; message: string; to: string; rolledBack: boolean };

      /** The upgrade proper; a start failure of the new release is rolled back here. */
      const steps = async (): Promise<Outcome> => {
        await step(`${me}: letting client sessions end`);
        const terminated = await letSessionsEnd(d, Math.min(o.drainMs ?? 10_000, timeoutMs));
        await step(`${me}: checkpoint (${terminated} session(s) terminated)`);
        await d.checkpoint().catch((err) => o.logger.warn({ err: String(err) }, 'checkpoint before the upgrade failed; stopping anyway'));
        await step(`${me}: stopping PostgreSQL ${check.from}`);
        await d.stop('fast');
        await d.switchBinDir(check.binDir);
        await step(`${me}: starting PostgreSQL ${check.to} (release ${version})`);
        try {
          await d.start();
        } catch (startErr) {
          // Never leave the node down: back to the release it ran, started again.
          o.logger.warn({ err: String(startErr), release: version }, `release ${version} did not start; rolling back to ${oldBinDir}`);
          await step(`${me}: release ${version} did not start; rolling back to ${check.from}`);
          await d.stop('immediate').catch(() => {});
          await d.switchBinDir(oldBinDir);
          await d.start();
          const back = await waitCaughtUp(d, timeoutMs);
          return {
            ok: false,
            rolledBack: true,
            to: check.from,
            message: `release ${version} (${check.binDir}) did not start on ${me}, so ${me} was rolled back to PostgreSQL ${check.from} and ${back.ok ? `streams again (${back.why})` : `runs again but has not caught up yet (${back.why})`}. Why it failed: ${(startErr as Error).message}`,
          };
        }
        o.local.set({ release: version }); // it runs this release now: an agent restart must keep it
        await step(`${me}: PostgreSQL ${check.to} started; waiting until it streams and catches up`);
        const up = await waitCaughtUp(d, timeoutMs);
        const now = shortVersion((await d.status()).version) ?? check.to;
        if (!up.ok) {
          return { ok: false, rolledBack: false, to: now, message: `${me} runs PostgreSQL ${now} (release ${version}) but did not catch up with the primary within ${timeoutMs} ms (${up.why}): check \`rustydb-admin cluster status\`` };
        }
        return { ok: true, rolledBack: false, to: now, message: `${me} upgraded from PostgreSQL ${check.from} to ${now} (release ${version}); ${up.why}${before !== 'active' ? `; it stays ${before}` : ''}` };
      };

      /** Something else failed (stop, switch, the rollback's start): make sure an engine runs, on the old release if it can. */
      const recover = async (err: unknown): Promise<Outcome> => {
        let s = await d.status().catch(() => null);
        let rolledBack = false;
        if (!s?.running) {
          if (d.binDir !== oldBinDir) {
            await d.switchBinDir(oldBinDir).catch(() => {});
            rolledBack = d.binDir === oldBinDir;
          }
          await d.start().catch((e) => o.logger.warn({ err: String(e) }, 'starting the engine after a failed upgrade failed; the HA loop keeps trying'));
          s = await d.status().catch(() => null);
        }
        if (d.binDir === oldBinDir) o.local.set({ release: o.local.get().release === version ? null : o.local.get().release });
        const where = s?.running ? `runs PostgreSQL ${shortVersion(s.version)}` : 'is not running (the HA loop keeps trying to start it)';
        return { ok: false, rolledBack, to: shortVersion(s?.version) ?? check.from, message: `upgrade of ${me} to ${version} failed: ${(err as Error).message}; ${me}'s engine ${where}` };
      };

      const job = async (): Promise<void> => {
        // Nothing has changed until the admin state does: a failure here leaves the node as it was.
        try {
          await setAdminState('upgrading', [before]);
        } catch (err) {
          await record({ ...op, state: 'failed', message: `upgrade of ${me} not started: ${(err as Error).message}`, finishedAt: iso() }, 20);
          return;
        }
        const out = await steps().catch(recover);
        // Restored whatever happened: a drained node stays drained, an active one takes traffic again.
        await setAdminState(before, ['upgrading']).catch((err) => o.logger.warn({ err: String(err) }, `could not restore ${me}'s admin state ${before}`));
        const r: UpgradeNodeResult = { node: me, from: check.from, to: out.to, release: version, durationMs: Math.round(performance.now() - t0), rolledBack: out.rolledBack };
        await record({ ...op, state: out.ok ? 'succeeded' : 'failed', message: out.message, finishedAt: iso(), result: { ...r } }, 20);
      };

      // Recorded before it starts: the job's later writes must not be overtaken by this one.
      await record(op, 5);
      try {
        void o.loop.runExclusive(`upgrading to ${version}`, job).catch(() => {});
      } catch (err) {
        if (!(err instanceof BusyError)) throw err;
        const message = `${me} is busy ${err.running}: wait for it to finish, then retry`;
        await record({ ...op, state: 'failed', message, finishedAt: iso() });
        throw new ApiError('RDB_ERR_CONFLICT', message, { node: me });
      }
      return op;
    },
  };
}
