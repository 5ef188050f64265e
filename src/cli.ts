/**
 * rustydb-admin's root command: registers the nouns, the global
 * `-o, --output table|json` (default: table on a terminal, json otherwise),
 * `--no-color`, and turns whatever a command throws into a message on stderr
 * and an exit code (the table is in errors.ts and in the help epilogue).
 * `main` never calls process.exit: the bin sets exitCode.
 *
 * Exports: Factory, systemFactory, outputFormat, buildProgram, main.
 */

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { newCmdCluster } from './commands/cluster/index.ts';
import { newCmdCompletion } from './commands/completion.ts';
import { newCmdConfig } from './commands/config/index.ts';
import { newCmdNode } from './commands/node/index.ts';
import { newCmdSandbox } from './commands/sandbox/index.ts';
import { newCmdToken } from './commands/token/index.ts';
import { setCaSource, setTokenSource } from './api/client.ts';
import { resolveCa, resolveToken, type CaFlags, type TokenFlags } from './contexts.ts';
import { newCmdHelp } from './docs/help-command.ts';
import { EXIT_CODES, EXIT_CODES_HELP, toCliError } from './errors.ts';
import { loadColors, OUTPUT_FORMATS, systemIO, type IOStreams, type OutputFormat } from './output.ts';
import { stopProgress } from './progress.ts';
import type { Prompter } from './prompt.ts';

/** What every command gets from the entry point (cli/cli's Factory): no command touches process.* itself. */
export interface Factory {
  io: IOStreams;
  env: NodeJS.ProcessEnv;
  /** Working directory relative paths (e.g. --dir) are resolved against. */
  cwd: string;
  /** Aborts on Ctrl-C while a command waits (tests); unset: the command listens for SIGINT itself, only while it waits. */
  interrupt?: AbortSignal;
  /** Asks the operator (tests: a fake); unset: @inquirer/prompts on `io.in`/`io.err`, loaded when a prompt is shown. See prompt.ts. */
  prompter?: Prompter;
}

export function systemFactory(): Factory {
  return { io: systemIO(process.env), env: process.env, cwd: process.cwd() };
}

/** The global output format of the command being run (buildProgram defaults it from the terminal-ness of stdout). */
export function outputFormat(cmd: Command): OutputFormat {
  return (cmd.optsWithGlobals() as { output?: OutputFormat }).output ?? 'table';
}

/** `-o` when not given: a person reads a table, a program reads one JSON document. */
function defaultFormat(io: IOStreams): OutputFormat {
  return io.outIsTTY ? 'table' : 'json';
}

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** The command tree, writing through `f.io`, throwing CommanderError instead of exiting. */
export function buildProgram(f: Factory): Command {
  const program = new Command('rustydb-admin')
    .description('Operate RustyDB clusters: status, failover, nodes, and local sandboxes')
    .version(version(), '-V, --version')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices([...OUTPUT_FORMATS]).default(defaultFormat(f.io), 'table on a terminal, json otherwise'),
    )
    .addOption(new Option('--endpoint <urls>', 'agent API URL(s), comma-separated, tried in order (overrides RUSTYDB_ENDPOINTS and the context)'))
    .addOption(new Option('--context <name>', 'use this context of admin.toml instead of the current one'))
    .addOption(new Option('--token-file <file>', "file holding the API token (overrides RUSTYDB_TOKEN and the context's token_file)"))
    .addOption(new Option('--ca-file <file>', "CA certificate to trust for https endpoints (overrides RUSTYDB_CA_FILE and the context's ca_file)"))
    .option('--no-color', 'no colour, even on a terminal')
    .option('--debug', 'print stack traces of unexpected errors', false)
    .addHelpText(
      'after',
      `\nEnvironment:\n  RUSTYDB_ENDPOINTS   agent API URL(s), comma-separated (default: the context's, else http://127.0.0.1:5433)\n  RUSTYDB_TOKEN       the API token (default: the context's token_file)\n  RUSTYDB_CA_FILE     CA certificate for https endpoints (default: the context's ca_file)\n  NO_COLOR            no colour (as does TERM=dumb, --no-color, or output that is not a terminal)\n  RUSTYDB_CONFIG_DIR  where admin.toml (contexts) lives (default $XDG_CONFIG_HOME/rustydb or ~/.config/rustydb)\n\n${EXIT_CODES_HELP}\n`,
    )
    // Global presentation flags apply before any command runs; the colour decision ends here (see output.ts).
    .hook('preAction', async (cmd, action) => {
      if ((cmd.opts() as { color?: boolean }).color === false) f.io.color = false;
      // Read on the first request only: commands that send none never touch the token file.
      const flags = action.optsWithGlobals() as TokenFlags;
      setTokenSource(() => resolveToken(flags, f.env));
      setCaSource(() => resolveCa(action.optsWithGlobals() as CaFlags, f.env));
      await loadColors(f.io);
    });
  program.addCommand(newCmdCluster(f));
  program.addCommand(newCmdNode(f));
  program.addCommand(newCmdConfig(f));
  program.addCommand(newCmdToken(f));
  program.addCommand(newCmdSandbox(f));
  program.addCommand(newCmdCompletion(f));
  // Replaces commander's implicit `help`: it also knows topics (`help exit-codes`).
  program.addCommand(newCmdHelp(f));
  configure(program, f);
  commandVersionOptions(program);
  return program;
}

/**
 * `--version R` is an option of some commands (`cluster upgrade`, `node
 * upgrade`), but commander lets the root's options match anywhere on the
 * line, so the root's `--version` would print the CLI's version instead.
 * The root's flag counts only before the command name: after it, the root
 * parses as if it had no --version, and the command gets the option.
 */
function commandVersionOptions(program: Command): void {
  const parseOptions = program.parseOptions.bind(program);
  program.parseOptions = (args: string[]) => {
    const at = args.findIndex((a) => program.commands.some((c) => c.name() === a));
    const opts = program.options as Option[];
    const i = opts.findIndex((o) => o.long === '--version');
    if (at < 0 || i < 0 || !args.slice(at).some((a) => a === '--version' || a.startsWith('--version='))) return parseOptions(args);
    const [version] = opts.splice(i, 1);
    try {
      return parseOptions(args);
    } finally {
      opts.splice(i, 0, version);
    }
  };
}

/** exitOverride and output streams on every command: addCommand() does not pass them down. */
function configure(cmd: Command, f: Factory): void {
  cmd
    .exitOverride()
    .configureOutput({ writeOut: (s) => f.io.out.write(s), writeErr: (s) => f.io.err.write(s) })
    .showHelpAfterError('(add --help for usage)');
  // Leaves repeat the exit codes: scripts are written against the command they call.
  if (cmd.commands.length === 0) cmd.addHelpText('after', `\n${EXIT_CODES_HELP}\n`);
  for (const sub of cmd.commands) configure(sub, f);
}

/** Run rustydb-admin with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: string[], f: Factory = systemFactory()): Promise<number> {
  const program = buildProgram(f);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT_CODES.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' ? EXIT_CODES.ok : EXIT_CODES.usage;
    }
    const e = toCliError(err);
    stopProgress(); // a spinner left drawing would share the error's line
    f.io.err.write(`rustydb-admin: ${e.message}\n${e.detail ? e.detail.replace(/\n?$/, '\n') : ''}`);
    const debug = Boolean(f.env.RUSTYDB_DEBUG) || (program.opts() as { debug?: boolean }).debug === true;
    if (debug && err instanceof Error && err.stack) f.io.err.write(err.stack + '\n');
    return e.exitCode;
  }
}
