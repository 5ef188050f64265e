/** rustydb-admin(1), generated from the command tree; the prose that is not in the tree is here. */

import { HELP_TOPICS } from './help-command.ts';
import { bold, esc, examples, flags, italic, tp } from './roff.ts';
import { allCommands, type DocCommand } from './tree.ts';

/** `.TH` line shared by the pages: no date, so the output only changes with the tree or the version. */
export const th = (name: string, section: number, version: string, manual: string): string =>
  `.TH ${name.toUpperCase().replace(/-/g, '\\-')} ${section} "" "RustyDB ${esc(version)}" "${manual}"`;

/** "  N    text" lines of a help block as tagged paragraphs. */
function twoColumns(lines: string[]): string {
  return lines
    .map((l) => /^(\S+)\s+(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => tp(bold(m[1]), esc(m[2])))
    .join('\n');
}

function commandSection(c: DocCommand): string {
  const out = [`.SS ${c.path.join(' ')}`, `${bold(`rustydb-admin ${c.path.join(' ')}`)} ${esc(c.usage)}`, '.PP', esc(c.description)];
  for (const a of c.arguments) out.push(tp(flags(a.required ? `<${a.name}>` : `[${a.name}]`), esc(a.description || a.name)));
  for (const o of c.options) out.push(tp(flags(o.flags), esc(o.description + (o.choices ? ` (one of: ${o.choices.join(', ')})` : ''))));
  if (c.examples.length) out.push('.PP', 'Example:', examples(c.examples));
  return out.join('\n');
}

export function manAdmin(root: DocCommand, version: string): string {
  const leaves = allCommands(root).filter((c) => c.path.length && !c.subcommands.length);
  const exitCodes = HELP_TOPICS['exit-codes'].split('\n').slice(1).map((l) => l.trim()).filter(Boolean);
  return [
    th('rustydb-admin', 1, version, 'RustyDB Manual'),
    '.SH NAME',
    `rustydb\\-admin \\- ${esc(root.description.replace(/^./, (c) => c.toLowerCase()))}`,
    '.SH SYNOPSIS',
    `${bold('rustydb-admin')} [${italic('global options')}] ${italic('command')} [${italic('subcommand')}] [${italic('options')}] [${italic('arguments')}]`,
    '.SH DESCRIPTION',
    esc('rustydb-admin is the operator\'s interface to a RustyDB cluster. It talks to the control API of the cluster\'s agents (see rustydb-agent(8)), following the leader\'s redirects, and to local sandboxes.'),
    '.PP',
    esc('Output is a table on a terminal and one JSON document on stdout otherwise (-o selects it). Progress and messages go to stderr. Destructive commands ask for confirmation on a terminal and need --yes otherwise.'),
    '.SH COMMANDS',
    ...leaves.map(commandSection),
    '.SH OPTIONS',
    esc('These global options are accepted anywhere on the command line.'),
    ...root.options.map((o) => tp(flags(o.flags), esc(o.description + (o.choices ? ` (one of: ${o.choices.join(', ')})` : '')))),
    '.SH "EXIT STATUS"',
    esc('The same table is printed by rustydb-admin help exit-codes.'),
    twoColumns(exitCodes),
    '.SH ENVIRONMENT',
    twoColumns(root.blocks.Environment ?? []),
    '.SH FILES',
    tp(italic('$XDG_CONFIG_HOME/rustydb/admin.toml'), esc('Contexts: named sets of endpoints (with CA and token files); the current one is used unless --endpoint, RUSTYDB_ENDPOINTS or --context say otherwise. Default directory: ~/.config/rustydb.')),
    '.SH EXAMPLES',
    ...leaves.filter((c) => c.examples.length).map((c) => examples(c.examples)),
    '.SH "SEE ALSO"',
    `${bold('rustydb-agent')}(8), ${bold('rustydb.conf')}(5)`,
    '',
  ].join('\n');
}
