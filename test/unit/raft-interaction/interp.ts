/**
 * Interpreter of the golden interaction scripts (test/unit/testdata/*.txt),
 * modelled on etcd-io/raft's `rafttest` interaction environment.
 *
 * A script is a sequence of blocks. `#` lines and blank lines are kept as they
 * are. A command is one line, followed by a `----` line and its expected
 * output, which ends at the next blank line (or the end of the file):
 *
 *     campaign 1
 *     ----
 *     1 becomes pre-candidate term=0 leader=none
 *     1 -> 2 prevote term=1 lastIndex=0 lastTerm=0
 *
 * What a command prints:
 *  - commands that are not deliveries (campaign, tick, propose, ...) print the
 *    messages they caused to be sent: they are now in flight;
 *  - deliver / stabilize print each message as it is delivered (or lost, with
 *    `DROPPED (why)`); messages sent meanwhile are printed when delivered;
 *  - tick-all is like stabilize but hides routine heartbeats (no read context)
 *    and prints how many there were;
 *  - all of them print role/term/leader changes (`2 becomes follower term=2
 *    leader=1`), applied entries (`2 applies 1/2 noop`), installed snapshots,
 *    read states and errors thrown by a core (`2 ERROR ...`: always a bug);
 *  - `ok` when nothing else was printed.
 *
 * Commands:
 *   add-nodes N [voters=(..)] [learners=(..)] [prevote=bool] [checkquorum=bool]
 *             [max-inflight=N] [max-msg-bytes=N] [election=N] [heartbeat=N]
 *       New nodes with the next free ids. With voters/learners they bootstrap
 *       from that configuration; without, the first batch bootstraps as voters
 *       of itself and later batches start empty (to be added by a conf change).
 *   campaign ID | tick ID [N] | tick-all N
 *   propose ID DATA | propose-conf ID add-learner|promote|remove NODE
 *   read-index ID CTX | transfer ID TO
 *   deliver [from=ID] [to=ID] [type=T] [drop]   (only messages in flight now)
 *   stabilize | msgs
 *   partition A,B | C   (nodes in different groups cannot talk) | heal
 *   crash ID | restart ID (from the node's persisted state)
 *   compact ID INDEX [retain=N] | status ID|all | log ID | progress ID
 */

import { Env, EnvUsageError, type MessageFilter } from './env.ts';
import { fmtEvents, fmtLog, fmtMessage, fmtProgress, fmtStatus, type EventView } from './format.ts';
import type { MembershipChange, NodeId, ProposeResult, RaftRefusal } from '../../../agent/raft/types.ts';

/** A script could not be parsed or a command is malformed: fix the script. */
export class ScriptError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScriptError';
  }
}

export type Block =
  | { kind: 'text'; line: string }
  | { kind: 'command'; lineNo: number; command: string; expected: string[] };

export function parseScript(text: string): Block[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      blocks.push({ kind: 'text', line });
      continue;
    }
    if (lines[i + 1] !== '----') {
      throw new ScriptError(`line ${i + 1}: command "${line}" must be followed by a "----" line and its expected output`);
    }
    const expected: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j] !== ''; j++) expected.push(lines[j]);
    blocks.push({ kind: 'command', lineNo: i + 1, command: line, expected });
    i = j - 1; // the blank line after the output is kept as a text block
  }
  return blocks;
}

/** Render blocks back to a script, with `outputs[k]` as the output of the k-th command. */
export function renderScript(blocks: readonly Block[], outputs: readonly string[][]): string {
  const out: string[] = [];
  let k = 0;
  for (const b of blocks) {
    if (b.kind === 'text') out.push(b.line);
    else out.push(b.command, '----', ...outputs[k++]);
  }
  return out.join('\n') + '\n';
}

/** Run every command of a parsed script in a fresh environment; returns each command's output lines. */
export function runBlocks(blocks: readonly Block[]): string[][] {
  const interp = new Interpreter();
  return blocks.filter((b) => b.kind === 'command').map((b) => interp.run(b.command));
}

