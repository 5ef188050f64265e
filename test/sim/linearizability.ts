/**
 * Linearizability checker for the client-visible history of the replicated
 * key-value state machine.
 *
 * Algorithm: Wing & Gong's search with Lowe's just-in-time linearization and
 * memoization of (set of linearized ops, model state), as in Porcupine, plus a
 * few verdict-preserving reductions (see `KeyProblem` and `searchKey`). Keys
 * are checked one at a time, which is sound because linearizability is
 * compositional (a history is linearizable iff each per-object sub-history is).
 *
 * Time semantics: op A precedes op B in real time only if A.complete < B.invoke.
 * Equal times count as concurrent, so the checker never reports a violation
 * that depends on how the simulator orders two events within one tick.
 *
 * Pure and deterministic: no clock, no randomness, no I/O.
 */

import { mulberry32 } from '../../agent/raft/random.ts';

// ---------------------------------------------------------------------------
// Public types

/** A client operation on one key. `expectVersion` turns put/delete into a compare-and-set. */
export type KvOp =
  | { kind: 'put'; key: string; value: string; expectVersion?: number }
  | { kind: 'delete'; key: string; expectVersion?: number }
  | { kind: 'get'; key: string };

/** What the client was told. The shape must match the op: `ok` for put/delete, `value` for get. */
export type KvResult =
  | { ok: true; version: number } // put/delete succeeded
  | { ok: false; version: number } // put/delete precondition failed; version is the current one
  | { value: string | null; version: number }; // get; null and 0 when absent

/**
 * One client operation as recorded by the simulator. Ops that definitely never
 * took effect (refused before being proposed) must not be included.
 */
export interface HistoryOp {
  /** Unique within the history. */
  id: number;
  /** Who issued it; only used in explanations. */
  client: string;
  op: KvOp;
  /** When the client sent it (any monotonic clock; simulated ticks). */
  invoke: number;
  /** When the client got the answer; null = outcome unknown (timed out, node crashed). */
  complete: number | null;
  /** Null iff `complete` is null. */
  result: KvResult | null;
}

/** Verdict of {@link checkLinearizable}. `ok` is true only when every key was proven linearizable. */
export interface LinearizabilityResult {
  ok: boolean;
  /** The first key (in order of first appearance) that is not linearizable, or whose search gave up. */
  key?: string;
  /** Human-readable: longest consistent prefix reached and the ops that could not be placed after it. */
  explanation?: string;
  /**
   * Ops searched: those of every key checked, which is all keys unless a violation stopped the
   * check early. Unknown-outcome gets are dropped and not counted.
   */
  opsChecked: number;
  /** The search budget was exhausted: linearizability is not proven (ok is false). */
  gaveUp?: boolean;
}

export interface CheckOptions {
  /**
   * Maximum memoized (linearized set, state) pairs per key and search pass before giving up.
   * Default 200 000.
   */
  maxStatesPerKey?: number;
  /**
   * Search order. 'auto' (default) runs 'fast' (time order: quick to accept) and, only if it
   * gives up, 'thorough' (known-outcome ops first, with memo subsumption: quicker to refute
   * histories with many unknown-outcome ops). The others run one pass; for tests and diagnosis.
   */
  strategy?: 'auto' | 'fast' | 'thorough';
}

/** The history itself is malformed (a bug in whoever recorded it), so no verdict is possible. */
export class InvalidHistoryError extends Error {
  readonly code = 'invalid-history';
  constructor(
    readonly opId: number,
    what: string,
  ) {
    super(`invalid history: op #${opId} ${what}; fix the history recorder, the checker cannot judge this history`);
    this.name = 'InvalidHistoryError';
  }
}

export const DEFAULT_MAX_STATES_PER_KEY = 200_000;

// ---------------------------------------------------------------------------
// Formatting

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

function formatCall(op: KvOp): string {
  const expect = 'expectVersion' in op && op.expectVersion !== undefined ? `,expect v${op.expectVersion}` : '';
  switch (op.kind) {
    case 'put':
      return `put(${op.key},${quote(op.value)}${expect})`;
    case 'delete':
      return `delete(${op.key}${expect})`;
    case 'get':
      return `get(${op.key})`;
  }
}

