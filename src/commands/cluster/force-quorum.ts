/**
 * `rustydb-admin cluster force-quorum --nodes a,b --confirm-data-loss
 * [--dry-run] [--timeout DUR]`: disaster recovery when a majority of voters
 * is lost for good. The survivors (`--nodes`) form a new configuration with
 * a new epoch; the most advanced survivor becomes primary.
 *
 * 1. Read the members from any agent that answers, without a quorum
 *    (`GET /v1/cluster?consistency=local`); --nodes must name members that
 *    vote (exit 2 otherwise).
 * 2. Ask every survivor its position (`GET /v1/node/position` at its own
 *    agent; exit 5 naming a silent one) and every dropped voter too: one that
 *    answers is not lost (exit 5 naming it). With a quorum left there is
 *    nothing to force (exit 5: `cluster remove` is the tool).
 * 3. Show the plan: dropped members, each survivor's Raft position, flush
 *    LSN, timeline and epoch, who forces, who becomes primary, what may be
 *    lost. --dry-run stops here (exit 0).
 * 4. --confirm-data-loss is required (exit 3 without it, nothing changed);
 *    on a terminal the operator also types the cluster name.
 * 5. POST the plan to the survivor with the most up-to-date Raft log (it
 *    checks everything again), then wait until a survivor reports the
 *    cluster writable in the new epoch (--timeout: exit 7; Ctrl-C: 130).
 *
 * `-o json` prints one document: {@link ForceQuorumResult}. On a terminal
 * in table mode the plan goes to stdout before the prompt; in JSON mode the
 * plan is summarized on stderr so that stdout keeps one document.
 */

