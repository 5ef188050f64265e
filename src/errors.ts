/**
 * The CLI's error taxonomy: every failure a command reports is a `CliError`
 * of one kind, and each kind has one exit code. This file is the only place
 * that maps errors to exit codes (cli.ts calls `exitCodeFor`), so scripts can
 * rely on the table below.
 *
 * | code | kind          | meaning                                                        |
 * |------|---------------|----------------------------------------------------------------|
 * | 0    | —             | success                                                        |
 * | 1    | `failure`     | unexpected failure (a bug, or an error nobody classified)      |
 * | 2    | `usage`       | invalid command line or input: fix the arguments and retry     |
 * | 3    | `not-found`   | the named node, sandbox, operation, … does not exist           |
 * | 4    | `conflict`    | a conflict or unmet precondition: another operation holds the  |
 * |      |               | cluster, a directory is in use, a port is taken                |
 * | 5    | `failed`      | the operation ran and failed (e.g. an agent did not come up)   |
 * | 6    | `unavailable` | the cluster cannot answer: no quorum, no agent reachable       |
 */

import { SandboxError, type SandboxErrorKind } from './sandbox/cluster.ts';

export type CliErrorKind = 'failure' | 'usage' | 'not-found' | 'conflict' | 'failed' | 'unavailable';

/** Exit code of each kind (and of success). */
export const EXIT_CODES = {
  ok: 0,
  failure: 1,
  usage: 2,
  'not-found': 3,
  conflict: 4,
  failed: 5,
  unavailable: 6,
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
  'not-found': 'not-found',
  conflict: 'conflict',
  failed: 'failed',
  unavailable: 'unavailable',
};

/** Whatever a command threw, as a CliError: library errors by their kind, anything else as `failure`. */
export function toCliError(err: unknown): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof SandboxError) return new CliError(SANDBOX_KINDS[err.kind], err.message, err.detail);
  const message = err instanceof Error ? err.message : String(err);
  return new CliError('failure', `unexpected error: ${message}; set RUSTYDB_DEBUG=1 for the stack trace, and report it if it persists`);
}

/** The exit code for anything a command threw. */
export function exitCodeFor(err: unknown): number {
  return toCliError(err).exitCode;
}

/** The exit-code table for the root command's help epilogue. */
export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  unexpected failure
  2  invalid command line or input
  3  not found (node, sandbox, operation)
  4  conflict or unmet precondition (another operation in progress, directory or port in use)
  5  the operation failed (e.g. an agent did not come up; its log is shown)
  6  unavailable (no quorum, no agent reachable)`;
