/**
 * `rustydb-admin cluster status [--watch]`: the cluster's header (name,
 * primary, epoch, leader, quorum, ha_mode, writable) and a row per member.
 * `-o json` prints the ClusterView exactly as the API returns it.
 */

import { Command } from 'commander';
import type { ClusterView, MemberView } from '../../../agent/api/wire.ts';
import { API_PATHS } from '../../../agent/api/wire.ts';
import { ApiClient, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { resolveTarget, type Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';
import { paint, printJson, printTable, progress, type IOStreams, type OutputFormat, type Style } from '../../output.ts';

export interface StatusOptions {
  target: Target;
  output: OutputFormat;
  watch: boolean;
  /** Redraw period of --watch. */
  intervalMs: number;
}

export function newCmdStatus(f: Factory, runF: (o: StatusOptions) => Promise<void> = (o) => statusRun(f, o)): Command {
  return new Command('status')
    .description("show the cluster: primary, epoch, leader, quorum, and each member's role, state, health and lag")
    .option('-w, --watch', 'redraw every 2 s on a terminal until Ctrl-C', false)
    .addHelpText('after', '\nExample:\n  rustydb-admin cluster status --endpoint http://127.0.0.1:5433 -o json\n')
    .action(async (opts: { watch: boolean }, cmd: Command) => {
      await runF({ target: resolveTarget(cmd.optsWithGlobals(), f.env), output: outputFormat(cmd), watch: opts.watch, intervalMs: 2000 });
    });
}

export async function statusRun(f: Factory, o: StatusOptions): Promise<void> {
  const client = new ApiClient(o.target.endpoints, { timeoutMs: DEFAULT_REQUEST_TIMEOUT_MS });
  if (!o.watch || !f.io.outIsTTY || o.output === 'json') {
    if (o.watch) progress(f.io, '--watch redraws only on a terminal in table output; printing once');
    printCluster(f.io, o.output, await client.get<ClusterView>(API_PATHS.cluster));
    return;
  }
  await watch(f, o.intervalMs, async () => {
    const view = await client.get<ClusterView>(API_PATHS.cluster);
    f.io.out.write('\x1b[H\x1b[2J'); // home + clear: redraw in place
    printCluster(f.io, 'table', view);
    f.io.out.write(`\n${new Date().toISOString()}  every ${o.intervalMs / 1000} s, Ctrl-C to stop\n`);
  });
}

/** Run `draw` every `intervalMs` until SIGINT (or `f.interrupt`), then exit 130. */
async function watch(f: Factory, intervalMs: number, draw: () => Promise<void>): Promise<never> {
  const ac = new AbortController();
  const onSigint = () => ac.abort();
  const signal = f.interrupt ?? ac.signal;
  if (!f.interrupt) process.once('SIGINT', onSigint);
  try {
    while (!signal.aborted) {
      await draw();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, intervalMs);
        signal.addEventListener('abort', () => (clearTimeout(t), resolve()), { once: true });
      });
    }
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
  throw new CliError('interrupted', 'stopped watching (Ctrl-C)');
}

const ROLE_STYLE: Record<string, Style> = { primary: 'green', replica: 'cyan', witness: 'dim', stopped: 'yellow', unknown: 'yellow' };
const HEALTH_STYLE: Record<string, Style> = { healthy: 'green', unhealthy: 'yellow', unreachable: 'red' };

const orDash = (v: string | number | null): string => (v === null ? '-' : String(v));

/** `3/3 voters healthy, has_quorum=true` */
export function quorumLine(c: ClusterView): string {
  return `${c.quorum.healthy}/${c.quorum.voters} voters healthy, has_quorum=${c.quorum.hasQuorum}`;
}

export function printCluster(io: IOStreams, format: OutputFormat, c: ClusterView): void {
  if (format === 'json') {
    printJson(io, c);
    return;
  }
  const state = c.writable ? paint(io, 'green', 'writable') : paint(io, 'red', `not writable: ${c.problem ?? 'no primary'}`);
  const lines = [
    `cluster:  ${c.name} (${c.id})`,
    `primary:  ${c.primary ?? '-'}  epoch ${c.epoch}  leader ${c.leader ?? '-'}`,
    `quorum:   ${quorumLine(c)}`,
    `ha_mode:  ${c.haMode}  durability ${c.durability}${c.consistency === 'local' ? `  (local view, stale up to ${c.staleMs ?? '?'} ms)` : ''}`,
    `state:    ${state}${c.writable && c.problem ? ` (${c.problem})` : ''}`,
  ];
  io.out.write(lines.join('\n') + '\n\n');
  printTable(
    io,
    [
      { header: 'id' },
      { header: 'kind' },
      { header: 'role', style: (cell) => ROLE_STYLE[cell] ?? null },
      { header: 'state' },
      { header: 'health', style: (cell) => HEALTH_STYLE[cell] ?? null },
      { header: 'lag bytes' },
      { header: 'lag time' },
      { header: 'timeline' },
      { header: 'release' },
      { header: 'region' },
      { header: 'uptime' },
    ],
    c.members.map((m: MemberView) => [
      m.id,
      m.kind,
      m.role,
      m.adminState,
      m.health,
      orDash(m.lagBytes),
      m.lagMs === null ? '-' : `${m.lagMs} ms`,
      orDash(m.timeline),
      orDash(m.release),
      m.region,
      m.uptimeS === null ? '-' : duration(m.uptimeS),
    ]),
  );
}

/** `42s`, `5m12s`, `3h04m`, `2d03h`: short, for a table cell. */
export function duration(s: number): string {
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}
