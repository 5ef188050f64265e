/**
 * rustydb-agent(8). The agent's parser is built inside agent/main.ts's
 * `main` and is not exported, so its options are listed here; keep them in
 * step with agent/main.ts (an exported builder would let this be generated).
 */

import { bold, esc, flags, tp } from './roff.ts';
import { th } from './man-admin.ts';

const OPTIONS: [string, string][] = [
  ['-c, --config <file>', 'path to rustydb.conf (required); see rustydb.conf(5)'],
  ['--data-dir <dir>', 'state directory (agent state in <dir>/agent, engine data in <dir>/pgdata) unless the file sets them'],
  ['--log-level <level>', 'trace | debug | info | warn | error (overrides agent.log_level)'],
  ['-h, --help', 'display help'],
];

export function manAgent(version: string): string {
  return [
    th('rustydb-agent', 8, version, 'RustyDB Manual'),
    '.SH NAME',
    'rustydb\\-agent \\- RustyDB node agent',
    '.SH SYNOPSIS',
    `${bold('rustydb-agent')} ${flags('-c <file>')} [${flags('--data-dir <dir>')}] [${flags('--log-level <level>')}]`,
    '.SH DESCRIPTION',
    esc('rustydb-agent runs on every node of a RustyDB cluster. It supervises the local PostgreSQL, takes part in the Raft group that holds the replicated cluster state, runs the HA loop (promotion, fencing, synchronous replication) and serves the control API and health checks on one listener. Operators use it through rustydb-admin(1).'),
    '.SH OPTIONS',
    ...OPTIONS.map(([f, d]) => tp(flags(f), esc(d))),
    '.SH "EXIT STATUS"',
    tp(bold('0'), esc('clean stop')),
    tp(bold('1'), esc('runtime failure')),
    tp(bold('2'), esc('invalid configuration or usage: one line per problem, <file>:<line>: <key>: <message>')),
    '.SH ENVIRONMENT',
    esc('None: everything comes from the configuration file and the options.'),
    '.SH FILES',
    tp(bold('rustydb.conf'), esc('the configuration given with --config; see rustydb.conf(5)')),
    tp(bold('agent.state_dir/raft.db'), esc('the Raft log and replicated state (SQLite)')),
    '.SH EXAMPLES',
    '.PP\n.RS 4\n.nf',
    esc('rustydb-agent -c /etc/rustydb/rustydb.conf'),
    esc('rustydb-agent -c rustydb.conf --data-dir /var/lib/rustydb --log-level debug'),
    '.fi\n.RE',
    '.SH "SEE ALSO"',
    `${bold('rustydb-admin')}(1), ${bold('rustydb.conf')}(5)`,
    '',
  ].join('\n');
}
