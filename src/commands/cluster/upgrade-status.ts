/**
 * `rustydb-admin cluster upgrade status [-o json]`: the upgrade journal step
 * by step, from any machine (it lives in the replicated state). Also the
 * printers the other upgrade verbs share: the journal table and the final
 * report of a run.
 */

import { Command } from 'commander';
import type { UpgradeJournal } from '../../../agent/upgrade-journal.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { paint, printJson, printTable, type OutputFormat, type Style } from '../../output.ts';
import { readJournal } from './upgrade-journal-client.ts';
import { seconds } from './upgrade-run.ts';

export interface UpgradeStatusOptions {
  target: Target;
  output: OutputFormat;
}

export function newCmdUpgradeStatus(f: Factory, runF: (o: UpgradeStatusOptions) => Promise<void> = (o) => upgradeStatusRun(f, o)): Command {
  return new Command('status')
    .description('show the rolling upgrade journal step by step (works from any machine)')
    .addHelpText('after', '\nExamples:\n  rustydb-admin cluster upgrade status\n  rustydb-admin cluster upgrade status -o json\n')
    .action(async (_opts: object, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd) });
    });
}

export async function upgradeStatusRun(f: Factory, o: UpgradeStatusOptions): Promise<void> {
  const journal = await readJournal(new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS }));
  if (o.output === 'json') return printJson(f.io, { journal });
  if (!journal) {
    f.io.out.write('no upgrade has run on this cluster\n');
    return;
  }
  printJournal(f, journal);
}

const STATE_STYLE: Record<string, Style> = { done: 'green', succeeded: 'green', failed: 'red', aborted: 'red', upgrading: 'yellow', switchover: 'yellow', running: 'yellow', aborting: 'yellow' };

/** The journal as a header line and one row per node. */
export function printJournal(f: Pick<Factory, 'io'>, j: UpgradeJournal): void {
  f.io.out.write(`upgrade ${j.id} to ${j.version}: ${paint(f.io, STATE_STYLE[j.state] ?? 'bold', j.state)} (started ${j.startedAt}, updated ${j.updatedAt}): ${j.message}\n`);
  printTable(
    f.io,
    [{ header: '#' }, { header: 'node' }, { header: 'role' }, { header: 'step', style: (c) => STATE_STYLE[c] ?? null }, { header: 'from' }, { header: 'to' }, { header: 'duration' }, { header: 'operation' }],
    j.plan.map((s, i) => [String(i + 1), s.node, s.role, s.step, s.from ?? '-', s.to ?? '-', s.durationMs === null ? '-' : seconds(s.durationMs), s.operation ?? '-']),
  );
  if (j.switchover) {
    f.io.out.write(`switchover ${j.switchover.from} → ${j.switchover.to ?? '?'}: ${j.switchover.durationMs === null ? 'not finished' : seconds(j.switchover.durationMs)}${j.switchover.operation ? ` (operation ${j.switchover.operation})` : ''}\n`);
  }
}

/** The final report of a run (`-o json`): per node from, to, duration, write unavailability; the switchover's time. */
export interface UpgradeReport {
  id: string;
  version: string;
  state: UpgradeJournal['state'];
  /** From the journal's start to its last update. */
  totalMs: number;
  switchover: { from: string; to: string | null; operation: string | null; durationMs: number | null } | null;
  nodes: { node: string; role: string; from: string | null; to: string | null; durationMs: number | null; writeUnavailableMs: number | null; rolledBack: boolean }[];
}

export function upgradeReport(j: UpgradeJournal): UpgradeReport {
  return {
    id: j.id,
    version: j.version,
    state: j.state,
    totalMs: Math.max(0, Date.parse(j.updatedAt) - Date.parse(j.startedAt)),
    switchover: j.switchover ? { from: j.switchover.from, to: j.switchover.to, operation: j.switchover.operation, durationMs: j.switchover.durationMs } : null,
    nodes: j.plan.map((s) => ({
      node: s.node,
      role: s.role,
      from: s.from,
      to: s.to,
      durationMs: s.durationMs,
      // The old primary's writes stopped during the switchover, not during its own upgrade (it was a standby by then).
      writeUnavailableMs: s.role === 'primary' && j.switchover?.durationMs != null ? Math.max(j.switchover.durationMs, s.writeUnavailableMs ?? 0) : s.writeUnavailableMs,
      rolledBack: s.rolledBack,
    })),
  };
}

export function printReport(f: Pick<Factory, 'io'>, output: OutputFormat, j: UpgradeJournal): void {
  const r = upgradeReport(j);
  if (output === 'json') return printJson(f.io, r);
  printTable(
    f.io,
    [{ header: 'node' }, { header: 'role' }, { header: 'from' }, { header: 'to' }, { header: 'duration' }, { header: 'writes unavailable' }],
    r.nodes.map((n) => [n.node, n.role, n.from ?? '-', n.to ?? '-', seconds(n.durationMs), n.writeUnavailableMs === null ? '-' : seconds(n.writeUnavailableMs)]),
  );
  const sw = r.switchover ? `; one switchover ${r.switchover.from} → ${r.switchover.to ?? '?'} in ${seconds(r.switchover.durationMs)}` : '; no switchover was needed';
  f.io.out.write(`upgrade ${r.id} to ${r.version} ${r.state} in ${seconds(r.totalMs)}${sw}\n`);
}