function formatResult(r: KvResult | null): string {
  if (r === null) return '?';
  if ('ok' in r) return `${r.ok ? 'ok' : 'fail'} v${r.version}`;
  return `${r.value === null ? 'null' : quote(r.value)} v${r.version}`;
}

/** One op on one line, e.g. `#12 c3 put(k1,'v7') -> ok v4 [t=40..52]`; unknown outcome: `-> ? [t=40..?]`. */
export function formatOp(h: HistoryOp): string {
  return `#${h.id} ${h.client} ${formatCall(h.op)} -> ${formatResult(h.result)} [t=${h.invoke}..${h.complete ?? '?'}]`;
}

// ---------------------------------------------------------------------------
// Validation

function validate(history: HistoryOp[]): void {
  const ids = new Set<number>();
  for (const h of history) {
    if (ids.has(h.id)) throw new InvalidHistoryError(h.id, 'appears twice (ids must be unique)');
    ids.add(h.id);
    const { op, result } = h;
    if (op.kind !== 'put' && op.kind !== 'delete' && op.kind !== 'get') {
      throw new InvalidHistoryError(h.id, `has unknown kind ${JSON.stringify((op as { kind: unknown }).kind)}`);
    }
    if (typeof op.key !== 'string') throw new InvalidHistoryError(h.id, 'has a key that is not a string');
    if (op.kind === 'put' && typeof op.value !== 'string') {
      throw new InvalidHistoryError(h.id, 'is a put whose value is not a string');
    }
    if (op.kind !== 'get' && op.expectVersion !== undefined && !Number.isInteger(op.expectVersion)) {
      throw new InvalidHistoryError(h.id, `has non-integer expectVersion ${op.expectVersion}`);
    }
    if (!Number.isFinite(h.invoke)) throw new InvalidHistoryError(h.id, `has non-finite invoke time ${h.invoke}`);
    if ((h.complete === null) !== (result === null)) {
      throw new InvalidHistoryError(h.id, 'must have complete and result both null (unknown outcome) or both set');
    }
    if (h.complete !== null && !(Number.isFinite(h.complete) && h.complete >= h.invoke)) {
      throw new InvalidHistoryError(h.id, `completes at ${h.complete}, before it was invoked at ${h.invoke}`);
    }
    if (result !== null) {
      const isGetResult = 'value' in result && !('ok' in result);
      if ((op.kind === 'get') !== isGetResult) {
        const shape = JSON.stringify(result);
        throw new InvalidHistoryError(h.id, `is a ${op.kind} with a result of the wrong shape ${shape}`);
      }
      if (!Number.isInteger(result.version)) {
        throw new InvalidHistoryError(h.id, `has non-integer result version ${result.version}`);
      }
    }
  }
}

// ---------------------------------------------------------------------------
// The search, for one key

const KIND_PUT = 0;
const KIND_DELETE = 1;
const KIND_GET = 2;

/** Outcome of searching one key. */
type KeyVerdict =
  | { kind: 'ok' }
  | { kind: 'gave-up'; states: number }
  | { kind: 'violation'; prefix: number[] };

/** Value id of null (absent key). */
const VAL_NULL = 0;
/** Value id shared by every written value that no get ever returns: nothing can tell them apart. */
const VAL_UNOBSERVED = 1;

/**
 * Ops of one key compiled to flat arrays. Values are interned to small ints so
 * a model state is two numbers and memo keys stay short.
 *
 * Two reductions keep the search small without changing the verdict:
 *  - Values that no get returns all share one id, so states that differ only
 *    in an unobservable value are memoized once.
 *  - Unknown-outcome ops with the same effect (same kind, expectVersion and
 *    value id) are interchangeable once invoked, because they have no deadline
 *    and no result to match. They are placed only in invoke order
 *    (`prevTwin`), so choosing "which k of them" collapses to "how many".
 */
class KeyProblem {
  readonly n: number;
  readonly kind: Int8Array;
  readonly valId: Int32Array; // put: value written; get: value observed
  readonly hasExpect: Uint8Array;
  readonly expect: Float64Array;
  readonly known: Uint8Array; // outcome known (result constrains the model)
  readonly resOk: Uint8Array;
  readonly resVer: Float64Array;
  /** For an unknown-outcome op: the previous interchangeable op in invoke order, else -1. */
  readonly prevTwin: Int32Array;

