/**
 * The liveness check, run once every fault has healed: within `bound` ticks a
 * leader followed by a quorum appears and a fresh proposal (the marker)
 * commits; then every member applies it. A member far behind may need a while
 * with tiny flow-control settings, so catching up is bounded by progress: no
 * lagging member may go `stall` ticks *with a leader around* without applying
 * anything, and the cluster may not stay leaderless for `bound` ticks (a
 * committed removal of the leader legitimately costs one more election).
 */
import type { NodeId } from '../../agent/raft/types.ts';
import type { SimNode } from './sim-node.ts';
import { Violation } from './violation.ts';

/** What the check needs from the simulation. */
export interface LivenessHost {
  now(): number;
  /** Advance the whole simulation by one tick. */
  step(): void;
  leaderWithQuorum(): SimNode | undefined;
  /** Term of the entry some node applied at `index`, if any did. */
  appliedTermAt(index: number): number | undefined;
  /** Members of the committed configuration that have not applied `index`. */
  lagging(index: number): NodeId[];
  node(id: NodeId): SimNode | undefined;
  /** Clients stop starting operations (the log stops growing). */
  stopClients(): void;
  /** One line on every node and the leader's view, for the failure message. */
  describeCluster(): string;
  trace(text: string): void;
}

interface Marker {
  index: number;
  term: number;
}

export function checkLiveness(host: LivenessHost, bound: number, stall: number, markerData: string): void {
  const start = host.now();
  const marker = commitMarker(host, bound, markerData);
  host.trace(`liveness: marker ${marker.index}/t${marker.term} committed ${host.now() - start} ticks after healing`);
  host.stopClients();
  const stalled = new Map<NodeId, { index: number; ticks: number }>();
  let leaderless = 0;
  for (;;) {
    const lagging = host.lagging(marker.index);
    if (lagging.length === 0) break;
    const led = host.leaderWithQuorum() !== undefined;
    leaderless = led ? 0 : leaderless + 1;
    if (leaderless >= bound) {
      fail(host, `marker ${marker.index}/t${marker.term} is committed, not yet applied by ${lagging.join(',')}, and no leader followed by a quorum for ${bound} ticks`);
    }
    for (const id of lagging) {
      const seen = stalled.get(id);
      const applied = host.node(id)?.kv.appliedIndex ?? -1;
      if (!seen || applied > seen.index) stalled.set(id, { index: applied, ticks: 0 });
      else if (led && ++seen.ticks >= stall) {
        fail(host, `marker ${marker.index}/t${marker.term} is committed but ${id} applied nothing for ${stall} ticks with a leader (stuck at ${applied})`);
      }
    }
    host.step();
  }
  host.trace(`liveness ok: marker applied everywhere ${host.now() - start} ticks after healing`);
}

/** Propose the marker on a leader followed by a quorum until it commits; re-propose if its slot is lost. */
function commitMarker(host: LivenessHost, bound: number, data: string): Marker {
  const start = host.now();
  let marker: Marker | null = null;
  for (;;) {
    if (host.now() - start >= bound) {
      const leader = host.leaderWithQuorum();
      const why = !leader
        ? 'no leader followed by a quorum'
        : !marker
          ? `leader ${leader.id} never accepted the marker proposal`
          : `marker ${marker.index}/t${marker.term} is not committed`;
      fail(host, `${bound} ticks after healing, ${why}`);
    }
    host.step();
    if (marker) {
      const t = host.appliedTermAt(marker.index);
      if (t === marker.term) return marker;
      if (t !== undefined) marker = null; // lost to another leader's entry: propose again
    }
    const leader = host.leaderWithQuorum();
    if (!marker && leader) {
      const r = leader.call((c) => c.propose(data));
      if (r?.ok) {
        marker = { index: r.index, term: r.term };
        host.trace(`liveness marker proposed at ${r.index}/t${r.term} on ${leader.id}`);
      }
    }
  }
}

function fail(host: LivenessHost, why: string): never {
  throw new Violation('liveness', `${why}. ${host.describeCluster()}`);
}
