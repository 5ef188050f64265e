/**
 * `rustydb-admin cluster upgrade abort [--no-wait] [--timeout DUR]`: stop the
 * running upgrade after the node in flight. With a step in flight the journal
 * becomes `aborting`: the CLI running it (or a `resume`) finishes that node
 * and ends the journal `aborted`; we wait for that (--wait, default). With no
 * step in flight it becomes `aborted` at once (a running CLI's next journal
 * write then sees it and stops before touching another node).
 */

import { Command, Option } from 'commander';
import { isActive, type UpgradeJournal } from '../../../agent/upgrade-journal.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { interruptSignal, startProgress } from '../../progress.ts';
import { parseDuration } from './failover.ts';
import { JournalHandle, readJournal } from './upgrade-journal-client.ts';
import { printJournal } from './upgrade-status.ts';

export interface UpgradeAbortOptions {
  target: Target;
  output: OutputFormat;
  wait: boolean;
  timeoutMs: number;
  pollMs: number;
}

export function newCmdUpgradeAbort(f: Factory, runF: (o: UpgradeAbortOptions) => Promise<void> = (o) => upgradeAbortRun(f, o)): Command {
  return new Command('abort')
    .description('stop the running upgrade after the node in flight (the journal ends aborted)')
    .option('--wait', 'wait until the node in flight is done and the journal is aborted', true)
    .option('--no-wait', 'return once the abort is recorded')
    .addOption(new Option('--timeout <dur>', 'with --wait: give up after this long (exit 7); the abort stays recorded').default(600_000, '10m').argParser(parseDuration))
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster upgrade abort\n')
    .action(async (opts: { wait: boolean; timeout: number }, c: Command) => {
      await runF({ target: resolveTarget(c.optsWithGlobals(), f.env), output: outputFormat(c), wait: opts.wait, timeoutMs: opts.timeout, pollMs: 500 });
    });
}

/** A step runs on a node right now: it is finished before the abort takes effect. */
export function inFlight(j: UpgradeJournal): boolean {
  return j.plan.some((s) => s.step === 'upgrading' || s.step === 'switchover');
}

export async function upgradeAbortRun(f: Factory, o: UpgradeAbortOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const j = await readJournal(client);
  if (!j || !isActive(j)) {
    throw new CliError('precondition', `no upgrade is running${j ? ` (the last one, ${j.id} to ${j.version}, ${j.state})` : ''}: nothing to abort`);
  }
  const handle = new JournalHandle(client, j);
  let cur = await handle.write((x) => {
    const flying = inFlight(x);
    x.state = flying ? 'aborting' : 'aborted';
    x.message = flying ? 'aborting: the node in flight finishes first' : `aborted by the operator; upgraded: ${x.plan.filter((s) => s.step === 'done').map((s) => s.node).join(', ') || 'none'}`;
  });
  if (cur.state === 'aborting' && o.wait) cur = await waitAborted(f, handle, o);
  if (o.output === 'json') printJson(f.io, { journal: cur });
  else printJournal(f, cur);
  if (cur.state === 'aborting') f.io.err.write('the node in flight finishes first; the run that drives it (or `rustydb-admin cluster upgrade resume`) then ends the journal aborted\n');
}

async function waitAborted(f: Factory, handle: JournalHandle, o: UpgradeAbortOptions): Promise<UpgradeJournal> {
  const p = startProgress(f, `abort ${handle.current.id}`);
  const deadline = Date.now() + o.timeoutMs;
  const interrupt = interruptSignal(f);
  try {
    for (;;) {
      const j = await handle.refresh();
      if (j.state !== 'aborting') return (p.done(j.state), j);
      p.update(`waiting for the node in flight: ${j.message}`);
      if (Date.now() >= deadline) {
        p.fail('gave up waiting');
        throw new CliError('timeout', `the abort of ${j.id} is recorded, but the node in flight did not finish within ${o.timeoutMs} ms (${j.message}); if no CLI runs the upgrade any more, \`rustydb-admin cluster upgrade resume\` finishes the abort`);
      }
      const slept = await new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(true), o.pollMs);
        interrupt.signal.addEventListener('abort', () => (clearTimeout(t), resolve(false)), { once: true });
      });
      if (!slept) {
        p.fail('interrupted');
        throw new CliError('interrupted', `interrupted (Ctrl-C); the abort of ${j.id} stays recorded`);
      }
    }
  } finally {
    interrupt.dispose();
  }
}
