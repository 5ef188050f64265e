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
 *
 * Also refused (409) while another procedure is pending (a switchover/failover
 * request, a force-quorum). When this agent leads Raft, leadership is handed
 * to another healthy voter first (the primary's, if it can): an upgrading
 * node's HA loop decides nothing, and the leader's loop is the one that would
 * fail the primary over. Before the member is marked `upgrading`, ha-state.json
 * records the upgrade under way, so an agent killed mid-upgrade puts the node
 * back at start-up ({@link recoverInterruptedUpgrade}).
 */

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { UpgradeNodeResult } from '../api/wire-admin.ts';
import { ApiError } from '../api/errors.ts';
import type { EngineDriver, EngineStatus } from '../engine/driver.ts';
import type { LocalStateFile, UpgradeInProgress } from '../ha/local-state.ts';
import { readProcedureConflict } from '../api/routes/upgrade-journal.ts';
import type { ClusterStore } from '../raft/store.ts';
import { BusyError, type HaLoop } from '../ha/loop.ts';
import { lsnDiff } from '../ha/lsn.ts';
import type { PeerClient } from '../ha/peers.ts';
import { StaleRecordError, type ClusterState, type Snapshot } from '../state/cluster-state.ts';
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
  /** Another procedure pending in the cluster (agent/upgrade-journal.ts `procedureConflict`), in words; null/absent: none. */
  otherProcedure?: string | null;
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
  if (i.otherProcedure) return refuse(`${n} is not upgraded now: ${i.otherProcedure}`, 'RDB_ERR_CONFLICT');
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
// Raft leadership before the upgrade (pure)

export interface HandoffInput {
  self: string;
  /** This agent leads Raft now. */
  isLeader: boolean;
  /** Raft voters now. */
  voters: readonly string[];
  /** The node the primary record names (null: none). */
  primary: string | null;
  /** Members' admin states (a voter not listed is not a member). */
  adminStates: Readonly<Record<string, AdminState>>;
  /** Voters whose agents answered just now. */
  reachable: readonly string[];
}

export type Handoff = { kind: 'stay'; why: string } | { kind: 'transfer'; to: string } | { kind: 'refuse'; message: string };

/**
 * Must leadership move before this node upgrades, and to whom? A follower
 * stays. A leader hands over to the primary's agent when it is a reachable
 * active voter (the cluster then has one leader, as the HA loop wants it),
 * else to another reachable active voter (the smallest id); with none, the
 * upgrade is refused, since no leader would watch the primary meanwhile.
 */
export function leadershipHandoff(i: HandoffInput): Handoff {
  if (!i.isLeader) return { kind: 'stay', why: `${i.self} does not lead Raft` };
  const fit = (id: string) => id !== i.self && i.voters.includes(id) && i.adminStates[id] === 'active' && i.reachable.includes(id);
  if (i.primary !== null && fit(i.primary)) return { kind: 'transfer', to: i.primary };
  const to = [...i.voters].filter(fit).sort()[0];
  if (to) return { kind: 'transfer', to };
  const others = i.voters.filter((v) => v !== i.self);
  return {
    kind: 'refuse',
    message: `could not hand Raft leadership away from ${i.self} before its upgrade: no other voter is active and reachable (${others.length ? others.map((v) => `${v}: ${i.adminStates[v] ?? 'not a member'}${i.reachable.includes(v) ? '' : ', unreachable'}`).join('; ') : 'there is no other voter'}); bring one back, then retry`,
  };
}

// ---------------------------------------------------------------------------
// The procedure

export interface UpgradeNodeDeps {
  /**
   * Check, then start the upgrade on this node; answers at once with the
   * operation (already ended for a no-op). With `operationId`, an operation
   * of that id that exists already is returned and nothing starts.
   */
  upgrade(o: { version: string; timeoutMs: number; operationId?: string }): Promise<OperationRecord>;
}

/** The part of the Raft node an upgrade uses: leadership, and the store (other procedures' records). */
export interface UpgradeRaft extends Pick<ClusterStore, 'get' | 'list'> {
  isLeader(): boolean;
  leader(): { id: string } | null;
  transferLeadership(to: string, opts?: { timeoutMs?: number }): Promise<void>;
  status(): { membership: { voters: string[] } };
}

export interface UpgradeNodeOptions {
  nodeId: string;
  loop: HaLoop;
  state: ClusterState;
  peers: PeerClient;
  local: LocalStateFile;
  /** `[engine.releases]`: release name -> bin dir. */
  releases: Record<string, string>;
  raft: UpgradeRaft;
  /** How long leadership may take to move away before the upgrade is refused. Default 5 s. */
  handoffMs?: number;
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

/** Compare-and-set of this node's member admin state, from one of `from` (already `to`: nothing to do). */
async function setMemberAdminState(o: Pick<UpgradeNodeOptions, 'nodeId' | 'state' | 'logger'>, to: AdminState, from: readonly AdminState[]): Promise<void> {
  const me = o.nodeId;
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
async function recordOperation(o: Pick<UpgradeNodeOptions, 'state' | 'logger'>, op: OperationRecord, tries = 1): Promise<void> {
  for (let i = 0; i < tries; i++) {
    try {
      return await o.state.putOperation(op);
    } catch {
      await sleep(500);
    }
  }
  o.logger.warn({ op: op.id }, `could not record ${op.id}: ${op.message}`);
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

  const setAdminState = (to: AdminState, from: readonly AdminState[]) => setMemberAdminState(o, to, from);
  const record = (op: OperationRecord, tries = 1) => recordOperation(o, op, tries);

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

  /**
   * As the Raft leader: move leadership to another healthy voter and wait
   * (bounded) until it has; refused (412, nothing changed) when it cannot move.
   */
  async function handLeadershipAway(snap: Snapshot): Promise<void> {
    if (!o.raft.isLeader()) return;
    const voters = o.raft.status().membership.voters;
    const byId = new Map(snap.members.map((m) => [m.id, m]));
    const reach = await Promise.all(
      voters.map(async (v) => (v !== me && byId.get(v) ? ((await o.peers.observe(byId.get(v)!.apiUrl).catch(() => null)) !== null ? v : null) : null)),
    );
    const h = leadershipHandoff({
      self: me,
      isLeader: o.raft.isLeader(),
      voters,
      primary: snap.primary?.value.node ?? null,
      adminStates: Object.fromEntries(snap.members.map((m) => [m.id, m.adminState])),
      reachable: reach.filter((v): v is string => v !== null),
    });
    if (h.kind === 'stay') return;
    if (h.kind === 'refuse') throw new ApiError('RDB_ERR_PRECONDITION', h.message, { node: me });
    const ms = o.handoffMs ?? 5000;
    try {
      await o.raft.transferLeadership(h.to, { timeoutMs: ms });
    } catch (err) {
      if (o.raft.leader()?.id !== me && o.raft.leader() !== null) return; // it moved, just elsewhere
      throw new ApiError('RDB_ERR_PRECONDITION', `could not hand Raft leadership away from ${me} to ${h.to} within ${ms} ms (${(err as Error).message}); nothing was changed: retry, or check ${h.to}'s agent`, { node: me, to: h.to });
    }
    o.logger.info({ to: h.to }, `handed Raft leadership to ${h.to} before upgrading ${me}`);
  }

  return {
    async upgrade({ version, timeoutMs, operationId }) {
      const d = driver();
      // A retried request (its answer was lost, or a resumed `cluster upgrade`) gets the operation it started.
      if (operationId !== undefined) {
        const existing = await o.state.operation(operationId);
        if (existing) {
          if (existing.kind !== 'upgrade' || (existing.result as { node?: unknown } | null)?.node !== me) {
            throw new ApiError('RDB_ERR_CONFLICT', `operation ${operationId} exists and is not an upgrade of ${me}: choose another operation_id`, { node: me, operation: operationId });
          }
          return existing;
        }
      }
      const snap = await o.state.read('linearizable');
      const member = snap.members.find((m) => m.id === me) ?? null;
      const engine = await d.status();
      const other = await readProcedureConflict(o.raft);
      const check = checkUpgrade({
        node: me,
        target: version,
        releases: await installed(),
        currentBinDir: canonical(d.binDir),
        engine,
        isPrimary: snap.primary?.value.node === me,
        adminState: member?.adminState ?? null,
        busy: o.loop.busyWith(),
        otherProcedure: other?.message ?? null,
      });
      if (check.verdict === 'refuse') throw new ApiError(check.code, check.message, { node: me, version, ...(other ? { procedure: other.kind, procedureId: other.id } : {}) });
      const op: OperationRecord = {
        id: operationId ?? `upgrade-${me}-${randomUUID().slice(0, 8)}`,
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
      await handLeadershipAway(snap);
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
        // Written first: an agent killed from here on finds it at start-up and puts the node back.
        const inProgress: UpgradeInProgress = {
          previousAdminState: before as UpgradeInProgress['previousAdminState'],
          fromRelease: o.local.get().release,
          fromBinDir: oldBinDir,
          toRelease: version,
          operationId: op.id,
        };
        o.local.set({ upgradeInProgress: inProgress });
        // Nothing has changed until the admin state does: a failure here leaves the node as it was.
        try {
          await setAdminState('upgrading', [before]);
        } catch (err) {
          o.local.set({ upgradeInProgress: null });
          await record({ ...op, state: 'failed', message: `upgrade of ${me} not started: ${(err as Error).message}`, finishedAt: iso() }, 20);
          return;
        }
        const out = await steps().catch(recover);
        // Restored whatever happened: a drained node stays drained, an active one takes traffic again.
        let restored = true;
        await setAdminState(before, ['upgrading']).catch((err) => {
          restored = false;
          o.logger.warn({ err: String(err) }, `could not restore ${me}'s admin state ${before}`);
        });
        const r: UpgradeNodeResult = { node: me, from: check.from, to: out.to, release: version, durationMs: Math.round(performance.now() - t0), rolledBack: out.rolledBack };
        await record({ ...op, state: out.ok ? 'succeeded' : 'failed', message: out.message, finishedAt: iso(), result: { ...r } }, 20);
        // Kept while the admin state could not be restored: the next agent start-up tries again.
        if (restored) o.local.set({ upgradeInProgress: null });
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

// ---------------------------------------------------------------------------
// An agent that died mid-upgrade

/**
 * At agent start-up, once the engine driver is attached and before the HA
 * loop starts: if ha-state.json says an upgrade was under way, the agent died
 * during it (kill -9, a crash). On the loop's slot: make sure the engine runs
 * on a release that works (the one it was left on if it starts, else the one
 * it ran before the upgrade). Then, as soon as the cluster has a quorum, put
 * the member's admin state back to what it was before the upgrade (unless
 * the operator changed it meanwhile), mark the operation failed if it still
 * says running, and clear the record. Null when there is nothing to recover;
 * else a promise that settles when done (or once `stopping()`).
 */
export function recoverInterruptedUpgrade(o: UpgradeNodeOptions & { stopping: () => boolean; retryMs?: number }): Promise<void> | null {
  const u = o.local.get().upgradeInProgress;
  if (!u) return null;
  const me = o.nodeId;
  const d = o.loop.engineDriver();
  o.logger.warn({ upgrade: u }, `the agent stopped during the upgrade of ${me} to ${u.toRelease} (operation ${u.operationId}): putting the node back`);
  let runs = 'no engine yet (the HA loop keeps trying to start it)';
  let onTarget = false;

  const engine = runOnSlot(o.loop, `recovering from the unfinished upgrade to ${u.toRelease}`, async () => {
    let s = await d.status().catch(() => null);
    if (!s?.running && !o.local.get().engineHeld) {
      try {
        await d.start();
      } catch (err) {
        if (canonical(d.binDir) === canonical(u.fromBinDir)) throw err;
        // The release it was left on does not start: back to the one it ran before the upgrade.
        o.logger.warn({ err: String(err), binDir: d.binDir }, `the engine does not start on ${d.binDir}; rolling back to ${u.fromBinDir}`);
        await d.stop('immediate').catch(() => {});
        await d.switchBinDir(u.fromBinDir);
        o.local.set({ release: u.fromRelease });
        await d.start();
      }
      s = await d.status().catch(() => null);
    }
    const version = shortVersion(s?.version);
    if (s?.running && version !== null) {
      const target = o.releases[u.toRelease] ? await binDirVersion(o.releases[u.toRelease]) : null;
      onTarget = target !== null && version === target;
      // Killed after the new release started but before it was remembered: remember it now.
      if (onTarget && o.local.get().release !== u.toRelease && canonical(d.binDir) === canonical(o.releases[u.toRelease])) o.local.set({ release: u.toRelease });
      runs = `PostgreSQL ${version}`;
    }
  });

  return (async () => {
    await engine.catch((err) => o.logger.warn({ err: String(err) }, 'starting the engine after the interrupted upgrade failed; the HA loop keeps trying'));
    for (;;) {
      if (o.stopping()) return;
      try {
        const m = await o.state.member(me);
        // Only what the upgrade set is undone: an operator's later change (fence, drain) stays.
        if (m && m.value.adminState === 'upgrading') {
          await o.state.replace(KEY.member(me), { ...m.value, adminState: u.previousAdminState }, m.version);
          o.logger.info({ member: me, to: u.previousAdminState }, `member ${me}: upgrading -> ${u.previousAdminState} (the upgrade did not finish)`);
        }
        const op = await o.state.operation(u.operationId);
        if (op && (op.state === 'running' || op.state === 'pending')) {
          await o.state.putOperation({
            ...op,
            state: 'failed',
            message: `the agent restarted during the upgrade; ${me} runs ${runs}${onTarget ? '' : ' (its previous release)'} and is ${u.previousAdminState} again: retry the upgrade if needed`,
            finishedAt: iso(),
            result: { ...op.result, node: me, release: u.toRelease, rolledBack: !onTarget },
          });
        }
        o.local.set({ upgradeInProgress: null });
        return;
      } catch (err) {
        if (!(err instanceof StaleRecordError)) o.logger.warn({ err: String(err) }, `could not yet put ${me} back after the interrupted upgrade (no quorum?); retrying`);
        await sleep(o.retryMs ?? 1000);
      }
    }
  })();
}

/** `loop.runExclusive`, with a refusal (another action holds the slot) as a rejected promise rather than a throw. */
function runOnSlot(loop: HaLoop, what: string, job: () => Promise<void>): Promise<void> {
  try {
    return loop.runExclusive(what, job);
  } catch (err) {
    return Promise.reject(err);
  }
}
