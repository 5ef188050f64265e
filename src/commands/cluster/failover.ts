/**
 * `rustydb-admin cluster failover [--to ID] [--force --yes] [--wait|--no-wait]
 * [--timeout DUR]`, and `--prepare --to ID`.
 *
 * Without --force: a planned, zero-loss switchover (POST switchover; --to
 * optional, the leader picks). With --force: an emergency failover (POST
 * failover, --to required) that may lose acknowledged writes, so it needs
 * a typed confirmation (the operator types the target node id) on a
 * terminal, or --yes without one (prompt.ts). The agent only records the
 * request; with --wait (default) we follow the operation until it succeeds or
 * fails (progress.ts: Ctrl-C exits 130 naming the operation). --prepare
 * changes nothing: it reports whether the target is ready from the cluster view.
 */

import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { API_PATHS, type ClusterView, type OperationView } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { lsnDiff } from '../../../agent/ha/lsn.ts';
import { paint, printJson, printTable, progress, type OutputFormat } from '../../output.ts';
import { OperationFailedError, waitForOperation } from '../../progress.ts';
import { requireConfirmation } from '../../prompt.ts';

export interface FailoverOptions {
  target: Target;
  output: OutputFormat;
  to: string | null;
  force: boolean;
  yes: boolean;
  wait: boolean;
  /** For the whole operation (--wait). */
  timeoutMs: number;
  prepare: boolean;
  /** Between polls of the operation. */
  pollMs: number;
}

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h`, or bare seconds (`90`). */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m || Number(m[1]) <= 0) throw new InvalidArgumentError(`"${text}" is not a duration: write e.g. 500ms, 30s, 2m or 1h.`);
  return Math.round(Number(m[1]) * UNIT_MS[m[2] ?? 's']);
}

export function newCmdFailover(f: Factory, runF: (o: FailoverOptions) => Promise<void> = (o) => failoverRun(f, o)): Command {
  return new Command('failover')
    .description('switch the primary over to a replica (planned, zero loss); --force: emergency failover that may lose data')
    .addOption(new Option('--to <id>', 'the node to promote (planned: optional, the leader picks the best replica)'))
    .option('--force', 'emergency failover even if the primary is unhealthy: may lose acknowledged writes (needs --to, and typing its id or --yes)', false)
    .option('-y, --yes', 'confirm a destructive --force failover without a prompt (required when not on a terminal)', false)
    .option('--wait', 'follow the operation until it succeeds or fails', true)
    .option('--no-wait', 'return once the request is accepted; follow it with GET /v1/operations/<id>')
    .addOption(new Option('--timeout <dur>', 'give up waiting after this long (the operation may go on)').default(120_000, '2m').argParser(parseDuration))
    .option('--prepare', 'only check that --to is ready to take over (changes nothing); exit 0 if ready, 5 if not', false)
    .addHelpText('after', '\nExamples:\n  rustydb-admin cluster failover --to n2\n  rustydb-admin cluster failover --prepare --to n2\n  rustydb-admin cluster failover --force --to n3 --yes\n')
    .action(async (opts: { to?: string; force: boolean; yes: boolean; wait: boolean; timeout: number; prepare: boolean }, cmd: Command) => {
      if (opts.force && !opts.to) throw new CliError('usage', '--force needs --to ID: an emergency failover does not pick a node by itself');
      if (opts.prepare && !opts.to) throw new CliError('usage', '--prepare needs --to ID: the node to check');
      if (opts.prepare && opts.force) throw new CliError('usage', '--prepare only checks; drop --force');
      await runF({
        target: resolveTarget(cmd.optsWithGlobals(), f.env),
        output: outputFormat(cmd),
        to: opts.to ?? null,
        force: opts.force,
        yes: opts.yes,
        wait: opts.wait,
        timeoutMs: opts.timeout,
        prepare: opts.prepare,
        pollMs: 500,
      });
    });
}

export async function failoverRun(f: Factory, o: FailoverOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  // Confirm before any change: a missing or wrong confirmation must change nothing.
  if (o.force) {
    await requireConfirmation(f, {
      yes: o.yes,
      flag: '--yes',
      typed: o.to!,
      message: `an emergency failover to ${o.to} may lose acknowledged writes: ${await lossEstimate(client, o.to!)} (drop --force for a zero-loss switchover)`,
    });
  }
  if (o.prepare) return prepareRun(f, o, client);

  const requestId = randomUUID();
  const op = o.force
    ? await client.post<OperationView>(API_PATHS.failover, { to: o.to, force: true, request_id: requestId })
    : await client.post<OperationView>(API_PATHS.switchover, { ...(o.to !== null && { to: o.to }), request_id: requestId });
  progress(f.io, `${op.kind} requested${o.to ? ` to ${o.to}` : ''}: operation ${op.id} (${op.state})`);
  let final = op;
  if (o.wait) {
    try {
      final = await waitForOperation(f, client, op, { timeoutMs: o.timeoutMs, pollMs: o.pollMs });
    } catch (err) {
      // The failed operation is still the command's result: print it, then exit 1.
      if (err instanceof OperationFailedError) printOperation(f, o.output, err.operation);
      throw err;
    }
  }
  printOperation(f, o.output, final);
}

/** How much the target lags the primary's last known position, in words; best effort (a read only). */
export async function lossEstimate(client: ApiClient, to: string): Promise<string> {
  let c: ClusterView;
  try {
    c = await client.get<ClusterView>(`${API_PATHS.cluster}?consistency=local`, { timeoutMs: 3000 });
  } catch {
    return 'the WAL positions could not be read';
  }
  const target = c.members.find((m) => m.id === to);
  const primary = c.members.find((m) => m.id === c.primary);
  if (!target?.flushLsn) return `${to}'s WAL position is unknown`;
  if (!primary?.flushLsn) return `the primary ${c.primary ?? '(none)'} does not report its position; ${to} has WAL up to ${target.flushLsn}, and whatever the primary acknowledged after that is lost`;
  const behind = Math.max(0, lsnDiff(primary.flushLsn, target.flushLsn));
  return behind === 0
    ? `${to} has all the WAL the primary ${primary.id} has flushed (${primary.flushLsn})`
    : `${to} is ${behind} bytes of WAL behind the primary ${primary.id} (${target.flushLsn} vs ${primary.flushLsn}): those writes would be lost`;
}

