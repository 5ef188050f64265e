/**
 * Runs an upgrade journal to its end: the engine behind `cluster upgrade`
 * and `cluster upgrade resume`. Each turn re-reads the journal (an abort may
 * have been recorded) and the cluster, asks `nextAction` what comes next,
 * and does it, writing the step to the journal before and after
 * (agent/upgrade-journal.ts states that contract). Between nodes it waits for
 * the health gate (the node streams with little lag, quorum, writable) and
 * the --pause-between.
 *
 * Outcomes: the final journal (succeeded); CliError 'precondition' (5) when a
 * node rolled back (journal failed); 'failed' (1) when aborted; 'timeout'
 * (7) and 'interrupted' (130) leave the journal running and say how to resume.
 */

import { API_PATHS, type ClusterView, type OperationView } from '../../../agent/api/wire.ts';
import { randomUUID } from 'node:crypto';
import {
  beginNodeStep,
  gateProblem,
  newNodeOperationId,
  nextAction,
  releaseNumber,
  runsVersion,
  switchoverOperationId,
  switchoverTarget,
  type UpgradeJournal,
  type UpgradeStep,
} from '../../../agent/upgrade-journal.ts';
import { ApiClient, ApiRequestError, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import type { Factory } from '../../cli.ts';
import { CliError } from '../../errors.ts';
import { interruptSignal, OperationFailedError, sleep, startProgress, waitForOperation, type Progress } from '../../progress.ts';
import { blockedConflict, readJournalAnswer, type JournalHandle } from './upgrade-journal-client.ts';

/** U1's node procedure on the node's own agent: 202 + an `upgrade` operation. */
export const NODE_UPGRADE_PATH = '/v1/node/upgrade';

export interface RunSettings {
  /** Any agents of the cluster. */
  client: ApiClient;
  /** Wait after each node's gate opened, before the next node. */
  pauseMs: number;
  /** For the switchover operation. */
  transferTimeoutMs: number;
  /** For each node: its upgrade operation, then its health gate. */
  timeoutMs: number;
  pollMs: number;
  /** The gate's lag threshold. */
  maxLagBytes: number;
}

/** The result of a node-upgrade operation (U1's agent). */
interface UpgradeResult {
  node?: string;
  from?: string;
  to?: string;
  durationMs?: number;
  rolledBack?: boolean;
}

type F = Pick<Factory, 'io' | 'interrupt'>;

export async function runJournal(f: F, s: RunSettings, journal: JournalHandle): Promise<UpgradeJournal> {
  const resumeHint = () => `the upgrade journal ${journal.current.id} stays running: \`rustydb-admin cluster upgrade resume\` continues it, \`cluster upgrade abort\` stops it`;
  try {
    return await loop(f, s, journal);
  } catch (err) {
    if (err instanceof CliError && (err.kind === 'timeout' || err.kind === 'interrupted' || err.kind === 'unreachable')) {
      throw new CliError(err.kind, `${err.message}; ${resumeHint()}`, err.detail);
    }
    throw err;
  }
}

/** Switchover requests per run before the run gives up (exit 1, journal running: `resume` asks again). */
const SWITCHOVER_ATTEMPTS = 3;

async function loop(f: F, s: RunSettings, journal: JournalHandle): Promise<UpgradeJournal> {
  let previous: string | null = null;
  let switchovers = 0;
  for (;;) {
    const j = await journal.refresh();
    const view = await s.client.get<ClusterView>(API_PATHS.cluster);
    const a = nextAction(j, view);
    switch (a.kind) {
      case 'finish':
        return journal.write((x) => {
          x.state = x.state === 'aborting' ? 'aborted' : 'succeeded';
          x.message = x.state === 'aborted' ? 'aborted after the last node in flight; every node is on the target' : `every node runs ${x.version}`;
        });
      case 'abort': {
        const done = j.plan.filter((p) => p.step === 'done').map((p) => p.node);
        await journal.write((x) => {
          x.state = 'aborted';
          // A step marked upgrading here never reached its agent (nextAction): it did not start.
          for (const p of x.plan) if (p.step === 'upgrading') Object.assign(p, { step: 'pending', startedAt: null, operation: null });
          x.message = `aborted by the operator; upgraded: ${done.join(', ') || 'none'}`;
        });
        throw new CliError('failed', `upgrade ${j.id} was aborted (\`cluster upgrade abort\`); nodes on ${j.version}: ${done.join(', ') || 'none'}; the others still run their previous release`);
      }
      case 'skip':
        await journal.write((x) => {
          const st = x.plan[a.index];
          Object.assign(st, { step: 'done', to: a.release, finishedAt: st.finishedAt ?? new Date().toISOString() });
          st.durationMs ??= 0;
          x.message = `${st.node} already runs ${x.version}`;
        });
        startProgress(f, nodeLabel(j.plan[a.index])).done(`already on ${j.version}`);
        continue;
      case 'switchover':
        try {
          await switchover(f, s, journal, view, a.index, a.operation, ++switchovers);
        } catch (err) {
          // A refused switchover changed nothing (e.g. the candidates had not reported their WAL position yet): ask again, a few times.
          if (!(err instanceof OperationFailedError) || switchovers >= SWITCHOVER_ATTEMPTS) throw err;
          if (!(await sleep(2000, AbortSignal.timeout(60_000)))) throw err;
          continue;
        }
        // The old primary is upgraded only once it streams as a standby (its agent refuses otherwise).
        await waitGate(f, s, j.plan[a.index].node, journal);
        continue;
      case 'follow':
      case 'upgrade': {
        const step = j.plan[a.index];
        if (a.kind === 'upgrade' && previous !== null && s.pauseMs > 0) await pause(f, s.pauseMs, `pause after ${previous}`);
        await upgradeNode(f, s, journal, view, a.index, a.kind === 'follow' ? a.operation : null);
        await waitGate(f, s, step.node, journal);
        previous = step.node;
        continue;
      }
    }
  }
}

const nodeLabel = (st: Pick<UpgradeStep, 'node' | 'role'>) => `${st.node} (${st.role})`;

/** Per-node progress: the step and, on a terminal, the elapsed time (plain lines change only with the step). */
function nodeProgress(f: F, st: UpgradeStep): { progress: Progress; set(text: string): void; done(text: string): void; fail(text: string): void } {
  const p = startProgress(f, nodeLabel(st));
  const t0 = Date.now();
  let text = '';
  const draw = () => p.update(f.io.errIsTTY ? `${text} (${Math.round((Date.now() - t0) / 1000)}s)` : text);
  const timer = f.io.errIsTTY ? setInterval(draw, 1000) : null;
  timer?.unref();
  const set = (t: string) => ((text = t), draw());
  const end = () => timer && clearInterval(timer);
  return {
    set,
    done: (t) => (end(), p.done(t)),
    // After done(), fail() is ignored: callers call it in `finally` to end the line on any error.
    fail: (t) => (end(), p.fail(t)),
    // What waitForOperation drives: it reports the operation's state; the node's line keeps its own end.
    progress: { update: (x) => set(x), done: () => {}, fail: () => {} },
  };
}

/** Samples the cluster's `writable` while a step runs: the time it was seen not writable. */
function watchWrites(s: RunSettings): { stop(): Promise<number> } {
  let down = 0;
  let last = Date.now();
  let stopped = false;
  const local = new ApiClient(s.client.endpoints, { timeoutMs: 2000 });
  const run = (async () => {
    while (!stopped) {
      const v = await local.get<ClusterView>(`${API_PATHS.cluster}?consistency=local`).catch(() => null);
      const now = Date.now();
      if (v && !v.writable) down += now - last;
      last = now;
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  return {
    async stop() {
      stopped = true;
      await run;
      return down;
    },
  };
}

async function upgradeNode(f: F, s: RunSettings, journal: JournalHandle, view: ClusterView, index: number, known: string | null): Promise<void> {
  const st = journal.current.plan[index];
  const version = journal.current.version;
  const member = view.members.find((m) => m.id === st.node);
  const ui = nodeProgress(f, st);
  const writes = watchWrites(s);
  let finished = false;
  try {
    const node = member ? new ApiClient([member.apiUrl], { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS }) : null;
    /** Ask the node's agent to run operation `id` (a known id answers with that operation); 'elsewhere': an upgrade we do not know ran it. */
    const ask = async (id: string): Promise<'asked' | 'elsewhere'> => {
      if (!node) throw new CliError('precondition', `${st.node} is not in the cluster any more: remove it from the plan by aborting (\`cluster upgrade abort\`) and starting again`);
      try {
        await node.post<OperationView>(NODE_UPGRADE_PATH, { version, timeout_ms: s.timeoutMs, operation_id: id });
        return 'asked';
      } catch (err) {
        if (!(err instanceof ApiRequestError) || (err.status !== 412 && err.status !== 409)) throw err;
        // Refused before anything changed: the step goes back to pending; the run stops with the agent's reason.
        const unmark = (message: string) =>
          journal.write((x) => {
            Object.assign(x.plan[index], { step: 'pending', startedAt: null, operation: null });
            x.message = message;
          });
        if (err.status === 412) {
          await unmark(`${st.node} refused the upgrade: ${err.message}`);
          throw new CliError('precondition', `${st.node} refused the upgrade to ${version}: ${err.message}; fix it, then \`rustydb-admin cluster upgrade resume\` (or \`cluster upgrade abort\`)`);
        }
        // Another procedure (a switchover/failover, a force-quorum) holds the cluster: exit 6 naming it.
        const blocked = (await readJournalAnswer(s.client).catch(() => null))?.blockedBy ?? null;
        if (blocked) {
          await unmark(`${st.node} waits: ${blocked.message}`);
          throw blockedConflict(journal.current, blocked, `${st.node} was not upgraded`);
        }
        // The node is being upgraded already (by an operation this journal does not name): wait for that one.
        ui.set(`an upgrade already runs on ${st.node}; waiting for it`);
        await waitRelease(f, s, st.node, version);
        await journal.write((x) => {
          Object.assign(x.plan[index], { step: 'done', to: version, finishedAt: new Date().toISOString() });
          x.message = `${st.node} runs ${version}`;
        });
        ui.done(`on ${version} (upgraded by another operation)`);
        return 'elsewhere';
      }
    };
    let opId = known;
    let asked = false;
    if (opId === null) {
      if (!member) throw new CliError('precondition', `${st.node} is not in the cluster any more: remove it from the plan by aborting (\`cluster upgrade abort\`) and starting again`);
      // BEFORE, in one write: the step is in flight AND names the operation the agent will run, so an
      // abort (or a resumed run) landing at any moment finds the node's operation to follow.
      const id = newNodeOperationId(st.node, randomUUID().slice(0, 8));
      await journal.write((x) => beginNodeStep(x, index, id, releaseNumber(member.release), new Date().toISOString()));
      ui.set(`upgrading ${st.from ?? releaseNumber(member.release) ?? '?'} → ${version}`);
      opId = id;
      if ((await ask(id)) === 'elsewhere') return;
      asked = true;
    } else {
      ui.set(`following operation ${opId}`);
    }
    let op: OperationView;
    let failed = false;
    for (;;) {
      try {
        op = await waitForOperation(f, s.client, opId, { timeoutMs: s.timeoutMs, pollMs: s.pollMs, progress: ui.progress });
      } catch (err) {
        // Journaled but unknown to the cluster: the run that wrote it died before its agent got the request. Ask now, with the same id.
        if (err instanceof ApiRequestError && err.status === 404 && !asked) {
          asked = true;
          if ((await ask(opId)) === 'elsewhere') return;
          continue;
        }
        if (!(err instanceof OperationFailedError)) throw err;
        op = err.operation;
        failed = true;
      }
      break;
    }
    const r = (op.result ?? {}) as UpgradeResult;
    const rolledBack = failed || r.rolledBack === true;
    const writeUnavailableMs = await writes.stop();
    finished = true;
    // AFTER: done, or failed with the agent's reason.
    await journal.write((x) => {
      const p = x.plan[index];
      const finishedAt = op.finishedAt ?? new Date().toISOString();
      Object.assign(p, {
        step: rolledBack ? 'failed' : 'done',
        from: r.from ? releaseNumber(r.from) : p.from,
        to: rolledBack ? (r.from ? releaseNumber(r.from) : p.from) : (releaseNumber(r.to ?? null) ?? version),
        finishedAt,
        durationMs: typeof r.durationMs === 'number' ? Math.round(r.durationMs) : Math.max(0, Date.parse(finishedAt) - Date.parse(op.startedAt)),
        rolledBack,
        writeUnavailableMs,
      });
      if (rolledBack) {
        x.state = 'failed';
        x.message = `${st.node} rolled back to its previous release: ${op.message}`;
      } else x.message = `${st.node} runs ${version}`;
    });
    if (rolledBack) {
      ui.fail(`rolled back: ${op.message}`);
      throw new CliError('precondition', `${st.node} did not come up on ${version} and was rolled back to its previous release (operation ${op.id}: ${op.message}); the upgrade ${journal.current.id} stopped (journal: failed); the cluster is unchanged otherwise`);
    }
    const p = journal.current.plan[index];
    ui.done(`${p.from ?? '?'} → ${p.to} in ${seconds(p.durationMs)}`);
  } finally {
    ui.fail('stopped');
    if (!finished) await writes.stop();
  }
}

async function switchover(f: F, s: RunSettings, journal: JournalHandle, view: ClusterView, index: number, known: string | null, attempt: number): Promise<void> {
  const st = journal.current.plan[index];
  const ui = nodeProgress(f, st);
  try {
    let opId = known;
    if (opId === null) {
      const to = switchoverTarget(view, journal.current.version);
      if (!to) {
        throw new CliError('precondition', `the primary ${st.node} must hand over before its upgrade, but no follower on ${journal.current.version} is healthy and streaming; fix that, then \`rustydb-admin cluster upgrade resume\``);
      }
      const startedAt = new Date().toISOString();
      // The operation id follows from the request id (agent/views.ts): journaled in the same write
      // that marks the step, before the request is sent, so an abort or a resume can follow it.
      const requestId = `${journal.current.id}-switchover-${attempt}-${randomUUID().slice(0, 8)}`;
      const id = switchoverOperationId(requestId);
      await journal.write((x) => {
        x.plan[index].step = 'switchover';
        x.switchover = { from: st.node, to: to.id, operation: id, startedAt, durationMs: null };
        x.message = `switching over from ${st.node} to ${to.id}`;
      });
      ui.set(`switching over to ${to.id}`);
      await askSwitchover(s, journal, index, to.id, requestId);
      opId = id;
    } else ui.set(`following switchover ${opId}`);
    let op: OperationView;
    try {
      op = await waitForOperation(f, s.client, opId, { timeoutMs: s.transferTimeoutMs, pollMs: Math.min(s.pollMs, 200), progress: ui.progress }).catch(async (err: unknown) => {
        // Journaled by a run that died before the request reached the cluster: send it now, with the same id.
        const sw = journal.current.switchover;
        if (!(err instanceof ApiRequestError && err.status === 404) || known === null || !sw?.to || !known.startsWith('op-')) throw err;
        await askSwitchover(s, journal, index, sw.to, known.slice('op-'.length));
        return waitForOperation(f, s.client, known, { timeoutMs: s.transferTimeoutMs, pollMs: Math.min(s.pollMs, 200), progress: ui.progress });
      });
    } catch (err) {
      // A failed switchover changed nothing: forget it, so that a resume asks for a new one.
      if (err instanceof OperationFailedError) {
        await journal.write((x) => {
          x.plan[index].step = 'pending';
          x.switchover = null;
          x.message = `the switchover from ${st.node} failed: ${err.operation.message}`;
        });
      }
      throw err;
    }
    const durationMs = op.finishedAt ? Math.max(0, Date.parse(op.finishedAt) - Date.parse(op.startedAt)) : null;
    await journal.write((x) => {
      x.switchover!.durationMs = durationMs;
      x.message = `switched over from ${st.node} to ${x.switchover!.to}`;
    });
    ui.done(`switched over to ${journal.current.switchover!.to} in ${seconds(durationMs)}`);
  } finally {
    ui.fail('stopped');
  }
}

/** Request the switchover; a refusal (nothing changed) un-marks the step, so that a resume decides again. */
async function askSwitchover(s: RunSettings, journal: JournalHandle, index: number, to: string, requestId: string): Promise<void> {
  try {
    await s.client.post<OperationView>(API_PATHS.switchover, { to, request_id: requestId });
  } catch (err) {
    if (err instanceof ApiRequestError && err.status >= 400 && err.status < 500) {
      await journal.write((x) => {
        x.plan[index].step = 'pending';
        x.switchover = null;
        x.message = `the switchover to ${to} was refused: ${err.message}`;
      });
    }
    throw err;
  }
}

/** Wait until `node` reports `version` and is no longer upgrading (an upgrade whose operation we do not know). */
async function waitRelease(f: F, s: RunSettings, node: string, version: string): Promise<void> {
  const deadline = Date.now() + s.timeoutMs;
  const interrupt = interruptSignal(f);
  try {
    for (;;) {
      const view = await s.client.get<ClusterView>(API_PATHS.cluster).catch(() => null);
      const m = view?.members.find((x) => x.id === node);
      if (m && m.adminState !== 'upgrading' && runsVersion(m.release, version)) return;
      if (Date.now() >= deadline) throw new CliError('timeout', `${node} did not reach ${version} within ${s.timeoutMs} ms (it reports ${m?.release ?? 'nothing'}, ${m?.adminState ?? 'unknown'})`);
      if (!(await sleep(s.pollMs, interrupt.signal))) throw new CliError('interrupted', `interrupted (Ctrl-C) while waiting for ${node}'s upgrade`);
    }
  } finally {
    interrupt.dispose();
  }
}

/** Wait until the node streams with little lag and the cluster has quorum and takes writes; refused (exit 6) while another procedure is pending. */
async function waitGate(f: F, s: RunSettings, node: string, journal?: JournalHandle): Promise<void> {
  const deadline = Date.now() + s.timeoutMs;
  const interrupt = interruptSignal(f);
  let why: string | null = 'not checked yet';
  let open = 0;
  const p = startProgress(f, `gate after ${node}`);
  try {
    for (;;) {
      const view = await s.client.get<ClusterView>(API_PATHS.cluster).catch((err: unknown) => (why = (err as Error).message, null));
      if (view) why = gateProblem(view, node, s.maxLagBytes);
      // Another procedure pending (a switchover/failover request, a force-quorum): the gate refuses, naming it.
      const blocked = view ? ((await readJournalAnswer(s.client).catch(() => null))?.blockedBy ?? null) : null;
      if (blocked && journal) {
        p.fail(`closed: ${blocked.message}`);
        throw blockedConflict(journal.current, blocked, `the health gate after ${node} is closed`);
      }
      // Open on two looks in a row: a node that just came back may report streaming before its peers see it.
      if (why === null && ++open >= 2) return p.done('open: streaming, quorum, writable');
      if (why !== null) open = 0;
      p.update(why === null ? 'open; checking once more' : `waiting: ${why}`);
      if (Date.now() >= deadline) {
        p.fail(`closed: ${why}`);
        throw new CliError('timeout', `the health gate after ${node} did not open within ${s.timeoutMs} ms: ${why}`);
      }
      if (!(await sleep(s.pollMs, interrupt.signal))) {
        p.fail('interrupted (Ctrl-C)');
        throw new CliError('interrupted', `interrupted (Ctrl-C) while waiting for the health gate after ${node}`);
      }
    }
  } finally {
    interrupt.dispose();
  }
}

async function pause(f: F, ms: number, what: string): Promise<void> {
  const interrupt = interruptSignal(f);
  try {
    startProgress(f, what).done(`${seconds(ms)}`);
    if (!(await sleep(ms, interrupt.signal))) throw new CliError('interrupted', `interrupted (Ctrl-C) during the ${what}`);
  } finally {
    interrupt.dispose();
  }
}


export function seconds(ms: number | null): string {
  return ms === null ? '?' : `${(ms / 1000).toFixed(1)}s`;
}
