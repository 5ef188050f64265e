/**
 * The operator's procedures on members and on this node, behind the admin
 * routes (api/routes/admin.ts): join (add, then promote), remove, fence,
 * drain, stop/start of the engine, reinit. Each checks its preconditions
 * against the replicated state first and refuses with an `ApiError` that says
 * what to do instead; none of them leaves a change half-made.
 *
 * Membership changes run on the Raft leader; another agent answers with
 * `LeaderElsewhere` (a 307 to the leader's API). Record changes (fence, drain,
 * undrain) go through any agent: the store forwards writes to the leader.
 */

import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { ApiError } from './api/errors.ts';
import type { EngineDriver, PrimaryEndpoint } from './engine/driver.ts';
import type { HaLoop } from './ha/loop.ts';
import { BusyError } from './ha/loop.ts';
import type { PeerClient } from './ha/peers.ts';
import type { RaftNode } from './raft/node.ts';
import { StaleRecordError, type ClusterState, type Snapshot } from './state/cluster-state.ts';
import { KEY, type AdminState, type MemberKind, type MemberRecord, type OperationRecord } from './state/records.ts';
import { Agent, request } from 'undici';
import { parseJoinToken } from './security/join-tokens.ts';
import type { NodeCerts } from './security/node-certs.ts';
import { fetchPinnedCa, PinError } from './security/tls-client.ts';

/** The request must run on the Raft leader, which is at `url` (null: no leader known). */
export class LeaderElsewhere extends Error {
  constructor(readonly url: string | null) {
    super(url ? `only the leader can do this; it is at ${url}` : 'no leader is known yet');
    this.name = 'LeaderElsewhere';
  }
}

export interface NewMember {
  id: string;
  kind: MemberKind;
  apiUrl: string;
  /** "host:port" of the engine; null for a witness. */
  pg: string | null;
  region: string;
  /** The cluster the node was initialized for: it must be this one. */
  cluster: string;
  /** TLS clusters: the join token the node presented (rdbj_…) and its certificate request. */
  joinToken?: string;
  csr?: string;
}

/** What `addMember` answers; with TLS also the node's certificate, the CA and the other members' addresses. */
export interface AddedMember {
  member: MemberRecord;
  created: boolean;
  cert?: string;
  ca?: string;
  peers?: Record<string, string>;
}

export interface DrainOptions {
  timeoutMs: number;
  terminate: boolean;
}

/** What `node stop`/`node start` report back. */
export interface EngineAnswer {
  node: string;
  running: boolean;
  held: boolean;
  adminState: AdminState | null;
  message: string;
}

export interface AdminDeps {
  addMember(m: NewMember): Promise<AddedMember>;
  promoteMember(id: string): Promise<MemberRecord>;
  removeMember(id: string): Promise<MemberRecord>;
  /** A member record, tombstones (`removed`) included; null if there never was one. */
  member(id: string): Promise<MemberRecord | null>;
  fence(id: string): Promise<MemberRecord>;
  unfence(id: string): Promise<MemberRecord>;
  undrain(id: string): Promise<MemberRecord>;
  /** This node: stop taking new clients, wait for sessions to end, then terminate the rest unless told not to. */
  drain(o: DrainOptions): Promise<OperationRecord>;
  stopEngine(o: { force: boolean; timeoutMs: number }): Promise<EngineAnswer>;
  startEngine(o: { timeoutMs: number }): Promise<EngineAnswer>;
  reinit(): Promise<OperationRecord>;
  /** This node joins the cluster `clusterAddress` belongs to, as a learner; `cluster join` follows up. */
  join(o: { clusterAddress: string; kind: MemberKind; joinToken?: string }): Promise<MemberRecord>;
}

export interface AdminOptions {
  nodeId: string;
  kind: MemberKind;
  clusterName: string;
  /** This node's member record as it would be added when joining. */
  selfRecord: Omit<MemberRecord, 'adminState'>;
  loop: HaLoop;
  state: ClusterState;
  raft: RaftNode;
  peers: PeerClient;
  /** Where a joining node keeps the addresses it learned (read again at start-up). */
  peersFile: string;
  logger: { info(o: object, msg: string): void; warn(o: object, msg: string): void };
  /** TLS on: joins need a join token and a CSR; this node joins with its own. Absent: plain HTTP joins. */
  certs?: NodeCerts;
}

