/**
 * rustydb.conf(5) from docs/rustydb.conf.example (the comment above each key
 * documents it) and KNOWN_KEYS (which keys exist, in which order). A known
 * key without a comment in the example is an error, so the two cannot drift.
 */

import { KNOWN_KEYS } from '../../agent/config/schema.ts';
import { bold, esc, tp } from './roff.ts';
import { th } from './man-admin.ts';

interface KeyDoc {
  text: string[];
  value: string | null;
}

/** Section (as in KNOWN_KEYS, e.g. `cluster.nodes.*`) → key → its comment and example value. */
function parseExample(src: string): { intro: string[]; keys: Map<string, Map<string, KeyDoc>> } {
  const keys = new Map<string, Map<string, KeyDoc>>();
  const put = (section: string, key: string, doc: KeyDoc) => {
    if (!keys.has(section)) keys.set(section, new Map());
    const m = keys.get(section)!;
    if (!m.has(key) || (m.get(key)!.text.length === 0 && doc.text.length)) m.set(key, doc);
  };
  const intro: string[] = [];
  let comment: string[] = [];
  let section: string | null = null;
  let prevKeyText: string[] = [];
  for (const raw of src.split('\n')) {
    const line = raw.trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    const keyLine = /^(#\s*)?"?([A-Za-z0-9_-]+)"?\s*=\s*(.*?)\s*(#.*)?$/.exec(line);
    if (!keyLine) prevKeyText = [];
    if (line === '') {
      if (section === null && comment.length) intro.push(...comment, '');
      comment = [];
    } else if (header) {
      const parts = header[1].split('.');
      const parent = parts.slice(0, -1).join('.');
      section = KNOWN_KEYS[`${parent}.*`] ? `${parent}.*` : header[1];
      // A table documents the key that names it in its parent ([cluster.raft] → cluster.raft).
      const [p, k] = KNOWN_KEYS[`${parent}.*`] ? [parts.slice(0, -2).join('.'), parts[parts.length - 2]] : [parent, parts[parts.length - 1]];
      put(p, k, { text: comment, value: null });
      comment = [];
    } else if (keyLine && section !== null) {
      // Consecutive keys under one comment share it (cert_file, key_file).
      const text = comment.length ? comment : prevKeyText;
      put(section, keyLine[2], { text, value: keyLine[1] ? null : keyLine[3] });
      prevKeyText = text;
      comment = [];
      continue;
    } else if (line.startsWith('#')) {
      comment.push(line.replace(/^#\s?/, ''));
    }
  }
  return { intro, keys };
}

export function manConf(exampleSrc: string, version: string): string {
  const { intro, keys } = parseExample(exampleSrc);
  const body: string[] = [];
  for (const [section, names] of Object.entries(KNOWN_KEYS)) {
    if (section === '') continue;
    body.push(`.SS [${esc(section.replace('*', '<name>'))}]`);
    for (const name of names) {
      const full = section.replace('*', '<name>') + '.' + name;
      const table = KNOWN_KEYS[`${section}.${name}`] ? full : KNOWN_KEYS[`${section}.${name}.*`] ? `${full}.<name>` : null;
      // A key with no comment of its own may be described by its table's comment ([cluster.regions.*] priority).
      const tableDoc = keys.get(section.replace(/\.[^.]+(\.\*)?$/, ''))?.get(section.replace(/(\.\*)?$/, '').split('.').pop()!);
      const own = keys.get(section)?.get(name);
      const found = own?.text.length ? own : own && tableDoc?.text.length ? { text: tableDoc.text, value: own.value } : own;
      // Tables with their own section may be documented there instead.
      const doc = found?.text.length || !table ? found : { text: [`A table: see [${table}] below.`], value: null };
      if (!doc || doc.text.length === 0) throw new Error(`docs/rustydb.conf.example documents no key ${section}.${name}: add a comment above it, then run npm run gen-docs`);
      body.push(tp(bold(name) + (doc.value ? ` = ${esc(doc.value)}` : ''), esc(doc.text.join(' '))));
    }
  }
  return [
    th('rustydb.conf', 5, version, 'RustyDB Manual'),
    '.SH NAME',
    'rustydb.conf \\- configuration of a RustyDB node agent',
    '.SH SYNOPSIS',
    bold('rustydb-agent -c rustydb.conf'),
    '.SH DESCRIPTION',
    intro.filter((l, i, a) => l !== '' || a[i - 1] !== '').map((l) => (l === '' ? '.PP' : esc(l))).join('\n').replace(/\n\.PP$/, ''),
    '.SH OPTIONS',
    esc('Each section and key. The value shown is the default, or an example where the text says so.'),
    ...body,
    '.SH FILES',
    tp(bold('docs/rustydb.conf.example'), esc('every key with its default, in the source tree')),
    '.SH EXAMPLES',
    esc('The smallest configuration of a node that joins an existing cluster:'),
    '.PP\n.RS 4\n.nf',
    ...['[cluster]', 'node_id = "n4"', 'cluster_name = "prod"', 'node_address = "10.0.0.4"', '', '[engine]', 'data_dir = "/var/lib/rustydb/pgdata"'].map((l) => (l ? esc(l) : '')),
    '.fi\n.RE',
    '.SH "SEE ALSO"',
    `${bold('rustydb-agent')}(8), ${bold('rustydb-admin')}(1)`,
    '',
  ].join('\n');
}
