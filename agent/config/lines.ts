/**
 * Where each key of a TOML document is written. smol-toml returns values
 * without positions, so this scanner walks the (already parsed, hence valid)
 * text once, tracks the current `[table]` / `[[array]]` header, inline tables
 * and arrays, and records the line of every key it meets. Config errors use it
 * to say `rustydb.conf:12: cluster.raft.heartbeat_interval_ms: ...`.
 *
 * Strings (including multi-line ones) are skipped as units, so text inside them
 * that looks like `key = value` is never mistaken for a key.
 */

/** One step of a key path: a table key, or an index into an array. */
export type KeyPart = string | number;
export type KeyPath = readonly KeyPart[];

const BARE_KEY = /^[A-Za-z0-9_-]+$/;

/**
 * The dotted form people write: `cluster.raft.heartbeat_interval_ms`, with
 * quotes around parts that are not bare keys (`cluster.nodes."db 1"`) and
 * `[n]` for array indexes (`cluster.nodes.n1.tags[0]`).
 */
export function formatKey(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out === '' ? '' : '.') + (BARE_KEY.test(part) ? part : JSON.stringify(part));
  }
  return out;
}

/** Lines (1-based) of the keys in one document. */
export interface KeyLines {
  /** The line where exactly this key (or table header) is written, or null. */
  exact(path: KeyPath): number | null;
  /**
   * The line of the key or, when it is not written (a missing key, a key inside
   * a multi-line value), of its nearest enclosing key or table header; null
   * when no ancestor is written either.
   */
  lineOf(path: KeyPath): number | null;
}

interface Frame {
  kind: 'table' | 'array';
  path: KeyPart[];
  /** Arrays: index of the element being read. */
  index: number;
}

