/**
 * `rustydb-admin token create --role R --name N`: a new API token. The agent
 * sends the plaintext once; it goes to stdout (the bare token in table
 * output, so `tok=$(rustydb-admin token create … -o table)` works) and is
 * never shown again. Needs an admin token.
 */

import { Command, Option } from 'commander';
import { SECURITY_PATHS, type CreatedTokenView, type CreateTokenBody } from '../../../agent/api/wire-security.ts';
import { ROLES, type Role } from '../../../agent/security/tokens.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, progress, type OutputFormat } from '../../output.ts';

export interface TokenCreateOptions {
  target: Target;
  output: OutputFormat;
  name: string;
  role: Role;
}

export function newCmdTokenCreate(f: Factory, runF: (o: TokenCreateOptions) => Promise<void> = (o) => tokenCreateRun(f, o)): Command {
  return new Command('create')
    .description('create an API token; it is printed once, store it (e.g. in a 0600 file named by the context\'s token_file)')
    .addOption(new Option('--role <role>', 'what the token may do').choices([...ROLES]).makeOptionMandatory())
    .requiredOption('--name <name>', 'who or what uses it (shown in the audit log), e.g. ci-deploy')
    .addHelpText(
      'after',
      '\nRoles: admin (everything), operator (reads, switchover, failover without --force, drain, stop/start, fence),\nread-only (GET only).\n\nExample:\n  rustydb-admin token create --role operator --name oncall -o table > ~/.rustydb-oncall && chmod 600 ~/.rustydb-oncall\n',
    )
    .action(async (opts: { role: Role; name: string }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), name: opts.name, role: opts.role });
    });
}

export async function tokenCreateRun(f: Factory, o: TokenCreateOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const body: CreateTokenBody = { name: o.name, role: o.role };
  const created = await client.post<CreatedTokenView>(SECURITY_PATHS.tokens, body);
  if (o.output === 'json') return printJson(f.io, created);
  f.io.out.write(`${created.token}\n`);
  progress(f.io, `token ${created.id} "${created.name}" (${created.role}) created: it is shown only this once, store it now`);
}
