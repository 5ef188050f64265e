/**
 * Which role each control-API route needs: one table, so the rule for a route
 * is read in one place, the operator's note is generated from it
 * ({@link routeRoleTable}), and a unit test fails when a registered /v1 route
 * has no entry. A route missing from the table needs `admin` (fail closed).
 *
 * Roles: `admin` (everything), `operator` (reads plus the day-to-day
 * procedures: switchover, non-forced failover, drain/undrain, engine
 * stop/start, fence/unfence), `read-only` (GET only). `public` routes need no
 * token at all (the CA certificate a joining node pins by fingerprint).
 */

import { ROLES, type Role } from './tokens.ts';

/** What a route needs: a role, or nothing (`public`). */
export type Access = Role | 'public';

/** A rule that raises the needed role depending on the validated request (checked after validation). */
export interface Escalation {
  role: Role;
  /** For the table: when the escalation applies. */
  when: string;
  test(req: { body: unknown; query: unknown }): boolean;
}

export interface RouteRule {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** The route pattern as Fastify registers it. */
  url: string;
  role: Access;
  /** A join token (`Bearer rdbj_…`) is let through; the route's handler verifies it. */
  joinToken?: true;
  escalate?: Escalation;
}

const forced: Escalation = {
  role: 'admin',
  when: 'with "force": true',
  test: (req) => typeof req.body === 'object' && req.body !== null && (req.body as { force?: unknown }).force === true,
};

/** Every /v1 route and the least role it needs. Keep sorted by path. */
export const ROUTE_RULES: readonly RouteRule[] = [
  { method: 'GET', url: '/v1/audit', role: 'admin' },
  { method: 'GET', url: '/v1/cluster', role: 'read-only' },
  { method: 'POST', url: '/v1/cluster/failover', role: 'operator', escalate: forced },
  { method: 'GET', url: '/v1/cluster/health', role: 'read-only' },
  { method: 'POST', url: '/v1/cluster/rotate-certs', role: 'admin' },
  { method: 'POST', url: '/v1/cluster/switchover', role: 'operator' },
  { method: 'GET', url: '/v1/config', role: 'read-only' },
  { method: 'PUT', url: '/v1/config/:key', role: 'admin' },
  { method: 'GET', url: '/v1/history', role: 'read-only' },
  { method: 'POST', url: '/v1/join-tokens', role: 'admin' },
  { method: 'POST', url: '/v1/members', role: 'admin', joinToken: true },
  { method: 'GET', url: '/v1/members/:id', role: 'read-only' },
  { method: 'DELETE', url: '/v1/members/:id', role: 'admin' },
  { method: 'POST', url: '/v1/members/:id/fence', role: 'operator' },
  { method: 'POST', url: '/v1/members/:id/promote', role: 'admin' },
  { method: 'POST', url: '/v1/members/:id/undrain', role: 'operator' },
  { method: 'POST', url: '/v1/members/:id/unfence', role: 'operator' },
  { method: 'GET', url: '/v1/node', role: 'read-only' },
  { method: 'POST', url: '/v1/node/drain', role: 'operator' },
  { method: 'POST', url: '/v1/node/force-quorum', role: 'admin' },
  { method: 'POST', url: '/v1/node/join', role: 'admin', joinToken: true },
  { method: 'GET', url: '/v1/node/position', role: 'read-only' },
  { method: 'POST', url: '/v1/node/reinit', role: 'admin' },
  { method: 'POST', url: '/v1/node/start', role: 'operator' },
  { method: 'POST', url: '/v1/node/stop', role: 'operator' },
  { method: 'POST', url: '/v1/node/upgrade', role: 'operator' },
  { method: 'GET', url: '/v1/operations/:id', role: 'read-only' },
  { method: 'GET', url: '/v1/pki/ca', role: 'public' },
  { method: 'GET', url: '/v1/procedures/upgrade', role: 'read-only' },
  { method: 'PUT', url: '/v1/procedures/upgrade', role: 'operator' },
  { method: 'GET', url: '/v1/tokens', role: 'admin' },
  { method: 'POST', url: '/v1/tokens', role: 'admin' },
  { method: 'DELETE', url: '/v1/tokens/:id', role: 'admin' },
];

const BY_KEY = new Map(ROUTE_RULES.map((r) => [`${r.method} ${r.url}`, r]));

/** The rule of a route (method + pattern); unlisted routes get admin, the safe default. */
export function routeRule(method: string, url: string | undefined): RouteRule {
  const m = method === 'HEAD' ? 'GET' : method;
  return BY_KEY.get(`${m} ${url ?? ''}`) ?? { method: m as RouteRule['method'], url: url ?? '', role: 'admin' };
}

/** Whether the table lists this route (the coverage test). */
export function hasRouteRule(method: string, url: string): boolean {
  return BY_KEY.has(`${method} ${url}`);
}

/** One row per route for the operator's documentation: `GET /v1/cluster  read-only`. */
export function routeRoleTable(): { method: string; route: string; role: Access; note: string }[] {
  return ROUTE_RULES.map((r) => ({
    method: r.method,
    route: r.url,
    role: r.role,
    note: [r.escalate ? `${r.escalate.role} ${r.escalate.when}` : '', r.joinToken ? 'or a join token' : ''].filter(Boolean).join('; '),
  }));
}

/** The table as aligned text (for the note and `--help`). */
export function formatRouteRoleTable(): string {
  const rows = routeRoleTable();
  const w = Math.max(...rows.map((r) => `${r.method} ${r.route}`.length));
  return rows.map((r) => `${`${r.method} ${r.route}`.padEnd(w)}  ${r.role.padEnd(9)}${r.note ? `  (${r.note})` : ''}`.trimEnd()).join('\n');
}

export { ROLES };
