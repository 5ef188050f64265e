/**
 * How commands write: the IO streams they are given, tables, JSON and
 * progress lines. Presentation follows the stream: on a terminal, aligned
 * columns with a header (colour unless NO_COLOR is set or TERM=dumb); when
 * piped, tab-separated rows without header or colour, for cut/awk. Results go
 * to `out`; progress and errors go to `err`, so `-o json | jq` sees only JSON.
 */

/** Something text can be written to (a process stream, or a buffer in tests). */
export interface TextSink {
  write(chunk: string): unknown;
}

/** The streams a command writes to, and how to present output on them. */
export interface IOStreams {
  /** Results only. */
  out: TextSink;
  /** Progress lines and error messages. */
  err: TextSink;
  /** `out` is a terminal: aligned tables with a header. */
  outIsTTY: boolean;
  /** Colour (ANSI) on `out`; never when NO_COLOR is set, TERM is dumb or `out` is not a terminal. */
  color: boolean;
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
  return { out: process.stdout, err: process.stderr, outIsTTY, color: colorAllowed(outIsTTY, env) };
}

const ANSI = { bold: '1', dim: '2', green: '32', yellow: '33', red: '31', cyan: '36' } as const;
export type Style = keyof typeof ANSI;

/** `text` in `style` when colour is on, unchanged otherwise. */
export function paint(io: IOStreams, style: Style, text: string): string {
  return io.color ? `\x1b[${ANSI[style]}m${text}\x1b[0m` : text;
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

/**
 * A table of `rows` (one string per column). Terminal: header plus columns
 * padded to their widest cell. Otherwise: tab-separated rows, no header.
 */
export function printTable(io: IOStreams, columns: Column[], rows: string[][]): void {
  if (!io.outIsTTY) {
    for (const row of rows) io.out.write(row.join('\t') + '\n');
    return;
  }
  const widths = columns.map((c, i) => Math.max(c.header.length, ...rows.map((r) => (r[i] ?? '').length)));
  // Pad before painting: escape codes have no width.
  const line = (cells: string[], styleOf: (i: number, cell: string) => Style | null): string =>
    cells
      .map((cell, i) => {
        const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i]);
        const style = styleOf(i, cell);
        return style ? paint(io, style, padded) : padded;
      })
      .join('  ')
      .trimEnd();
  io.out.write(line(columns.map((c) => c.header.toUpperCase()), () => 'bold') + '\n');
  for (const row of rows) io.out.write(line(row, (i, cell) => columns[i]?.style?.(cell) ?? null) + '\n');
}

/** A progress line on `err` (never on `out`, which carries only the result). */
export function progress(io: IOStreams, line: string): void {
  io.err.write(line + '\n');
}
