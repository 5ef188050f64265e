/**
 * One agent asks another (the Raft leader) for its Raft facts: its
 * `[cluster.raft]` timings, which `config get` shows as the cluster's, and
 * its view of every member's log position, which `cluster health` scores.
 * Only the leader tracks followers' positions, so whichever agent the
 * operator asked fetches them from the leader through this peer route.
 */

import type { FastifyPluginAsync } from 'fastify';
import type { RaftTiming } from './config-keys.ts';

/** Peer route (beside the HA loop's /internal/v1/*): no token, like the other agent-to-agent routes. */
export const RAFT_INFO_PATH = '/internal/v1/raft-info';

/** What an agent tells about its Raft node. */
export interface RaftInfo extends RaftTiming {
  nodeId: string;
  role: string;
  /** The leader this node knows; null when none. */
  leader: string | null;
  commit: number;
  /** Membership as of the applied index. */
  voters: string[];
  learners: string[];
  /** The leader's match index per member; empty on a follower. */
  match: Record<string, number>;
}

/** The peer route; `get` must not block (it reads the Raft node's status). */
export function raftInfoRoutes(get: () => RaftInfo): FastifyPluginAsync {
  return async (app) => {
    app.get(RAFT_INFO_PATH, { logLevel: 'warn' }, async () => get());
  };
}

/** The Raft facts of the agent at `apiUrl`; throws on no answer within `timeoutMs` or a non-200. */
export async function fetchRaftInfo(apiUrl: string, timeoutMs: number): Promise<RaftInfo> {
  const { request } = await import('undici');
  const { peerDispatcher } = await import('../security/tls-client.ts');
  const res = await request(new URL(RAFT_INFO_PATH, apiUrl), { method: 'GET', signal: AbortSignal.timeout(timeoutMs), dispatcher: peerDispatcher() });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${apiUrl}${RAFT_INFO_PATH}: HTTP ${res.statusCode}: ${text.slice(0, 200)}`);
  return JSON.parse(text) as RaftInfo;
}
