/** `rustydb-admin cluster`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdAudit } from './audit.ts';
import { newCmdFailover } from './failover.ts';
import { newCmdForceQuorum } from './force-quorum.ts';
import { newCmdHealth } from './health.ts';
import { newCmdHistory } from './history.ts';
import { newCmdJoin } from './join.ts';
import { newCmdOperation } from './operation.ts';
import { newCmdRemove } from './remove.ts';
import { newCmdStatus } from './status.ts';
import { newCmdClusterToken } from './token.ts';
import { newCmdRotateCerts } from './rotate-certs.ts';
import { newCmdUpgrade } from './upgrade.ts';

export function newCmdCluster(f: Factory): Command {
  return new Command('cluster')
    .description('The whole cluster: status, failover/switchover, history, health')
    .addCommand(newCmdStatus(f))
    .addCommand(newCmdFailover(f))
    .addCommand(newCmdForceQuorum(f))
    .addCommand(newCmdHistory(f))
    .addCommand(newCmdHealth(f))
    .addCommand(newCmdJoin(f))
    .addCommand(newCmdRemove(f))
    .addCommand(newCmdOperation(f))
    .addCommand(newCmdAudit(f))
    .addCommand(newCmdClusterToken(f))
    .addCommand(newCmdRotateCerts(f))
    .addCommand(newCmdUpgrade(f));
}
