/** `rustydb-admin node`: assembles the verbs. */

import { Command } from 'commander';
import type { Factory } from '../../cli.ts';
import { newCmdNodeDrain, newCmdNodeUndrain } from './drain.ts';
import { newCmdNodeFence, newCmdNodeUnfence } from './fence.ts';
import { newCmdNodeInit } from './init.ts';
import { newCmdNodeReinit } from './reinit.ts';
import { newCmdNodeStatus } from './status.ts';
import { newCmdNodeStart, newCmdNodeStop } from './stop.ts';
import { newCmdNodeUpgrade } from './upgrade.ts';

export function newCmdNode(f: Factory): Command {
  return new Command('node')
    .description('One node of the cluster: prepare it, drain it, stop/start its engine, fence it, reinitialize it, upgrade its engine')
    .addCommand(newCmdNodeInit(f))
    .addCommand(newCmdNodeStatus(f))
    .addCommand(newCmdNodeDrain(f))
    .addCommand(newCmdNodeUndrain(f))
    .addCommand(newCmdNodeStop(f))
    .addCommand(newCmdNodeStart(f))
    .addCommand(newCmdNodeFence(f))
    .addCommand(newCmdNodeUnfence(f))
    .addCommand(newCmdNodeReinit(f))
    .addCommand(newCmdNodeUpgrade(f));
}
