/**
 * Smoke run of the fault fabric with a real cluster: a 3-node sandbox, one
 * network namespace per node, peer links through the link proxy; isolate the
 * primary from its peers (clients still reach it), wait for another node to
 * become primary and for the old one to stop accepting writes, heal, wait
 * until the old primary streams again; tear everything down; print timings.
 *
 *     node --import tsx test/faults/smoke.ts
 *
 * Started in the root namespace it creates the fabric and runs itself inside
 * the ctl namespace (where it finds the fabric in the environment). Exit 0 on
 * success and when the machine cannot run the suite (the reason is printed).
 */

import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Sandbox } from '../../src/sandbox/cluster.ts';
import { makeTestRoot } from '../integration/helpers/cli-sandbox.ts';
import { createFabric, fabricFromEnv, faultSupport, listNamespaces, reexecInside, type Fabric } from './net/fabric.ts';
import { createPartitioner, type Partitioner } from './net/partition.ts';
import { peerLinks, startLinkProxy, type LinkProxy } from './net/proxy.ts';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (line: string) => console.log(`[smoke ${new Date().toISOString().slice(11, 23)}] ${line}`);

const fabric = fabricFromEnv();
process.exitCode = fabric === null ? await outer() : await inner(fabric);

async function outer(): Promise<number> {
  const support = faultSupport();
  if (!support.ok) {
    console.log(`fault smoke skipped: ${support.reason}`);
    return 0;
  }
  const name = `smk${process.pid}`;
  let t = Date.now();
  const f = createFabric({ name, nodes: ['n1', 'n2', 'n3'] });
  log(`fabric ${name} created in ${secs(Date.now() - t)} (${f.namespaces().join(', ')})`);
  let code: number;
  try {
    ({ code } = await reexecInside(f, fileURLToPath(import.meta.url)));
  } finally {
    t = Date.now();
    f.destroy();
    log(`fabric destroyed in ${secs(Date.now() - t)}`);
  }
  const left = listNamespaces(`rdbf-${name}-`);
  if (left.length > 0) {
    console.error(`fault smoke: namespaces left behind: ${left.join(', ')}`);
    return 1;
  }
  console.log(code === 0 ? 'fault smoke: ok' : `fault smoke: FAILED (exit ${code})`);
  return code;
}