interface Args {
  positional: string[];
  named: Map<string, string>;
  flags: Set<string>;
}

function parseArgs(words: string[]): Args {
  const args: Args = { positional: [], named: new Map(), flags: new Set() };
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq > 0) args.named.set(w.slice(0, eq), w.slice(eq + 1));
    else if (/^[a-z][a-z-]*$/.test(w) && args.positional.length > 0) args.flags.add(w);
    else args.positional.push(w);
  }
  return args;
}

function idList(v: string | undefined): NodeId[] | undefined {
  if (v === undefined) return undefined;
  const inner = v.replace(/^\(/, '').replace(/\)$/, '').trim();
  return inner === '' ? [] : inner.split(',').map((s) => s.trim());
}

function int(v: string | undefined, what: string): number {
  const n = Number(v);
  if (v === undefined || !Number.isInteger(n) || n < 0) throw new ScriptError(`${what} must be a non-negative integer, got ${v ?? 'nothing'}`);
  return n;
}

function bool(v: string, what: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new ScriptError(`${what} must be true or false, got ${v}`);
}

function fmtPropose(r: ProposeResult): string {
  return r.ok ? `ok index=${r.index} term=${r.term}` : fmtRefusal(r);
}

function fmtRefusal(r: RaftRefusal | null): string {
  if (r === null) return 'ok';
  const leader = r.leader === '' ? 'none' : r.leader;
  return r.code === 'invalid-membership-change' ? `refused ${r.code}: ${r.reason}` : `refused ${r.code} leader=${leader}`;
}

const SENDING: EventView = { showSends: true, hideHeartbeats: false };
const DELIVERING: EventView = { showSends: false, hideHeartbeats: false };
const TICKING: EventView = { showSends: false, hideHeartbeats: true };

export class Interpreter {
  readonly env = new Env();

