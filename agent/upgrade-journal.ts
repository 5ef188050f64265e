/**
 * The rolling-upgrade journal: one record in the replicated state
 * (`KEY.upgradeProcedure`) that says which procedure runs, its plan node by
 * node and where it is, so that `cluster upgrade status` answers from any
 * machine and `cluster upgrade resume` continues after the CLI died.
 *
 * This file is shared by the agent (routes/upgrade-journal.ts) and the CLI
 * (src/commands/cluster/upgrade*.ts): types, the wire schemas, and the pure
 * planning functions. It imports nothing at run time.
 *
 * Ordering contract of a run (the CLI keeps it): every step is written to the
 * journal BEFORE it starts (`upgrading` / `switchover`, with the operation id
 * as soon as the agent gave one) and AFTER it ends (`done` / `failed`), each
 * write a compare-and-set on `revision`. So a journal never claims more than
 * happened, and a resumed run finds at most one step in flight, which it
 * follows (by its operation) instead of repeating.
 */

import type { Check, ClusterView, MemberView, Props, Same } from './api/wire.ts';

/** The route of the journal: GET (read-only role) and PUT (operator role, compare-and-set). */
export const UPGRADE_JOURNAL_PATH = '/v1/procedures/upgrade';

export type UpgradeState = 'running' | 'aborting' | 'aborted' | 'succeeded' | 'failed';
export type UpgradeRole = 'observer' | 'follower' | 'primary';
/** `switchover`: the primary's step while the primary role moves to an upgraded follower. */
export type UpgradeStepState = 'pending' | 'upgrading' | 'done' | 'switchover' | 'failed';

/** One node of the plan. Absent values are null (never missing). */
export interface UpgradeStep {
  node: string;
  role: UpgradeRole;
  step: UpgradeStepState;
  /** The release the node ran before its upgrade, and after it. */
  from: string | null;
  to: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  durationMs: number | null;
  /** The node-upgrade operation (POST /v1/node/upgrade on the node's agent), once the agent gave one. */
  operation: string | null;
  /** The agent put the previous release back: the new one did not come up. */
  rolledBack: boolean;
  /** Time the cluster was seen not writable during this step (sampled by the CLI); null when not observed. */
  writeUnavailableMs: number | null;
}

/** The one planned switchover (to an upgraded follower, before the old primary is upgraded). */
export interface UpgradeSwitchover {
  from: string;
  to: string | null;
  operation: string | null;
  startedAt: string;
  durationMs: number | null;
}

export interface UpgradeJournal {
  id: string;
  /** Target release. */
  version: string;
  state: UpgradeState;
  plan: UpgradeStep[];
  switchover: UpgradeSwitchover | null;
  startedAt: string;
  updatedAt: string;
  /** Where the procedure is, in words. */
  message: string;
  /**
   * The store version of the record this journal was read at (0: there was
   * none). A PUT must carry the revision it read; the answer carries the new one.
   */
  revision: number;
}

/** `GET /v1/procedures/upgrade`: the journal, or null when no upgrade ever ran. */
export interface UpgradeJournalAnswer {
  journal: UpgradeJournal | null;
  /**
   * Another procedure pending right now that holds upgrades back (a
   * switchover/failover request, a force-quorum): the gate between nodes
   * stays closed while it is set. Null when none is.
   */
  blockedBy: ProcedureConflict | null;
}

/** `PUT /v1/procedures/upgrade`: the journal as the caller wants it, at the revision it read. */
export interface UpgradeJournalPut extends UpgradeJournal {
  /** Idempotency key: a retried PUT with the same id is applied at most once. */
  request_id?: string;
}

/** A journal that holds the cluster: a new upgrade must wait for it (or resume/abort it). */
export function isActive(j: Pick<UpgradeJournal, 'state'> | null): boolean {
  return j !== null && (j.state === 'running' || j.state === 'aborting');
}

// ---------------------------------------------------------------------------
// Schemas (closed objects, every field required; `request_id` optional on PUT)

const str = { type: 'string', minLength: 1, maxLength: 253 } as const;
const time = { type: 'string', maxLength: 64 } as const;
const strOrNull = { type: ['string', 'null'], maxLength: 253 } as const;
const intOrNull = { type: ['integer', 'null'], minimum: 0 } as const;

function closed<P extends Record<string, object>>(properties: P) {
  return { type: 'object', additionalProperties: false, required: Object.keys(properties), properties } as const;
}

export const upgradeStepSchema = closed({
  node: str,
  role: { enum: ['observer', 'follower', 'primary'] },
  step: { enum: ['pending', 'upgrading', 'done', 'switchover', 'failed'] },
  from: strOrNull,
  to: strOrNull,
  startedAt: { type: ['string', 'null'], maxLength: 64 },
  finishedAt: { type: ['string', 'null'], maxLength: 64 },
  durationMs: intOrNull,
  operation: strOrNull,
  rolledBack: { type: 'boolean' },
  writeUnavailableMs: intOrNull,
});