async function inner(f: Fabric): Promise<number> {
  const root = makeTestRoot('fault-smoke');
  const dir = join(root, 'sb');
  let sb: Sandbox | null = null;
  let proxy: LinkProxy | null = null;
  let parts: Partitioner | null = null;
  const timings: [string, number][] = [];
  try {
    sb = await Sandbox.open({
      dir,
      nodes: f.nodes.length,
      hosts: f.nodes.map((id) => f.addressOf(id)),
      spawnPrefix: (id) => ['ip', 'netns', 'exec', f.nsOf(id)],
    });
    const s = sb;
    // Before the agents start: connections opened earlier would bypass it.
    proxy = await startLinkProxy(f, peerLinks(f, Object.fromEntries(s.nodes().map((n) => [n.id, n.apiPort]))));
    parts = await createPartitioner(f);

    let t = Date.now();
    await s.up({ timeoutMs: 180_000, onProgress: (l) => log(l) });
    timings.push(['up (3 agents + PostgreSQL, healthy)', Date.now() - t]);
    const old = await s.primary();
    if (old === null) throw new Error('up() returned but no node answers /primary');
    const epoch0 = (await s.clusterView())?.epoch ?? 0;
    // Informative, not a failure of the fabric: can a client in the ctl namespace reach PostgreSQL as the sandbox's user?
    log(`clients from ${f.ctlAddress}: ${await clientCheck(s, old)}`);
    log(`primary is ${old} (epoch ${epoch0}); isolating it from its peers (clients still reach it)`);

    const isolatedAt = Date.now();
    await parts.isolate(old, { clients: false });
    log(`faults: ${parts.describe().join('; ')}`);
    let newPrimary: string | null = null;
    let oldStoppedAt: number | null = null;
    let newAt: number | null = null;
    let dualSamples = 0;
    const deadline = Date.now() + 120_000;
    while ((newAt === null || oldStoppedAt === null) && Date.now() < deadline) {
      const writable = await primaries(s);
      if (writable.length > 1) dualSamples++;
      if (oldStoppedAt === null && !writable.includes(old)) {
        oldStoppedAt = Date.now();
        log(`${old} no longer answers /primary (${secs(oldStoppedAt - isolatedAt)} after the isolation)`);
      }
      if (newAt === null) {
        const other = writable.find((id) => id !== old);
        const view = other ? await s.clusterView() : null;
        if (other && view && view.primary === other && view.writable) {
          newPrimary = other;
          newAt = Date.now();
          log(`${other} is the writable primary, epoch ${view.epoch} (${secs(newAt - isolatedAt)} after the isolation)`);
        }
      }
      await sleep(100);
    }
    if (newAt === null || newPrimary === null) throw new Error(`no other node became the writable primary within 120 s of isolating ${old}`);
    if (oldStoppedAt === null) throw new Error(`${old} still answered /primary 120 s after it was isolated`);
    timings.push([`old primary ${old} stops answering /primary`, oldStoppedAt - isolatedAt]);
    timings.push([`${newPrimary} writable primary (failover)`, newAt - isolatedAt]);

    const healedAt = Date.now();
    await parts.heal();
    log(`healed; waiting for ${old} to stream from ${newPrimary}`);
    t = Date.now();
    while (!(await isStreaming(s, old))) {
      if (Date.now() - t > 180_000) throw new Error(`${old} did not stream again within 180 s of the heal; its log:\n${s.logTail(old)}`);
      await sleep(200);
    }
    timings.push([`${old} streaming again after the heal`, Date.now() - healedAt]);
    await s.waitHealthy(120_000);
    timings.push(['whole cluster healthy after the heal', Date.now() - healedAt]);

    const proxied = proxy.stats().reduce((a, l) => a + l.accepted, 0);
    console.log('\nfault smoke timings:');
    for (const [what, ms] of timings) console.log(`  ${what.padEnd(44)} ${secs(ms)}`);
    console.log(`  peer connections through the proxy           ${proxied}`);
    console.log(`  samples with more than one /primary 200      ${dualSamples}`);
    if (proxied === 0) throw new Error('no peer connection went through the link proxy: the dnat rules did not apply');
    return 0;
  } catch (err) {
    console.error(`fault smoke failed: ${(err as Error).stack ?? String(err)}`);
    if (sb) for (const n of sb.nodes()) console.error(`--- ${n.id} (${n.logFile}) ---\n${sb.logTail(n.id, 15)}`);
    return 1;
  } finally {
    const t = Date.now();
    await parts?.dispose().catch((e: Error) => console.error(`partition cleanup: ${e.message}`));
    await proxy?.close().catch((e: Error) => console.error(`proxy cleanup: ${e.message}`));
    if (sb) await sb.down({ purge: true }).catch((e: Error) => console.error(`sandbox down: ${e.message}`));
    if (existsSync(root)) rmSync(root, { recursive: true, force: true });
    log(`sandbox down in ${secs(Date.now() - t)}`);
  }
}

/** Nodes whose `/primary` answers 200 right now (from the ctl namespace). */
async function primaries(s: Sandbox): Promise<string[]> {
  const codes = await Promise.all(s.nodes().map((n) => status(s, `${n.apiUrl}/primary`)));
  return s.nodes().filter((_, i) => codes[i] === 200).map((n) => n.id);
}

async function isStreaming(s: Sandbox, id: string): Promise<boolean> {
  return (await status(s, `${s.node(id).apiUrl}/replica?replication_state=streaming`)) === 200;
}

/** What a client in this namespace gets: node-postgres to `id` (pgConfigFor) and psql through the multi-host connectionString(). */
async function clientCheck(s: Sandbox, id: string): Promise<string> {
  const { default: pg } = await import('pg');
  const c = new pg.Client({ ...s.pgConfigFor(id), connectionTimeoutMillis: 5000 });
  c.on('error', () => {});
  let direct: string;
  try {
    await c.connect();
    await c.query('SELECT 1');
    direct = 'ok';
  } catch (err) {
    direct = `WARNING refused: ${(err as Error).message}`;
  } finally {
    await c.end().catch(() => {});
  }
  const { execFile } = await import('node:child_process');
  const viaPsql = await new Promise<string>((resolve) =>
    execFile('psql', [s.connectionString(), '-Atc', 'SELECT 1'], { timeout: 10_000 }, (err, _out, stderr) =>
      resolve(err ? `WARNING refused: ${String(stderr).trim() || err.message}` : 'ok'),
    ),
  );
  return `pg to ${id}: ${direct}; psql multi-host: ${viaPsql}`;
}

async function status(s: Sandbox, url: string): Promise<number | null> {
  try {
    const res = await s.apiFetch(url, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return null;
  }
}
