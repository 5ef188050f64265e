/** `rustydb-admin config`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdConfigGet } from './get.ts';
import { newCmdConfigSet } from './set.ts';
import { newCmdConfigShow } from './show.ts';

export function newCmdConfig(f: Factory): Command {
  return new Command('config')
    .description("The cluster's runtime knobs: ha_mode, min_quorum_size, read_from_followers, failover_mode, lease_ms, ...")
    .addCommand(newCmdConfigShow(f))
    .addCommand(newCmdConfigGet(f))
    .addCommand(newCmdConfigSet(f));
}