  constructor(readonly ops: HistoryOp[]) {
    const n = (this.n = ops.length);
    this.kind = new Int8Array(n);
    this.valId = new Int32Array(n);
    this.hasExpect = new Uint8Array(n);
    this.expect = new Float64Array(n);
    this.known = new Uint8Array(n);
    this.resOk = new Uint8Array(n);
    this.resVer = new Float64Array(n);
    this.prevTwin = new Int32Array(n).fill(-1);

    const observed = new Map<string, number>();
    for (const { op, result } of ops) {
      if (op.kind === 'get' && result !== null && 'value' in result && result.value !== null) {
        if (!observed.has(result.value)) observed.set(result.value, VAL_UNOBSERVED + 1 + observed.size);
      }
    }
    ops.forEach((h, i) => {
      const { op, result } = h;
      this.kind[i] = op.kind === 'put' ? KIND_PUT : op.kind === 'delete' ? KIND_DELETE : KIND_GET;
      if (op.kind === 'put') this.valId[i] = observed.get(op.value) ?? VAL_UNOBSERVED;
      if (op.kind !== 'get' && op.expectVersion !== undefined) {
        this.hasExpect[i] = 1;
        this.expect[i] = op.expectVersion;
      }
      if (result !== null) {
        this.known[i] = 1;
        this.resVer[i] = result.version;
        if ('ok' in result) this.resOk[i] = result.ok ? 1 : 0;
        else this.valId[i] = result.value === null ? VAL_NULL : observed.get(result.value)!;
      }
    });

    // Same order as the call events in searchKey, so a twin's call is always met first.
    const order = ops.map((_, i) => i).sort((a, b) => ops[a].invoke - ops[b].invoke || a - b);
    const lastOfClass = new Map<string, number>();
    for (const i of order) {
      if (this.known[i] === 1) continue;
      const cls = `${this.kind[i]}/${this.hasExpect[i] === 1 ? this.expect[i] : ''}/${this.valId[i]}`;
      this.prevTwin[i] = lastOfClass.get(cls) ?? -1;
      lastOfClass.set(cls, i);
    }
  }

  // Output of step(); fields rather than an object to keep the hot loop allocation-free.
  outVal = 0;
  outVer = 0;

  /**
   * Applies op i to state (val, ver). Returns false if the op's recorded result
   * is not what the model returns; otherwise sets outVal/outVer.
   */
  step(i: number, val: number, ver: number): boolean {
    const kind = this.kind[i];
    const known = this.known[i] === 1;
    if (kind === KIND_GET) {
      if (known && (this.valId[i] !== val || this.resVer[i] !== ver)) return false;
      this.outVal = val;
      this.outVer = ver;
      return true;
    }
    if (this.hasExpect[i] === 1 && this.expect[i] !== ver) {
      // Precondition failed: reports the current version, changes nothing.
      if (known && (this.resOk[i] === 1 || this.resVer[i] !== ver)) return false;
      this.outVal = val;
      this.outVer = ver;
      return true;
    }
    const newVal = kind === KIND_PUT ? this.valId[i] : 0;
    const newVer = kind === KIND_PUT ? ver + 1 : 0;
    if (known && (this.resOk[i] === 0 || this.resVer[i] !== newVer)) return false;
    this.outVal = newVal;
    this.outVer = newVer;
    return true;
  }
}

const HEAD_KNOWN = 0;
const HEAD_UNKNOWN = 1;

/**
 * Searches for a linearization of one key's ops (depth-first, memoized).
 *
 * Known-outcome ops have a call and a return event in one doubly linked list
 * sorted by time; unknown-outcome ops have only a call, in a second list.
 * Linearizing an op lifts its events out; backtracking puts them back (LIFO,
 * so the links restore exactly). The ops that may go next are the calls before
 * the first remaining return R (that op had to take effect by then). Once no
 * return is left, every known op is placed and the unknown rest can go at
 * +infinity (or never): success.
 *
 * Two orders, for the two jobs:
 *  - fast: candidates in time order. Usually the right guess, so linearizable
 *    histories are accepted quickly. Plain memo of configurations.
 *  - thorough: known candidates first, unknown ones after. Together with
 *    memo subsumption (see `enter`) this refutes histories with many
 *    unknown-outcome ops far faster, but is slower to accept good ones.
 */
