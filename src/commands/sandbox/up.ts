/**
 * `rustydb-admin sandbox up [--nodes N] [--dir DIR] [--release NAME]`: start
 * (or restart, with its data) a local cluster, wait until it is healthy, make
 * it the current CLI context, and print its nodes and connection string.
 * Progress goes to stderr; stdout carries only the result.
 */

import { resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { outputFormat, type Factory } from '../../cli.ts';
import { saveContext } from '../../contexts.ts';
import { progress, type OutputFormat } from '../../output.ts';
import { Sandbox } from '../../sandbox/cluster.ts';
import { dirOption, printStatus } from './status.ts';

export interface UpOptions {
  /** Absolute. */
  dir: string;
  /** Undefined: 3 for a new sandbox, whatever an existing one has. */
  nodes?: number;
  release?: string;
  timeoutMs: number;
  output: OutputFormat;
}

/** The name `sandbox up` gives its context. */
export const CONTEXT_NAME = 'sandbox';

const positiveInt = (what: string) => (v: string) => {
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new InvalidArgumentError(`${what} must be a positive integer.`);
  return Number(v);
};

export function newCmdUp(f: Factory, runF: (o: UpOptions) => Promise<void> = (o) => upRun(f, o)): Command {
  return new Command('up')
    .description('start a local cluster (or restart an existing one with its data) and wait until it is healthy')
    .addOption(new Option('--nodes <n>', 'number of nodes, for a new sandbox (default: 3)').argParser(positiveInt('--nodes')))
    .addOption(dirOption())
    .addOption(new Option('--release <name>', 'PostgreSQL release to start on, installed here: an exact version (e.g. 15.17) or a major (15)'))
    .addOption(new Option('--timeout <seconds>', 'give up when not healthy after this long').default(120).argParser(positiveInt('--timeout')))
    .addHelpText('after', '\nExamples:\n  rustydb-admin sandbox up\n  rustydb-admin sandbox up --nodes 5 --dir /tmp/rustydb-5\n  rustydb-admin sandbox up --release 15.17\n')
    .action(async (opts: { nodes?: number; dir: string; release?: string; timeout: number }, cmd: Command) => {
      await runF({ dir: resolve(f.cwd, opts.dir), nodes: opts.nodes, release: opts.release, timeoutMs: opts.timeout * 1000, output: outputFormat(cmd) });
    });
}

export async function upRun(f: Factory, o: UpOptions): Promise<void> {
  const say = (line: string) => progress(f.io, line);
  const sb = await Sandbox.open({ dir: o.dir, nodes: o.nodes, release: o.release });
  say(`sandbox ${sb.dir}: ${sb.nodes().length} node(s)`);
  await sb.up({ timeoutMs: o.timeoutMs, onProgress: say });
  const st = await sb.status();
  const file = writeContext(f, sb.nodes().map((n) => n.apiUrl), sb.adminTokenFile(), sb.caFile());
  say(file.ok ? `context "${CONTEXT_NAME}" written to ${file.path} and made current` : `warning: context not written: ${file.why}`);
  printStatus(f.io, o.output, sb, st.nodes, st.cluster);
}

/** Make the sandbox the current context, keeping the others; a file we cannot parse is left alone (it is the operator's). */
function writeContext(f: Factory, endpoints: string[], tokenFile: string, caFile: string): { ok: true; path: string } | { ok: false; why: string } {
  try {
    return { ok: true, path: saveContext(f.env, CONTEXT_NAME, { endpoints, caFile, tokenFile }, true) };
  } catch (err) {
    return { ok: false, why: err instanceof Error ? err.message : String(err) };
  }
}