  /** Run one command line; returns its output lines (never empty). */
  run(line: string): string[] {
    const [cmd, ...rest] = line.trim().split(/\s+/);
    let head: string[] = [];
    let view = SENDING;
    let tail: string[] = [];
    try {
      switch (cmd) {
        case 'add-nodes':
          this.addNodes(rest);
          break;
        case 'campaign':
          this.env.campaign(this.id(rest[0]));
          break;
        case 'tick':
          this.env.tick(this.id(rest[0]), rest[1] === undefined ? 1 : int(rest[1], 'tick count'));
          break;
        case 'tick-all':
          view = TICKING;
          this.env.tickAll(int(rest[0], 'tick-all rounds'));
          break;
        case 'propose':
          if (rest.length < 2) throw new ScriptError('usage: propose ID DATA');
          head = [fmtPropose(this.env.propose(this.id(rest[0]), rest.slice(1).join(' ')))];
          break;
        case 'propose-conf': {
          const op = rest[1];
          if (op !== 'add-learner' && op !== 'promote' && op !== 'remove') throw new ScriptError('usage: propose-conf ID add-learner|promote|remove NODE');
          const change: MembershipChange = { op, node: this.id(rest[2], false) };
          head = [fmtPropose(this.env.proposeConf(this.id(rest[0]), change))];
          break;
        }
        case 'read-index':
          if (rest.length !== 2) throw new ScriptError('usage: read-index ID CTX');
          head = [fmtRefusal(this.env.readIndex(this.id(rest[0]), rest[1]))];
          break;
        case 'transfer':
          head = [fmtRefusal(this.env.transfer(this.id(rest[0]), this.id(rest[1], false)))];
          break;
        case 'deliver': {
          view = DELIVERING;
          const a = parseArgs(['deliver', ...rest]);
          const from = a.named.get('from');
          const to = a.named.get('to');
          const type = a.named.get('type');
          const filter: MessageFilter = (m) => (from === undefined || m.from === from) && (to === undefined || m.to === to) && (type === undefined || m.type === type);
          if (this.env.deliver(filter, a.flags.has('drop')) === 0) head = ['no matching message in flight'];
          break;
        }
        case 'stabilize':
          view = DELIVERING;
          this.env.stabilize();
          break;
        case 'msgs':
          tail = this.env.inflight.length === 0 ? ['no messages in flight'] : this.env.inflight.map(fmtMessage);
          break;
        case 'partition': {
          const groups = rest.join(' ').split('|').map((g) => g.split(',').map((s) => s.trim()).filter((s) => s !== ''));
          if (groups.length < 2 || groups.some((g) => g.length === 0)) throw new ScriptError('usage: partition A,B | C');
          this.env.partition(groups);
          break;
        }
        case 'heal':
          this.env.heal();
          break;
        case 'crash':
          this.env.crash(this.id(rest[0]));
          break;
        case 'restart': {
          const id = this.id(rest[0]);
          this.env.restart(id);
          tail = [fmtStatus(this.env.node(id))];
          break;
        }
        case 'compact': {
          const a = parseArgs(['compact', ...rest]);
          const id = this.id(a.positional[1]);
          const r = this.env.compact(id, int(a.positional[2], 'compact index'), a.named.has('retain') ? int(a.named.get('retain'), 'retain') : 0);
          head = [`ok snapshot=${r.snapshot.meta.index}/${r.snapshot.meta.term} first=${r.firstIndexToKeep}`];
          break;
        }
        case 'status':
          tail = rest[0] === 'all' || rest[0] === undefined ? this.env.ids().map((id) => fmtStatus(this.env.node(id))) : [fmtStatus(this.env.node(this.id(rest[0])))];
          break;
        case 'log':
          tail = fmtLog(this.env.node(this.id(rest[0])));
          break;
        case 'progress':
          tail = fmtProgress(this.env.node(this.id(rest[0])));
          break;
        default:
          throw new ScriptError(`unknown command "${cmd}"`);
      }
    } catch (err) {
      if (err instanceof ScriptError || err instanceof EnvUsageError) throw new ScriptError(`${line}: ${err.message}`);
      // A core threw: the env recorded it as an event, printed below. Anything
      // else is a bug of this interpreter and must not be swallowed.
      if (!this.env.peekEvents().some((e) => e.kind === 'error')) throw err;
    }
    const out = [...head, ...fmtEvents(this.env.takeEvents(), view), ...tail];
    return out.length === 0 ? ['ok'] : out;
  }

  private id(v: string | undefined, mustExist = true): NodeId {
    if (v === undefined || v === '') throw new ScriptError('a node id is missing');
    if (mustExist) this.env.node(v);
    return v;
  }

  private addNodes(words: string[]): void {
    const a = parseArgs(['add-nodes', ...words]);
    const count = int(a.positional[1], 'add-nodes count');
    const voters = idList(a.named.get('voters'));
    const learners = idList(a.named.get('learners'));
    const config: Record<string, unknown> = {};
    for (const [k, v] of a.named) {
      switch (k) {
        case 'voters':
        case 'learners':
          break;
        case 'prevote':
          config.preVote = bool(v, k);
          break;
        case 'checkquorum':
          config.checkQuorum = bool(v, k);
          break;
        case 'max-inflight':
          config.maxInflight = int(v, k);
          break;
        case 'max-msg-bytes':
          config.maxMsgBytes = int(v, k);
          break;
        case 'election':
          config.electionTicks = int(v, k);
          break;
        case 'heartbeat':
          config.heartbeatTicks = int(v, k);
          break;
        default:
          throw new ScriptError(`add-nodes: unknown option ${k}`);
      }
    }
    let membership = voters || learners ? { voters: voters ?? [], learners: learners ?? [] } : null;
    if (!membership && this.env.nodes.size === 0) {
      // The first batch gets ids 1..count and bootstraps as voters of itself.
      membership = { voters: Array.from({ length: count }, (_, i) => String(i + 1)), learners: [] };
    }
    this.env.addNodes(count, membership, config);
  }
}