function searchKey(p: KeyProblem, maxStates: number, thorough: boolean): KeyVerdict {
  const n = p.n;
  const E = 2 + n + n;
  const next = new Int32Array(E).fill(-1);
  const prev = new Int32Array(E).fill(-1);
  const opOf = new Int32Array(E).fill(-1);
  const time = new Float64Array(E);
  const isCall = new Uint8Array(E);
  const retOf = new Int32Array(E).fill(-1); // call node -> its return node, -1 if unknown outcome

  const known: number[] = [];
  const unknown: number[] = [];
  let node = 2;
  for (let i = 0; i < n; i++) {
    const h = p.ops[i];
    const c = node++;
    opOf[c] = i;
    isCall[c] = 1;
    time[c] = h.invoke;
    if (h.complete === null) {
      unknown.push(c);
      continue;
    }
    const r = node++;
    opOf[r] = i;
    time[r] = h.complete;
    retOf[c] = r;
    known.push(c, r);
  }
  // At equal times calls come first (= concurrent), then by op order.
  const before = (a: number, b: number): number => time[a] - time[b] || isCall[b] - isCall[a] || opOf[a] - opOf[b];
  const link = (head: number, nodes: number[]): void => {
    let last = head;
    for (const x of nodes.sort(before)) {
      next[last] = x;
      prev[x] = last;
      last = x;
    }
  };
  link(HEAD_KNOWN, known);
  link(HEAD_UNKNOWN, unknown);
  const unlink = (x: number): void => {
    next[prev[x]] = next[x];
    if (next[x] !== -1) prev[next[x]] = prev[x];
  };
  const relink = (x: number): void => {
    next[prev[x]] = x;
    if (next[x] !== -1) prev[next[x]] = x;
  };

  const words = (n + 15) >>> 4;
  const bits = new Uint16Array(words);
  const placed = (i: number): boolean => (bits[i >>> 4] & (1 << (i & 15))) !== 0;

  // Memo of configurations entered: (ops placed, state). Entering one twice is pointless.
  // Thorough mode also prunes by subsumption: a configuration with the same known ops and
  // state as one already entered, but more unknown ops placed, can do nothing the other
  // cannot (its extra unknown ops could as well come at the end, or never). This holds for
  // entered configurations still being explored too, as in antichain-based model checking:
  // whatever the pruned one could reach, the other reaches. So the thorough memo maps
  // known bits + state to the unknown-op sets entered.
  const seen = new Set<string>();
  const knownMask = new Uint16Array(words);
  for (let i = 0; i < n; i++) if (p.known[i] === 1) knownMask[i >>> 4] |= 1 << (i & 15);
  const antichains = new Map<string, Uint16Array[]>();
  let memoSize = 0;
  /** Records the configuration after placing an op; false if it is not worth entering. */
  const enter = (val: number, ver: number): boolean => {
    let k = '';
    if (!thorough) {
      for (let w = 0; w < words; w++) k += String.fromCharCode(bits[w]);
      k += val + ',' + ver;
      if (seen.has(k)) return false;
      seen.add(k);
      memoSize++;
      return true;
    }
    for (let w = 0; w < words; w++) k += String.fromCharCode(bits[w] & knownMask[w]);
    k += val + ',' + ver;
    let sets = antichains.get(k);
    if (sets === undefined) antichains.set(k, (sets = []));
    outer: for (const u of sets) {
      for (let w = 0; w < words; w++) if ((u[w] & ~bits[w]) !== 0) continue outer;
      return false; // u is a subset of ours (or equal)
    }
    const mine = new Uint16Array(words);
    for (let w = 0; w < words; w++) mine[w] = bits[w] & ~knownMask[w];
    sets.push(mine);
    memoSize++;
    return true;
  };

  // Scan of the candidates of the current configuration: known calls from kCur up to the
  // first return (whose time is `limit`), unknown calls from uCur invoked by `limit`.
  let kCur = -1;
  let uCur = -1;
  let limit = 0;
  const advanceK = (x: number): number => (next[x] !== -1 && isCall[next[x]] === 1 ? next[x] : -1);
  const advanceU = (x: number): number => (next[x] !== -1 && time[next[x]] <= limit ? next[x] : -1);
  /** Starts the scan of a configuration; false if it is complete (no known op left). */
  const startScan = (): boolean => {
    let r = next[HEAD_KNOWN];
    if (r === -1) return false;
    while (isCall[r] === 1) r = next[r]; // a known call's return is always further on
    limit = time[r];
    kCur = advanceK(HEAD_KNOWN);
    uCur = advanceU(HEAD_UNKNOWN);
    return true;
  };

  // Backtracking stack: node placed, the state and scan before it, forced or not.
  const stackNode: number[] = [];
  const stackVal: number[] = [];
  const stackVer: number[] = [];
  const stackScan: number[] = []; // kCur, uCur, limit
  const stackForced: boolean[] = [];
  let val = 0;
  let ver = 0;
  let best: number[] = [];

  if (!startScan()) return { kind: 'ok' };
  for (;;) {
    let c = -1;
    if (kCur !== -1 && (uCur === -1 || thorough || before(kCur, uCur) < 0)) {
      c = kCur;
      kCur = advanceK(c);
    } else if (uCur !== -1) {
      c = uCur;
      uCur = advanceU(c);
    }

    let backtrack = c === -1; // no candidate fits: R's op cannot take effect in time
    if (c !== -1) {
      const i = opOf[c];
      const twin = p.prevTwin[i];
      if ((twin === -1 || placed(twin)) && p.step(i, val, ver)) {
        // A known op that never changes the state wherever it goes (a get, a CAS whose result
        // says it failed) and matches now can be placed right now without loss: every op that
        // must precede it is already placed, and it changes nothing for the others. So it is
        // the only choice worth trying here. (Not so for a delete that finds the key absent:
        // placed later, it could have been the one that removed a value.)
        const forced = p.known[i] === 1 && (p.kind[i] === KIND_GET || p.resOk[i] === 0);
        bits[i >>> 4] |= 1 << (i & 15);
        if (enter(p.outVal, p.outVer)) {
          if (memoSize > maxStates) return { kind: 'gave-up', states: memoSize };
          stackNode.push(c);
          stackVal.push(val);
          stackVer.push(ver);
          stackScan.push(kCur, uCur, limit);
          stackForced.push(forced);
          val = p.outVal;
          ver = p.outVer;
          unlink(c);
          if (retOf[c] !== -1) unlink(retOf[c]);
          if (stackNode.length > best.length) best = stackNode.map((x) => opOf[x]);
          if (!startScan()) return { kind: 'ok' };
          continue;
        }
        bits[i >>> 4] &= ~(1 << (i & 15));
        backtrack = forced; // the forced choice was already explored and failed
      }
    }
    // Undo placements until one that has alternatives left; its scan resumes after it.
    while (backtrack) {
      if (stackNode.length === 0) return { kind: 'violation', prefix: best };
      const x = stackNode.pop()!;
      val = stackVal.pop()!;
      ver = stackVer.pop()!;
      limit = stackScan.pop()!;
      uCur = stackScan.pop()!;
      kCur = stackScan.pop()!;
      backtrack = stackForced.pop()!;
      const i = opOf[x];
      bits[i >>> 4] &= ~(1 << (i & 15));
      if (retOf[x] !== -1) relink(retOf[x]);
      relink(x);
    }
  }
}

