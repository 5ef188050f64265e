/**
 * Progress of long operations, and waiting for a server-side operation.
 *
 * - {@link startProgress}: on a terminal (stderr), a spinner with the current
 *   step redrawn in place; otherwise plain timestamped lines
 *   (`2026-11-26T12:00:01Z switchover op-1: running: demoting n1`), one per
 *   distinct step (identical consecutive steps, and a final line equal to the
 *   last step, are printed once). Always on
 *   stderr: stdout carries only the result.
 * - {@link interruptSignal}: Ctrl-C as an AbortSignal (`f.interrupt` in tests,
 *   a SIGINT listener installed only while the caller waits).
 * - {@link waitForOperation}: polls `GET /v1/operations/:id` until the
 *   operation succeeds (returns it), fails (OperationFailedError, exit 1),
 *   the deadline passes ('timeout', exit 7) or Ctrl-C ('interrupted', exit
 *   130); the last two name the operation and how to follow it, since it goes
 *   on in the cluster without us.
 *
 * Exports: Progress, startProgress, stopProgress, Interrupt, interruptSignal,
 * OperationFailedError, followHint, WaitOptions, waitForOperation.
 */

import { operationPath, type OperationView } from '../agent/api/wire.ts';
import type { ApiClient } from './api/client.ts';
import type { Factory } from './cli.ts';
import { CliError } from './errors.ts';
import { timestamp, type IOStreams } from './output.ts';

/** A running progress display; after done() or fail() every call is ignored. */
export interface Progress {
  /** The current step (a short sentence). */
  update(step: string): void;
  /** Finished well: the final line (default: the last step). */
  done(message?: string): void;
  /** Finished badly: the final line (default: the last step). */
  fail(message?: string): void;
}

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

/**
 * Progress of `label` (e.g. "switchover op-1") on `f.io.err`: a spinner when
 * stderr is a terminal, plain timestamped lines otherwise. `now` and
 * `intervalMs` are for tests.
 */
export function startProgress(f: { io: IOStreams }, label: string, opts: { now?: () => Date; intervalMs?: number } = {}): Progress {
  const err = f.io.err;
  const now = opts.now ?? (() => new Date());
  let step = '';
  let finished = false;
  if (!f.io.errIsTTY) {
    let printed: string | null = null;
    const line = (text: string) => err.write(`${timestamp(now())} ${label}: ${text}\n`);
    return {
      update(s) {
        if (finished || s === printed) return;
        step = printed = s;
        line(s);
      },
      // The final line, unless it would repeat the step just printed.
      done(message) {
        if (finished) return;
        finished = true;
        const last = message ?? (step || 'done');
        if (last !== printed) line(last);
      },
      fail(message) {
        if (finished) return;
        finished = true;
        const last = message ?? (step || 'failed');
        if (last !== printed) line(last);
      },
    };
  }
  let frame = 0;
  const self: Progress = {
    update(s) {
      if (finished || s === step) return;
      step = s;
      draw();
    },
    done: (message) => finish('✓', message),
    fail: (message) => finish('✗', message),
  };
  // \r + erase line: redraw in place; the cursor stays on the spinner line until the end.
  const draw = () => err.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${label}${step ? `: ${step}` : ''}`);
  const timer = setInterval(draw, opts.intervalMs ?? 100);
  timer.unref(); // never keeps the process alive
  draw();
  const finish = (mark: string, message: string | undefined) => {
    if (finished) return;
    finished = true;
    clearInterval(timer);
    spinning.delete(self);
    err.write(`\r\x1b[2K${mark} ${label}: ${message ?? (step || 'done')}\n`);
  };
  spinning.add(self);
  return self;
}

/** Spinners drawn and not finished yet. */
const spinning = new Set<Progress>();

/**
 * End every spinner still drawn (as failed, on its own line), so an error
 * message that follows starts on a clean line. cli.ts calls it before
 * printing any error; commands need not.
 */
export function stopProgress(): void {
  for (const p of [...spinning]) p.fail();
}

/** Ctrl-C as a signal; call dispose() when done waiting (removes the SIGINT listener). */
export interface Interrupt {
  signal: AbortSignal;
  dispose(): void;
}

/**
 * `f.interrupt` when set (tests); otherwise a SIGINT listener that lives only
 * until dispose(): outside of waits, Ctrl-C keeps its default (exit 130).
 */
export function interruptSignal(f: Pick<Factory, 'interrupt'>): Interrupt {
  if (f.interrupt) return { signal: f.interrupt, dispose: () => {} };
  const ac = new AbortController();
  const onSigint = () => ac.abort(new CliError('interrupted', 'interrupted (Ctrl-C)'));
  process.once('SIGINT', onSigint);
  return { signal: ac.signal, dispose: () => process.removeListener('SIGINT', onSigint) };
}

/** An operation that ended in state `failed` (exit 1); `operation` is its final view, for printing. */
export class OperationFailedError extends CliError {
  constructor(readonly operation: OperationView) {
    super('failed', `${operation.kind} ${operation.id} failed: ${operation.message}; see \`rustydb-admin cluster status\` and \`cluster history\``);
    this.name = 'OperationFailedError';
  }
}

