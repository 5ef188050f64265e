/**
 * Typed reads from a parsed TOML document that collect problems instead of
 * throwing, each placed at its file, line and dotted key. Rules specific to
 * rustydb.conf live in `load.ts`; this module only knows types and tables.
 */
import { TomlDate } from 'smol-toml';
import { formatKey, type KeyLines, type KeyPath } from './lines.ts';
import { KNOWN_KEYS, type ConfigProblem } from './schema.ts';
import { closest } from './suggest.ts';

export type Table = Record<string, unknown>;

/** How a value reads in a message: `the string "5433"`, `the float 1.5`, `a table`. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return `the string ${JSON.stringify(v)}`;
  if (typeof v === 'bigint') return `the integer ${v}`;
  if (typeof v === 'number') return `the float ${Number.isInteger(v) ? v.toFixed(1) : v}`;
  if (typeof v === 'boolean') return `the boolean ${v}`;
  if (v instanceof TomlDate) return `the date-time ${v.toISOString()}`;
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object' && v !== null) return 'a table';
  return `a value of type ${typeof v}`;
}

export function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof TomlDate);
}

/** TOML integers arrive as bigint (we parse with integersAsBigInt); null for anything else or an unsafe size. */
export function asInteger(v: unknown): number | null {
  if (typeof v !== 'bigint') return null;
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : null;
}

/** `[cluster.raft]`-style label of a table path, for messages. */
export function tableLabel(path: KeyPath): string {
  return path.length === 0 ? 'the top level' : `[${formatKey(path)}]`;
}

/** Collects problems for one file. Every read reports at most one problem per key. */
export class Reader {
  readonly problems: ConfigProblem[] = [];
  private readonly bad = new Set<string>();

  constructor(
    readonly file: string,
    readonly lines: KeyLines,
  ) {}

  /** Record a problem with `path`, placed at the line where it (or its table) is written. */
  report(path: KeyPath, message: string): void {
    const key = formatKey(path);
    this.bad.add(key);
    this.problems.push({ file: this.file, line: this.lines.lineOf(path), key, message });
  }

  /** A problem with a command-line flag rather than a key of the file. */
  reportFlag(flag: string, message: string): void {
    this.problems.push({ file: this.file, line: null, key: flag, message });
  }

  /** Was a problem reported for this exact key? Cross-key rules skip keys that are already wrong. */
  isBad(path: KeyPath): boolean {
    return this.bad.has(formatKey(path));
  }

  /**
   * The table at `path` (undefined when absent), reporting a value that is not
   * a table and every key not in `known` (the KNOWN_KEYS entry `schema`).
   */
  table(value: unknown, path: KeyPath, schema: string): Table | undefined {
    if (value === undefined) return undefined;
    if (!isTable(value)) {
      this.report(path, `expected a table (a [${formatKey(path)}] section), got ${describe(value)}`);
      return undefined;
    }
    const known = KNOWN_KEYS[schema];
    for (const name of Object.keys(value)) {
      if (!known.includes(name)) this.report([...path, name], unknownKeyMessage(name, path, known));
    }
    return value;
  }

  /**
   * A table whose keys the operator names (node ids, release names): each
   * entry is returned for the caller to check; a non-table is reported.
   */
  namedEntries(value: unknown, path: KeyPath): [string, unknown][] {
    if (value === undefined) return [];
    if (!isTable(value)) {
      this.report(path, `expected a table (a [${formatKey(path)}] section), got ${describe(value)}`);
      return [];
    }
    return Object.entries(value);
  }

  private value(t: Table | undefined, at: KeyPath, name: string, required: string | undefined): unknown {
    if (t !== undefined && Object.hasOwn(t, name)) return t[name];
    if (required !== undefined) this.report([...at, name], `required key is missing; ${required}`);
    return undefined;
  }

  private wrongType(at: KeyPath, name: string, want: string, v: unknown): undefined {
    this.report([...at, name], `expected ${want}, got ${describe(v)}`);
    return undefined;
  }

