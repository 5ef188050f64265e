/**
 * How commands write: the IO streams they are given, tables, JSON and
 * progress lines. Results go to `out`; progress, prompts and errors go to
 * `err`, so `-o json | jq` sees only JSON.
 *
 * Presentation follows the streams, decided once per run:
 * - format: `-o table` is the default when `out` is a terminal, `-o json`
 *   otherwise (cli.ts gives the option that default);
 * - colour: {@link colorAllowed} (terminal, NO_COLOR unset or empty, TERM not
 *   dumb) sets `io.color` in systemIO, and `--no-color` clears it before any
 *   command runs (cli.ts). Everything that paints reads `io.color` and
 *   nothing else: {@link paint}, {@link colors} (a chalk 5 instance created
 *   with that level; chalk ignores NO_COLOR by itself) and {@link printTable}
 *   (cli-table3 with its own styling switched off).
 * - tables: on a terminal, cli-table3 in a borderless kubectl-like layout
 *   with a bold header; when piped, tab-separated rows without a header.
 *
 * Startup cost: chalk is imported by {@link loadColors} only when colour is on
 * (cli.ts calls it before a command's action, never for --version/--help),
 * and cli-table3 is required on the first table drawn on a terminal.
 *
 * Exports: TextSink, IOStreams, OUTPUT_FORMATS, OutputFormat,
 * colorAllowed, systemIO, loadColors, colors, Style, paint, printJson, Column,
 * printTable, progress, timestamp.
 */

import { createRequire } from 'node:module';
import type { ChalkInstance } from 'chalk';

/** Something text can be written to (a process stream, or a buffer in tests). */
export interface TextSink {
  write(chunk: string): unknown;
}

/**
 * The streams a command writes to and reads from, and how to present output
 * on them. The optional fields default to "not a terminal": a fake IO with
 * only `out`, `err`, `outIsTTY` and `color` can neither prompt nor spin.
 */
export interface IOStreams {
  /** Results only. */
  out: TextSink;
  /** Progress lines, prompts and error messages. */
  err: TextSink;
  /** `out` is a terminal: tables by default, aligned with a header. */
  outIsTTY: boolean;
  /** Colour (ANSI) on `out`; never when NO_COLOR is set, TERM is dumb, --no-color is given or `out` is not a terminal. */
  color: boolean;
  /** Where prompts read answers (process.stdin); absent in most fakes. */
  in?: NodeJS.ReadableStream;
  /** `in` is a terminal (a person can answer a prompt). */
  inIsTTY?: boolean;
  /** `err` is a terminal: prompts and spinners may be drawn there. */
  errIsTTY?: boolean;
}

export const OUTPUT_FORMATS = ['table', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Whether colour is allowed on a stream: a terminal, NO_COLOR unset or empty (no-color.org), TERM not dumb. */
export function colorAllowed(isTTY: boolean, env: NodeJS.ProcessEnv): boolean {
  return isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}

/** The process's own streams. */
export function systemIO(env: NodeJS.ProcessEnv = process.env): IOStreams {
  const outIsTTY = process.stdout.isTTY === true;
  return {
    out: process.stdout,
    err: process.stderr,
    outIsTTY,
    color: colorAllowed(outIsTTY, env),
    in: process.stdin,
    inIsTTY: process.stdin.isTTY === true,
    errIsTTY: process.stderr.isTTY === true,
  };
}

let chalkModule: typeof import('chalk') | null = null;

/** Import chalk when colour is on (cheap no-op otherwise); {@link paint} and {@link colors} use it once loaded. */
export async function loadColors(io: IOStreams): Promise<void> {
  if (io.color && chalkModule === null) chalkModule = await import('chalk');
}

const PLAIN = new Proxy(((s: unknown) => String(s)) as unknown as ChalkInstance, {
  // Any style chain (`c.bold.red`) is the identity when there is no colour.
  get: (target, prop) => (prop === 'level' ? 0 : PLAIN),
  apply: (_t, _this, args: unknown[]) => args.map(String).join(' '),
});

/**
 * A chalk instance whose level follows `io.color` (level 0: no escape codes).
 * Colour needs {@link loadColors} first (cli.ts does it before every action);
 * without it the instance is plain, never wrong.
 */
export function colors(io: IOStreams): ChalkInstance {
  if (!io.color || chalkModule === null) return PLAIN;
  return new chalkModule.Chalk({ level: 1 });
}

const ANSI = { bold: '1', dim: '2', green: '32', yellow: '33', red: '31', cyan: '36' } as const;
export type Style = keyof typeof ANSI;

/** `text` in `style` when colour is on, unchanged otherwise. */
export function paint(io: IOStreams, style: Style, text: string): string {
  if (!io.color) return text;
  // chalk when loaded; the same SGR codes otherwise (a command run without cli.ts, e.g. a test).
  return chalkModule ? new chalkModule.Chalk({ level: 1 })[style](text) : `\x1b[${ANSI[style]}m${text}\x1b[0m`;
}

/** Exactly one JSON document, pretty-printed on a terminal, compact otherwise, newline-terminated. */
export function printJson(io: IOStreams, value: unknown): void {
  io.out.write(JSON.stringify(value, null, io.outIsTTY ? 2 : undefined) + '\n');
}

/** One column of a table: its header and how to style a cell (colour only). */
export interface Column {
  header: string;
  style?: (cell: string) => Style | null;
}

type TableCtor = new (opts: object) => { push(row: string[]): void; toString(): string };
let TableClass: TableCtor | null = null;

/** cli-table3 (CommonJS), required on first use so that commands which never draw a table never load it. */
function tableClass(): TableCtor {
  TableClass ??= createRequire(import.meta.url)('cli-table3') as TableCtor;
  return TableClass;
}

/** kubectl-like: no borders, two spaces between columns. */
const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

/**
 * A table of `rows` (one string per column). Terminal: cli-table3, header in
 * upper case (bold with colour), cells coloured by their column's `style`.
 * Otherwise: tab-separated rows, no header, no colour (for cut/awk).
 */
export function printTable(io: IOStreams, columns: Column[], rows: string[][]): void {
  if (!io.outIsTTY) {
    for (const row of rows) io.out.write(row.join('\t') + '\n');
    return;
  }
  const Table = tableClass();
  // Our own styling only: cli-table3's default red header and grey borders go through @colors/colors, which knows nothing of NO_COLOR.
  const table = new Table({ chars: BORDERLESS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0, compact: true } });
  table.push(columns.map((c) => paint(io, 'bold', c.header.toUpperCase())));
  for (const row of rows) {
    table.push(
      columns.map((c, i) => {
        const cell = row[i] ?? '';
        const style = c.style?.(cell) ?? null;
        return style ? paint(io, style, cell) : cell;
      }),
    );
  }
  const text = table
    .toString()
    .split('\n')
    .map((l) => l.trimEnd())
    .join('\n');
  io.out.write(text + '\n');
}

/** A progress line on `err` (never on `out`, which carries only the result). */
export function progress(io: IOStreams, line: string): void {
  io.err.write(line + '\n');
}

/** `2026-11-26T12:00:01Z`: the timestamp of plain progress lines (UTC, whole seconds). */
export function timestamp(at: Date = new Date()): string {
  return at.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
