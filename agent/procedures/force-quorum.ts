/**
 * Force-quorum: disaster recovery when a majority of voters is lost for good
 * (`rustydb-admin cluster force-quorum`). Unsafe by design, so it checks what
 * it can first and says what it found:
 *
 * 1. The request names this node's cluster; the voters to drop are exactly the
 *    current Raft voters not listed as survivors, and they are NOT a minority
 *    (with a quorum left, `cluster remove` is the safe tool).
 * 2. No dropped voter's agent answers (a reachable one is not lost).
 * 3. Every survivor answers with its position; this node has the most
 *    up-to-date Raft log of them (else the new configuration could not be
 *    committed by them, or would cut off committed entries).
 * 4. The primary it will name is the one the operator saw in the plan
 *    ({@link choosePrimary}): the same choice, made again on fresh positions.
 *
 * Then: the survivors' HA loops hold WAL streaming (a standby that regains a
 * quorum must not rewind onto the lost primary in the moment before the new
 * record exists), `RaftNode.forceNewConfiguration(survivors)`, and as the new
 * leader in the replicated state: dropped members become `removed`
 * tombstones, a new primary record (epoch + 1, reason `force-quorum`, sync
 * k = 0: it promises nothing until the primary's loop raises its synchronous
 * set) by compare-and-set, any pending failover request withdrawn, a history
 * record with the survivors' LSNs, and the operation's outcome. The named
 * node's HA loop promotes it; the other survivors follow (or rewind) by
 * themselves.
 *
 * A retry with the same request id never forces twice: once the Raft voters
 * are exactly the survivors, it only finishes the record-keeping.
 *
 * The plan helpers ({@link compareRaftPosition}, {@link chooseForcer},
 * {@link choosePrimary}, {@link droppedMembers}) are pure and shared with the
 * CLI, which shows the plan before anything changes.
 */

import { ApiError } from '../api/errors.ts';
import type { ForceQuorumBody, NodePositionView } from '../api/wire-admin.ts';
import { FORCE_QUORUM_PATHS } from '../api/wire-admin.ts';
import type { HaLoop } from '../ha/loop.ts';
import { compareLsn } from '../ha/lsn.ts';
import type { PeerClient } from '../ha/peers.ts';
import type { RaftNode } from '../raft/node.ts';
import { StaleRecordError, type ClusterState, type Snapshot } from '../state/cluster-state.ts';
import { KEY, type MemberKind, type MemberRecord, type OperationRecord, type PrimaryRecord } from '../state/records.ts';
import { peerDispatcher } from '../security/tls-client.ts';

// ---------------------------------------------------------------------------
// The plan (pure; the CLI uses the same functions)

type Position = Pick<NodePositionView, 'node' | 'raft' | 'engine' | 'epoch' | 'primary'>;
type MemberLike = Pick<MemberRecord, 'id' | 'kind' | 'adminState' | 'tags'>;

/** Orders Raft logs by (lastTerm, lastIndex): > 0 when `a` is more up to date than `b`. */
export function compareRaftPosition(a: Pick<Position['raft'], 'lastTerm' | 'lastIndex'>, b: Pick<Position['raft'], 'lastTerm' | 'lastIndex'>): number {
  return a.lastTerm !== b.lastTerm ? a.lastTerm - b.lastTerm : a.lastIndex - b.lastIndex;
}

/** The survivor that must force the new configuration: the most up-to-date Raft log (ties: the smallest id). */
export function chooseForcer<P extends Position>(positions: readonly P[]): P {
  if (positions.length === 0) throw new RangeError('chooseForcer: no survivor positions');
  return [...positions].sort((a, b) => compareRaftPosition(b.raft, a.raft) || (a.node < b.node ? -1 : 1))[0];
}

/**
 * Members the new configuration drops: every voter or witness of the cluster
 * (observers are not voters; a joining node is not one yet) not among `survivors`.
 */
export function droppedMembers(members: readonly Pick<MemberRecord, 'id' | 'kind' | 'adminState'>[], survivors: readonly string[]): string[] {
  return members
    .filter((m) => m.kind !== 'observer' && m.adminState !== 'removed' && m.adminState !== 'joining' && !survivors.includes(m.id))
    .map((m) => m.id)
    .sort();
}

export type PrimaryChoice = { node: string; why: string } | { node: null; why: string };