export const upgradeSwitchoverSchema = closed({
  from: str,
  to: strOrNull,
  operation: strOrNull,
  startedAt: time,
  durationMs: intOrNull,
});

const journalProperties = {
  id: { type: 'string', minLength: 1, maxLength: 128 },
  version: { type: 'string', minLength: 1, maxLength: 64 },
  state: { enum: ['running', 'aborting', 'aborted', 'succeeded', 'failed'] },
  plan: { type: 'array', maxItems: 256, items: upgradeStepSchema },
  switchover: { anyOf: [{ type: 'null' }, upgradeSwitchoverSchema] },
  startedAt: time,
  updatedAt: time,
  message: { type: 'string', maxLength: 2000 },
  revision: { type: 'integer', minimum: 0 },
} as const;

export const upgradeJournalSchema = closed(journalProperties);

export const procedureConflictSchema = closed({
  kind: { enum: ['failover-request', 'force-quorum'] },
  id: str,
  message: { type: 'string', maxLength: 2000 },
});

export const upgradeJournalAnswerSchema = closed({
  journal: { anyOf: [{ type: 'null' }, upgradeJournalSchema] },
  blockedBy: { anyOf: [{ type: 'null' }, procedureConflictSchema] },
});

export const upgradeJournalPutSchema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(journalProperties),
  properties: {
    ...journalProperties,
    request_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'printable ASCII without spaces, e.g. a UUID' },
  },
} as const;

/** Compile-time: each type and its schema list the same fields. */
export type UpgradeJournalDriftChecks = [
  Check<Same<Props<typeof upgradeStepSchema>, keyof UpgradeStep>>,
  Check<Same<Props<typeof upgradeSwitchoverSchema>, keyof UpgradeSwitchover>>,
  Check<Same<Props<typeof upgradeJournalSchema>, keyof UpgradeJournal>>,
  Check<Same<Props<typeof upgradeJournalPutSchema>, keyof UpgradeJournalPut>>,
  Check<Same<Props<typeof upgradeJournalAnswerSchema>, keyof UpgradeJournalAnswer>>,
  Check<Same<Props<typeof procedureConflictSchema>, keyof ProcedureConflict>>,
];

// ---------------------------------------------------------------------------
// Planning (pure)

/** "15.18" from a release as a member reports it ("15.18", "15.18 (Debian 15.18-0+deb12u1)"); null when it has none. */
export function releaseNumber(release: string | null): string | null {
  const m = release === null ? null : /^\s*(\d+(?:\.\d+)*)/.exec(release);
  return m ? m[1] : null;
}

/** Does a member running `release` run `version` already? */
export function runsVersion(release: string | null, version: string): boolean {
  return release !== null && (release === version || releaseNumber(release) === version);
}

/** The major of a release: "15" of "15.18" (PostgreSQL 10+ numbering). */
export function majorOf(release: string): string {
  return (releaseNumber(release) ?? release).split('.')[0];
}

function roleOf(m: MemberView, primary: string | null): UpgradeRole {
  if (m.id === primary) return 'primary';
  return m.kind === 'observer' ? 'observer' : 'follower';
}

const ORDER: Record<UpgradeRole, number> = { observer: 0, follower: 1, primary: 2 };

/**
 * The order of a rolling upgrade to `version`: observers, then followers one
 * at a time (by id), then the primary (after a switchover to an upgraded
 * follower). Witnesses run no engine and are left out. A node that already
 * runs `version` is planned as `done` (nothing to do), so a re-run after a
 * failure picks up where the cluster is.
 */
