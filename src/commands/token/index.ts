/** `rustydb-admin token`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdTokenCreate } from './create.ts';
import { newCmdTokenList } from './list.ts';
import { newCmdTokenRevoke } from './revoke.ts';

export function newCmdToken(f: Factory): Command {
  return new Command('token')
    .description('API tokens and their roles (admin, operator, read-only): create, list, revoke')
    .addCommand(newCmdTokenCreate(f))
    .addCommand(newCmdTokenList(f))
    .addCommand(newCmdTokenRevoke(f));
}