import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { API_PATHS, type ClusterView, type MemberView, type OperationView } from '../../../agent/api/wire.ts';
import { FORCE_QUORUM_PATHS, type ForceQuorumBody, type NodePositionView } from '../../../agent/api/wire-admin.ts';
import { ApiClient, ApiRequestError, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { paint, printJson, printTable, progress, type OutputFormat } from '../../output.ts';
import { interruptSignal, sleep, startProgress } from '../../progress.ts';
import { canPrompt, confirmTyped } from '../../prompt.ts';
import { parseDuration } from './failover.ts';

export interface ForceQuorumOptions {
  target: Target;
  output: OutputFormat;
  /** The surviving voters (and witnesses). */
  nodes: string[];
  confirmDataLoss: boolean;
  dryRun: boolean;
  /** For the whole operation after confirmation. */
  timeoutMs: number;
  /** Between polls of the cluster while waiting. */
  pollMs: number;
  /** Per position request (a lost agent must not hold the plan for long). */
  probeTimeoutMs: number;
}

/** One survivor in the plan. */
export interface PlanSurvivor {
  id: string;
  kind: string;
  raft: { lastTerm: number; lastIndex: number; term: number };
  engineRunning: boolean;
  flushLsn: string | null;
  timeline: number | null;
  /** The newest epoch this survivor saw. */
  epoch: number | null;
}

/** One dropped member in the plan. */
export interface PlanDropped {
  id: string;
  kind: string;
  apiUrl: string | null;
  /** It was the primary of the newest epoch the survivors saw. */
  wasPrimary: boolean;
}

/** What the command will do (printed before any change; the whole output of --dry-run). */
export interface ForceQuorumPlan {
  cluster: string;
  dropped: PlanDropped[];
  survivors: PlanSurvivor[];
  /** The survivor that forces the new configuration (most up-to-date Raft log). */
  forcer: string;
  /** The survivor that becomes primary, and why. */
  primary: string;
  primaryWhy: string;
  /** The newest primary record the survivors saw. */
  lastEpoch: number | null;
  lastPrimary: string | null;
  /** What may be lost, in words. */
  mayLose: string;
}

/** The `-o json` document. */
export interface ForceQuorumResult {
  dryRun: boolean;
  plan: ForceQuorumPlan;
  /** The agent's operation (null with --dry-run). */
  operation: OperationView | null;
  /** The cluster as a survivor reported it once writable in the new epoch (null with --dry-run). */
  cluster: ClusterView | null;
}

function parseNodes(text: string): string[] {
  const ids = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (ids.length === 0) throw new InvalidArgumentError('name the surviving nodes, comma-separated (e.g. n2,n3).');
  if (new Set(ids).size !== ids.length) throw new InvalidArgumentError(`a node is named twice in "${text}".`);
  return ids;
}

export function newCmdForceQuorum(f: Factory, runF: (o: ForceQuorumOptions) => Promise<void> = (o) => forceQuorumRun(f, o)): Command {
  return new Command('force-quorum')
    .description('disaster recovery after a majority of voters is lost for good: the survivors form a new configuration with a new epoch; MAY LOSE DATA')
    .requiredOption('--nodes <ids>', 'the surviving voters (and witnesses), comma-separated; every other voter is dropped', parseNodes)
    .option('--confirm-data-loss', 'confirm that writes held only by the dropped members may be lost (always required; on a terminal you also type the cluster name)', false)
    .option('--dry-run', 'show the plan and change nothing', false)
    .addOption(new Option('--timeout <dur>', 'give up waiting for the new primary after this long (it may still come)').default(120_000, '2m').argParser(parseDuration))
    .addHelpText(
      'after',
      '\nExamples:\n  rustydb-admin cluster force-quorum --nodes n3 --dry-run\n  rustydb-admin cluster force-quorum --nodes n2,n3 --confirm-data-loss\n',
    )
    .action(async (opts: { nodes: string[]; confirmDataLoss: boolean; dryRun: boolean; timeout: number }, cmd: Command) => {
      await runF({
        target: resolveTarget(cmd.optsWithGlobals(), f.env),
        output: outputFormat(cmd),
        nodes: opts.nodes,
        confirmDataLoss: opts.confirmDataLoss,
        dryRun: opts.dryRun,
        timeoutMs: opts.timeout,
        pollMs: 500,
        probeTimeoutMs: 3000,
      });
    });
}

export async function forceQuorumRun(f: Factory, o: ForceQuorumOptions): Promise<void> {
  const { plan, forcerUrl, survivorUrls } = await makePlan(o);
  if (o.output === 'table') printPlan(f, plan);
  else if (!o.dryRun) progress(f.io, planSummary(plan));
  if (o.dryRun) {
    if (o.output === 'json') printJson(f.io, { dryRun: true, plan, operation: null, cluster: null } satisfies ForceQuorumResult);
    else f.io.out.write('dry run: nothing was changed\n');
    return;
  }

  // Always required, terminal or not (a prompt alone is too easy to answer by reflex).
  if (!o.confirmDataLoss) {
    throw new CliError('declined', `force-quorum may lose acknowledged writes (${plan.mayLose}): add --confirm-data-loss to go ahead (try --dry-run first); nothing was changed`);
  }
  if (canPrompt(f.io)) {
    await confirmTyped(f, { message: `drop ${plan.dropped.map((d) => d.id).join(', ')} from cluster ${plan.cluster} and make ${plan.primary} primary; ${plan.mayLose}`, expected: plan.cluster });
  }

  const body: ForceQuorumBody = {
    cluster: plan.cluster,
    voters: plan.survivors.map((s) => s.id),
    dropped: plan.dropped.map((d) => d.id),
    primary: plan.primary,
    request_id: randomUUID(),
  };
  const deadline = Date.now() + o.timeoutMs;
  const interrupt = interruptSignal(f);
  const bar = startProgress(f, `force-quorum on ${plan.forcer}`);
  let op: OperationView;
  let view: ClusterView;
  try {
    bar.update(`forcing the new configuration (${body.voters.join(', ')}) on ${plan.forcer}`);
    try {
      op = await new ApiClient([forcerUrl], { timeoutMs: Math.max(1000, Math.min(90_000, o.timeoutMs)) }).post<OperationView>(FORCE_QUORUM_PATHS.forceQuorum, body, { signal: interrupt.signal });
    } catch (err) {
      bar.fail();
      if (err instanceof CliError && err.kind === 'interrupted') {
        throw new CliError('interrupted', `interrupted (Ctrl-C) while ${plan.forcer} forces the new configuration; it may still complete (request ${body.request_id}): check \`rustydb-admin cluster status --endpoint ${forcerUrl}\``);
      }
      throw err;
    }
    const epoch = Number((op.result as { epoch?: unknown } | null)?.epoch ?? 0);
    bar.update(`${op.message}; waiting for ${plan.primary} to accept writes`);
    view = await waitWritable(survivorUrls, epoch, plan.primary, deadline, o, interrupt.signal, (why) => bar.update(`waiting for ${plan.primary} to accept writes (${why})`)).catch((err) => {
      bar.fail();
      throw err;
    });
    bar.done(`${view.primary} is the writable primary of epoch ${view.epoch}`);
  } finally {
    interrupt.dispose();
  }

  if (o.output === 'json') return printJson(f.io, { dryRun: false, plan, operation: op, cluster: view } satisfies ForceQuorumResult);
  f.io.out.write(`${paint(f.io, 'green', 'done')}: ${op.message}\n`);
  f.io.out.write(`quorum: ${view.quorum.healthy}/${view.quorum.voters} voters healthy, has_quorum=${view.quorum.hasQuorum}\n`);
}

// ---------------------------------------------------------------------------
// The plan

async function makePlan(o: ForceQuorumOptions): Promise<{ plan: ForceQuorumPlan; forcerUrl: string; survivorUrls: string[] }> {
  const cluster = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  // Local: without a quorum a linearizable read cannot be answered.
  const view = await cluster.get<ClusterView>(`${API_PATHS.cluster}?consistency=local`);
  const byId = new Map(view.members.map((m) => [m.id, m]));
  const names = view.members.map((m) => m.id).join(', ') || 'none';
  const unknown = o.nodes.filter((id) => !byId.has(id));
  if (unknown.length > 0) throw new CliError('usage', `--nodes names ${unknown.join(', ')}, not ${unknown.length === 1 ? 'a member' : 'members'} of cluster ${view.name}; members: ${names}`);
  const observers = o.nodes.filter((id) => byId.get(id)!.kind === 'observer');
  if (observers.length > 0) throw new CliError('usage', `--nodes names ${observers.join(', ')}: observers never vote; list the surviving voters and witnesses`);

  const ask = (m: MemberView) => new ApiClient([m.apiUrl], { timeoutMs: o.probeTimeoutMs }).get<NodePositionView>(FORCE_QUORUM_PATHS.position);
  const survivors = o.nodes.map((id) => byId.get(id)!);
  const answers = await Promise.all(survivors.map((m) => ask(m).then((p) => ({ m, p, err: null }), (err: unknown) => ({ m, p: null, err }))));
  const silent = answers.filter((a) => a.p === null);
  if (silent.length > 0) {
    const why = silent.map((a) => `${a.m.id} at ${a.m.apiUrl} (${errText(a.err)})`).join('; ');
    throw new CliError('precondition', `survivor ${why} does not answer: start its agent, or leave it out of --nodes; nothing was changed`);
  }
  const positions = answers.map((a) => a.p!);
  const foreign = positions.filter((p) => p.clusterName !== view.name);
  if (foreign.length > 0) throw new CliError('precondition', `${foreign.map((p) => `${p.node} belongs to cluster "${p.clusterName}"`).join(', ')}, not "${view.name}": check --nodes and the endpoints`);

  const { chooseForcer, choosePrimary } = await import('../../../agent/procedures/force-quorum.ts');
  const forcer = chooseForcer(positions);
  // Raft's voters (the forcer has the most up-to-date configuration) decide who is dropped.
  const droppedIds = forcer.raft.voters.filter((v) => !o.nodes.includes(v)).sort();
  if (droppedIds.length === 0) throw new CliError('usage', `--nodes names every voter (${forcer.raft.voters.join(', ')}): nobody would be dropped; force-quorum is for lost voters`);

  const reachable = (
    await Promise.all(
      droppedIds.map(async (id) => {
        const m = byId.get(id);
        if (!m) return null;
        try {
          await ask(m);
          return m;
        } catch (err) {
          // Any HTTP answer (even an error) means the agent runs.
          return err instanceof ApiRequestError ? m : null;
        }
      }),
    )
  ).filter((m): m is MemberView => m !== null);
  if (reachable.length > 0) {
    throw new CliError(
      'precondition',
      reachable.map((m) => `${m.id} answers at ${m.apiUrl}: it is not lost; include it in --nodes or stop it`).join('; ') + '; nothing was changed',
    );
  }

  const quorum = Math.floor(forcer.raft.voters.length / 2) + 1;
  const left = forcer.raft.voters.length - droppedIds.length;
  if (left >= quorum) {
    throw new CliError(
      'precondition',
      `${left} of ${forcer.raft.voters.length} voters survive, a quorum: nothing needs forcing; remove the lost members with \`rustydb-admin cluster remove ${droppedIds[0]}\`; nothing was changed`,
    );
  }

  const choice = choosePrimary(
    positions,
    // The cluster view carries no tags; the agent checks `nofailover` again and refuses a stale plan.
    view.members.map((m) => ({ id: m.id, kind: m.kind, adminState: m.adminState, tags: [] })),
  );
  if (choice.node === null) throw new CliError('precondition', `${choice.why}; nothing was changed`);

  const newest = positions.reduce<NodePositionView | null>((b, p) => (p.epoch !== null && (b === null || (b.epoch ?? 0) < p.epoch) ? p : b), null);
  const lastEpoch = newest?.epoch ?? (view.epoch || null);
  const lastPrimary = newest?.primary ?? view.primary;
  const chosenLsn = positions.find((p) => p.node === choice.node)?.engine.flushLsn ?? null;
  const mayLose =
    lastPrimary !== null && droppedIds.includes(lastPrimary)
      ? `writes acknowledged after LSN ${chosenLsn ?? '(unknown)'} by the lost primary ${lastPrimary} may be lost`
      : `no database writes (the primary${lastPrimary ? ` ${lastPrimary}` : ''} survives); cluster changes held only by ${droppedIds.join(', ')} may be lost`;

  const plan: ForceQuorumPlan = {
    cluster: view.name,
    dropped: droppedIds.map((id) => ({ id, kind: byId.get(id)?.kind ?? 'voter', apiUrl: byId.get(id)?.apiUrl ?? null, wasPrimary: id === lastPrimary })),
    survivors: positions.map((p) => ({
      id: p.node,
      kind: p.kind,
      raft: { lastTerm: p.raft.lastTerm, lastIndex: p.raft.lastIndex, term: p.raft.term },
      engineRunning: p.engine.running,
      flushLsn: p.engine.flushLsn,
      timeline: p.engine.timeline,
      epoch: p.epoch,
    })),
    forcer: forcer.node,
    primary: choice.node,
    primaryWhy: choice.why,
    lastEpoch,
    lastPrimary,
    mayLose,
  };
  return { plan, forcerUrl: byId.get(forcer.node)!.apiUrl, survivorUrls: survivors.map((m) => m.apiUrl) };
}

function printPlan(f: Factory, p: ForceQuorumPlan): void {
  const out = f.io.out;
  if (f.io.outIsTTY) out.write(`${paint(f.io, 'bold', `force-quorum plan for cluster ${p.cluster}`)}\n\n`);
  printTable(
    f.io,
    [{ header: 'drop' }, { header: 'kind' }, { header: 'last role' }, { header: 'api' }],
    p.dropped.map((d) => [d.id, d.kind, d.wasPrimary ? `primary (epoch ${p.lastEpoch})` : 'standby', d.apiUrl ?? '-']),
  );
  out.write('\n');
  printTable(
    f.io,
    [{ header: 'survivor' }, { header: 'kind' }, { header: 'raft term/index' }, { header: 'flush lsn' }, { header: 'timeline' }, { header: 'epoch' }],
    p.survivors.map((s) => [s.id, s.kind, `${s.raft.lastTerm}/${s.raft.lastIndex}`, s.flushLsn ?? (s.engineRunning ? '-' : 'engine stopped'), s.timeline === null ? '-' : String(s.timeline), s.epoch === null ? '-' : String(s.epoch)]),
  );
  out.write('\n');
  out.write(`forced on:    ${p.forcer} (most up-to-date Raft log)\n`);
  out.write(`new primary:  ${paint(f.io, 'bold', p.primary)} in epoch ${(p.lastEpoch ?? 0) + 1} or later: ${p.primaryWhy}\n`);
  out.write(`may be lost:  ${paint(f.io, 'red', p.mayLose)}\n`);
}

function planSummary(p: ForceQuorumPlan): string {
  const lsns = p.survivors.map((s) => `${s.id} ${s.flushLsn ?? 'unknown'}`).join(', ');
  return `force-quorum plan for cluster ${p.cluster}: drop ${p.dropped.map((d) => d.id).join(', ')}; survivors ${lsns}; forced on ${p.forcer}; ${p.primary} becomes primary (${p.primaryWhy}); may be lost: ${p.mayLose}`;
}

// ---------------------------------------------------------------------------
// Waiting for the new primary

/** Poll the survivors' `GET /v1/cluster` (linearizable) until one reports `primary` writable in `epoch` or later. */
async function waitWritable(urls: string[], epoch: number, primary: string, deadline: number, o: ForceQuorumOptions, signal: AbortSignal, say: (why: string) => void): Promise<ClusterView> {
  let last = 'no answer yet';
  for (;;) {
    for (const url of urls) {
      try {
        const v = await new ApiClient([url], { timeoutMs: Math.min(DEFAULT_REQUEST_TIMEOUT_MS, Math.max(500, deadline - Date.now())) }).get<ClusterView>(API_PATHS.cluster, { signal });
        if (v.writable && v.epoch >= epoch && (v.epoch > epoch || v.primary === primary)) return v;
        last = `epoch ${v.epoch}, primary ${v.primary ?? 'none'}, ${v.writable ? 'writable' : v.problem ?? 'not writable'}`;
        say(last);
        break;
      } catch (err) {
        if (signal.aborted) throw waitInterrupted(primary, epoch);
        last = errText(err);
      }
    }
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new CliError('timeout', `the new configuration is in place, but ${primary} did not accept writes in epoch ${epoch} before --timeout (${o.timeoutMs} ms; last: ${last}); it may still: follow it with \`rustydb-admin cluster status\``);
    }
    if (!(await sleep(Math.min(o.pollMs, left), signal))) throw waitInterrupted(primary, epoch);
  }
}

function waitInterrupted(primary: string, epoch: number): CliError {
  return new CliError('interrupted', `interrupted (Ctrl-C) while waiting for ${primary} to accept writes in epoch ${epoch}; the new configuration is in place and the cluster goes on: follow it with \`rustydb-admin cluster status\``);
}


function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
