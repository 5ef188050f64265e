/**
 * `rustydb-admin help [COMMAND…|TOPIC]`: replaces commander's implicit help
 * command on the root so that topics that are not commands (`exit-codes`)
 * have a home. `help cluster status` still prints that command's help.
 */

import { Command } from 'commander';
import type { Factory } from '../cli.ts';
import { CliError, EXIT_CODES_HELP } from '../errors.ts';

/** Help topics that are not commands, and their text. */
export const HELP_TOPICS: Record<string, string> = {
  'exit-codes': `${EXIT_CODES_HELP}\n`,
};

export function newCmdHelp(f: Factory): Command {
  return new Command('help')
    .description(`display help for a command, or a topic: ${Object.keys(HELP_TOPICS).join(', ')}`)
    .argument('[command...]', 'a command path (e.g. cluster status) or a topic')
    .addHelpText('after', '\nExamples:\n  rustydb-admin help exit-codes\n  rustydb-admin help cluster failover\n')
    .action((words: string[], _opts: unknown, cmd: Command) => {
      const root = cmd.parent ?? cmd;
      if (words.length === 1 && Object.hasOwn(HELP_TOPICS, words[0])) {
        f.io.out.write(HELP_TOPICS[words[0]]);
        return;
      }
      let target = root;
      for (const w of words) {
        const next = target.commands.find((c) => c.name() === w || c.aliases().includes(w));
        if (!next) {
          const known = [...target.commands.map((c) => c.name()), ...(target === root ? Object.keys(HELP_TOPICS) : [])];
          throw new CliError('usage', `no help for "${words.join(' ')}": "${w}" is not a command or topic here; try one of: ${known.join(', ')}`);
        }
        target = next;
      }
      target.outputHelp();
    });
}
