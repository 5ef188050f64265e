/**
 * `node init` through main() with a fake IO, in temp dirs under /tmp: the
 * config it writes is one the agent's own loader accepts (join_existing,
 * this node's [cluster.nodes.<id>] kind per --role), the identity file is
 * 0600, the data directory exists; an existing node is refused (exit 6,
 * naming the files) and left byte-for-byte alone; --force rewrites config and
 * identity but keeps the engine data; bad options are usage errors (exit 2)
 * that create nothing.
 */

import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { parseConfigText } from '../../agent/config/load.ts';
import { main, type Factory } from '../../src/cli.ts';
import { installedReleases } from '../../src/sandbox/cluster.ts';

const roots: string[] = [];
after(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});

/** A fresh temp dir; the node's data dir and config go below it. */
function tmp(): { root: string; dataDir: string; config: string; identity: string; pgdata: string } {
  const root = mkdtempSync('/tmp/rustydb-node-init-test-');
  roots.push(root);
  const dataDir = join(root, 'data');
  return { root, dataDir, config: join(root, 'etc', 'rustydb.conf'), identity: join(dataDir, 'agent', 'node-identity.json'), pgdata: join(dataDir, 'pgdata') };
}

async function run(args: string[], o: { tty?: boolean; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const tty = o.tty ?? false;
  const f: Factory = {
    io: { out: { write: (s: string) => (out += s) }, err: { write: (s: string) => (err += s) }, outIsTTY: tty, color: false, inIsTTY: tty, errIsTTY: tty },
    env: { RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test', ...o.env },
    cwd: o.cwd ?? '/',
  };
  const code = await main(args, f);
  return { code, out, err };
}

const init = (d: ReturnType<typeof tmp>, ...extra: string[]) =>
  run(['node', 'init', '--node-id', 'n2', '--cluster', 'prod', '--address', '127.0.0.1:7102', '--pg-port', '6102', '--data-dir', d.dataDir, '--config', d.config, '-o', 'json', ...extra]);

const mode = (p: string) => statSync(p).mode & 0o777;

test('node init writes a config the agent loads: joins an existing cluster, this node a voter; identity 0600; data dir', async () => {
  const d = tmp();
  const r = await init(d);
  assert.equal(r.code, 0, r.err);

  const cfg = parseConfigText(readFileSync(d.config, 'utf8'), d.config);
  assert.equal(cfg.cluster.nodeId, 'n2');
  assert.equal(cfg.cluster.clusterName, 'prod');
  assert.equal(cfg.cluster.joinExisting, true, 'without --bootstrap the node waits for `cluster join`');
  assert.equal(cfg.cluster.nodes.n2?.kind, 'voter');
  assert.equal(cfg.cluster.nodes.n2?.api, '127.0.0.1:7102');
  assert.equal(cfg.api.port, 7102);
  assert.equal(cfg.engine.port, 6102);
  assert.equal(cfg.engine.dataDir, d.pgdata);
  assert.equal(cfg.agent.stateDir, join(d.dataDir, 'agent'));

  const identity = JSON.parse(readFileSync(d.identity, 'utf8')) as { nodeId: string; cluster: string; nodeUuid: string };
  assert.equal(identity.nodeId, 'n2');
  assert.equal(identity.cluster, 'prod');
  assert.match(identity.nodeUuid, /^[0-9a-f-]{36}$/);
  assert.equal(mode(d.identity), 0o600, 'the identity is private to the agent');
  assert.equal(mode(join(d.dataDir, 'agent')), 0o700);
  assert.ok(statSync(d.dataDir).isDirectory());
  assert.equal(mode(d.dataDir), 0o755, 'the engine user must traverse the data dir');

  // -o json: one document on stdout, what was written and what to run next.
  const doc = JSON.parse(r.out) as Record<string, unknown>;
  assert.deepEqual(
    { ...doc, nodeUuid: 'x' },
    {
      node: 'n2', cluster: 'prod', role: 'follower', bootstrap: false, config: d.config, dataDir: d.dataDir, stateDir: join(d.dataDir, 'agent'), nodeUuid: 'x',
      next: [`rustydb-admin cluster join --node-id n2 --cluster-address <member-host>:5433 --config ${d.config}`],
      caFile: join(d.dataDir, 'agent', 'tls', 'ca.pem'),
    },
  );
  // TLS by default: a key (0600) and a self-signed certificate to serve until the join brings the CA's; no CA yet.
  assert.equal(cfg.tls.enabled, true);
  assert.equal(mode(cfg.tls.keyFile!), 0o600, 'the node key is private');
  assert.equal(new X509Certificate(readFileSync(cfg.tls.certFile!)).subject, 'CN=n2');
  assert.equal(existsSync(cfg.tls.caFile!), false, 'the CA comes with the join');
  assert.equal(cfg.tls.caKeyFile, null);
  assert.equal(doc.nodeUuid, identity.nodeUuid);
});

test('--bootstrap founds a cluster (join_existing false); --role observer/witness set the kind; a witness has no engine address', async () => {
  let d = tmp();
  let r = await init(d, '--bootstrap');
  assert.equal(r.code, 0, r.err);
  let cfg = parseConfigText(readFileSync(d.config, 'utf8'), d.config);
  assert.equal(cfg.cluster.joinExisting, false);
  assert.match((JSON.parse(r.out) as { next: string[] }).next[0], /^rustydb-agent --config /);
  // The founder makes the cluster CA (key 0600, imported by its first leader) and its own certificate, signed by it.
  assert.equal(mode(cfg.tls.caKeyFile!), 0o600);
  const ca = new X509Certificate(readFileSync(cfg.tls.caFile!));
  assert.ok(new X509Certificate(readFileSync(cfg.tls.certFile!)).checkIssued(ca));
  assert.equal(ca.ca, true);

  d = tmp();
  r = await init(d, '--role', 'observer');
  assert.equal(r.code, 0, r.err);
  cfg = parseConfigText(readFileSync(d.config, 'utf8'), d.config);
  assert.equal(cfg.cluster.nodes.n2?.kind, 'observer');
  assert.match((JSON.parse(r.out) as { next: string[] }).next[0], / --role observer$/);

  d = tmp();
  r = await init(d, '--role', 'witness');
  assert.equal(r.code, 0, r.err);
  const text = readFileSync(d.config, 'utf8');
  cfg = parseConfigText(text, d.config);
  assert.equal(cfg.cluster.nodes.n2?.kind, 'witness');
  assert.doesNotMatch(text.split('[engine]')[0], /^pg = /m, "a witness's entry names no engine address");
});

test('on a terminal: a sentence naming the files and the next command, nothing else on stdout', async () => {
  const d = tmp();
  const r = await run(['node', 'init', '--node-id', 'n2', '--cluster', 'prod', '--address', '127.0.0.1:7102', '--data-dir', d.dataDir, '--config', d.config], { tty: true });
  assert.equal(r.code, 0, r.err);
  assert.equal(
    r.out,
    `initialized node n2 of cluster prod: config ${d.config}, data ${d.dataDir}\nnext: rustydb-admin cluster join --node-id n2 --cluster-address <member-host>:5433 --config ${d.config}\n`,
  );
});

test('the config file defaults to $RUSTYDB_CONFIG; a relative --data-dir is resolved against the working directory', async () => {
  const d = tmp();
  const r = await run(['node', 'init', '--node-id', 'n2', '--cluster', 'prod', '--address', '127.0.0.1:7102', '--data-dir', 'data', '-o', 'json'], {
    env: { RUSTYDB_CONFIG: d.config },
    cwd: d.root,
  });
  assert.equal(r.code, 0, r.err);
  assert.ok(existsSync(d.config));
  assert.ok(existsSync(d.identity), 'data dir relative to cwd');
  assert.equal(parseConfigText(readFileSync(d.config, 'utf8'), d.config).engine.dataDir, d.pgdata);
});

test('an existing node is refused with exit 6 naming its files, and nothing is changed', async () => {
  const d = tmp();
  assert.equal((await init(d)).code, 0);
  const before = [d.config, d.identity].map((p) => ({ text: readFileSync(p, 'utf8'), mtime: statSync(p).mtimeMs }));

  const r = await init(d, '--role', 'observer');
  assert.equal(r.code, 6, r.err);
  assert.ok(r.err.includes(d.config), r.err);
  assert.ok(r.err.includes(d.identity), r.err);
  assert.match(r.err, /refusing to overwrite it; pass --force/);
  assert.equal(r.out, '');
  assert.deepEqual(
    [d.config, d.identity].map((p) => ({ text: readFileSync(p, 'utf8'), mtime: statSync(p).mtimeMs })),
    before,
  );

  // Engine data alone (a config elsewhere) is a node too.
  const other = tmp();
  mkdirSync(other.pgdata, { recursive: true });
  writeFileSync(join(other.pgdata, 'PG_VERSION'), '15\n');
  const r2 = await init(other);
  assert.equal(r2.code, 6, r2.err);
  assert.ok(r2.err.includes(other.pgdata), r2.err);
  assert.equal(existsSync(other.config), false);
  assert.equal(existsSync(other.identity), false);
});

test('--force rewrites the config and the identity but keeps the engine data', async () => {
  const d = tmp();
  assert.equal((await init(d)).code, 0);
  mkdirSync(d.pgdata, { recursive: true });
  writeFileSync(join(d.pgdata, 'PG_VERSION'), '15\n');
  const oldUuid = (JSON.parse(readFileSync(d.identity, 'utf8')) as { nodeUuid: string }).nodeUuid;

  const r = await init(d, '--role', 'observer', '--force');
  assert.equal(r.code, 0, r.err);
  assert.equal(parseConfigText(readFileSync(d.config, 'utf8'), d.config).cluster.nodes.n2?.kind, 'observer');
  const identity = JSON.parse(readFileSync(d.identity, 'utf8')) as { nodeUuid: string };
  assert.notEqual(identity.nodeUuid, oldUuid, 'a new identity');
  assert.equal(mode(d.identity), 0o600);
  assert.equal(readFileSync(join(d.pgdata, 'PG_VERSION'), 'utf8'), '15\n', 'the data is kept');
});

test('usage errors exit 2 and create nothing: bad --address, --bootstrap --role witness, unknown --engine-release, bad --pg-port, bad --role', async () => {
  const cases: [string[], RegExp][] = [
    [['--address', 'db1'], /--address must be host:port .*got "db1"/],
    [['--address', '127.0.0.1:99999'], /invalid rustydb\.conf/],
    [['--bootstrap', '--role', 'witness'], /a witness cannot found a cluster/],
    [['--engine-release', '99'], /--engine-release 99 is not installed here \(installed: /],
    [['--pg-port', '0'], /--pg-port must be a port number/],
    [['--role', 'leader'], /argument 'leader' is invalid/],
  ];
  for (const [extra, message] of cases) {
    const d = tmp();
    const r = await init(d, ...extra);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.err}`);
    assert.match(r.err, message, extra.join(' '));
    assert.equal(existsSync(d.dataDir), false, `${extra.join(' ')} created the data dir`);
    assert.equal(existsSync(d.config), false, `${extra.join(' ')} wrote the config`);
  }
  assert.equal((await run(['node', 'init', '--cluster', 'prod'])).code, 2, '--node-id is required');
});

test('--engine-release naming an installed major is written to the config', { skip: Object.keys(installedReleases()).length === 0 && 'no PostgreSQL under /usr/lib/postgresql' }, async () => {
  const release = Object.keys(installedReleases())[0];
  const d = tmp();
  const r = await init(d, '--engine-release', release);
  assert.equal(r.code, 0, r.err);
  const cfg = parseConfigText(readFileSync(d.config, 'utf8'), d.config);
  assert.equal(cfg.engine.release, release);
});
