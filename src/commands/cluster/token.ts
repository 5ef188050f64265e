/**
 * `rustydb-admin cluster token create [--ttl 1h] [--role follower|observer|witness]`:
 * a one-time join token for one new node. Printed once (the cluster keeps
 * only its hash); the node presents it with `cluster join --token`.
 */

import { Command, InvalidArgumentError, Option } from 'commander';
import { JOIN_TOKEN_ROLES, PKI_PATHS, type JoinTokenAnswer, type JoinTokenBody } from '../../../agent/api/wire-admin.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { parseDuration } from './failover.ts';

const MAX_TTL_MS = 7 * 24 * 3600_000;

export interface TokenCreateOptions {
  target: Target;
  output: OutputFormat;
  ttlMs: number;
  role: (typeof JOIN_TOKEN_ROLES)[number];
}

function parseTtl(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > MAX_TTL_MS) throw new InvalidArgumentError('--ttl must be between 1s and 168h.');
  return ms;
}

export function newCmdTokenCreate(f: Factory, runF: (o: TokenCreateOptions) => Promise<void> = (o) => tokenCreateRun(f, o)): Command {
  return new Command('create')
    .description('create a one-time join token for a new node (shown once; the cluster keeps its hash)')
    .addOption(new Option('--ttl <dur>', 'how long the token stays valid').default(3_600_000, '1h').argParser(parseTtl))
    .addOption(new Option('--role <role>', 'what the new node may join as').choices([...JOIN_TOKEN_ROLES]).default('follower'))
    .addHelpText('after', '\nExamples:\n  rustydb-admin cluster token create --ttl 1h\n  rustydb-admin cluster token create --ttl 30m --role witness\n')
    .action(async (opts: { ttl: number; role: TokenCreateOptions['role'] }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), ttlMs: opts.ttl, role: opts.role });
    });
}

export function newCmdClusterToken(f: Factory): Command {
  return new Command('token').description('join tokens: one-time permission for a new node to join').addCommand(newCmdTokenCreate(f));
}

export async function tokenCreateRun(f: Factory, o: TokenCreateOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  const body: JoinTokenBody = { role: o.role, ttl_seconds: Math.max(1, Math.round(o.ttlMs / 1000)) };
  const t = await client.post<JoinTokenAnswer>(PKI_PATHS.joinTokens, body);
  if (o.output === 'json') return printJson(f.io, t);
  // The token alone on stdout (scripts capture it); the rest on stderr.
  f.io.out.write(`${t.token}\n`);
  f.io.err.write(`join token ${t.id} for one ${t.role}, valid until ${t.expiresAt}; use it once: rustydb-admin cluster join ... --token <token>\n`);
}