/** Scan `text` (valid TOML) and index the line of every key. */
export function indexKeyLines(text: string): KeyLines {
  const lines = new Map<string, number>();
  const arrayCounts = new Map<string, number>();
  const n = text.length;
  let pos = 0;
  let line = 1;
  let table: KeyPart[] = [];
  let atLineStart = true;
  const stack: Frame[] = [];

  const record = (path: KeyPath): void => {
    const k = formatKey(path);
    if (!lines.has(k)) lines.set(k, line);
  };
  // A dotted key `a.b.c = 1` also defines the tables a and a.b on this line.
  const recordWithPrefixes = (base: KeyPath, parts: KeyPath): KeyPart[] => {
    const full = [...base, ...parts];
    for (let i = base.length + 1; i <= full.length; i++) record(full.slice(0, i));
    return full;
  };
  const skipSpaces = (): void => {
    while (pos < n && (text[pos] === ' ' || text[pos] === '\t')) pos++;
  };

  function readQuoted(quote: string): string {
    pos++; // opening quote
    let out = '';
    while (pos < n && text[pos] !== quote && text[pos] !== '\n') {
      if (quote === '"' && text[pos] === '\\') {
        const [s, len] = unescape(text, pos);
        out += s;
        pos += len;
      } else {
        out += text[pos++];
      }
    }
    pos++; // closing quote
    return out;
  }

  /** A dotted key; empty when no key starts here (defensive: the text parsed). */
  function readKey(): string[] {
    const parts: string[] = [];
    for (;;) {
      skipSpaces();
      const c = text[pos];
      if (c === '"' || c === "'") {
        parts.push(readQuoted(c));
      } else {
        const start = pos;
        while (pos < n && /[A-Za-z0-9_-]/.test(text[pos])) pos++;
        if (pos === start) return parts;
        parts.push(text.slice(start, pos));
      }
      skipSpaces();
      if (text[pos] !== '.') return parts;
      pos++;
    }
  }

  function skipMultiline(quote: string): void {
    pos += 3;
    while (pos < n) {
      if (text.startsWith(quote.repeat(3), pos)) {
        // Up to two quotes may sit right before the closing three.
        while (text[pos] === quote) pos++;
        return;
      }
      if (quote === '"' && text[pos] === '\\') pos++;
      if (text[pos] === '\n') line++;
      pos++;
    }
  }

  /** Consume one value, or open the frame of an array / inline table. */
  function readValue(path: KeyPart[]): void {
    record(path);
    const c = text[pos];
    if (c === '"' || c === "'") {
      if (text.startsWith(c.repeat(3), pos)) skipMultiline(c);
      else readQuoted(c);
    } else if (c === '[') {
      stack.push({ kind: 'array', path, index: 0 });
      pos++;
    } else if (c === '{') {
      stack.push({ kind: 'table', path, index: 0 });
      pos++;
    } else {
      const start = pos;
      while (pos < n && !/[\s,\]}#]/.test(text[pos])) pos++;
      // `1979-05-27 07:32:00`: a date-time may use a space between date and time.
      if (/^\d{4}-\d{2}-\d{2}$/.test(text.slice(start, pos)) && text[pos] === ' ' && /\d/.test(text[pos + 1] ?? '')) {
        pos++;
        while (pos < n && !/[\s,\]}#]/.test(text[pos])) pos++;
      }
      if (pos === start) pos++; // always make progress
    }
  }

  function readKeyValue(base: KeyPart[]): void {
    const parts = readKey();
    if (parts.length === 0) {
      pos++;
      return;
    }
    const full = recordWithPrefixes(base, parts);
    skipSpaces();
    if (text[pos] !== '=') return;
    pos++;
    skipSpaces();
    readValue(full);
  }

  function readHeader(): void {
    const isArray = text[pos + 1] === '[';
    pos += isArray ? 2 : 1;
    const parts = readKey();
    skipSpaces();
    pos += isArray ? 2 : 1; // ']]' or ']'
    if (isArray) {
      const k = formatKey(parts);
      const index = arrayCounts.get(k) ?? 0;
      arrayCounts.set(k, index + 1);
      record(parts);
      table = [...parts, index];
    } else {
      table = parts;
    }
    // `[a.b]` also defines a, if nothing did before.
    for (let i = 1; i <= table.length; i++) record(table.slice(0, i));
  }

  while (pos < n) {
    const c = text[pos];
    if (c === ' ' || c === '\t' || c === '\r') {
      pos++;
      continue;
    }
    if (c === '\n') {
      line++;
      pos++;
      if (stack.length === 0) atLineStart = true;
      continue;
    }
    if (c === '#') {
      while (pos < n && text[pos] !== '\n') pos++;
      continue;
    }
    const top = stack[stack.length - 1];
    if (!top) {
      if (!atLineStart) {
        pos++;
        continue;
      }
      atLineStart = false;
      if (c === '[') readHeader();
      else readKeyValue(table);
    } else if (top.kind === 'table') {
      if (c === '}') {
        stack.pop();
        pos++;
      } else if (c === ',') {
        pos++;
      } else {
        readKeyValue(top.path);
      }
    } else if (c === ']') {
      stack.pop();
      pos++;
    } else if (c === ',') {
      top.index++;
      pos++;
    } else {
      readValue([...top.path, top.index]);
    }
  }

  const exact = (path: KeyPath): number | null => lines.get(formatKey(path)) ?? null;
  return {
    exact,
    lineOf(path: KeyPath): number | null {
      for (let i = path.length; i > 0; i--) {
        const found = exact(path.slice(0, i));
        if (found !== null) return found;
      }
      return null;
    },
  };
}

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', e: '\x1b', '"': '"', '\\': '\\' };

/** Decode the escape at `text[at]` (a backslash): the character and the length consumed. */
function unescape(text: string, at: number): [string, number] {
  const c = text[at + 1] ?? '';
  if (Object.hasOwn(SIMPLE_ESCAPES, c)) return [SIMPLE_ESCAPES[c], 2];
  const hexLen = c === 'x' ? 2 : c === 'u' ? 4 : c === 'U' ? 8 : 0;
  if (hexLen > 0) {
    const code = Number.parseInt(text.slice(at + 2, at + 2 + hexLen), 16);
    if (Number.isInteger(code) && code <= 0x10ffff) return [String.fromCodePoint(code), 2 + hexLen];
  }
  return [c, 2];
}