function printOperation(f: Factory, format: OutputFormat, op: OperationView): void {
  if (format === 'json') return printJson(f.io, op);
  const state = paint(f.io, op.state === 'succeeded' ? 'green' : op.state === 'failed' ? 'red' : 'yellow', op.state);
  f.io.out.write(`${op.kind} ${op.id} ${state}: ${op.message}\n`);
}

/** One readiness check of --prepare. */
export interface ReadinessCheck {
  check: string;
  ok: boolean;
  detail: string;
}

/** Is `to` fit to become primary, judged from the cluster view only. */
export function readiness(c: ClusterView, to: string): ReadinessCheck[] {
  const m = c.members.find((x) => x.id === to);
  if (!m) return [{ check: 'member', ok: false, detail: `no member "${to}"; members: ${c.members.map((x) => x.id).join(', ')}` }];
  return [
    { check: 'member', ok: true, detail: `${to} is a ${m.kind}` },
    { check: 'not primary', ok: c.primary !== to, detail: c.primary === to ? `${to} is already the primary` : `primary is ${c.primary ?? 'none'}` },
    { check: 'replica', ok: m.role === 'replica' && m.kind === 'voter', detail: `role ${m.role}, kind ${m.kind}` },
    { check: 'active', ok: m.adminState === 'active', detail: `admin state ${m.adminState}` },
    { check: 'healthy', ok: m.health === 'healthy', detail: m.health },
    { check: 'streaming', ok: m.replayLsn !== null && m.lagBytes !== null, detail: m.lagBytes === null ? 'lag unknown (not streaming?)' : `replay ${m.replayLsn}` },
    { check: 'lag', ok: m.lagBytes !== null, detail: m.lagBytes === null ? 'unknown' : `${m.lagBytes} bytes${m.lagMs !== null ? `, ${m.lagMs} ms` : ''} behind` },
    { check: 'quorum', ok: c.quorum.hasQuorum, detail: `${c.quorum.healthy}/${c.quorum.voters} voters healthy` },
  ];
}

async function prepareRun(f: Factory, o: FailoverOptions, client: ApiClient): Promise<void> {
  const to = o.to!;
  const checks = readiness(await client.get<ClusterView>(API_PATHS.cluster), to);
  const ready = checks.every((c) => c.ok);
  if (o.output === 'json') printJson(f.io, { target: to, ready, checks });
  else {
    printTable(
      f.io,
      [{ header: 'check' }, { header: 'ok', style: (c) => (c === 'yes' ? 'green' : 'red') }, { header: 'detail' }],
      checks.map((c) => [c.check, c.ok ? 'yes' : 'no', c.detail]),
    );
    f.io.out.write(`${to} is ${ready ? 'ready' : 'NOT ready'} to take over\n`);
  }
  if (!ready) {
    const failed = checks.filter((c) => !c.ok).map((c) => `${c.check}: ${c.detail}`);
    throw new CliError('precondition', `${to} is not ready for failover (${failed.join('; ')}); nothing was changed`);
  }
}
