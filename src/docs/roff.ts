/** Escaping text for roff (man(7)) source, so groff renders it literally and without warnings. */

/** Escape one line of running text: backslashes, hyphens (`\-`), non-ASCII (`\[uXXXX]`), and a leading `.`/`'` (would be a request). */
export function esc(text: string): string {
  const s = [...text.replace(/\\/g, '\\e').replace(/-/g, '\\-')]
    .map((c) => (c.charCodeAt(0) > 126 ? `\\[u${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}]` : c))
    .join('');
  return /^[.']/.test(s) ? `\\&${s}` : s;
}

export const bold = (text: string): string => `\\fB${esc(text)}\\fR`;
export const italic = (text: string): string => `\\fI${esc(text)}\\fR`;

/** `--to <id>` as bold flags and italic placeholders. */
export function flags(f: string): string {
  return f
    .split(/(<[^>]+>|\[[^\]]+\])/)
    .map((part) => (/^[<[]/.test(part) ? italic(part) : part ? bold(part) : ''))
    .join('');
}

/** A tagged paragraph: `.TP`, the tag line, then the body. */
export const tp = (tag: string, body: string): string => `.TP\n${tag}\n${body}`;

/** Example command lines, literal, unfilled and indented. */
export function examples(lines: string[]): string {
  return lines.length ? `.PP\n.RS 4\n.nf\n${lines.map(esc).join('\n')}\n.fi\n.RE` : '';
}
