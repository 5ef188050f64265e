/**
 * Wire and storage types of the Raft module. The core (`core.ts`) is pure: it
 * consumes these values and produces them, and never touches a socket, a clock
 * or a disk. See `Ready` for the contract between the core and its driver.
 */

export type NodeId = string;

/** Sentinel for "no node" (no leader known, no vote cast). */
export const NONE: NodeId = '';

export type EntryType = 'normal' | 'noop' | 'conf';

/**
 * One log entry. `data` is opaque to the core except for `conf` entries, whose
 * data is a JSON-encoded {@link ConfEntryData}: the *whole* configuration after the
 * change, so a node can compute its configuration from its log alone.
 */
export interface Entry {
  index: number;
  term: number;
  type: EntryType;
  data: string;
}

/**
 * Cluster membership. Voters take part in elections and count for quorum.
 * Learners (non-voters: nodes catching up before promotion, and observers)
 * receive the log but never vote and never count.
 */
export interface Membership {
  voters: NodeId[];
  learners: NodeId[];
}

/**
 * The data of a `conf` entry. Entries written by `RaftCore.forceNewConfiguration`
 * carry `force: true` and the voters they dropped in `removed`: every node
 * holding such an entry ignores those nodes from then on (they were declared
 * lost, and must not disrupt the survivors if they come back). Older entries
 * have neither field, so existing logs read the same.
 */
export interface ConfEntryData extends Membership {
  force?: true;
  removed?: NodeId[];
}

/** A single-server membership change, proposed with `RaftCore.proposeMembership`. */
export type MembershipChange =
  | { op: 'add-learner'; node: NodeId }
  | { op: 'promote'; node: NodeId }
  | { op: 'remove'; node: NodeId };

/** The state that must survive a crash before any message depending on it is sent. */
export interface HardState {
  term: number;
  vote: NodeId;
  commit: number;
}

export interface SnapshotMeta {
  index: number;
  term: number;
  membership: Membership;
}

/** A state-machine snapshot. `data` is opaque to the core (the driver's state machine). */
export interface Snapshot {
  meta: SnapshotMeta;
  data: string;
}

export type MessageType =
  | 'app' // AppendEntries
  | 'app-resp'
  | 'heartbeat'
  | 'heartbeat-resp'
  | 'vote'
  | 'vote-resp'
  | 'prevote'
  | 'prevote-resp'
  | 'snap' // InstallSnapshot
  | 'timeout-now' // leadership transfer: campaign at once
  | 'read-index' // follower asks the leader for a read index
  | 'read-index-resp';

/**
 * A Raft message. Fields not relevant to a type are left at their zero values
 * (0, '' or []), which keeps the wire format flat and easy to validate.
 */
export interface Message {
  type: MessageType;
  from: NodeId;
  to: NodeId;
  term: number;
  /** app: index of the entry before `entries`; app-resp: highest index matched (or rejected index). */
  index: number;
  /** app: term of the entry at `index`; vote/prevote: term of the candidate's last entry. */
  logTerm: number;
  entries: Entry[];
  commit: number;
  reject: boolean;
  /** app-resp reject: follower's hint for fast backtracking (an index, and the term there). */
  rejectHint: number;
  hintTerm: number;
  /** heartbeat/read-index: read request context echoed back so the leader can confirm its leadership. */
  context: string;
  snapshot?: Snapshot;
  /** vote sent because of a leadership transfer: bypasses the leader-lease check. */
  transfer?: boolean;
}

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

export interface SoftState {
  leader: NodeId;
  role: Role;
}

/** A read request that is now safe to serve once the state machine has applied `index`. */
export interface ReadState {
  context: string;
  index: number;
}

/**
 * What the core asks its driver to do. The driver must handle a Ready in this
 * order, then call `RaftCore.advance(ready)`:
 *
 *  1. Durably persist, in this order and before step 2: `snapshot` (if any;
 *     it replaces the log up to its index), the `entries` (an entry at an index
 *     already stored replaces it and every entry after it), and `hardState` (if
 *     any). "Durable" means fsynced: a crash after this point must not lose it.
 *  2. Send `messages`. Votes and acknowledgements in them promise that step 1
 *     happened; sending earlier breaks election safety after a crash.
 *  3. Apply `snapshot` (if any) and then `committedEntries` to the state machine,
 *     in order. Committed entries are always already durable on this node.
 *  4. Serve each of `readStates` once the applied index reaches its `index`.
 *
 * Between `ready()` and `advance()` the driver must not call `step`, `tick` or
 * any request method: `ready()` hands the entries out, and the core treats them
 * as durable from `advance()` on.
 */
export interface Ready {
  softState?: SoftState;
  hardState?: HardState;
  snapshot?: Snapshot;
  entries: Entry[];
  messages: Message[];
  committedEntries: Entry[];
  readStates: ReadState[];
}

/** Outcomes of a request that are expected and not bugs (compare etcd-raft's ErrProposalDropped). */
export type RaftRefusal =
  | { code: 'not-leader'; leader: NodeId }
  | { code: 'transfer-in-progress'; leader: NodeId }
  | { code: 'membership-change-pending'; leader: NodeId }
  | { code: 'leader-not-ready'; leader: NodeId }
  | { code: 'invalid-membership-change'; leader: NodeId; reason: string }
  /** `forceNewConfiguration` was given an unusable voter list (empty, without this node, or naming a non-member). */
  | { code: 'invalid-forced-configuration'; leader: NodeId; reason: string };

export type ProposeResult = { ok: true; index: number; term: number } | ({ ok: false } & RaftRefusal);

export interface RaftOptions {
  id: NodeId;
  /** Ticks without hearing from a leader before a follower campaigns (randomized in [n, 2n)). */
  electionTicks: number;
  /**
   * Spread of the randomized election timeout: [electionTicks, electionTicks + jitter).
   * Default electionTicks (the paper's [T, 2T)). A narrower spread elects faster after a
   * leader dies, at the price of more split votes (PreVote keeps those cheap).
   */
  electionJitterTicks?: number;
  /** Ticks between leader heartbeats; must be well below electionTicks. */
  heartbeatTicks: number;
  /** Seeded random source in [0, 1): the core never calls Math.random. */
  random: () => number;
  /** Maximum AppendEntries in flight to one follower in replicate state. */
  maxInflight?: number;
  /** Maximum total size of entry data in one AppendEntries (at least one entry is always sent). */
  maxMsgBytes?: number;
  preVote?: boolean;
  checkQuorum?: boolean;
}

/** What a node recovered from storage at start; all empty for a brand-new node. */
export interface RaftRecovered {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous. */
  entries: Entry[];
}

export function emptyMessage(type: MessageType, from: NodeId, to: NodeId, term: number): Message {
  return {
    type,
    from,
    to,
    term,
    index: 0,
    logTerm: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    hintTerm: 0,
    context: '',
  };
}
