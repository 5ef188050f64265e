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

import type { ClusterView, MemberView } from './api/wire.ts';

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

export const upgradeJournalAnswerSchema = closed({ journal: { anyOf: [{ type: 'null' }, upgradeJournalSchema] } });

export const upgradeJournalPutSchema = {
  type: 'object',
  additionalProperties: false,
  required: Object.keys(journalProperties),
  properties: {
    ...journalProperties,
    request_id: { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$', description: 'printable ASCII without spaces, e.g. a UUID' },
  },
} as const;

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Check<T extends true> = T;
type Props<S> = S extends { properties: infer P } ? keyof P : never;
/** Compile-time: each type and its schema list the same fields. */
export type UpgradeJournalDriftChecks = [
  Check<Same<Props<typeof upgradeStepSchema>, keyof UpgradeStep>>,
  Check<Same<Props<typeof upgradeSwitchoverSchema>, keyof UpgradeSwitchover>>,
  Check<Same<Props<typeof upgradeJournalSchema>, keyof UpgradeJournal>>,
  Check<Same<Props<typeof upgradeJournalPutSchema>, keyof UpgradeJournalPut>>,
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
 */
export function nextAction(j: UpgradeJournal, view: Pick<ClusterView, 'members' | 'primary'>): NextAction {
  const index = j.plan.findIndex((s) => s.step !== 'done');
  if (index < 0) return { kind: 'finish' };
  const s = j.plan[index];
  const inFlight = (s.step === 'upgrading' && s.operation !== null) || (s.step === 'switchover' && j.switchover?.operation != null);
  if (j.state === 'aborting' && !inFlight) return { kind: 'abort' };
  const m = view.members.find((x) => x.id === s.node);
  if (s.step === 'upgrading' && s.operation !== null) return { kind: 'follow', index, operation: s.operation };
  if (m && runsVersion(m.release, j.version) && s.step !== 'failed') return { kind: 'skip', index, release: releaseNumber(m.release) };
  if (view.primary === s.node) return { kind: 'switchover', index, operation: s.step === 'switchover' ? (j.switchover?.operation ?? null) : null };
  return { kind: 'upgrade', index };
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
