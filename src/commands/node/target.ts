/**
 * Finding a node's own agent: node procedures (drain, stop, start, reinit)
 * run on the node they are about, so the CLI asks the cluster (any endpoint)
 * for the node's API URL and then talks to that agent. A removed node is no
 * longer in the cluster view; its tombstone still names its agent.
 */

import { API_PATHS, type ClusterView, type MemberView } from '../../../agent/api/wire.ts';
import { memberPath, type MemberAnswer } from '../../../agent/api/wire-admin.ts';
import { ApiClient, ApiRequestError, DEFAULT_REQUEST_TIMEOUT_MS } from '../../api/client.ts';
import type { Target } from '../../contexts.ts';
import { CliError } from '../../errors.ts';

export interface NodeTarget {
  /** Any agent of the cluster (the endpoints). */
  cluster: ApiClient;
  /** The node's own agent. */
  node: ApiClient;
  view: ClusterView;
  /** The node in the cluster view; null for a removed node (found by its tombstone). */
  member: MemberView | null;
  apiUrl: string;
}

export async function findNode(target: Target, id: string, timeoutMs = DEFAULT_REQUEST_TIMEOUT_MS): Promise<NodeTarget> {
  const cluster = new ApiClient(target.endpoints, { timeoutMs });
  const view = await cluster.get<ClusterView>(API_PATHS.cluster);
  const member = view.members.find((m) => m.id === id) ?? null;
  let apiUrl = member?.apiUrl ?? null;
  if (apiUrl === null) {
    // Only "no such member" means none; an unreachable agent or a refused token is reported as it is.
    const tomb = await cluster.get<MemberAnswer>(memberPath(id)).catch((err: unknown) => {
      if (err instanceof ApiRequestError && err.status === 404) return null;
      throw err;
    });
    if (!tomb) throw new CliError('precondition', `no member "${id}" in cluster ${view.name}; members: ${view.members.map((m) => m.id).join(', ') || 'none'}`);
    apiUrl = tomb.member.apiUrl;
  }
  return { cluster, node: new ApiClient([apiUrl], { timeoutMs }), view, member, apiUrl };
}