export function planUpgrade(view: Pick<ClusterView, 'members' | 'primary'>, version: string): UpgradeStep[] {
  return view.members
    .filter((m) => m.kind !== 'witness')
    .map((m): UpgradeStep => {
      const already = runsVersion(m.release, version);
      return {
        node: m.id,
        role: roleOf(m, view.primary),
        step: already ? 'done' : 'pending',
        from: releaseNumber(m.release),
        to: already ? releaseNumber(m.release) : null,
        startedAt: null,
        finishedAt: null,
        durationMs: already ? 0 : null,
        operation: null,
        rolledBack: false,
        writeUnavailableMs: already ? 0 : null,
      };
    })
    .sort((a, b) => ORDER[a.role] - ORDER[b.role] || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
}

/** One reason the cluster is not fit to start (or go on with) an upgrade; empty list = fit. */
export interface PlanProblem {
  check: string;
  detail: string;
}

/**
 * What refuses an upgrade to `version` before anything changes: a major
 * change, no quorum, not writable, an unhealthy member, or a primary that
 * would need upgrading with no follower to switch over to.
 */
export function planProblems(view: ClusterView, version: string): PlanProblem[] {
  const out: PlanProblem[] = [];
  for (const m of view.members) {
    if (m.kind === 'witness' || m.release === null) continue;
    if (majorOf(m.release) !== majorOf(version)) {
      out.push({ check: 'same major', detail: `${m.id} runs ${m.release} and ${version} is another major version: a rolling upgrade only moves between minor releases (use pg_upgrade or a logical replica for a major upgrade)` });
    }
  }
  if (!view.quorum.hasQuorum) out.push({ check: 'quorum', detail: `only ${view.quorum.healthy}/${view.quorum.voters} voters are healthy` });
  if (!view.writable) out.push({ check: 'writable', detail: view.problem ?? 'the cluster has no writable primary' });
  for (const m of view.members) {
    if (m.health !== 'healthy') out.push({ check: 'healthy', detail: `${m.id} is ${m.health}` });
    else if (m.adminState !== 'active') out.push({ check: 'active', detail: `${m.id} is ${m.adminState}` });
  }
  const primary = view.members.find((m) => m.id === view.primary);
  if (primary && !runsVersion(primary.release, version)) {
    const candidates = view.members.filter((m) => m.id !== primary.id && m.kind === 'voter' && m.role === 'replica');
    if (candidates.length === 0) out.push({ check: 'switchover target', detail: `the primary ${primary.id} must hand over to an upgraded follower first, and the cluster has no follower (voter replica)` });
  }
  return out;
}

/** What a run does next, from the journal and the cluster as it is now. */
export type NextAction =
  | { kind: 'finish' }
  | { kind: 'abort' }
  /** Mark the step done without touching the node: it already runs the target. */
  | { kind: 'skip'; index: number; release: string | null }
  /** Follow the step's node-upgrade operation (it was started by a run that died). */
  | { kind: 'follow'; index: number; operation: string }
  /** The step's node is the primary: move the primary role to an upgraded follower first. */
  | { kind: 'switchover'; index: number; operation: string | null }
  | { kind: 'upgrade'; index: number };

/**
 * The next action of a run: the first step not `done`. A journal that is
 * `aborting` finishes a step in flight and then stops; a node that already
 * runs the target is not upgraded again; a step whose operation is known is
 * followed rather than started again; the node the cluster names primary
 * right now hands over first (roles may have changed since the plan).
 *
 * Abort means "stop after the current node": a step marked `upgrading` is in
 * flight whether or not its operation id was written (a run writes the id
 * with the mark, see {@link beginNodeStep}; an older run wrote it after
 * asking), so an abort never ends the journal while the agent may still be
 * upgrading that node. The one exception: the node became the primary
 * meanwhile, which its agent refuses to upgrade, so nothing runs there.
 */
export function nextAction(j: UpgradeJournal, view: Pick<ClusterView, 'members' | 'primary'>): NextAction {
  const index = j.plan.findIndex((s) => s.step !== 'done');
  if (index < 0) return { kind: 'finish' };
  const s = j.plan[index];
  const inFlight = s.step === 'upgrading' || (s.step === 'switchover' && j.switchover?.operation != null);
  if (j.state === 'aborting' && !inFlight) return { kind: 'abort' };
  const m = view.members.find((x) => x.id === s.node);
  if (s.step === 'upgrading' && s.operation !== null) return { kind: 'follow', index, operation: s.operation };
  if (m && runsVersion(m.release, j.version) && s.step !== 'failed') return { kind: 'skip', index, release: releaseNumber(m.release) };
  if (view.primary === s.node) {
    if (j.state === 'aborting' && s.step === 'upgrading') return { kind: 'abort' };
    return { kind: 'switchover', index, operation: s.step === 'switchover' ? (j.switchover?.operation ?? null) : null };
  }
  return { kind: 'upgrade', index };
}

/** A node-upgrade operation id the CLI chooses (the agent takes it as `operation_id`): written to the journal before the agent is asked. */
export function newNodeOperationId(node: string, random: string): string {
  return `upgrade-${node}-${random}`;
}

/**
 * The journal change that starts node step `index`: `upgrading`, with the
 * operation id the agent will be asked to use, in ONE compare-and-set write
 * made before the agent is asked. So no journal (and no abort) ever sees the
 * node in flight without the means to follow it, and a resumed run asks
 * again with the same id (the agent answers a known id with its operation)
 * instead of starting a second upgrade.
 */
export function beginNodeStep(j: UpgradeJournal, index: number, operation: string, from: string | null, now: string): void {
  const st = j.plan[index];
  Object.assign(st, { step: 'upgrading', startedAt: now, from: st.from ?? from, operation });
  j.message = `upgrading ${st.node} to ${j.version}`;
}

/** The switchover's operation id for a request id (agent/views.ts names it so): known before the request is sent. */
export function switchoverOperationId(requestId: string): string {
  return `op-${requestId}`;
}

/**
 * The follower to hand the primary role to: an upgraded (target release),
 * healthy, active voter replica, the least behind first; null when none.
 */
export function switchoverTarget(view: Pick<ClusterView, 'members' | 'primary'>, version: string): MemberView | null {
  const fit = view.members.filter(
    (m) => m.id !== view.primary && m.kind === 'voter' && m.role === 'replica' && m.health === 'healthy' && m.adminState === 'active' && runsVersion(m.release, version),
  );
  fit.sort((a, b) => (a.lagBytes ?? Number.MAX_SAFE_INTEGER) - (b.lagBytes ?? Number.MAX_SAFE_INTEGER) || (a.id < b.id ? -1 : 1));
  return fit[0] ?? null;
}

/**
 * The health gate after a node's upgrade: it streams (a replica with a known
 * lag) under `maxLagBytes`, the cluster has quorum and is writable. Null when
 * the gate is open, else why it is closed.
 */
export function gateProblem(view: ClusterView, node: string, maxLagBytes: number): string | null {
  if (!view.quorum.hasQuorum) return `no quorum (${view.quorum.healthy}/${view.quorum.voters} voters healthy)`;
  if (!view.writable) return `the cluster is not writable${view.problem ? `: ${view.problem}` : ''}`;
  const m = view.members.find((x) => x.id === node);
  if (!m) return `${node} is not in the cluster view`;
  if (m.health !== 'healthy') return `${node} is ${m.health}`;
  if (m.role === 'primary') return null;
  if (m.role !== 'replica' || m.lagBytes === null) return `${node} is not streaming yet (role ${m.role})`;
  if (m.lagBytes > maxLagBytes) return `${node} is ${m.lagBytes} bytes behind (gate: ${maxLagBytes})`;
  return null;
}

// ---------------------------------------------------------------------------
// Other procedures (pure): what an upgrade must not run alongside

/** A failover/switchover request as the replicated state holds it (agent/state/records.ts FailoverRequest). */
export interface PendingFailoverRequest {
  requestId: string;
  to: string | null;
  force: boolean;
  /** The primary's epoch it was made against: once the epoch moved on, the request is spent (the HA loop ignores it). */
  fromEpoch: number;
  requestedAt: string;
}

/** An operation record, as much of it as the check reads. */
export interface OperationSummary {
  id: string;
  kind: string;
  state: string;
  startedAt: string;
}

/**
 * A force-quorum whose record has said `running` for longer than this is
 * taken as abandoned (its agent died mid-way): it no longer holds upgrades
 * back. A real one finishes in well under a minute.
 */
export const FORCE_QUORUM_STALE_MS = 15 * 60_000;

/** Another procedure an upgrade must wait for: what it is, and the sentence naming it. */
export interface ProcedureConflict {
  kind: 'failover-request' | 'force-quorum';
  id: string;
  message: string;
}

/**
 * Is another procedure pending that a node upgrade (or the gate between two
 * nodes) must not run alongside? A switchover/failover request not yet
 * finished (made against the current epoch: the record is withdrawn when the
 * failover ends, and one left behind for an older epoch is spent), or a
 * force-quorum whose operation is running (and not older than
 * {@link FORCE_QUORUM_STALE_MS}). Null when none is.
 */
export function procedureConflict(i: {
  failoverRequest: PendingFailoverRequest | null;
  /** The current primary record's epoch (null: none yet). */
  epoch: number | null;
  operations: readonly OperationSummary[];
  now: number;
}): ProcedureConflict | null {
  const r = i.failoverRequest;
  if (r && (i.epoch === null || r.fromEpoch >= i.epoch)) {
    const what = r.force ? 'a forced failover' : 'a switchover/failover';
    return {
      kind: 'failover-request',
      id: r.requestId,
      message: `${what}${r.to ? ` to ${r.to}` : ''} (request ${r.requestId}, asked at ${r.requestedAt}) has not finished: wait until it has (\`rustydb-admin cluster status\`), then retry`,
    };
  }
  const fq = i.operations
    .filter((o) => o.kind === 'force-quorum' && (o.state === 'running' || o.state === 'pending'))
    .filter((o) => {
      const t = Date.parse(o.startedAt);
      return Number.isNaN(t) || i.now - t < FORCE_QUORUM_STALE_MS;
    })
    .sort((a, b) => (a.startedAt < b.startedAt ? 1 : -1))[0];
  if (fq) {
    return { kind: 'force-quorum', id: fq.id, message: `a force-quorum (operation ${fq.id}, started ${fq.startedAt}) is in progress: wait until it has finished (\`rustydb-admin cluster operation ${fq.id}\`), then retry` };
  }
  return null;
}
