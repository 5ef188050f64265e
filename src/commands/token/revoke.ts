/**
 * `rustydb-admin token revoke ID|NAME`: the token is refused from then on
 * (at once by the agent that took the call, within a heartbeat by the
 * others). Revoking again is a no-op; the last valid admin token cannot be
 * revoked (exit 5). Needs an admin token.
 */

import { Command } from 'commander';
import { tokenPath, type TokenView } from '../../../agent/api/wire-security.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, type OutputFormat } from '../../output.ts';

export interface TokenRevokeOptions {
  target: Target;
  output: OutputFormat;
  token: string;
}

export function newCmdTokenRevoke(f: Factory, runF: (o: TokenRevokeOptions) => Promise<void> = (o) => tokenRevokeRun(f, o)): Command {
  return new Command('revoke')
    .description('revoke an API token by id or name')
    .argument('<id-or-name>', 'as `token list` shows it')
    .addHelpText('after', '\nExample:\n  rustydb-admin token revoke oncall\n')
    .action(async (token: string, _opts: unknown, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), token });
    });
}

export async function tokenRevokeRun(f: Factory, o: TokenRevokeOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const t = await client.delete<TokenView>(tokenPath(o.token));
  if (o.output === 'json') return printJson(f.io, t);
  f.io.out.write(`token ${t.id} "${t.name}" (${t.role}) revoked at ${t.revokedAt}\n`);
}