const POLL_MS = 250;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const iso = () => new Date().toISOString();

export function makeAdmin(o: AdminOptions): AdminDeps {
  const me = o.nodeId;

  const read = (): Promise<Snapshot> => o.state.read('linearizable');

  async function mustLead(snap?: Snapshot): Promise<void> {
    if (o.raft.isLeader()) return;
    const leader = o.raft.leader()?.id ?? null;
    if (leader === null) throw new ApiError('RDB_ERR_NO_QUORUM', 'no Raft leader is known right now: retry in a few seconds; if it persists, check that a majority of voters is up');
    const s = snap ?? (await o.state.read('local'));
    const url = s.members.find((m) => m.id === leader)?.apiUrl ?? null;
    throw new LeaderElsewhere(url);
  }

  async function getMember(id: string): Promise<{ value: MemberRecord; version: number }> {
    const m = await o.state.member(id);
    if (!m || m.value.adminState === 'removed') {
      throw new ApiError('RDB_ERR_NOT_FOUND', `${id} is not a member of this cluster: \`rustydb-admin cluster status\` lists the members`, { node: id });
    }
    return m;
  }

  /** Compare-and-set of a member's admin state; `from` lists the states it may change from. */
  async function changeState(id: string, to: AdminState, from: AdminState[], verb: string): Promise<MemberRecord> {
    for (let attempt = 0; ; attempt++) {
      const m = await getMember(id);
      if (m.value.adminState === to) return m.value;
      if (!from.includes(m.value.adminState)) {
        throw new ApiError('RDB_ERR_PRECONDITION', `cannot ${verb} ${id}: it is ${m.value.adminState}${hintFor(id, m.value.adminState)}`, { node: id, adminState: m.value.adminState });
      }
      const next = { ...m.value, adminState: to };
      try {
        await o.state.replace(KEY.member(id), next, m.version);
        o.logger.info({ member: id, from: m.value.adminState, to }, `member ${id}: ${m.value.adminState} -> ${to} (${verb})`);
        return next;
      } catch (err) {
        if (!(err instanceof StaleRecordError) || attempt >= 3) throw err;
      }
    }
  }

  function opRecord(kind: OperationRecord['kind'], message: string): OperationRecord {
    return { id: `${kind}-${me}-${randomUUID().slice(0, 8)}`, kind, state: 'running', message, startedAt: iso(), finishedAt: null, result: { node: me } };
  }

  async function finish(op: OperationRecord, ok: boolean, message: string, result: Record<string, unknown> = {}): Promise<void> {
    const done: OperationRecord = { ...op, state: ok ? 'succeeded' : 'failed', message, finishedAt: iso(), result: { ...op.result, ...result } };
    // The outcome must reach the record; a lost quorum is retried for a while.
    for (let i = 0; i < 20; i++) {
      try {
        await o.state.putOperation(done);
        return;
      } catch {
        await sleep(500);
      }
    }
    o.logger.warn({ op: op.id }, `could not record the outcome of ${op.id}: ${message}`);
  }

  function primaryEndpoint(s: Snapshot): PrimaryEndpoint {
    const p = s.primary?.value;
    const m = p ? s.members.find((x) => x.id === p.node) : undefined;
    if (!p || !m?.pgHost || !m.pgPort) throw new ApiError('RDB_ERR_PRECONDITION', 'there is no primary to copy from right now: check `rustydb-admin cluster status`, then retry');
    return { nodeId: m.id, host: m.pgHost, port: m.pgPort };
  }

  function driver(): EngineDriver {
    try {
      return o.loop.engineDriver();
    } catch (err) {
      throw new ApiError('RDB_ERR_PRECONDITION', (err as Error).message);
    }
  }

  /**
   * Until the engine is (not) running, as the driver sees it now AND as the HA loop last saw it
   * (what the API reports), twice in a row. A postmaster that is up but slow to answer reads as
   * "not running" for a moment: that is not stopped.
   */
  async function waitEngine(running: boolean, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    const d = driver();
    let agreed = 0;
    while (performance.now() < deadline) {
      const s = await d.status().catch(() => null);
      const settled = s !== null && s.running === running && o.loop.engine.running === running && (running || !(s.problem ?? '').includes('does not answer'));
      agreed = settled ? agreed + 1 : 0;
      if (agreed >= 2) return true;
      await sleep(POLL_MS);
    }
    return false;
  }

  /**
   * Join a TLS cluster: pin its CA by the fingerprint in the token, send the
   * token and a CSR for this node's key, then switch to the certificate the
   * leader signed. Redirects to the leader are followed here, because fetch
   * drops the Authorization header across origins.
   */
  async function joinWithToken(base: string, kind: MemberKind, token: string | undefined, certs: NodeCerts): Promise<MemberRecord> {
    if (!token) throw new ApiError('RDB_ERR_UNAUTHORIZED', `${me} needs a join token to join a TLS cluster: create one with \`rustydb-admin cluster token create\` and pass it with \`cluster join --token\``);
    const parsed = parseJoinToken(token);
    if (!parsed) throw new ApiError('RDB_ERR_UNAUTHORIZED', 'the join token is malformed (expected rdbj_<id>_<secret>_<fingerprint>): copy it again from `cluster token create`');
    let caPem: string;
    try {
      caPem = await fetchPinnedCa(base, parsed.caFingerprintPrefix);
    } catch (err) {
      if (err instanceof PinError) throw new ApiError('RDB_ERR_UNAUTHORIZED', err.message);
      throw new ApiError('RDB_ERR_UNAVAILABLE', `cannot read the cluster CA at ${base} (${(err as Error).message}): check the --cluster-address and that its agent runs`);
    }
    const self = o.selfRecord;
    const body = JSON.stringify({ id: me, kind, api_url: self.apiUrl, pg: self.pgHost && self.pgPort ? `${self.pgHost}:${self.pgPort}` : null, region: self.region, cluster: o.clusterName, csr: certs.csrForCurrentKey() });
    // Trust only the pinned CA from here on.
    const pinned = new Agent({ connect: { ca: caPem, minVersion: 'TLSv1.3', rejectUnauthorized: true } });
    let status = 0;
    let text = '';
    try {
      let url = `${base}/v1/members`;
      for (let hops = 0; ; hops++) {
        const res = await request(url, {
          method: 'POST',
          body,
          headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
          dispatcher: pinned,
          signal: AbortSignal.timeout(20_000),
        });
        status = res.statusCode;
        text = await res.body.text();
        const location = res.headers.location;
        if ((status === 307 || status === 308) && typeof location === 'string' && hops < 3) {
          url = new URL(location, url).href;
          continue;
        }
        break;
      }
    } catch (err) {
      throw new ApiError('RDB_ERR_UNAVAILABLE', `cannot reach ${base} to join (${(err as Error).message}): retry; joining again is safe`);
    } finally {
      void pinned.close();
    }
    let answer: AddedMember & { error?: { code: string; message: string } };
    try {
      answer = JSON.parse(text) as typeof answer;
    } catch {
      throw new ApiError('RDB_ERR_UNAVAILABLE', `${base} answered the join with HTTP ${status} and no JSON: retry; joining again is safe`);
    }
    if (status < 200 || status >= 300 || !answer.member) {
      const code = (answer.error?.code ?? 'RDB_ERR_UNAVAILABLE') as ConstructorParameters<typeof ApiError>[0];
      throw new ApiError(code, `the cluster refused ${me}: ${answer.error?.message ?? `HTTP ${status}`}`);
    }
    if (!answer.cert || answer.ca !== caPem) throw new ApiError('RDB_ERR_UNAVAILABLE', `the cluster accepted ${me} but sent no certificate for it (or another CA): re-run the join`);
    certs.install(answer.cert, answer.ca);
    const peers = answer.peers ?? {};
    savePeers(o.peersFile, peers);
    for (const [id, url] of Object.entries(peers)) o.raft.learnPeerAddress(id, url);
    o.loop.wake();
    return answer.member;
  }

  return {
    async addMember(n) {
      const s = await read();
      await mustLead(s);
      const name = s.identity?.name ?? '';
      if (name === '') throw new ApiError('RDB_ERR_UNAVAILABLE', 'the cluster is still starting (its first leader has not recorded the cluster yet): retry shortly');
      if (n.cluster !== name) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${n.id} was initialized for cluster "${n.cluster}" but this is cluster "${name}": use an address of the right cluster, or re-run \`node init --cluster ${name} --force\` on ${n.id}`);
      }
      const have = await o.state.member(n.id);
      const [pgHost, pgPort] = n.pg ? splitHostPort(n.pg) : [null, null];
      const rec: MemberRecord = { id: n.id, kind: n.kind, apiUrl: n.apiUrl, pgHost, pgPort, region: n.region, weight: 1, tags: [], adminState: 'joining' };
      let created = false;
      const exists = have !== null && have.value.adminState !== 'removed';
      if (exists && !(have.value.apiUrl === n.apiUrl && have.value.kind === n.kind)) {
        throw new ApiError('RDB_ERR_CONFLICT', `another node is already member ${n.id} (${have.value.kind} at ${have.value.apiUrl}): pick another --node-id, or remove it first with \`rustydb-admin cluster remove ${n.id}\``, { node: n.id });
      }
      // TLS: nothing changes before the token is verified (and consumed) and the CSR signed.
      const signed = o.certs ? await o.certs.admitJoin({ token: n.joinToken, nodeId: n.id, kind: n.kind, csr: n.csr, apiUrl: n.apiUrl, pgHost }) : null;
      if (!exists) {
        await o.state.replace(KEY.member(n.id), rec, have?.version ?? 0);
        created = true;
      }
      const raftMembers = o.raft.status().membership;
      if (!raftMembers.voters.includes(n.id) && !raftMembers.learners.includes(n.id)) {
        await o.raft.addMember(n.id, n.apiUrl, { timeoutMs: 10_000 });
      }
      o.logger.info({ member: n.id, kind: n.kind, api: n.apiUrl }, `member ${n.id} added as a learner (joining)`);
      const member = created ? rec : have!.value;
      if (!signed) return { member, created };
      const peers = Object.fromEntries(s.members.filter((m) => m.id !== n.id && m.adminState !== 'removed').map((m) => [m.id, m.apiUrl]));
      return { member, created, cert: signed.certPem, ca: signed.caPem, peers };
    },

    async promoteMember(id) {
      const s = await read();
      await mustLead(s);
      const m = await getMember(id);
      if (m.value.adminState !== 'joining') return m.value;
      if (m.value.kind !== 'witness') {
        const obs = await o.peers.observe(m.value.apiUrl).catch(() => null);
        const streaming = obs !== null && obs.engine.running && obs.engine.inRecovery && obs.engine.streamingFrom !== null;
        if (!streaming) {
          throw new ApiError('RDB_ERR_PRECONDITION', `${id} is not streaming from the primary yet (${obs === null ? 'its agent does not answer' : obs.engine.running ? 'not streaming' : 'engine not running'}): wait for its clone to finish, then retry`, { node: id });
        }
      }
      if (m.value.kind !== 'observer' && !o.raft.status().membership.voters.includes(id)) {
        await o.raft.promote(id, { timeoutMs: 30_000 });
      }
      return changeState(id, 'active', ['joining'], 'promote');
    },

    async removeMember(id) {
      const s = await read();
      await mustLead(s);
      await getMember(id); // 404 for a non-member
      const p = s.primary?.value;
      if (p?.node === id) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${id} is the primary of epoch ${p.epoch}: switch over first (\`rustydb-admin cluster failover\`), then remove it`, { node: id });
      }
      const raftVoters = o.raft.status().membership.voters;
      if (raftVoters.includes(id)) {
        const remaining = raftVoters.filter((v) => v !== id);
        if (remaining.length === 0) throw new ApiError('RDB_ERR_PRECONDITION', `${id} is the last voter: removing it would leave no cluster`);
        const byId = new Map(s.members.map((x) => [x.id, x]));
        const reach = await Promise.all(
          remaining.map(async (v) => (v === me ? true : (await o.peers.observe(byId.get(v)?.apiUrl ?? '').catch(() => null)) !== null)),
        );
        const up = reach.filter(Boolean).length;
        const need = Math.floor(remaining.length / 2) + 1;
        if (up < need) {
          const down = remaining.filter((_, i) => !reach[i]);
          throw new ApiError(
            'RDB_ERR_PRECONDITION',
            `removing ${id} would leave ${up} of ${remaining.length} voters reachable, fewer than the ${need} a quorum needs (unreachable: ${down.join(', ')}): bring them back first`,
            { node: id, unreachable: down },
          );
        }
      }
      if (id === me) {
        // The leader does not remove itself: hand leadership to the primary's node and let it do it.
        const to = p && p.node !== me && raftVoters.includes(p.node) ? p.node : raftVoters.find((v) => v !== me);
        if (to) await o.raft.transferLeadership(to, { timeoutMs: 10_000 });
        await mustLead();
      }
      // Tombstone first: the primary drops the node's slot and never waits for it as a synchronous standby.
      const gone = await changeState(id, 'removed', ['active', 'joining', 'draining', 'drained', 'fenced', 'upgrading'], 'remove');
      const rm = o.raft.status().membership;
      if (rm.voters.includes(id) || rm.learners.includes(id)) await o.raft.remove(id, { timeoutMs: 10_000 });
      o.logger.info({ member: id }, `member ${id} removed`);
      return gone;
    },

    async member(id) {
      return (await o.state.member(id))?.value ?? null;
    },

    fence: (id) => changeState(id, 'fenced', ['active', 'draining', 'drained', 'upgrading'], 'fence'),
    unfence: (id) => changeState(id, 'active', ['fenced'], 'unfence'),
    undrain: (id) => changeState(id, 'active', ['draining', 'drained'], 'undrain'),

    async drain(d) {
      const s = await read();
      const mine = await getMember(me);
      if (s.primary?.value.node === me) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} is the primary: switch over first (\`rustydb-admin node drain ${me} --switchover\` does both)`, { node: me });
      }
      if (mine.value.adminState === 'drained') {
        const op = { ...opRecord('drain', `${me} is already drained`), state: 'succeeded' as const, finishedAt: iso() };
        await o.state.putOperation(op);
        return op;
      }
      await changeState(me, 'draining', ['active', 'draining'], 'drain');
      const op = opRecord('drain', `draining ${me}: waiting up to ${d.timeoutMs} ms for client sessions to end`);
      await o.state.putOperation(op);
      void (async () => {
        const dr = driver();
        const atStart = await dr.clientSessions().catch(() => 0);
        const deadline = performance.now() + d.timeoutMs;
        let left = atStart;
        while (left > 0 && performance.now() < deadline) {
          await sleep(POLL_MS);
          left = await dr.clientSessions().catch(() => left);
        }
        let terminated = 0;
        if (left > 0 && d.terminate) {
          terminated = await dr.terminateClientSessions().catch(() => 0);
          left = 0;
        }
        if (left > 0) {
          await finish(op, false, `${left} client session(s) still connected to ${me} after ${d.timeoutMs} ms and left alone (--no-terminate); ${me} stays draining: wait and drain again, or drain without --no-terminate`, { sessionsAtStart: atStart, terminated, remaining: left });
          return;
        }
        await changeState(me, 'drained', ['draining'], 'drain');
        await finish(op, true, `${me} is drained (${atStart} session(s) at the start, ${terminated} terminated)`, { sessionsAtStart: atStart, terminated, remaining: 0 });
      })().catch((err) => finish(op, false, `drain of ${me} failed: ${(err as Error).message}`));
      return op;
    },

    async stopEngine({ force, timeoutMs }) {
      const snap = await o.state.read('linearizable').catch(() => o.loop.snapshot);
      const isPrimary = snap?.primary?.value.node === me && o.loop.engine.running && !o.loop.engine.inRecovery;
      if (isPrimary && !force) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} is the primary: switch over first (\`rustydb-admin cluster failover\`), or stop it anyway with --force (the cluster fails over after its failover timeout)`, { node: me });
      }
      o.loop.holdEngine(true);
      const stopped = await waitEngine(false, timeoutMs);
      const adminState = snap?.members.find((m) => m.id === me)?.adminState ?? null;
      if (!stopped) throw new ApiError('RDB_ERR_UNAVAILABLE', `${me}'s engine did not stop within ${timeoutMs} ms; it stays held and the agent keeps trying: check the agent log`, { node: me });
      return { node: me, running: false, held: true, adminState, message: `${me}'s engine is stopped and stays stopped until \`rustydb-admin node start ${me}\`` };
    },

    async startEngine({ timeoutMs }) {
      const mine = await o.state.member(me);
      if (mine?.value.adminState === 'removed') {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} was removed from the cluster: its engine is not started again; join it anew with \`rustydb-admin cluster join\``, { node: me });
      }
      if (mine?.value.adminState === 'fenced') {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} is fenced: unfence it first (\`rustydb-admin node unfence ${me}\`)`, { node: me });
      }
      const wasHeld = o.loop.engineHeld();
      const wasDrained = mine?.value.adminState === 'draining' || mine?.value.adminState === 'drained';
      if (wasHeld) o.loop.holdEngine(false);
      if (wasDrained) await changeState(me, 'active', ['draining', 'drained'], 'start');
      if (o.kind === 'witness') return { node: me, running: false, held: false, adminState: 'active', message: `${me} is a witness: no engine to start` };
      const running = await waitEngine(true, timeoutMs);
      if (!running) throw new ApiError('RDB_ERR_UNAVAILABLE', `${me}'s engine did not start within ${timeoutMs} ms: \`rustydb-admin node status ${me}\` and the agent log say why`, { node: me });
      const what = !wasHeld && !wasDrained ? 'was already in service' : `is back in service (${[wasHeld ? 'engine started' : '', wasDrained ? 'drain ended' : ''].filter(Boolean).join(', ')})`;
      return { node: me, running: true, held: false, adminState: 'active', message: `${me} ${what}` };
    },

    async reinit() {
      const s = await read();
      await getMember(me);
      if (s.primary?.value.node === me) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} is the primary: it cannot copy from itself; switch over first (\`rustydb-admin cluster failover\`), then reinit it`, { node: me });
      }
      const ep = primaryEndpoint(s);
      const op = opRecord('reinit', `reinitializing ${me} from ${ep.nodeId}`);
      let job: Promise<void>;
      try {
        job = o.loop.reinit(ep);
      } catch (err) {
        if (err instanceof BusyError) throw new ApiError('RDB_ERR_CONFLICT', `${me} is busy ${err.running}: wait for it to finish, then retry`, { node: me });
        throw err;
      }
      await o.state.putOperation(op);
      job.then(
        () => finish(op, true, `${me} was copied afresh from ${ep.nodeId} and runs as its standby`),
        (err) => finish(op, false, `reinit of ${me} failed: ${(err as Error).message}`),
      );
      return op;
    },

    async join({ clusterAddress, kind, joinToken }) {
      const base = clusterAddress.includes('://') ? clusterAddress.replace(/\/+$/, '') : `${o.certs ? 'https' : 'http'}://${clusterAddress}`;
      const membership = o.raft.status().appliedMembership;
      if (membership.voters.includes(me) || membership.learners.includes(me)) {
        const m = await o.state.member(me).catch(() => null);
        if (m) return m.value;
      }
      // The join token is checked, and the node's certificate issued, over TLS; and every /v1 call needs a credential.
      if (!o.certs) {
        throw new ApiError('RDB_ERR_PRECONDITION', `${me} runs without TLS ([tls] enabled = false) and cannot join: re-run \`rustydb-admin node init\` without --no-tls, then join with a token`);
      }
      return joinWithToken(base, kind, joinToken, o.certs);
    },
  };
}

function hintFor(id: string, state: AdminState): string {
  switch (state) {
    case 'fenced':
      return ` (unfence it first: \`rustydb-admin node unfence ${id}\`)`;
    case 'joining':
      return ' (it is still joining: wait for `cluster join` to finish)';
    case 'removed':
      return ' (it was removed from the cluster)';
    default:
      return '';
  }
}

/** "host:port" -> [host, port] (the last colon splits, so IPv6 hosts keep theirs). */
export function splitHostPort(hp: string): [string, number] {
  const i = hp.lastIndexOf(':');
  return [hp.slice(0, i), Number(hp.slice(i + 1))];
}

/** Addresses a joining node learned from the member it joined through, kept for restarts. */
export function loadPeers(file: string): Record<string, string> {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v as Record<string, unknown>).filter((e): e is [string, string] => typeof e[1] === 'string'));
  } catch {
    // none yet
  }
  return {};
}

function savePeers(file: string, peers: Record<string, string>): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, JSON.stringify(peers, null, 2) + '\n', { mode: 0o600 });
  renameSync(tmp, file);
}