  /** A non-empty string. `required` is the hint shown when it is missing (absent means optional). */
  string(t: Table | undefined, at: KeyPath, name: string, required?: string): string | undefined {
    const v = this.value(t, at, name, required);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return this.wrongType(at, name, 'a string', v);
    if (v.trim() === '') {
      this.report([...at, name], 'must not be empty; remove the key to use the default, or give a value');
      return undefined;
    }
    return v;
  }

  /** An integer in [min, max]. */
  integer(t: Table | undefined, at: KeyPath, name: string, min: number, max = Number.MAX_SAFE_INTEGER, unit = ''): number | undefined {
    const v = this.value(t, at, name, undefined);
    if (v === undefined) return undefined;
    const n = asInteger(v);
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `${min}..${max}`;
    const want = `an integer ${range}${unit ? ` (${unit})` : ''}`;
    if (n === null) return this.wrongType(at, name, want, v);
    if (n < min || n > max) {
      this.report([...at, name], `must be ${want}, got ${n}`);
      return undefined;
    }
    return n;
  }

  /** A number (integer or float) >= min. */
  number(t: Table | undefined, at: KeyPath, name: string, min: number): number | undefined {
    const v = this.value(t, at, name, undefined);
    return v === undefined ? undefined : this.numberValue([...at, name], v, min);
  }

  /** Check a value already in hand (an entry of a named table) as a number >= min. */
  numberValue(path: KeyPath, v: unknown, min: number): number | undefined {
    const n = typeof v === 'number' ? v : asInteger(v);
    if (n === null || typeof n !== 'number' || !Number.isFinite(n)) {
      this.report(path, `expected a number >= ${min}, got ${describe(v)}`);
      return undefined;
    }
    if (n < min) {
      this.report(path, `must be a number >= ${min}, got ${n}`);
      return undefined;
    }
    return n;
  }

  boolean(t: Table | undefined, at: KeyPath, name: string): boolean | undefined {
    const v = this.value(t, at, name, undefined);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') return this.wrongType(at, name, 'true or false', v);
    return v;
  }

  /** One of `choices`, suggesting the closest for a typo. */
  choice<T extends string>(t: Table | undefined, at: KeyPath, name: string, choices: readonly T[]): T | undefined {
    const v = this.value(t, at, name, undefined);
    if (v === undefined) return undefined;
    const list = choices.map((c) => JSON.stringify(c)).join(', ');
    if (typeof v !== 'string') return this.wrongType(at, name, `one of ${list}`, v);
    if ((choices as readonly string[]).includes(v)) return v as T;
    const near = closest(v, choices);
    this.report([...at, name], `must be one of ${list}, got ${JSON.stringify(v)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`);
    return undefined;
  }

  /** An array of strings. */
  strings(t: Table | undefined, at: KeyPath, name: string): string[] | undefined {
    const v = this.value(t, at, name, undefined);
    if (v === undefined) return undefined;
    if (!Array.isArray(v)) return this.wrongType(at, name, 'an array of strings', v);
    let ok = true;
    v.forEach((item, i) => {
      if (typeof item !== 'string') {
        this.report([...at, name, i], `expected a string, got ${describe(item)}`);
        ok = false;
      }
    });
    return ok ? (v as string[]) : undefined;
  }
}

/**
 * "unknown key; did you mean ...?": the closest key of the same table, else
 * the same name in another section (`node_id` written at the top level), else
 * the list of keys the table accepts.
 */
export function unknownKeyMessage(name: string, table: KeyPath, known: readonly string[]): string {
  const near = closest(name, known);
  if (near !== null) return `unknown key; did you mean ${JSON.stringify(near)}?`;
  const elsewhere = Object.entries(KNOWN_KEYS)
    .filter(([, keys]) => keys.includes(name))
    .map(([section]) => (section === '' ? name : `${section.replace('*', '<name>')}.${name}`));
  if (elsewhere.length > 0) {
    return `unknown key ${table.length === 0 ? 'at the top level' : `in ${tableLabel(table)}`}; did you mean ${elsewhere.map((k) => JSON.stringify(k)).join(' or ')}?`;
  }
  return `unknown key; ${tableLabel(table)} accepts ${known.join(', ')}`;
}
