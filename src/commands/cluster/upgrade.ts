/**
 * `rustydb-admin cluster upgrade --version R [--dry-run] [--yes]
 * [--pause-between DUR] [--transfer-timeout DUR] [--timeout DUR]`, with the
 * verbs `status`, `resume` and `abort`.
 *
 * A rolling upgrade of every engine to the minor release R: observers, then
 * followers one at a time, then one switchover to an upgraded follower, then
 * the old primary; a health gate between nodes. The plan and each step live
 * in the replicated journal (agent/upgrade-journal.ts), so the procedure
 * survives this CLI: `status` shows it from anywhere, `resume` continues it,
 * `abort` stops it after the node in flight; a second upgrade while one runs
 * exits 6 naming it. --dry-run prints the plan and the checks and changes
 * nothing. The run itself is upgrade-run.ts.
 */

import { randomBytes } from 'node:crypto';
import { Command, Option } from 'commander';
import { API_PATHS, type ClusterView } from '../../../agent/api/wire.ts';
import { isActive, planProblems, planUpgrade, type PlanProblem, type ProcedureConflict, type UpgradeJournal, type UpgradeStep } from '../../../agent/upgrade-journal.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, printTable, type OutputFormat } from '../../output.ts';
import { requireConfirmation } from '../../prompt.ts';
import { parseDuration } from './failover.ts';
import { newCmdUpgradeAbort } from './upgrade-abort.ts';
import { createJournal, JournalHandle, readJournalAnswer, runningConflict } from './upgrade-journal-client.ts';
import { newCmdUpgradeResume } from './upgrade-resume.ts';
import { runJournal, type RunSettings } from './upgrade-run.ts';
import { newCmdUpgradeStatus, printReport } from './upgrade-status.ts';

/** The health gate's lag threshold: a node more than this behind is not "caught up". */
export const GATE_MAX_LAG_BYTES = 16 * 1024 * 1024;

/** What both `upgrade` and `resume` take. */
export interface UpgradeRunOptions {
  target: Target;
  output: OutputFormat;
  pauseMs: number;
  transferTimeoutMs: number;
  timeoutMs: number;
  pollMs: number;
}

export interface UpgradeOptions extends UpgradeRunOptions {
  version: string;
  dryRun: boolean;
  yes: boolean;
}

/** The timing options of `upgrade` and `resume`. */
export function addRunOptions(cmd: Command): Command {
  return cmd
    .addOption(new Option('--pause-between <dur>', 'wait this long after each node passed its health gate').default(0, '0s').argParser(parseDuration))
    .addOption(new Option('--transfer-timeout <dur>', 'give up waiting for the switchover after this long (exit 7)').default(120_000, '2m').argParser(parseDuration))
    .addOption(new Option('--timeout <dur>', "give up waiting for one node's upgrade and health gate after this long (exit 7)").default(600_000, '10m').argParser(parseDuration));
}

export function newCmdUpgrade(f: Factory, runF: (o: UpgradeOptions) => Promise<void> = (o) => upgradeRun(f, o)): Command {
  const cmd = new Command('upgrade')
    .description('rolling upgrade of every node to a minor release (journaled: status, resume, abort)')
    .addOption(new Option('--version <release>', 'the release to move to (a name from [engine.releases], e.g. 15.18)'))
    .option('--dry-run', 'print the plan (order, checks, the switchover) and change nothing', false)
    .option('-y, --yes', 'start without asking (required when not on a terminal)', false);
  return addRunOptions(cmd)
    .addHelpText(
      'after',
      '\nExamples:\n  rustydb-admin cluster upgrade --version 15.18 --dry-run\n  rustydb-admin cluster upgrade --version 15.18 --yes\n  rustydb-admin cluster upgrade status\n  rustydb-admin cluster upgrade resume\n' +
        '\nExit codes: 0 every node upgraded; 3 not confirmed; 5 unfit cluster, a refused node, or a node rolled back (journal failed);\n  6 another upgrade, a switchover/failover or a force-quorum is running; 7 timed out; 130 Ctrl-C (7 and 130 leave the journal running: `resume` continues it)\n',
    )
    .action(async (opts: { version?: string; dryRun: boolean; yes: boolean; pauseBetween: number; transferTimeout: number; timeout: number }, c: Command) => {
      if (!opts.version) throw new CliError('usage', 'give the release to move to: --version R (e.g. --version 15.18); or use `cluster upgrade status|resume|abort`');
      await runF({ ...runOptions(f, opts, c), version: opts.version, dryRun: opts.dryRun, yes: opts.yes });
    })
    .addCommand(newCmdUpgradeStatus(f))
    .addCommand(newCmdUpgradeResume(f))
    .addCommand(newCmdUpgradeAbort(f));
}

export function runOptions(f: Factory, opts: { pauseBetween: number; transferTimeout: number; timeout: number }, c: Command): UpgradeRunOptions {
  return { target: resolveTarget(c.optsWithGlobals(), f.env), output: outputFormat(c), pauseMs: opts.pauseBetween, transferTimeoutMs: opts.transferTimeout, timeoutMs: opts.timeout, pollMs: 500 };
}

export function runSettings(o: UpgradeRunOptions, client: ApiClient): RunSettings {
  return { client, pauseMs: o.pauseMs, transferTimeoutMs: o.transferTimeoutMs, timeoutMs: o.timeoutMs, pollMs: o.pollMs, maxLagBytes: GATE_MAX_LAG_BYTES };
}

