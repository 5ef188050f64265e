/**
 * Confirmations for destructive commands. A prompt is shown only when stdin
 * AND stderr are terminals (checked here: @inquirer/prompts 7 would read a
 * piped stdin as if a person typed it); it is written to stderr, so stdout
 * keeps only the result. Without a terminal the command must have been given
 * its confirmation flag (`--yes`, or `--confirm-data-loss`), else it fails
 * with exit 3 naming that flag, before anything is changed.
 *
 * Usage in a command's run function, before its first request that changes anything:
 *
 *     await requireConfirmation(f, { yes: o.yes, flag: '--yes', typed: o.id,
 *       message: `reinitializing ${o.id} wipes its data directory` });
 *
 * Exports: Prompter, PromptFactory, canPrompt, confirm, confirmTyped,
 * requireConfirmation, inquirerPrompter.
 *
 * @inquirer/prompts is imported (dynamic import) only when a prompt is shown.
 */

import type { Factory } from './cli.ts';
import { CliError } from './errors.ts';
import type { IOStreams } from './output.ts';

/**
 * Asks the operator. Implementations throw an error named `ExitPromptError`
 * or `AbortPromptError` (inquirer's) on Ctrl-C, or a CliError 'interrupted';
 * tests pass a fake as `Factory.prompter`.
 */
export interface Prompter {
  /** A yes/no question; resolves to the answer (`defaultValue` on a bare Enter). */
  confirm(message: string, defaultValue: boolean): Promise<boolean>;
  /** A free-text answer. */
  input(message: string): Promise<string>;
}

/** What the confirmation helpers need from the Factory. */
export type PromptFactory = Pick<Factory, 'io' | 'prompter'>;

/** A person can answer: stdin and stderr are both terminals. */
export function canPrompt(io: IOStreams): boolean {
  return io.inIsTTY === true && io.errIsTTY === true;
}

/** The default Prompter: @inquirer/prompts reading `io.in`, drawing on `io.err`. */
export function inquirerPrompter(io: IOStreams): Prompter {
  const context = () => ({ input: io.in ?? process.stdin, output: io.err as NodeJS.WritableStream, clearPromptOnDone: false });
  return {
    async confirm(message, defaultValue) {
      const { confirm } = await import('@inquirer/prompts');
      return confirm({ message, default: defaultValue }, context());
    },
    async input(message) {
      const { input } = await import('@inquirer/prompts');
      return input({ message }, context());
    },
  };
}

/** Run one question, turning Ctrl-C (inquirer's ExitPromptError/AbortPromptError) into exit 130. */
async function ask<T>(f: PromptFactory, question: (p: Prompter) => Promise<T>): Promise<T> {
  try {
    return await question(f.prompter ?? inquirerPrompter(f.io));
  } catch (err) {
    const name = (err as { name?: unknown })?.name;
    if (name === 'ExitPromptError' || name === 'AbortPromptError') throw new CliError('interrupted', 'interrupted at the prompt (Ctrl-C); nothing was changed');
    throw err;
  }
}

function noTerminal(message: string, how: string): CliError {
  return new CliError('declined', `${message}: ${how} (no terminal to ask on: stdin and stderr must both be terminals); nothing was changed`);
}

/** A yes/no confirmation (default no); "no" is a CliError 'declined' (exit 3). Needs a terminal: see {@link requireConfirmation}. */
export async function confirm(f: PromptFactory, o: { message: string }): Promise<void> {
  if (!canPrompt(f.io)) throw noTerminal(o.message, 'confirm on a terminal');
  const yes = await ask(f, (p) => p.confirm(`${o.message}. Continue?`, false));
  if (!yes) throw new CliError('declined', 'declined at the prompt; nothing was changed');
}

/**
 * The operator must type `expected` (a node id, the cluster name) exactly;
 * anything else is a CliError 'declined' (exit 3) and nothing is changed.
 */
export async function confirmTyped(f: PromptFactory, o: { message: string; expected: string }): Promise<void> {
  if (!canPrompt(f.io)) throw noTerminal(o.message, `type ${o.expected} on a terminal to confirm`);
  const answer = (await ask(f, (p) => p.input(`${o.message}. Type ${o.expected} to confirm:`))).trim();
  if (answer !== o.expected) {
    throw new CliError('declined', `${answer === '' ? 'nothing was typed' : `you typed "${answer}"`}, not "${o.expected}": declined; nothing was changed`);
  }
}

/**
 * The whole decision for a destructive command: `yes` (its flag was given)
 * → go on; no terminal → CliError 'declined' (exit 3) naming `flag`; else a
 * typed confirmation of `typed` when given, a yes/no question otherwise.
 * `message` says what will happen, e.g. "an emergency failover to n3 may lose
 * acknowledged writes".
 */
export async function requireConfirmation(f: PromptFactory, o: { yes: boolean; flag?: string; typed?: string; message: string }): Promise<void> {
  if (o.yes) return;
  const flag = o.flag ?? '--yes';
  if (!canPrompt(f.io)) throw noTerminal(o.message, `add ${flag} to confirm`);
  if (o.typed !== undefined) await confirmTyped(f, { message: o.message, expected: o.typed });
  else await confirm(f, { message: o.message });
}
