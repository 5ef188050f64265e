/** `rustydb-admin cluster`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdFailover } from './failover.ts';
import { newCmdHistory } from './history.ts';
import { newCmdStatus } from './status.ts';

export function newCmdCluster(f: Factory): Command {
  return new Command('cluster')
    .description('The whole cluster: status, failover/switchover, history')
    .addCommand(newCmdStatus(f))
    .addCommand(newCmdFailover(f))
    .addCommand(newCmdHistory(f));
}
