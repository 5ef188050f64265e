/**
 * A broken invariant found by the simulator. Thrown from deep inside a step and
 * caught by `runSeed`, which stops the seed and reports it with the trace.
 */

/** The properties the simulator checks. */
export type Property =
  | 'election-safety' // at most one leader per term, ever
  | 'double-vote' // a node durably changed its vote within a term
  | 'log-matching' // two logs with the same (index, term) agree on the entry and the term before it
  | 'leader-completeness' // a new leader's log holds every entry known committed
  | 'state-machine-safety' // every node applies the same entry at each index
  | 'commit-monotonic' // the commit index of a running node never decreases
  | 'apply-order' // entries are applied once each, in index order, never beyond commit
  | 'ready-contract' // the core's Ready broke its documented contract (types.ts), e.g. a vote sent but not durable
  | 'linearizability' // the client history of the key-value store is linearizable
  | 'liveness' // once faults stop, a leader emerges and a fresh proposal commits everywhere
  | 'core-exception'; // the core threw

export class Violation extends Error {
  constructor(
    readonly property: Property,
    detail: string,
  ) {
    super(`${property}: ${detail}`);
    this.name = 'Violation';
  }
}
