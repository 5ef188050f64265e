/** `rustydb-admin token list`: every API token (id, name, role, created, revoked); never a secret or hash. Needs an admin token. */

import { Command } from 'commander';
import { SECURITY_PATHS, type TokenListView } from '../../../agent/api/wire-security.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, printTable, type OutputFormat } from '../../output.ts';

export interface TokenListOptions {
  target: Target;
  output: OutputFormat;
}

export function newCmdTokenList(f: Factory, runF: (o: TokenListOptions) => Promise<void> = (o) => tokenListRun(f, o)): Command {
  return new Command('list')
    .description('list API tokens (revoked ones too, with when)')
    .addHelpText('after', '\nExample:\n  rustydb-admin token list -o json\n')
    .action(async (_opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd) });
    });
}

export async function tokenListRun(f: Factory, o: TokenListOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const view = await client.get<TokenListView>(SECURITY_PATHS.tokens);
  if (o.output === 'json') return printJson(f.io, view);
  printTable(
    f.io,
    [{ header: 'id' }, { header: 'name' }, { header: 'role' }, { header: 'created' }, { header: 'by' }, { header: 'revoked', style: (c) => (c === '-' ? null : 'red') }],
    view.tokens.map((t) => [t.id, t.name, t.role, t.createdAt, t.createdBy, t.revokedAt ?? '-']),
  );
}
