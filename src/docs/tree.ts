/**
 * The command tree as plain data, read from commander's objects once, so the
 * completion scripts and the man page are generated from the same facts the
 * parser uses (cli/cli's `cmd/gen-docs`). Examples and other help blocks
 * come from each command's `addHelpText('after', …)` text.
 */

import type { EventEmitter } from 'node:events';
import type { Command, Option } from 'commander';

/** One flag of a command, as completions and man pages need it. */
export interface DocOption {
  /** As written in help, e.g. `-o, --output <format>`. */
  flags: string;
  long: string | null;
  short: string | null;
  /** The placeholder of the value (`format`), or null for a boolean flag. */
  valueName: string | null;
  /** Allowed values, when the option restricts them. */
  choices: string[] | null;
  description: string;
}

/** One positional argument. */
export interface DocArgument {
  name: string;
  required: boolean;
  variadic: boolean;
  choices: string[] | null;
  description: string;
}

/** One command; `path` is empty for the root. */
export interface DocCommand {
  name: string;
  path: string[];
  description: string;
  /** commander's usage line after the command path, e.g. `[options] [id]`. */
  usage: string;
  arguments: DocArgument[];
  options: DocOption[];
  /** Example command lines (from the "Example(s):" block of the help epilogue). */
  examples: string[];
  /** Other epilogue blocks by heading (e.g. "Environment"), as indented lines. */
  blocks: Record<string, string[]>;
  subcommands: DocCommand[];
}

/** Values of these are node ids: completed from the live cluster. */
export function isNodeIdValue(name: string | null): boolean {
  return name === 'id';
}

function docOption(o: Option): DocOption {
  const m = /[<[]([^>\]]+)[>\]]/.exec(o.flags);
  return {
    flags: o.flags,
    long: o.long ?? null,
    short: o.short ?? null,
    valueName: m ? m[1] : null,
    choices: o.argChoices ? [...o.argChoices] : null,
    description: o.description,
  };
}

/** The text commander prints after the help (addHelpText 'after'), captured instead of written. */
function afterHelpText(cmd: Command): string {
  let text = '';
  // commander's Command is an EventEmitter at runtime; its typings do not say so.
  (cmd as unknown as EventEmitter).emit('afterHelp', { error: false, command: cmd, write: (s: string) => (text += s) });
  return text;
}

/** "Heading:" lines at column 0 open a block; its indented lines follow until a blank line. */
export function parseBlocks(text: string): Record<string, string[]> {
  const blocks: Record<string, string[]> = {};
  let current: string[] | null = null;
  for (const line of text.split('\n')) {
    const heading = /^(\S.*):$/.exec(line);
    if (heading) blocks[heading[1]] = current = [];
    else if (line.trim() === '') current = null;
    else if (current) current.push(line.trim());
  }
  return blocks;
}

/** The tree under `cmd` (normally the program), with the help option and commander's help command made explicit. */
export function docTree(cmd: Command, parent: string[] = []): DocCommand {
  const path = cmd.parent ? [...parent, cmd.name()] : [];
  const blocks = parseBlocks(afterHelpText(cmd));
  const examples = [...(blocks.Example ?? []), ...(blocks.Examples ?? [])];
  delete blocks.Example;
  delete blocks.Examples;
  const help = cmd.createHelp();
  const options = help.visibleOptions(cmd).map(docOption);
  const subcommands = cmd.commands.map((c) => docTree(c, path));
  return {
    name: cmd.name(),
    path,
    description: cmd.description(),
    usage: cmd.usage(),
    arguments: cmd.registeredArguments.map((a) => ({
      name: a.name(),
      required: a.required,
      variadic: a.variadic,
      choices: a.argChoices ? [...a.argChoices] : null,
      description: a.description,
    })),
    options,
    examples,
    blocks,
    subcommands,
  };
}

/** Every command of the tree, depth first, root included. */
export function allCommands(root: DocCommand): DocCommand[] {
  return [root, ...root.subcommands.flatMap(allCommands)];
}

/** Options a command accepts: its own plus its ancestors' (commander reads the program's anywhere on the line). */
export function optionsInScope(root: DocCommand, path: string[]): DocOption[] {
  const out: DocOption[] = [];
  let cmd: DocCommand | undefined = root;
  for (let i = 0; cmd; i++) {
    for (const o of cmd.options) if (!out.some((x) => x.flags === o.flags)) out.push(o);
    cmd = i < path.length ? cmd.subcommands.find((c) => c.name === path[i]) : undefined;
  }
  // Own options first: they are what the operator is most likely after.
  return out.reverse();
}
