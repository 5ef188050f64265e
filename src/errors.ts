/**
 * The CLI's error taxonomy: every failure a command reports is a `CliError`
 * of one kind, and each kind has one exit code. This file is the only place
 * that maps errors to exit codes (cli.ts calls `exitCodeFor`), so scripts can
 * rely on the table below (the one the operator's CLI issue specifies).
 *
 * | code | kind           | meaning                                                          |
 * |------|----------------|------------------------------------------------------------------|
 * | 0    | —              | success                                                          |
 * | 1    | `failed`       | the operation failed (or an unexpected error)                    |
 * | 2    | `usage`        | invalid command line or input: fix the arguments and retry       |
 * | 3    | `declined`     | declined at a prompt, or a required confirmation flag is missing |
 * | 4    | `auth`         | authentication or permission refused                             |
 * | 5    | `precondition` | unsafe or unmet precondition: unhealthy target, no quorum, the   |
 * |      |                | named node/sandbox/operation does not exist                      |
 * | 6    | `conflict`     | another procedure holds the cluster or the resource (named)      |
 * | 7    | `timeout`      | timed out waiting; the operation may still be running            |
 * | 8    | `unreachable`  | no agent of the cluster could be reached                         |
 * | 130  | `interrupted`  | interrupted (Ctrl-C)                                             |
 */

import { SandboxError, type SandboxErrorKind } from './sandbox/cluster.ts';

export type CliErrorKind = 'failed' | 'usage' | 'declined' | 'auth' | 'precondition' | 'conflict' | 'timeout' | 'unreachable' | 'interrupted';

/** Exit code of each kind (and of success). */
export const EXIT_CODES = {
  ok: 0,
  failed: 1,
  usage: 2,
  declined: 3,
  auth: 4,
  precondition: 5,
  conflict: 6,
  timeout: 7,
  unreachable: 8,
  interrupted: 130,
} as const satisfies Record<CliErrorKind | 'ok', number>;

/**
 * An error a command reports to the operator. `message` says what happened and
 * what to do next; `detail` (optional, may span lines, e.g. the tail of a log)
 * is printed after it.
 */
export class CliError extends Error {
  constructor(
    readonly kind: CliErrorKind,
    message: string,
    readonly detail: string | null = null,
  ) {
    super(message);
    this.name = 'CliError';
  }

  get exitCode(): number {
    return EXIT_CODES[this.kind];
  }
}

const SANDBOX_KINDS: Record<SandboxErrorKind, CliErrorKind> = {
  invalid: 'usage',
  'not-found': 'precondition',
  conflict: 'conflict',
  failed: 'failed',
  unavailable: 'unreachable',
};

/** Whatever a command threw, as a CliError: library errors by their kind, anything else as `failure`. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof SandboxError) return new CliError(SANDBOX_KINDS[err.kind], err.message, err.detail);
  const message = err instanceof Error ? err.message : String(err);
  return new CliError('failed', `unexpected error: ${message}; set RUSTYDB_DEBUG=1 for the stack trace, and report it if it persists`);
}

/** The exit code for anything a command threw. */
export function exitCodeFor(err: unknown): number {
  return toCliError(err).exitCode;
}

/** The exit-code table for the root command's help epilogue. */
export const EXIT_CODES_HELP = `Exit codes:
  0    success
  1    the operation failed (or an unexpected error)
  2    invalid command line or input
  3    declined, or a required confirmation (--yes, --confirm-data-loss) is missing
  4    authentication or permission refused
  5    precondition failed (unsafe or unhealthy target, no quorum, not found)
  6    conflict: another procedure is running (the message names it)
  7    timed out waiting; the operation may still be running
  8    cluster unreachable
  130  interrupted`;