/** How to follow an operation that goes on without us. */
export function followHint(op: Pick<OperationView, 'id'>, endpoint: string | null): string {
  return `follow it with \`rustydb-admin cluster operation ${op.id} --wait\` (or GET ${operationPath(op.id)} on any agent${endpoint ? `, e.g. ${endpoint}${operationPath(op.id)}` : ''})`;
}

export interface WaitOptions {
  /** For the whole wait; then 'timeout' (exit 7). */
  timeoutMs: number;
  /** Between polls (default 500 ms). */
  pollMs?: number;
  /** Shows each new state; default: one started with the operation's kind and id. done/fail are called at the end. */
  progress?: Progress;
}

/**
 * Follow `first` (the 202 answer of a request, or an operation id) until it
 * ends. Transient request errors (a restarting agent) are retried until the
 * deadline. Returns the succeeded operation; throws OperationFailedError
 * (exit 1), CliError 'timeout' (7) or 'interrupted' (130), the last two
 * naming the operation and how to follow it.
 */
export async function waitForOperation(f: Pick<Factory, 'io' | 'interrupt'>, client: ApiClient, first: OperationView | string, o: WaitOptions): Promise<OperationView> {
  const deadline = Date.now() + o.timeoutMs;
  const interrupt = interruptSignal(f);
  let op: OperationView | null = typeof first === 'string' ? null : first;
  const id = typeof first === 'string' ? first : first.id;
  let endpoint: string | null = null;
  let progress = o.progress ?? (op ? startProgress(f, `${op.kind} ${op.id}`) : startProgress(f, `operation ${id}`));
  let lastError: string | null = null;
  const show = (v: OperationView) => progress.update(`${v.state}: ${v.message}`);
  try {
    for (;;) {
      if (op) {
        show(op);
        if (op.state === 'succeeded') return (progress.done(), op);
        if (op.state === 'failed') {
          progress.fail();
          throw new OperationFailedError(op);
        }
      }
      const what = op ? `${op.kind} ${op.id} is still ${op.state}` : `operation ${id} has not answered yet`;
      const left = deadline - Date.now();
      if (left <= 0) {
        progress.fail(`gave up waiting after ${o.timeoutMs} ms`);
        throw new CliError('timeout', `gave up waiting after ${o.timeoutMs} ms: ${what} (${lastError ?? op?.message ?? 'no answer'}); ${followHint({ id }, endpoint)}`);
      }
      if (!(await sleep(Math.min(o.pollMs ?? 500, left), interrupt.signal))) throw interrupted(progress, what, id, endpoint);
      try {
        const res = await client.send<OperationView>('GET', operationPath(id), undefined, { signal: interrupt.signal });
        endpoint = res.endpoint;
        if (!op) progress = o.progress ?? startProgress(f, `${res.body.kind} ${res.body.id}`);
        op = res.body;
        lastError = null;
      } catch (err) {
        if (interrupt.signal.aborted) throw interrupted(progress, what, id, endpoint);
        // An operation id the cluster does not know will not appear by waiting.
        if (err instanceof CliError && (err.kind === 'precondition' || err.kind === 'auth' || err.kind === 'usage')) throw err;
        lastError = err instanceof Error ? err.message : String(err);
      }
    }
  } finally {
    interrupt.dispose();
  }
}

function interrupted(progress: Progress, what: string, id: string, endpoint: string | null): CliError {
  progress.fail('interrupted (Ctrl-C)');
  return new CliError('interrupted', `interrupted (Ctrl-C) while waiting: ${what} in the cluster, which goes on without us; ${followHint({ id }, endpoint)}`);
}

/** Resolves true after `ms`, false as soon as `signal` aborts. */
export function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return Promise.resolve(false);
  return new Promise((resolve) => {
    const onAbort = () => (clearTimeout(t), resolve(false));
    const t = setTimeout(() => (signal.removeEventListener('abort', onAbort), resolve(true)), ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
