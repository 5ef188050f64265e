/** `rustydb-admin node`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdNodeStatus } from './status.ts';

export function newCmdNode(f: Factory): Command {
  return new Command('node').description('One node of the cluster: its engine, replication and Raft state').addCommand(newCmdNodeStatus(f));
}