export async function upgradeRun(f: Factory, o: UpgradeOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const [view, answer] = await Promise.all([client.get<ClusterView>(API_PATHS.cluster), readJournalAnswer(client)]);
  const current = answer.journal;
  if (isActive(current)) throw runningConflict(current!);
  const plan = planUpgrade(view, o.version);
  const problems = planProblems(view, o.version);
  if (o.dryRun) return printPlan(f, o, view, plan, problems, answer.blockedBy);
  // Another procedure pending (a switchover/failover, a force-quorum): exit 6 naming it, nothing written.
  if (answer.blockedBy) throw new CliError('conflict', `the upgrade to ${o.version} does not start now: ${answer.blockedBy.message}; nothing was changed`);
  if (problems.length > 0) throw refused(o.version, problems);
  if (plan.every((s) => s.step === 'done')) {
    if (o.output === 'json') printJson(f.io, { version: o.version, state: 'succeeded', message: `every node runs ${o.version} already`, nodes: [] });
    else f.io.out.write(`every node runs ${o.version} already: nothing to do\n`);
    return;
  }
  await requireConfirmation(f, { yes: o.yes, message: `a rolling upgrade of ${plan.filter((s) => s.step !== 'done').map((s) => s.node).join(', ')} to ${o.version} restarts each engine in turn${switchoverWords(view, plan)}` });
  const now = new Date().toISOString();
  const journal: UpgradeJournal = {
    id: `upgrade-${now.replace(/[-:]/g, '').replace(/\..*$/, '')}-${randomBytes(3).toString('hex')}`,
    version: o.version,
    state: 'running',
    plan,
    switchover: null,
    startedAt: now,
    updatedAt: now,
    message: 'planned',
    revision: current?.revision ?? 0,
  };
  const handle = new JournalHandle(client, await createJournal(client, journal));
  f.io.err.write(`upgrade ${journal.id} to ${o.version}: ${plan.length} nodes (follow it from anywhere with \`rustydb-admin cluster upgrade status\`)\n`);
  const final = await runJournal(f, runSettings(o, client), handle);
  printReport(f, o.output, final);
}

function switchoverWords(view: ClusterView, plan: UpgradeStep[]): string {
  const p = plan.find((s) => s.role === 'primary' && s.step !== 'done');
  return p ? `, with one switchover away from the primary ${p.node} (writes pause for about a second)` : `; the primary ${view.primary ?? '(none)'} runs it already`;
}

function refused(version: string, problems: PlanProblem[]): CliError {
  return new CliError('precondition', `the cluster is not fit for an upgrade to ${version}: ${problems.map((p) => `${p.check}: ${p.detail}`).join('; ')}; nothing was changed`);
}

function printPlan(f: Factory, o: UpgradeOptions, view: ClusterView, plan: UpgradeStep[], problems: PlanProblem[], blockedBy: ProcedureConflict | null): void {
  const primary = plan.find((s) => s.role === 'primary' && s.step !== 'done') ?? null;
  const checks = [
    { check: 'same major', ok: !problems.some((p) => p.check === 'same major'), detail: `every node moves within its major to ${o.version}` },
    { check: 'quorum', ok: view.quorum.hasQuorum, detail: `${view.quorum.healthy}/${view.quorum.voters} voters healthy` },
    { check: 'writable', ok: view.writable, detail: view.problem ?? `primary ${view.primary ?? '(none)'}` },
    { check: 'members healthy', ok: !problems.some((p) => p.check === 'healthy' || p.check === 'active'), detail: problems.filter((p) => p.check === 'healthy' || p.check === 'active').map((p) => p.detail).join('; ') || 'all healthy and active' },
    { check: 'switchover target', ok: !problems.some((p) => p.check === 'switchover target'), detail: primary ? 'an upgraded follower takes over before the primary is upgraded' : 'not needed' },
    { check: 'no other procedure', ok: blockedBy === null, detail: blockedBy?.message ?? 'no upgrade, switchover/failover or force-quorum is running' },
  ];
  const steps = plan.map((s, i) => ({
    order: i + 1,
    node: s.node,
    role: s.role,
    from: s.from,
    to: o.version,
    action: s.step === 'done' ? 'none (already on the target)' : s.role === 'primary' ? `switchover to an upgraded follower, then upgrade` : 'upgrade, then health gate',
  }));
  const switchovers = primary ? [{ from: primary.node, to: 'the least-behind upgraded follower' }] : [];
  if (o.output === 'json') printJson(f.io, { version: o.version, dryRun: true, ready: problems.length === 0, steps, checks, switchovers });
  else {
    printTable(f.io, [{ header: '#' }, { header: 'node' }, { header: 'role' }, { header: 'from' }, { header: 'to' }, { header: 'action' }], steps.map((s) => [String(s.order), s.node, s.role, s.from ?? '?', s.to, s.action]));
    printTable(f.io, [{ header: 'check' }, { header: 'ok', style: (c) => (c === 'yes' ? 'green' : 'red') }, { header: 'detail' }], checks.map((c) => [c.check, c.ok ? 'yes' : 'no', c.detail]));
    f.io.out.write(primary ? `expected switchovers: 1 (${primary.node} → an upgraded follower)\n` : 'expected switchovers: 0\n');
    f.io.out.write('dry run: nothing was changed\n');
  }
  if (problems.length > 0) throw refused(o.version, problems);
}
