/**
 * `rustydb-admin cluster rotate-certs`: every member makes a new key, the
 * cluster CA signs it, and the member switches to it without a restart (new
 * connections use the new certificate, open ones finish on the old one; both
 * are signed by the same CA). Exits 1 when a member could not be rotated
 * (it keeps its old, still valid certificate; re-run once it is back).
 */

import { Command } from 'commander';
import { PKI_PATHS, type RotateCertsAnswer } from '../../../agent/api/wire-admin.ts';
import { ApiClient } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { printJson, printTable, type OutputFormat } from '../../output.ts';

export interface RotateCertsOptions {
  target: Target;
  output: OutputFormat;
}

export function newCmdRotateCerts(f: Factory, runF: (o: RotateCertsOptions) => Promise<void> = (o) => rotateCertsRun(f, o)): Command {
  return new Command('rotate-certs')
    .description("re-issue every member's node certificate (new keys, same CA) without downtime")
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster rotate-certs\n')
    .action(async (_opts: object, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd) });
    });
}

export async function rotateCertsRun(f: Factory, o: RotateCertsOptions): Promise<void> {
  // Each member makes a key (openssl) and installs its certificate: allow time for a large cluster.
  const client = new ApiClient(o.target.endpoints, { timeoutMs: 120_000 });
  const r = await client.post<RotateCertsAnswer>(PKI_PATHS.rotateCerts, {});
  if (o.output === 'json') printJson(f.io, r);
  else {
    printTable(
      f.io,
      [{ header: 'node' }, { header: 'result' }, { header: 'fingerprint' }, { header: 'valid until' }],
      r.nodes.map((n) => [n.node, n.ok ? 'rotated' : `failed: ${n.error ?? 'unknown'}`, n.fingerprint ? `${n.fingerprint.slice(0, 16)}…` : '-', n.notAfter ?? '-']),
    );
  }
  const failed = r.nodes.filter((n) => !n.ok);
  if (failed.length > 0) {
    throw new CliError('failed', `${failed.map((n) => n.node).join(', ')} kept their old certificate (still valid): bring them back and run \`cluster rotate-certs\` again`);
  }
}