/** Why a survivor cannot be the new primary, or null if it can. */
function unfit(m: MemberLike | undefined, p: Position): string | null {
  if (!m) return 'not a member';
  if (m.kind !== 'voter') return `a ${m.kind} (${m.kind === 'witness' ? 'no database' : 'never promoted'})`;
  if (m.tags.includes('nofailover')) return 'tagged nofailover';
  if (m.adminState === 'fenced' || m.adminState === 'joining' || m.adminState === 'removed') return m.adminState;
  if (!p.engine.initialized) return 'no data directory';
  return null;
}

/**
 * The survivor that becomes primary: the primary of the newest epoch any
 * survivor saw, if it survived (a standby never holds WAL its primary did not
 * flush, and a primary that fenced itself reports no LSN while stopped);
 * otherwise the database survivor with the greatest engine flush LSN (ties:
 * the smallest id). Witnesses, observers, fenced, joining and `nofailover`
 * members are never chosen.
 */
export function choosePrimary(positions: readonly Position[], members: readonly MemberLike[]): PrimaryChoice {
  const byId = new Map(members.map((m) => [m.id, m]));
  const fit = positions.filter((p) => unfit(byId.get(p.node), p) === null);
  if (fit.length === 0) {
    const why = positions.map((p) => `${p.node}: ${unfit(byId.get(p.node), p)}`).join('; ');
    return { node: null, why: `no survivor can run as primary (${why})` };
  }
  const newest = positions.reduce<Position | null>((best, p) => (p.epoch !== null && (best === null || (best.epoch ?? 0) < p.epoch) ? p : best), null);
  const oldPrimary = newest?.primary ?? null;
  const survivingPrimary = oldPrimary === null ? undefined : fit.find((p) => p.node === oldPrimary);
  if (survivingPrimary) {
    return { node: survivingPrimary.node, why: `it was the primary of epoch ${newest!.epoch}: no standby holds WAL it did not write` };
  }
  const known = fit.filter((p) => p.engine.flushLsn !== null).sort((a, b) => compareLsn(b.engine.flushLsn!, a.engine.flushLsn!) || (a.node < b.node ? -1 : 1));
  if (known.length === 0) {
    return {
      node: null,
      why: `no survivor that can be primary reports a WAL position (${fit.map((p) => `${p.node}: engine ${p.engine.running ? 'running' : 'stopped'}`).join(', ')}): start its engine, then retry`,
    };
  }
  const best = known[0];
  const others = known.slice(1).map((p) => `${p.node} ${p.engine.flushLsn}`);
  return { node: best.node, why: `it has the most WAL of the survivors (flush LSN ${best.engine.flushLsn}${others.length ? `; ${others.join(', ')}` : ''})` };
}

// ---------------------------------------------------------------------------
// The agent side

/** What the force-quorum routes need. */
export interface ForceQuorumDeps {
  /** This node's position; never blocks on the cluster. */
  position(): NodePositionView;
  /** Check the plan again and carry it out (see the file comment). Throws ApiError or StoreError. */
  forceQuorum(req: ForceQuorumBody): Promise<OperationRecord>;
}

export interface ForceQuorumOptions {
  nodeId: string;
  kind: MemberKind;
  clusterName: string;
  raft: Pick<RaftNode, 'logPosition' | 'status' | 'forceNewConfiguration'>;
  state: ClusterState;
  loop: Pick<HaLoop, 'engine' | 'snapshot' | 'prepare' | 'release' | 'wake'>;
  /** Observes dropped voters (an answer means: not lost) and holds/wakes the survivors' HA loops. */
  peers: Pick<PeerClient, 'observe' | 'prepare' | 'release' | 'wake'>;
  /** How long a survivor's position may take. Default 3000 ms. */
  probeTimeoutMs?: number;
  /** For the forced configuration to commit. Default 30 000 ms. */
  forceTimeoutMs?: number;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
}

/** How long survivors hold WAL streaming while the new primary record is written (released at the end). */
const HOLD_MS = 60_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = () => new Date().toISOString();

