/**
 * Deliberately broken variants of RaftCore, built from the test side by
 * overriding the core's protected hooks. The simulator must catch each one;
 * see broken-variants.test.ts.
 */
import { RaftCore } from '../../agent/raft/core.ts';
import type { HardState, NodeId, RaftOptions, RaftRecovered, Ready } from '../../agent/raft/types.ts';
import type { CoreFactory } from './sim-node.ts';

/** Bug 1: commits any entry a quorum holds, even one of an earlier term (Raft paper Figure 8). */
export class CommitsPreviousTermEntries extends RaftCore {
  protected override maybeCommit(): boolean {
    const index = this.quorumMatchIndex();
    if (index > this.commitIndex) {
      this.commitTo(index);
      return true;
    }
    return false;
  }
}

/** Bug 2: grants (pre-)votes without the §5.4.1 log up-to-date check. */
export class VotesWithoutLogCheck extends RaftCore {
  protected override isUpToDate(_lastIndex: number, _lastTerm: number): boolean {
    return true;
  }
}

/**
 * Bug 3: answers a vote before the vote is durable. The hard state it hands to
 * the driver never carries a vote newly granted in the current term, so the
 * vote is sent but never persisted; a crash and restart forgets it.
 */
export class VoteRepliedBeforePersisted extends RaftCore {
  private durable: HardState;

  constructor(opts: RaftOptions, recovered: RaftRecovered) {
    super(opts, recovered);
    this.durable = { ...recovered.hardState };
  }

  override ready(): Ready {
    const rd = super.ready();
    const hs = rd.hardState;
    if (hs) {
      const sameTerm = hs.term === this.durable.term;
      const newVote = hs.vote !== '' && !(sameTerm && hs.vote === this.durable.vote);
      // Copy: the core keeps the object it returned as its own record of the last hard state.
      rd.hardState = { ...hs, vote: newVote ? (sameTerm ? this.durable.vote : '') : hs.vote };
      this.durable = rd.hardState;
    }
    return rd;
  }
}

/** Bug 4: a leader answers reads at once with its commit index, without confirming it still leads. */
export class ServesReadsWithoutQuorum extends RaftCore {
  protected override readIndexAsLeader(context: string, requester: NodeId): void {
    this.emitReadState(context, requester, this.commitIndex);
  }
}

export const brokenCores: Record<'commit-previous-term' | 'vote-without-log-check' | 'vote-not-persisted' | 'reads-without-quorum', CoreFactory> = {
  'commit-previous-term': (o, r) => new CommitsPreviousTermEntries(o, r),
  'vote-without-log-check': (o, r) => new VotesWithoutLogCheck(o, r),
  'vote-not-persisted': (o, r) => new VoteRepliedBeforePersisted(o, r),
  'reads-without-quorum': (o, r) => new ServesReadsWithoutQuorum(o, r),
};
