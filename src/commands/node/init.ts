/**
 * `rustydb-admin node init --node-id ID --cluster NAME [--data-dir DIR]
 * [--address host:port] [--pg-port N] [--engine-release R] [--role R]
 * [--bootstrap] [--config FILE] [--force]`: prepare this machine to run a
 * node. Writes rustydb.conf (validated with the agent's own loader before
 * anything is written), creates the data directory and the node's identity
 * (a UUID kept next to the agent's state). Without --bootstrap the node is
 * set to join an existing cluster (`cluster join`); with it, it founds a new
 * one. Refuses to overwrite an existing node unless --force (exit 6).
 */

import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseConfigText } from '../../../agent/config/load.ts';
import { ConfigError } from '../../../agent/config/schema.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { installedReleases } from '../../sandbox/cluster.ts';
import { newBootstrapToken } from '../../../agent/security/bootstrap.ts';
import { createCa, createKeyAndCsr, issueNodeCert, sanList, selfSignedCert, writePublicFile, writeSecretFile } from '../../../agent/security/pki.ts';

export const DEFAULT_CONFIG_FILE = '/etc/rustydb/rustydb.conf';
export const ROLES = ['follower', 'observer', 'witness'] as const;
export type JoinRole = (typeof ROLES)[number];
/** A role as the operator names it -> the member kind the cluster records. */
export const KIND_OF_ROLE = { follower: 'voter', observer: 'observer', witness: 'witness' } as const;

export interface InitOptions {
  output: OutputFormat;
  nodeId: string;
  cluster: string;
  dataDir: string;
  address: string;
  pgPort: number;
  release: string | null;
  role: JoinRole;
  bootstrap: boolean;
  configFile: string;
  force: boolean;
  /** TLS 1.3 with a cluster CA (default); false: plain HTTP, for a lab or a network that has its own. */
  tls: boolean;
}

/** The config file `node init` wrote and `cluster join` reads: --config, else RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf. */
export function configFileFrom(given: string | undefined, f: Factory): string {
  return resolve(f.cwd, given ?? f.env.RUSTYDB_CONFIG ?? DEFAULT_CONFIG_FILE);
}

const port = (what: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError(`${what} must be a port number (1-65535), got "${v}".`);
  return n;
};

export function newCmdNodeInit(f: Factory, runF: (o: InitOptions) => Promise<void> = (o) => initRun(f, o)): Command {
  return new Command('init')
    .description('prepare this machine to run a node: write rustydb.conf, create the data directory and the node identity')
    .requiredOption('--node-id <id>', "this node's name in the cluster (lower-case letter, then letters, digits, _ or -)")
    .requiredOption('--cluster <name>', 'the cluster this node belongs to (the same on every node)')
    .option('--data-dir <dir>', 'where the engine data (pgdata/) and agent state (agent/) live', '/var/lib/rustydb')
    .option('--address <host:port>', "where other nodes reach this node's agent (default: <hostname>:5433)")
    .addOption(new Option('--pg-port <port>', "the engine's port").default(5432).argParser(port('--pg-port')))
    .option('--engine-release <release>', 'the engine release to run (a PostgreSQL major installed here, e.g. 15)')
    .addOption(new Option('--role <role>', 'what the node will be').choices([...ROLES]).default('follower'))
    .option('--bootstrap', 'this node founds a new cluster (the first node); otherwise it waits for `cluster join`', false)
    .option('--config <file>', `where to write rustydb.conf (default: $RUSTYDB_CONFIG, else ${DEFAULT_CONFIG_FILE})`)
    .option('--force', 'overwrite the config and identity of an existing node (its data is kept)', false)
    .option('--no-tls', 'plain HTTP instead of TLS 1.3 with the cluster CA (only where the network is otherwise protected)')
    .addHelpText('after', '\nExamples:\n  rustydb-admin node init --node-id n1 --cluster prod --address 10.0.0.1:5433 --bootstrap\n  rustydb-admin node init --node-id n2 --cluster prod --address 10.0.0.2:5433\n')
    .action(async (opts: { nodeId: string; cluster: string; dataDir: string; address?: string; pgPort: number; engineRelease?: string; role: JoinRole; bootstrap: boolean; config?: string; force: boolean; tls: boolean }, cmd: Command) => {
      await runF({
        output: outputFormat(cmd),
        nodeId: opts.nodeId,
        cluster: opts.cluster,
        dataDir: resolve(f.cwd, opts.dataDir),
        address: opts.address ?? `${hostname()}:5433`,
        pgPort: opts.pgPort,
        release: opts.engineRelease ?? null,
        role: opts.role,
        bootstrap: opts.bootstrap,
        configFile: configFileFrom(opts.config, f),
        force: opts.force,
        tls: opts.tls,
      });
    });
}

