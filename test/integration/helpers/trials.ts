/**
 * The two measured procedures the end-to-end tests assert on and the
 * failover benchmark times, written once: a crash failover (SIGKILL of the
 * primary's agent and postmaster with a writer running) and a planned
 * switchover (with a writer running). Each returns what it saw; the callers
 * decide what must hold.
 */

import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { Sandbox } from '../../../src/sandbox/cluster.ts';
import type { OperationView } from '../../../agent/api/wire.ts';
import { logMessages, missing, readIds, requestSwitchover, waitCaughtUp, waitOperation, waitStreaming } from './checker.ts';
import { queryOnce, sleep, type PgNode } from './pg.ts';
import { Writer, type Ack, type WriterReport } from './writer.ts';

export const ACKED_TABLE = 'acked';
export const PROBE_TABLE = 'probe';

/** One PgNode per sandbox node, in the sandbox's order. */
export function pgNodesOf(sb: Sandbox): PgNode[] {
  return sb.nodes().map((n) => ({ id: n.id, config: sb.pgConfigFor(n.id) }));
}

export function pgNodeOf(sb: Sandbox, id: string): PgNode {
  return { id, config: sb.pgConfigFor(id) };
}

/** The writer's and the prober's tables, created on the primary (they replicate). */
export async function createTables(sb: Sandbox, primary: string): Promise<void> {
  await queryOnce(pgNodeOf(sb, primary), `CREATE TABLE IF NOT EXISTS ${ACKED_TABLE}(id bigint PRIMARY KEY)`);
  await queryOnce(pgNodeOf(sb, primary), `CREATE TABLE IF NOT EXISTS ${PROBE_TABLE}(node text NOT NULL, tick int NOT NULL, PRIMARY KEY (node, tick))`);
}

export interface TrialOptions {
  /** First id the writer inserts; give every trial on one table its own range. */
  firstId: number;
  /** Writes on the old primary before the fault, ms. Default 1000. */
  warmupMs?: number;
  /** Writes on the new primary after its first acknowledgement, ms. Default 500. */
  settleMs?: number;
  /** Longest wait for the first write on the new primary, ms. Default 60 000. */
  timeoutMs?: number;
}

/** What one failover or switchover trial saw. */
export interface TrialResult {
  from: string;
  to: string;
  /** From the kill (or the switchover request) to the first acknowledged write on the new primary, ms. */
  unavailableMs: number;
  /** Wall-clock time (epoch ms) of the kill or the request, to line up with the agents' logs. */
  faultWallMs: number;
  /** The first write acknowledged by the new primary. */
  firstAck: Ack;
  writer: WriterReport;
  /** Acknowledged ids the new primary does not hold (must be empty). */
  lost: number[];
}

/** Start a writer and let it write on the current primary for `warmupMs`. */
async function warmWriter(sb: Sandbox, primary: string, o: TrialOptions): Promise<Writer> {
  const writer = new Writer({ nodes: pgNodesOf(sb), table: ACKED_TABLE, firstId: o.firstId });
  writer.start();
  try {
    await writer.waitForAck((a) => a.node === primary, 15_000);
    await sleep(o.warmupMs ?? 1000);
  } catch (err) {
    await writer.stop();
    throw err;
  }
  return writer;
}

/** Stop the writer and count its acknowledged ids missing from `on`. */
async function finish(sb: Sandbox, writer: Writer, from: string, firstAck: Ack, since: number, faultWallMs: number): Promise<TrialResult> {
  const report = await writer.stop();
  const present = await readIds(pgNodeOf(sb, firstAck.node), ACKED_TABLE);
  return {
    from,
    to: firstAck.node,
    unavailableMs: firstAck.at - since,
    faultWallMs,
    firstAck,
    writer: report,
    lost: missing(
      report.acked.map((a) => a.id),
      present,
    ),
  };
}

/**
 * Crash failover: with the writer running on `primary`, SIGKILL its agent
 * and its postmaster together, and wait for the first write acknowledged by
 * another node. The old node is left down.
 */
export async function crashFailover(sb: Sandbox, primary: string, o: TrialOptions): Promise<TrialResult> {
  const writer = await warmWriter(sb, primary, o);
  let firstAck: Ack;
  let killedAt: number;
  let killedWall: number;
  try {
    killedAt = performance.now();
    killedWall = Date.now();
    // Agent first, so it cannot restart the engine between the two signals.
    sb.signalAgent(primary, 'SIGKILL');
    sb.killEngine(primary);
    firstAck = await writer.waitForAck((a) => a.node !== primary && a.at > killedAt, o.timeoutMs ?? 60_000);
    await sleep(o.settleMs ?? 500);
  } catch (err) {
    await writer.stop();
    throw err;
  }
  return finish(sb, writer, primary, firstAck, killedAt, killedWall);
}

/** A switchover trial also returns the operation as it ended. */
export interface SwitchoverResult extends TrialResult {
  operation: OperationView;
}

/**
 * Planned switchover to `target`: with the writer running on `primary`,
 * `POST /v1/cluster/switchover {to}`, poll the operation until it ends, and
 * wait for the first write acknowledged by `target`.
 */
