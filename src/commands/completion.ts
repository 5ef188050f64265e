/**
 * `rustydb-admin completion bash|zsh|fish`: prints the completion script,
 * generated from the running command tree (so it matches this binary; the
 * committed copies in completions/ come from the same generator).
 */

import { Argument, Command } from 'commander';
import type { Factory } from '../cli.ts';

export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

const INSTALL_HELP = `
Install (pick your shell):
  bash: rustydb-admin completion bash > ~/.local/share/bash-completion/completions/rustydb-admin
  zsh:  rustydb-admin completion zsh > "\${fpath[1]}/_rustydb-admin"
  fish: rustydb-admin completion fish > ~/.config/fish/completions/rustydb-admin.fish

Example:
  source <(rustydb-admin completion bash)
`;

export function newCmdCompletion(f: Factory): Command {
  return new Command('completion')
    .description('print the shell completion script (commands, flags, and node ids from the current context)')
    .addArgument(new Argument('<shell>', 'the shell to complete for').choices(SHELLS))
    .addHelpText('after', INSTALL_HELP)
    .action(async (shell: Shell, _opts: unknown, cmd: Command) => {
      // Loaded here so that other commands never pay for the generators.
      const { completionScript } = await import('../docs/completions.ts');
      const { docTree } = await import('../docs/tree.ts');
      let root = cmd;
      while (root.parent) root = root.parent;
      f.io.out.write(completionScript(shell, docTree(root)));
    });
}