export async function initRun(f: Factory, o: InitOptions): Promise<void> {
  const m = /^(.+):(\d{1,5})$/.exec(o.address);
  if (!m) throw new CliError('usage', `--address must be host:port (e.g. 10.0.0.1:5433), got "${o.address}"`);
  const [host, apiPort] = [m[1], Number(m[2])];
  if (o.role === 'witness' && o.bootstrap) throw new CliError('usage', 'a witness cannot found a cluster (it runs no database): bootstrap a follower first, then join the witness');
  const stateDir = join(o.dataDir, 'agent');
  const engineDir = join(o.dataDir, 'pgdata');
  const identityFile = join(stateDir, 'node-identity.json');

  const existing = [o.configFile, identityFile].filter((p) => existsSync(p));
  if (existsSync(engineDir) && readdirSync(engineDir).length > 0) existing.push(engineDir);
  if (existing.length > 0 && !o.force) {
    throw new CliError('conflict', `this machine already has a node (${existing.join(', ')}): refusing to overwrite it; pass --force to rewrite its config and identity (data is kept), or use another --config/--data-dir`);
  }

  const releases = installedReleases();
  if (o.release !== null && !Object.hasOwn(releases, o.release)) {
    throw new CliError('usage', `--engine-release ${o.release} is not installed here (installed: ${Object.keys(releases).join(', ') || 'none under /usr/lib/postgresql'})`);
  }
  // The founder's first admin token: only its hash goes to disk ([security] bootstrap_token_file); the plaintext is printed once.
  const bootstrapFile = join(stateDir, 'bootstrap-token.json');
  const admin = o.bootstrap ? await newBootstrapToken('admin') : null;
  const tls = tlsFiles(stateDir);
  const text =
    renderConfig(o, host, apiPort, stateDir, engineDir, releases) +
    (admin ? `\n[security]\nbootstrap_token_file = ${toml(bootstrapFile)}\n` : '') +
    (!o.tls ? '' : `\n[tls]\nenabled = true\ncert_file = ${toml(tls.cert)}\nkey_file = ${toml(tls.key)}\nca_file = ${toml(tls.ca)}\n${o.bootstrap ? `ca_key_file = ${toml(tls.caKey)}\n` : ''}`);
  try {
    parseConfigText(text, o.configFile);
  } catch (err) {
    throw new CliError('usage', `these options make an invalid rustydb.conf; fix them:\n${err instanceof ConfigError ? err.message : String(err)}`);
  }

  // Directories, then the identity, then the config last: a config without an identity would be a node that never was.
  mkdirSync(o.dataDir, { recursive: true, mode: 0o755 });
  chmodSync(o.dataDir, 0o755); // the engine user (postgres, when we are root) must traverse it
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const identity = { nodeId: o.nodeId, cluster: o.cluster, nodeUuid: randomUUID(), createdAt: new Date().toISOString() };
  writeAtomic(identityFile, JSON.stringify(identity, null, 2) + '\n', 0o600);
  if (admin) writeAtomic(bootstrapFile, JSON.stringify(admin.file) + '\n', 0o600);
  if (o.tls) writeTls(o, host, tls);
  mkdirSync(dirname(o.configFile), { recursive: true });
  writeAtomic(o.configFile, text, 0o644);

  const next = o.bootstrap
    ? [`rustydb-agent --config ${o.configFile}   (or start the rustydb-agent service)`]
    : [`rustydb-admin cluster join --node-id ${o.nodeId} --cluster-address <member-host>:5433 --config ${o.configFile}${o.role === 'follower' ? '' : ` --role ${o.role}`}`];
  if (o.output === 'json') {
    printJson(f.io, { node: o.nodeId, cluster: o.cluster, role: o.role, bootstrap: o.bootstrap, config: o.configFile, dataDir: o.dataDir, stateDir, nodeUuid: identity.nodeUuid, next, ...(o.tls && { caFile: tls.ca }), ...(admin && { adminToken: admin.token }) });
    return;
  }
  f.io.out.write(`initialized node ${o.nodeId} of cluster ${o.cluster}${o.bootstrap ? ' (founds the cluster)' : ''}: config ${o.configFile}, data ${o.dataDir}\nnext: ${next.join('\n      ')}\n`);
  if (o.bootstrap && o.tls) f.io.out.write(`cluster CA certificate (trust it: RUSTYDB_CA_FILE or the context's ca_file): ${tls.ca}\n`);
  if (admin) {
    f.io.out.write(
      `admin API token (shown only this once; store it in a 0600 file and name it in your context's token_file, or export RUSTYDB_TOKEN):\n  ${admin.token}\n`,
    );
  }
}