// ---------------------------------------------------------------------------
// Explanations

const PREFIX_SHOWN = 10;

interface KvState {
  value: string | null;
  version: number;
}

/** The model on real values, for explanations (the search runs on interned ids). */
function applyKv(s: KvState, op: KvOp): { next: KvState; answer: KvResult } {
  if (op.kind === 'get') return { next: s, answer: { value: s.value, version: s.version } };
  if (op.expectVersion !== undefined && op.expectVersion !== s.version) {
    return { next: s, answer: { ok: false, version: s.version } };
  }
  const next = op.kind === 'put' ? { value: op.value, version: s.version + 1 } : { value: null, version: 0 };
  return { next, answer: { ok: true, version: next.version } };
}

function explainViolation(key: string, ops: HistoryOp[], prefix: number[]): string {
  const placed = new Set(prefix);
  let state: KvState = { value: null, version: 0 };
  for (const i of prefix) state = applyKv(state, ops[i].op).next;

  const lines: string[] = [];
  lines.push(`key ${quote(key)} is not linearizable (${ops.length} ops checked).`);
  lines.push(
    `Longest consistent prefix: ${prefix.length} of ${ops.length} ops, in linearization order, ` +
      `ending in state ${formatResult(state)}:`,
  );
  if (prefix.length === 0) lines.push('  (empty: initial state null v0)');
  const skipped = Math.max(0, prefix.length - PREFIX_SHOWN);
  if (skipped > 0) lines.push(`  ... ${skipped} earlier ops`);
  for (const i of prefix.slice(skipped)) lines.push(`  ${formatOp(ops[i])}`);

  // The op that had to take effect first among those left, and the ops that could go next.
  let deadline = -1;
  for (let i = 0; i < ops.length; i++) {
    const c = ops[i].complete;
    if (!placed.has(i) && c !== null && (deadline === -1 || c < ops[deadline].complete!)) deadline = i;
  }
  if (deadline !== -1) {
    const d = ops[deadline];
    lines.push(
      `Stuck: #${d.id} had to take effect by t=${d.complete}, and no order of the remaining ops ` +
        'invoked by then makes it fit. Those ops, with what the model would answer after the prefix:',
    );
    for (let i = 0; i < ops.length; i++) {
      if (placed.has(i) || ops[i].invoke > d.complete!) continue;
      lines.push(`  ${formatOp(ops[i])}   model would answer: ${formatResult(applyKv(state, ops[i].op).answer)}`);
    }
  }
  return lines.join('\n');
}

