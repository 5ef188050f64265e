/**
 * One-line text forms of messages, entries, events and node status, used by the
 * golden interaction scripts. Everything is deterministic: ids are sorted where
 * their order carries no meaning.
 */

import type { RaftCore } from '../../../agent/raft/core.ts';
import { NONE, type Entry, type Membership, type Message, type NodeId } from '../../../agent/raft/types.ts';
import { sortIds, type EnvEvent, type EnvNode } from './env.ts';

export function fmtIds(ids: readonly NodeId[]): string {
  return `(${sortIds(ids).join(',')})`;
}

export function fmtMembership(m: Membership): string {
  return `voters=${fmtIds(m.voters)} learners=${fmtIds(m.learners)}`;
}

/** `index/term` and the payload: `3/2 "x"`, `1/2 noop`, `4/2 conf voters=(1,2) learners=(3)`. */
export function fmtEntry(e: Entry): string {
  const at = `${e.index}/${e.term}`;
  switch (e.type) {
    case 'noop':
      return `${at} noop`;
    case 'conf':
      return `${at} conf ${fmtMembership(JSON.parse(e.data) as Membership)}`;
    default:
      return `${at} ${JSON.stringify(e.data)}`;
  }
}

export function fmtEntries(es: readonly Entry[]): string {
  return `[${es.map(fmtEntry).join(', ')}]`;
}

export function fmtMessage(m: Message): string {
  const head = `${m.from} -> ${m.to} ${m.type} term=${m.term}`;
  const ctx = m.context !== '' ? ` ctx=${m.context}` : '';
  switch (m.type) {
    case 'app':
      return `${head} prev=${m.index}/${m.logTerm} commit=${m.commit} entries=${fmtEntries(m.entries)}`;
    case 'app-resp':
      return m.reject
        ? `${head} index=${m.index} reject hint=${m.rejectHint}/${m.hintTerm}`
        : `${head} index=${m.index}`;
    case 'heartbeat':
      return `${head} commit=${m.commit}${ctx}`;
    case 'heartbeat-resp':
      return `${head}${ctx}`;
    case 'vote':
    case 'prevote':
      return `${head} lastIndex=${m.index} lastTerm=${m.logTerm}${m.transfer ? ' transfer' : ''}`;
    case 'vote-resp':
    case 'prevote-resp':
      return `${head}${m.reject ? ' reject' : ''}`;
    case 'snap': {
      const s = m.snapshot;
      return s ? `${head} snapshot=${s.meta.index}/${s.meta.term} ${fmtMembership(s.meta.membership)}` : `${head} snapshot=none`;
    }
    case 'read-index':
      return `${head}${ctx}`;
    case 'read-index-resp':
      return `${head} index=${m.index}${ctx}`;
    default:
      return head;
  }
}

/** Which events a command shows (see the interpreter's header comment). */
export interface EventView {
  /** Show `send` events of messages that went in flight (commands that are not deliveries). */
  showSends: boolean;
  /** Hide heartbeats and their responses that carry no read context; count them instead. */
  hideHeartbeats: boolean;
}

function isRoutineHeartbeat(m: Message): boolean {
  return (m.type === 'heartbeat' || m.type === 'heartbeat-resp') && m.context === '';
}

export function fmtEvents(events: readonly EnvEvent[], view: EventView): string[] {
  const out: string[] = [];
  let hiddenDelivered = 0;
  let hiddenDropped = 0;
  for (const ev of events) {
    switch (ev.kind) {
      case 'send':
      case 'deliver':
        // A message that went in flight is shown at its delivery, unless the
        // command shows what it sends; one lost on the way out is shown now.
        if (ev.kind === 'send' && ev.dropped === null && !view.showSends) break;
        if (view.hideHeartbeats && isRoutineHeartbeat(ev.msg)) {
          if (ev.dropped === null) hiddenDelivered++;
          else hiddenDropped++;
          break;
        }
        out.push(ev.dropped === null ? fmtMessage(ev.msg) : `${fmtMessage(ev.msg)} DROPPED (${ev.dropped})`);
        break;
      case 'state':
        out.push(`${ev.node} becomes ${ev.role} term=${ev.term} leader=${ev.leader === NONE ? 'none' : ev.leader}`);
        break;
      case 'apply':
        out.push(`${ev.node} applies ${ev.entries.map(fmtEntry).join(', ')}`);
        break;
      case 'install':
        out.push(`${ev.node} installs snapshot ${ev.meta.index}/${ev.meta.term} ${fmtMembership(ev.meta.membership)}`);
        break;
      case 'read':
        out.push(`${ev.node} read-state ctx=${ev.read.context} index=${ev.read.index}`);
        break;
      case 'error':
        out.push(`${ev.node} ERROR ${ev.message}`);
        break;
    }
  }
  if (hiddenDelivered + hiddenDropped > 0) {
    out.push(`(${hiddenDelivered} heartbeats and responses delivered, ${hiddenDropped} dropped, not shown)`);
  }
  return out;
}

/** `1: leader term=2 commit=1 applied=1 last=1 voters=(1,2,3) learners=()`; followers also name their leader. */
export function fmtStatus(n: EnvNode): string {
  if (!n.core) {
    const hs = n.disk.hardState;
    return `${n.id}: down (persisted term=${hs.term} vote=${hs.vote === NONE ? 'none' : hs.vote} commit=${hs.commit})`;
  }
  const s = n.core.status();
  const leader = s.role === 'leader' ? '' : ` leader=${s.leader === NONE ? 'none' : s.leader}`;
  return `${n.id}: ${s.role} term=${s.term}${leader} commit=${s.commit} applied=${n.appliedIndex} last=${s.lastIndex} ${fmtMembership(s.membership)}`;
}

/** The node's log (snapshot, entries, commit) and its state machine. */
export function fmtLog(n: EnvNode): string[] {
  const core: RaftCore | null = n.core;
  if (!core) return [`${n.id}: down`];
  const out: string[] = [];
  const snap = n.disk.snapshot;
  out.push(snap ? `snapshot ${snap.meta.index}/${snap.meta.term} ${fmtMembership(snap.meta.membership)}` : 'snapshot none');
  const first = core.firstIndex;
  for (const e of n.disk.entries) if (e.index >= first) out.push(fmtEntry(e));
  out.push(`commit=${core.commitIndex} applied=${n.appliedIndex} state-machine=${JSON.stringify(n.applied.map((a) => a.data))}`);
  return out;
}

/** The leader's view of each peer's replication. */
export function fmtProgress(n: EnvNode): string[] {
  if (!n.core) return [`${n.id}: down`];
  const s = n.core.status();
  if (s.role !== 'leader') return [`${n.id} is not leader (${s.role})`];
  return sortIds(Object.keys(s.progress)).map((id) => {
    const p = s.progress[id];
    return `${id}: match=${p.match} next=${p.next} ${p.state}`;
  });
}