export async function plannedSwitchover(sb: Sandbox, primary: string, target: string, o: TrialOptions): Promise<SwitchoverResult> {
  const writer = await warmWriter(sb, primary, o);
  let firstAck: Ack;
  let requestedAt: number;
  let requestedWall: number;
  let operation: OperationView;
  try {
    const apiUrls = [sb.node(primary).apiUrl, ...sb.nodes().filter((n) => n.id !== primary).map((n) => n.apiUrl)];
    requestedAt = performance.now();
    requestedWall = Date.now();
    const via = (url: string, init: RequestInit) => sb.apiFetch(url, init);
    const { location } = await requestSwitchover(apiUrls, target, via);
    operation = await waitOperation(apiUrls, location, o.timeoutMs ?? 60_000, via);
    if (operation.state !== 'succeeded') throw new Error(`the switchover to ${target} ended ${operation.state}: ${operation.message}`);
    firstAck = await writer.waitForAck((a) => a.node === target && a.at > requestedAt, o.timeoutMs ?? 60_000);
    await sleep(o.settleMs ?? 500);
  } catch (err) {
    await writer.stop();
    throw err;
  }
  return { ...(await finish(sb, writer, primary, firstAck, requestedAt, requestedWall)), operation };
}

/** What a restarted former primary did to rejoin. */
export interface RejoinResult {
  /** The HA sentences its agent logged since the restart. */
  sentences: string[];
  rewound: boolean;
  recloned: boolean;
  /** Acknowledged ids (of `acked`) the rejoined node does not hold after catching up. */
  lost: number[];
}

/**
 * Start the agent of `old` (a former primary, down or just woken) and wait
 * until its PostgreSQL streams from `primary`; then let it catch up and list
 * which of `ackedIds` it lacks. `restart` false: the agent is running already
 * (e.g. after SIGCONT).
 */
export async function rejoin(sb: Sandbox, old: string, primary: string, ackedIds: number[], opts: { restart: boolean; timeoutMs?: number }): Promise<RejoinResult> {
  const logFile = sb.node(old).logFile;
  const before = logMessages(logFile).length;
  if (opts.restart) await sb.startAgent(old);
  try {
    await waitStreaming(pgNodeOf(sb, old), pgNodeOf(sb, primary), opts.timeoutMs ?? 90_000);
    await waitCaughtUp(pgNodeOf(sb, old), pgNodeOf(sb, primary), 30_000);
  } catch (err) {
    // Say what the node was doing: its agent's decisions, and PostgreSQL's last words.
    const said = [...new Set(logMessages(logFile).slice(before))].slice(-15);
    const engineLog = readTail(`${sb.node(old).dataDir}.log`, 6);
    throw new Error(`${(err as Error).message}\n${old}'s agent said (distinct, last 15):\n  ${said.join('\n  ')}\n${old}'s PostgreSQL log ends:\n  ${engineLog.join('\n  ')}`);
  }
  const present = ackedIds.length > 0 ? await readIds(pgNodeOf(sb, old), ACKED_TABLE) : new Set<number>();
  const sentences = logMessages(logFile).slice(before);
  return {
    sentences,
    rewound: sentences.some((s) => s.includes(`rewinding onto ${primary}`)),
    recloned: sentences.some((s) => s.includes('cloning')),
    lost: missing(ackedIds, present),
  };
}

/** The last `n` lines of a text file, or a note that there is none. */
function readTail(path: string, n: number): string[] {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-n);
  } catch {
    return [`(no ${path})`];
  }
}

/**
 * A few lines per node for a failure message: the agent's last distinct
 * decisions and what its PostgreSQL says of itself (role, synchronous
 * standbys, WAL receiver, standbys streaming from it). Never throws.
 */
export async function diagnose(sb: Sandbox): Promise<string> {
  const out: string[] = [];
  for (const n of sb.nodes()) {
    const said = [...new Set(logMessages(n.logFile).filter((m) => !m.startsWith('engine: following primary')).slice(-40))].slice(-6);
    out.push(`${n.id} (agent ${n.agentPid === null ? 'not running' : `pid ${n.agentPid}`}, postgres ${n.enginePid === null ? 'not running' : `pid ${n.enginePid}`}):`);
    out.push(...said.map((s) => `    agent: ${s}`));
    try {
      const [r] = await queryOnce<{ rec: boolean; ssn: string; rcv: unknown; repl: unknown }>(
        pgNodeOf(sb, n.id),
        `SELECT pg_is_in_recovery() AS rec, current_setting('synchronous_standby_names') AS ssn,
                (SELECT json_build_object('status', status, 'port', sender_port, 'tli', received_tli) FROM pg_stat_wal_receiver) AS rcv,
                (SELECT json_agg(json_build_object('app', application_name, 'state', state, 'sync', sync_state)) FROM pg_stat_replication) AS repl`,
        [],
        2000,
      );
      out.push(`    postgres: ${r.rec ? 'standby' : 'primary'}, synchronous_standby_names '${r.ssn}', receiver ${JSON.stringify(r.rcv)}, standbys ${JSON.stringify(r.repl)}`);
    } catch (err) {
      out.push(`    postgres: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out.join('\n');
}

/** Run `fn`; if it throws, rethrow with the cluster's state appended. */
export async function explained<T>(sb: Sandbox, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const e = err instanceof Error ? err : new Error(String(err));
    e.message = `${e.message}\ncluster state:\n${await diagnose(sb)}`;
    throw e;
  }
}
