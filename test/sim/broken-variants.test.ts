/**
 * The simulator must catch real bugs. Each deliberately broken variant of the
 * core (broken-cores.ts, built by overriding protected hooks) must produce a
 * violation of the right kind within a bounded number of seeds, on a fault
 * profile that favours the bug; and the unmodified core must pass the very
 * same seeds. The profiles only turn knobs of the one simulator.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { brokenCores } from './broken-cores.ts';
import { formatFailure, runSeed, type SeedResult, type SimOptions } from './simulator.ts';
import type { Property } from './violation.ts';

interface Case {
  name: string;
  variant: keyof typeof brokenCores;
  options: SimOptions;
  /** Seeds tried before declaring the bug missed. */
  bound: number;
  /** Violations that are the consequence of this bug. */
  expected: Property[];
}

/** Leaders die young and partitions are frequent; one entry per AppendEntries, one in flight (Figure 8 needs a window between replicating an old entry and the new leader's own). */
const figure8: SimOptions = {
  settings: { maxMsgBytes: 1, maxInflight: 1 },
  profile: {
    youngLeaderCrash: 0.5,
    commitCrash: 0.3,
    crash: 0.03,
    crashLeader: 0.8,
    downTicks: [1, 20],
    partition: 0.03,
    isolateLeader: 0.03,
    partitionTicks: [3, 20],
  },
};

/** Voters crash right after granting a vote and come back at once; duplicated, delayed vote requests then reach them again. */
const forgetfulVoters = (checkPromises: boolean): SimOptions => ({
  settings: { checkPromises },
  profile: { voteCrash: 0.7, downTicks: [1, 2], dup: [0.1, 0.3], maxDelay: [3, 8], crashLeader: 0.8 },
});

/** A leader with a slow clock (so CheckQuorum takes long) gets isolated; clients keep asking it. Other faults off. */
const staleLeader: SimOptions = {
  profile: {
    crash: 0,
    pause: 0,
    partition: 0,
    oneWay: 0,
    membership: 0,
    transfer: 0,
    voteCrash: 0,
    youngLeaderCrash: 0,
    commitCrash: 0,
    slowClock: 0.05,
    slowClockLeader: 1,
    maxSlowdown: 8,
    isolateLeader: 0.02,
    pauseTicks: [60, 150],
    partitionTicks: [30, 80],
  },
  workload: { clients: 5, keys: 1, readRatio: 0.5, stickiness: 0.6 },
};

const cases: Case[] = [
  {
    name: 'commits an entry of a previous term by counting replicas (§5.4.2, Figure 8)',
    variant: 'commit-previous-term',
    options: figure8,
    bound: 300,
    expected: ['leader-completeness', 'state-machine-safety', 'linearizability'],
  },
  {
    name: 'grants votes without the log up-to-date check (§5.4.1)',
    variant: 'vote-without-log-check',
    options: {},
    bound: 300,
    expected: ['leader-completeness', 'state-machine-safety'],
  },
  {
    name: 'replies to a vote before persisting it: two leaders in one term',
    variant: 'vote-not-persisted',
    options: forgetfulVoters(false),
    bound: 300,
    expected: ['election-safety'],
  },
  {
    name: 'replies to a vote before persisting it: the durability promise of the vote is checked directly',
    variant: 'vote-not-persisted',
    options: forgetfulVoters(true),
    bound: 20,
    expected: ['ready-contract'],
  },
  {
    name: 'a leader that keeps serving reads after losing its quorum',
    variant: 'reads-without-quorum',
    options: staleLeader,
    bound: 300,
    expected: ['linearizability'],
  },
];

/** The first seed in 1..bound with a violation, or null. */
function firstViolation(options: SimOptions, bound: number): SeedResult | null {
  for (let seed = 1; seed <= bound; seed++) {
    const r = runSeed(seed, options);
    if (!r.ok) return r;
  }
  return null;
}

describe('the simulator catches broken variants of the core', () => {
  for (const c of cases) {
    it(`${c.variant}: ${c.name} (within ${c.bound} seeds)`, (t) => {
      const caught = firstViolation({ ...c.options, makeCore: brokenCores[c.variant] }, c.bound);
      assert.ok(caught, `the ${c.variant} variant was not caught in ${c.bound} seeds: the simulator must get stronger`);
      const property = caught.violation!.property;
      assert.ok(c.expected.includes(property), `caught as ${property}, expected one of ${c.expected.join(', ')}:\n${formatFailure(caught)}`);
      t.diagnostic(`${c.variant}: caught at seed ${caught.seed} (${caught.nodes} nodes) as ${property}: ${caught.violation!.message.split('\n')[0]}`);

      // The unmodified core passes the same seeds under the same profile.
      for (let seed = 1; seed <= caught.seed; seed++) {
        const r = runSeed(seed, c.options);
        assert.ok(r.ok, `the real core fails seed ${seed} of this profile:\n${formatFailure(r)}`);
      }
    });
  }
});