export function makeForceQuorum(o: ForceQuorumOptions): ForceQuorumDeps {
  const me = o.nodeId;
  const probeMs = o.probeTimeoutMs ?? 3000;
  let running: string | null = null;

  function position(): NodePositionView {
    const lp = o.raft.logPosition();
    const st = o.raft.status();
    const e = o.loop.engine;
    const p = o.loop.snapshot?.primary?.value ?? null;
    return {
      node: me,
      kind: o.kind,
      clusterName: o.clusterName,
      raft: { ...lp, role: st.role, leader: st.leader || null, voters: [...st.membership.voters], learners: [...st.membership.learners] },
      engine: { running: e.running, inRecovery: e.inRecovery, initialized: e.initialized, flushLsn: e.flushLsn, timeline: e.timeline },
      epoch: p?.epoch ?? null,
      primary: p?.node ?? null,
    };
  }

  async function peerPosition(apiUrl: string): Promise<NodePositionView> {
    // undici's request with the node's TLS identity (peer routes need the cluster's client certificate).
    const { request } = await import('undici'); // not at the top: the CLI bundles this module
    const res = await request(new URL(FORCE_QUORUM_PATHS.peerPosition, apiUrl), { signal: AbortSignal.timeout(probeMs), dispatcher: peerDispatcher() });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
    return JSON.parse(text) as NodePositionView;
  }

  /** Transient refusals right after the forced term starts (leader not ready yet): retry for a while. */
  async function settle<T>(what: string, fn: () => Promise<T>, ms = 15_000): Promise<T> {
    const deadline = performance.now() + ms;
    for (;;) {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StaleRecordError || performance.now() > deadline) throw err;
        o.logger.warn({ err: (err as Error).message }, `force-quorum: ${what} failed, retrying`);
        await sleep(200);
      }
    }
  }

  async function run(req: ForceQuorumBody): Promise<OperationRecord> {
    const voters = [...new Set(req.voters)].sort();
    const requested = [...new Set(req.dropped)].sort();
    if (!voters.includes(me)) {
      throw new ApiError('RDB_ERR_INVALID', `${me} is not among the survivors (${voters.join(', ')}): send the request to a survivor (the one with the most up-to-date Raft log)`);
    }
    const overlap = voters.filter((v) => requested.includes(v));
    if (overlap.length > 0) throw new ApiError('RDB_ERR_INVALID', `${overlap.join(', ')} cannot both survive and be dropped: fix the request`);

    const membership = o.raft.status().membership;
    const strangers = voters.filter((v) => !membership.voters.includes(v) && !membership.learners.includes(v));
    if (strangers.length > 0) {
      throw new ApiError('RDB_ERR_PRECONDITION', `${strangers.join(', ')} ${strangers.length === 1 ? 'is' : 'are'} not in ${me}'s Raft configuration (voters ${membership.voters.join(', ')}): list only surviving members`, { nodes: strangers });
    }
    const raftDropped = membership.voters.filter((v) => !voters.includes(v)).sort();
    // Already forced (a retry, or a run that died after the Raft step): only the record-keeping is left.
    const forced = raftDropped.length === 0 && requested.every((d) => !membership.voters.includes(d));
    if (!forced) {
      if (raftDropped.join(',') !== requested.join(',')) {
        throw new ApiError(
          'RDB_ERR_PRECONDITION',
          `the plan is out of date: ${me}'s Raft configuration (voters ${membership.voters.join(', ')}) would drop ${raftDropped.join(', ') || 'nobody'}, the request drops ${requested.join(', ')}: run the command again to see the current plan`,
          { dropped: raftDropped },
        );
      }
      const surviving = membership.voters.length - raftDropped.length;
      const quorum = Math.floor(membership.voters.length / 2) + 1;
      if (surviving >= quorum) {
        throw new ApiError(
          'RDB_ERR_PRECONDITION',
          `${voters.join(', ')} are ${surviving} of ${membership.voters.length} voters, a quorum: the cluster is not lost; remove the lost members with \`rustydb-admin cluster remove ID\` instead`,
        );
      }
    }

    const snap: Snapshot = o.loop.snapshot ?? (await o.state.read('local'));
    const byId = new Map(snap.members.map((m) => [m.id, m]));
    const urlOf = (id: string) => byId.get(id)?.apiUrl ?? null;

    // 2. A dropped voter whose agent answers is not lost.
    const answering = (
      await Promise.all(
        requested.map(async (id) => {
          const url = urlOf(id);
          if (url === null) return null;
          return (await o.peers.observe(url).then(() => true, () => false)) ? `${id} at ${url}` : null;
        }),
      )
    ).filter((x): x is string => x !== null);
    if (answering.length > 0) {
      throw new ApiError('RDB_ERR_PRECONDITION', `${answering.join(', ')} ${answering.length === 1 ? 'answers' : 'answer'}: not lost; include ${answering.length === 1 ? 'it' : 'them'} among the survivors, or stop ${answering.length === 1 ? 'it' : 'them'} first`, {
        reachable: answering.map((a) => a.split(' ')[0]),
      });
    }

    // 3. Every survivor answers; this node has the most up-to-date log of them.
    const mine = position();
    const positions: NodePositionView[] = [mine];
    const silent: string[] = [];
    await Promise.all(
      voters
        .filter((v) => v !== me)
        .map(async (v) => {
          const url = urlOf(v);
          const p = url === null ? null : await peerPosition(url).catch(() => null);
          if (p) positions.push(p);
          else silent.push(`${v}${url ? ` at ${url}` : ' (no address known)'}`);
        }),
    );
    if (silent.length > 0) {
      throw new ApiError('RDB_ERR_PRECONDITION', `survivor ${silent.join(', ')} does not answer: start its agent, or leave it out of the survivors`, { silent });
    }
    if (!forced) {
      const best = chooseForcer(positions);
      if (best.node !== me && compareRaftPosition(best.raft, mine.raft) > 0) {
        throw new ApiError(
          'RDB_ERR_PRECONDITION',
          `${best.node} has a more up-to-date Raft log (term ${best.raft.lastTerm}, index ${best.raft.lastIndex}) than ${me} (term ${mine.raft.lastTerm}, index ${mine.raft.lastIndex}): send the request to ${best.node}`,
          { forcer: best.node },
        );
      }
    }

    // 4. The same primary as in the plan the operator confirmed.
    const choice = choosePrimary(positions, snap.members);
    if (choice.node === null) throw new ApiError('RDB_ERR_PRECONDITION', `${choice.why}; nothing was changed`);
    if (choice.node !== req.primary) {
      throw new ApiError('RDB_ERR_PRECONDITION', `the plan is out of date: ${choice.node} would become primary now (${choice.why}), not ${req.primary}: run the command again to see the current plan`, { primary: choice.node });
    }

    // Hold the running survivors' streaming (see the file comment); always released at the end.
    const epochSeen = Math.max(0, ...positions.map((p) => p.epoch ?? 0));
    const held = positions.filter((p) => p.kind !== 'witness' && p.engine.running);
    const release = async () => {
      await Promise.all(
        held.map((p) => {
          if (p.node === me) return (o.loop.release(), o.loop.wake());
          const url = urlOf(p.node)!;
          return o.peers.release(url).then(() => o.peers.wake(url)).catch(() => {});
        }),
      );
    };
    if (epochSeen > 0) {
      await Promise.all(
        held.map((p) =>
          (p.node === me ? o.loop.prepare(epochSeen, HOLD_MS) : o.peers.prepare(urlOf(p.node)!, epochSeen, HOLD_MS)).catch((err) =>
            o.logger.warn({ node: p.node, err: (err as Error).message }, `force-quorum: could not hold ${p.node}'s WAL streaming; going on`),
          ),
        ),
      );
    }

    try {
      if (!forced) {
        o.logger.warn({ voters, dropped: requested, primary: choice.node }, 'force-quorum: forcing a new configuration without the lost voters');
        await o.raft.forceNewConfiguration(voters, { timeoutMs: o.forceTimeoutMs ?? 30_000 });
      }
      return await record(req, voters, requested, choice.node, positions, forced);
    } finally {
      await release();
    }
  }

  /** As the leader of the forced configuration: tombstones, new primary record, history, outcome. Each step is safe to repeat. */
  async function record(req: ForceQuorumBody, voters: string[], dropped: string[], primary: string, positions: NodePositionView[], forcedBefore: boolean): Promise<OperationRecord> {
    const opId = `force-quorum-${req.request_id}`;
    const existing = await settle('reading the operation', () => o.state.operation(opId));
    if (existing?.state === 'succeeded') return existing;
    if (!existing && forcedBefore) {
      // Forced earlier by another request: finish its record-keeping only if it was cut short (the record still names a lost node).
      const s = await settle('reading the cluster state', () => o.state.read('linearizable'));
      const p = s.primary?.value;
      if (p && !dropped.includes(p.node)) {
        throw new ApiError('RDB_ERR_PRECONDITION', `nothing to force: the voters already are ${voters.join(', ')} and ${p.node} is the primary of epoch ${p.epoch}; see \`rustydb-admin cluster status\``);
      }
    }
    const op: OperationRecord = existing ?? {
      id: opId,
      kind: 'force-quorum',
      state: 'running',
      message: `${voters.join(', ')} ${voters.length === 1 ? 'forms' : 'form'} a new configuration without ${dropped.join(', ')}; naming ${primary} primary`,
      startedAt: iso(),
      finishedAt: null,
      result: { voters, dropped, primary, forcedOn: me },
    };
    await settle('recording the operation', () => o.state.putOperation(op));

    for (const id of dropped) await tombstone(id);

    let epoch = 0;
    let from: string | null = null;
    const plannedEpoch = typeof op.result?.epoch === 'number' ? op.result.epoch : null;
    for (let attempt = 0; ; attempt++) {
      const s = await settle('reading the cluster state', () => o.state.read('linearizable'));
      const cur = s.primary;
      // A repeated run finds its own record already written.
      if (cur && plannedEpoch !== null && cur.value.epoch === plannedEpoch && cur.value.node === primary && cur.value.reason === 'force-quorum') {
        epoch = plannedEpoch;
        from = null;
        break;
      }
      const next: PrimaryRecord = { node: primary, epoch: (cur?.value.epoch ?? 0) + 1, since: iso(), reason: 'force-quorum', sync: { k: 0, standbys: [] } };
      await settle('recording the epoch', () => o.state.putOperation({ ...op, result: { ...op.result, epoch: next.epoch } }));
      try {
        await settle('writing the primary record', () => o.state.putPrimary(next, cur?.version ?? 0, `force-quorum-${req.request_id}-${next.epoch}`));
        epoch = next.epoch;
        from = cur?.value.node ?? null;
        if (s.failoverRequest) await o.state.clearFailoverRequest(s.failoverRequest.version).catch(() => {});
        break;
      } catch (err) {
        if (!(err instanceof StaleRecordError) || attempt >= 3) throw err;
      }
    }

    const lsns: Record<string, string | null> = {};
    for (const id of dropped) lsns[id] = null;
    for (const p of positions) lsns[p.node] = p.engine.flushLsn;
    if (from !== null) await settle('appending history', () => o.state.appendHistory({ epoch, from, to: primary, reason: 'force-quorum', at: iso(), lsns }));
    const done: OperationRecord = {
      ...op,
      state: 'succeeded',
      message: `${voters.join(', ')} ${voters.length === 1 ? 'forms' : 'form'} the new configuration (dropped ${dropped.join(', ')}); ${primary} is the primary of epoch ${epoch}`,
      finishedAt: iso(),
      result: { ...op.result, epoch, primary, voters, dropped, lsns },
    };
    await settle('recording the outcome', () => o.state.putOperation(done));
    o.logger.warn({ epoch, primary, voters, dropped }, `force-quorum done: ${done.message}`);
    return done;
  }

  /** A dropped member becomes a `removed` tombstone (compare-and-set; already removed is fine). */
  async function tombstone(id: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const m = await settle(`reading member ${id}`, () => o.state.member(id));
      if (!m || m.value.adminState === 'removed') return;
      try {
        await o.state.replace(KEY.member(id), { ...m.value, adminState: 'removed' }, m.version);
        return;
      } catch (err) {
        if (!(err instanceof StaleRecordError) || attempt >= 3) throw err;
      }
    }
  }

  return {
    position,
    async forceQuorum(req) {
      if (req.cluster !== o.clusterName) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} belongs to cluster "${o.clusterName}", not "${req.cluster}": check the endpoints and the cluster name`);
      }
      if (running !== null && running !== req.request_id) {
        throw new ApiError('RDB_ERR_CONFLICT', `a force-quorum (request ${running}) is already running on ${me}: wait for it to finish`, { requestId: running });
      }
      if (running !== null) throw new ApiError('RDB_ERR_CONFLICT', `this force-quorum (request ${running}) is still running on ${me}: wait, then retry with the same request_id`);
      running = req.request_id;
      try {
        return await run(req);
      } finally {
        running = null;
      }
    },
  };
}
