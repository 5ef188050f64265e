/** Quorum arithmetic for a single voter set. Pure helpers, no state. */

import type { NodeId } from './types.ts';

/** Votes needed to win among `voterCount` voters (a strict majority). */
export function quorumSize(voterCount: number): number {
  return Math.floor(voterCount / 2) + 1;
}

/**
 * The highest index that a quorum of voters has durably matched. `matchOf`
 * returns 0 for a voter without progress. With no voters, nothing is committed.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  return matches[quorumSize(voters.length) - 1];
}

export type VoteOutcome = 'won' | 'lost' | 'pending';

/** Election result so far: won once a quorum granted, lost once a quorum can no longer be reached. */
export function voteOutcome(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteOutcome {
  const need = quorumSize(voters.length);
  let granted = 0;
  let rejected = 0;
  for (const id of voters) {
    const v = votes.get(id);
    if (v === true) granted++;
    else if (v === false) rejected++;
  }
  if (granted >= need) return 'won';
  if (voters.length - rejected < need) return 'lost';
  return 'pending';
}
