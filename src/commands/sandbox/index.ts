/** `rustydb-admin sandbox`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdDown } from './down.ts';
import { newCmdStatus } from './status.ts';
import { newCmdUp } from './up.ts';

export function newCmdSandbox(f: Factory): Command {
  return new Command('sandbox')
    .description('A complete local cluster on 127.0.0.1: one agent and one PostgreSQL per node, all state under one directory')
    .addCommand(newCmdUp(f))
    .addCommand(newCmdStatus(f))
    .addCommand(newCmdDown(f));
}
