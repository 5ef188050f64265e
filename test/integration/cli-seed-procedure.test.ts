/**
 * The seed's operational procedure run as written, as a shell script, against
 * real agents and PostgreSQL on loopback (scripts/seed-procedure.sh):
 * node init -> cluster join -> cluster status -> node drain -> cluster remove
 * -> node stop. Every step must exit 0, and the cluster must then be what the
 * steps promise: n1 and n2 voters with a writable primary, n3 gone from the
 * members with its engine stopped. (The dropped slot is checked in node-admin.test.ts.)
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterView, NodeView } from '../../agent/api/wire.ts';
import { findFreePorts } from '../../src/sandbox/ports.ts';
import { Agent, request } from 'undici';
import { ADMIN_BIN as ADMIN, childEnv, makeTestRoot, runCommand, stopEverythingUnder } from './helpers/cli-sandbox.ts';

const AGENT = fileURLToPath(new URL('../../bin/rustydb-agent', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./scripts/seed-procedure.sh', import.meta.url));

const root = makeTestRoot('seed-procedure');

after(async () => {
  await stopEverythingUnder(root);
  rmSync(root, { recursive: true, force: true });
});

test('the seed procedure runs as a shell script, every step exits 0, and the cluster ends as the steps say', { timeout: 300_000 }, async () => {
  const [p1, p2, p3, g1, g2, g3] = await findFreePorts(6);
  const env = childEnv(root, {
    ROOT: root, ADMIN, AGENT,
    P1: String(p1), P2: String(p2), P3: String(p3), G1: String(g1), G2: String(g2), G3: String(g3),
    RUSTYDB_CONFIG_DIR: join(root, 'admin-config'),
  });
  const out = await runCommand('bash', [SCRIPT], env, 280_000, 16 * 1024 * 1024);
  const steps = [...out.stdout.matchAll(/^STEP (\S+) (\d+)$/gm)].map((m) => [m[1], Number(m[2])] as const);
  assert.deepEqual(
    steps,
    ['init-n1', 'init-n2', 'init-n3', 'start-n1', 'join-n2', 'join-n3', 'status', 'drain-n3', 'remove-n3', 'stop-n3'].map((s) => [s, 0]),
    `every step exits 0; stderr:\n${out.stderr.slice(-4000)}`,
  );

  // `cluster status -o json` during the procedure: three voters, one writable primary.
  const during = JSON.parse(readFileSync(join(root, 'status.json'), 'utf8')) as ClusterView;
  assert.equal(during.name, 'seed');
  assert.deepEqual(during.members.map((m) => m.id), ['n1', 'n2', 'n3']);
  assert.equal(during.quorum.voters, 3);
  assert.equal(during.writable, true);

  // After: n3 is gone, the other two carry on.
  // Over TLS with the CA n1's node init made, and the admin token it printed.
  const dispatcher = new Agent({ connect: { ca: readFileSync(join(root, 'n1', 'agent', 'tls', 'ca.pem'), 'utf8') } });
  const headers = { authorization: `Bearer ${(JSON.parse(readFileSync(join(root, 'init-n1.json'), 'utf8')) as { adminToken: string }).adminToken}` };
  const get = async <T>(url: string) => (await (await request(url, { dispatcher, headers })).body.json()) as T;
  const view = await get<ClusterView>(`https://127.0.0.1:${p1}/v1/cluster`);
  assert.deepEqual(view.members.map((m) => m.id), ['n1', 'n2']);
  assert.equal(view.quorum.voters, 2);
  assert.equal(view.writable, true);
  const n3 = await get<NodeView>(`https://127.0.0.1:${p3}/v1/node`);
  assert.equal(n3.engine.running, false, "n3's engine is stopped");
  assert.equal(n3.engineHeld, true);
});