// ---------------------------------------------------------------------------
// Entry point

/**
 * Checks that a history of key-value operations is linearizable with respect
 * to the model: per key `{value, version}` starting at `{null, 0}`; put bumps
 * the version, delete resets to `{null, 0}`, a given `expectVersion` that
 * differs from the current version fails the op without changing anything.
 *
 * Unknown-outcome ops (complete null) may have taken effect at any time after
 * their invoke, or never; unknown-outcome gets constrain nothing and are dropped.
 *
 * Throws {@link InvalidHistoryError} if the history is malformed.
 */
export function checkLinearizable(history: HistoryOp[], opts: CheckOptions = {}): LinearizabilityResult {
  validate(history);
  const maxStates = opts.maxStatesPerKey ?? DEFAULT_MAX_STATES_PER_KEY;
  const strategy = opts.strategy ?? 'auto';

  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    if (h.op.kind === 'get' && h.complete === null) continue;
    let list = byKey.get(h.op.key);
    if (list === undefined) byKey.set(h.op.key, (list = []));
    list.push(h);
  }

  let opsChecked = 0;
  let gaveUp: LinearizabilityResult | undefined;
  for (const [key, ops] of byKey) {
    const p = new KeyProblem(ops);
    let verdict = searchKey(p, maxStates, strategy === 'thorough');
    if (verdict.kind === 'gave-up' && strategy === 'auto') verdict = searchKey(p, maxStates, true);
    opsChecked += ops.length;
    if (verdict.kind === 'violation') {
      // A proven violation is more useful than a give-up elsewhere: stop here.
      return { ok: false, key, explanation: explainViolation(key, ops, verdict.prefix), opsChecked };
    }
    if (verdict.kind === 'gave-up' && gaveUp === undefined) {
      gaveUp = {
        ok: false,
        gaveUp: true,
        key,
        explanation:
          `key ${quote(key)}: search gave up after ${verdict.states} states (${ops.length} ops); ` +
          'linearizability not proven. Raise maxStatesPerKey or record fewer concurrent/unknown-outcome ops per key.',
        opsChecked: 0,
      };
    }
  }
  if (gaveUp !== undefined) return { ...gaveUp, opsChecked };
  return { ok: true, opsChecked };
}

// ---------------------------------------------------------------------------
// Test support

/** Tiny seeded PRNG (mulberry32) for generating reproducible histories in tests. Not used by the checker itself. */
export const makePrng = mulberry32;
