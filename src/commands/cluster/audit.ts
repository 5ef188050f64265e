/** `rustydb-admin cluster audit [--limit N]`: the newest mutating API calls (who, route, target, outcome), newest first. Needs an admin token. */

import { Command, InvalidArgumentError, Option } from 'commander';
import { AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT, SECURITY_PATHS, type AuditView } from '../../../agent/api/wire-security.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, printTable, type OutputFormat } from '../../output.ts';

export interface AuditOptions {
  target: Target;
  output: OutputFormat;
  limit: number;
}

function parseLimit(v: string): number {
  if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > AUDIT_MAX_LIMIT) throw new InvalidArgumentError(`--limit must be an integer from 1 to ${AUDIT_MAX_LIMIT}.`);
  return Number(v);
}

export function newCmdAudit(f: Factory, runF: (o: AuditOptions) => Promise<void> = (o) => auditRun(f, o)): Command {
  return new Command('audit')
    .description('show the audit log of mutating API calls, newest first')
    .addOption(new Option('--limit <n>', 'at most this many records').default(AUDIT_DEFAULT_LIMIT).argParser(parseLimit))
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster audit --limit 20\n  rustydb-admin cluster audit -o json | jq \'.records[] | select(.outcome != "ok")\'\n')
    .action(async (opts: { limit: number }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), limit: opts.limit });
    });
}

export async function auditRun(f: Factory, o: AuditOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const view = await client.get<AuditView>(`${SECURITY_PATHS.audit}?limit=${o.limit}`);
  if (o.output === 'json') return printJson(f.io, view);
  printTable(
    f.io,
    [
      { header: 'at' },
      { header: 'principal' },
      { header: 'role' },
      { header: 'call' },
      { header: 'target' },
      { header: 'status' },
      { header: 'outcome', style: (c) => (c === 'ok' ? 'green' : c === 'denied' || c === 'failed' ? 'red' : null) },
      { header: 'node' },
    ],
    view.records.map((r) => [r.at, r.principal, r.role, `${r.method} ${r.route}`, r.target ?? '-', String(r.status), r.outcome, r.node]),
  );
}