const toml = (s: string) => JSON.stringify(s);

/** Where a node keeps its TLS files (certificates 0644, keys 0600). */
export function tlsFiles(stateDir: string): { cert: string; key: string; ca: string; caKey: string } {
  const d = join(stateDir, 'tls');
  return { cert: join(d, 'node.pem'), key: join(d, 'node-key.pem'), ca: join(d, 'ca.pem'), caKey: join(d, 'ca-key.pem') };
}

/**
 * The founder creates the cluster CA and its own certificate; a joining node
 * makes its key and a self-signed certificate to serve until its join brings
 * one signed by the CA. Existing files are kept (a --force re-init must not
 * replace the CA of a running cluster).
 */
function writeTls(o: InitOptions, host: string, f: ReturnType<typeof tlsFiles>): void {
  const sans = sanList([host, '127.0.0.1', 'localhost']);
  if (existsSync(f.cert) && existsSync(f.key)) return;
  if (o.bootstrap) {
    const ca = existsSync(f.ca) && existsSync(f.caKey) ? null : createCa({ clusterName: o.cluster });
    if (ca) {
      writeSecretFile(f.caKey, ca.keyPem);
      writePublicFile(f.ca, ca.certPem);
    }
    const issued = issueNodeCert(ca ?? { certPem: readFileSync(f.ca, 'utf8'), keyPem: readFileSync(f.caKey, 'utf8') }, { commonName: o.nodeId, sans });
    writeSecretFile(f.key, issued.keyPem);
    writePublicFile(f.cert, issued.certPem);
    return;
  }
  const keyPem = existsSync(f.key) ? readFileSync(f.key, 'utf8') : createKeyAndCsr(o.nodeId).keyPem;
  writeSecretFile(f.key, keyPem);
  writePublicFile(f.cert, selfSignedCert(keyPem, { commonName: o.nodeId, sans }));
}

function renderConfig(o: InitOptions, host: string, apiPort: number, stateDir: string, engineDir: string, releases: Record<string, string>): string {
  const kind = KIND_OF_ROLE[o.role];
  const lines = [
    `# Written by \`rustydb-admin node init\` on ${new Date().toISOString()}; see rustydb.conf(5) for every key.`,
    '[cluster]',
    `node_id = ${toml(o.nodeId)}`,
    `cluster_name = ${toml(o.cluster)}`,
    `node_address = ${toml(host)}`,
    `raft_port = ${apiPort}`,
    `join_existing = ${!o.bootstrap}`,
    '',
    // This node's own entry: its addresses and kind. A founder's list is the initial membership.
    `[cluster.nodes.${o.nodeId}]`,
    `api = ${toml(`${host}:${apiPort}`)}`,
    ...(kind === 'witness' ? [] : [`pg = ${toml(`${host}:${o.pgPort}`)}`]),
    `kind = ${toml(kind)}`,
    '',
    '[engine]',
    `data_dir = ${toml(engineDir)}`,
    `port = ${o.pgPort}`,
    `listen_address = ${toml(host)}`,
  ];
  if (o.release !== null) lines.push(`release = ${toml(o.release)}`);
  if (Object.keys(releases).length > 0) lines.push('', '[engine.releases]', ...Object.entries(releases).map(([n, b]) => `${toml(n)} = ${toml(b)}`));
  lines.push('', '[api]', `listen_address = ${toml(host)}`, `port = ${apiPort}`, '', '[agent]', `state_dir = ${toml(stateDir)}`, '');
  return lines.join('\n');
}

function writeAtomic(path: string, content: string, mode: number): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}
