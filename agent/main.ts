/**
 * rustydb-agent: load the config, open the Raft state, start the control API
 * (one listener for peers and operators), wait for the cluster's engine
 * credentials, then run the HA loop. Exit codes: 0 clean stop, 1 runtime
 * failure, 2 invalid configuration or usage.
 */

import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import pino from 'pino';
import { buildApp } from './api/app.ts';
import { internalRoutes } from './api/routes/internal.ts';
import { loadConfig } from './config/load.ts';
import { ConfigError, type AgentConfig } from './config/schema.ts';
import type { EngineDriver, EngineSettings } from './engine/driver.ts';
import { PostgresDriver, findBinDir } from './engine/postgres/index.ts';
import { LocalStateFile } from './ha/local-state.ts';
import { HaLoop } from './ha/loop.ts';
import { PeerClient } from './ha/peers.ts';
import { RaftNode } from './raft/node.ts';
import { openSqliteStorage } from './raft/storage.ts';
import { HttpTransport, raftPeerRoutes } from './raft/transport.ts';
import { ClusterState } from './state/cluster-state.ts';
import type { ClusterConfigRecord, MemberRecord } from './state/records.ts';
import { makeApiDeps } from './views.ts';
import { loadPeers, makeAdmin, splitHostPort } from './admin.ts';
import { makeForceQuorum } from './procedures/force-quorum.ts';
import { makeUpgradeNode, recoverInterruptedUpgrade, type UpgradeNodeOptions } from './procedures/upgrade-node.ts';
import type { Server as HttpsServer } from 'node:https';
import { pkiPeerRoutes } from './api/routes/pki.ts';
import { NodeCerts } from './security/node-certs.ts';
import { NodeTls, readTlsMaterial, serverTlsOptions, setAgentTls, TlsFilesError } from './security/tls-client.ts';
import { AuditLog } from './security/audit.ts';
import { makeAuth } from './security/auth.ts';
import { BootstrapTokenError, importBootstrapToken, readBootstrapTokenFile } from './security/bootstrap.ts';
import type { BootstrapTokenFile } from './security/tokens.ts';

const SECRETS_KEY = '/rustydb/secrets';

interface EngineSecrets {
  superuserPassword: string;
  replicationPassword: string;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('rustydb-agent')
    .description('RustyDB node agent: supervises the local PostgreSQL, takes part in the Raft group, serves the control API')
    .requiredOption('-c, --config <file>', 'path to rustydb.conf')
    .option('--data-dir <dir>', 'state directory (agent state in <dir>/agent, engine data in <dir>/pgdata) unless the file sets them')
    .option('--log-level <level>', 'trace | debug | info | warn | error')
    .exitOverride();
  try {
    program.parse(argv, { from: 'user' });
  } catch (err) {
    return (err as { exitCode?: number }).exitCode === 0 ? 0 : 2;
  }
  const opts = program.opts<{ config: string; dataDir?: string; logLevel?: string }>();

  let cfg: AgentConfig;
  try {
    cfg = loadConfig(opts.config, { dataDir: opts.dataDir, logLevel: opts.logLevel });
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`rustydb-agent: invalid configuration, not starting:\n${err.message}\n`);
      return 2;
    }
    process.stderr.write(`rustydb-agent: cannot read ${opts.config}: ${(err as Error).message}\n`);
    return 2;
  }
  return run(cfg);
}

async function run(cfg: AgentConfig): Promise<number> {
  const log = pino({ level: cfg.agent.logLevel, base: { node: cfg.cluster.nodeId } });
  const self = cfg.cluster.nodeId;
  const selfEntry = cfg.cluster.nodes[self];
  const kind = selfEntry?.kind ?? 'voter';
  mkdirSync(cfg.agent.stateDir, { recursive: true, mode: 0o700 });
  // TLS: one identity for the listener and every call to a peer (null: plain HTTP, configs from before TLS).
  let nodeTls: NodeTls | null = null;
  try {
    if (cfg.tls.enabled) nodeTls = new NodeTls(readTlsMaterial(cfg.tls));
  } catch (err) {
    if (!(err instanceof TlsFilesError)) throw err;
    process.stderr.write(`rustydb-agent: ${err.message}\n`);
    return 2;
  }
  setAgentTls(nodeTls);
  const scheme = nodeTls ? 'https' : 'http';

  // Addresses a joining node learned from the member it joined through come first; the config wins.
  const peersFile = join(cfg.agent.stateDir, 'peers.json');
  const peerUrls: Record<string, string> = loadPeers(peersFile);
  for (const [id, n] of Object.entries(cfg.cluster.nodes)) peerUrls[id] = `${scheme}://${n.api}`;
  // Observers follow the Raft log as learners: they see the state but never vote.
  const voters = Object.entries(cfg.cluster.nodes).filter(([, n]) => n.kind !== 'observer').map(([id]) => id);
  const learners = Object.entries(cfg.cluster.nodes).filter(([, n]) => n.kind === 'observer').map(([id]) => id);

  const storage = openSqliteStorage(join(cfg.agent.stateDir, 'raft.db'));
  const transport = new HttpTransport({ selfId: self, peers: peerUrls, connect: nodeTls?.connect, logger: log.child({ part: 'raft' }) });
  let fatal: Error | null = null;
  const raft = new RaftNode({
    id: self,
    storage,
    transport,
    settings: cfg.cluster.raft,
    peers: peerUrls,
    // A joining node never founds a cluster: it waits until the leader adds it.
    bootstrap: cfg.cluster.joinExisting ? undefined : voters.length > 0 ? { voters, learners } : { voters: [self] },
    storageDir: cfg.agent.stateDir,
    logger: log.child({ part: 'raft' }),
    onFatal: (err) => {
      fatal = err;
      log.fatal({ err: err.message }, 'raft stopped: the node cannot go on safely');
      shutdown('fatal');
    },
  });
  const state = new ClusterState(raft);
  const peers = new PeerClient(Math.max(500, cfg.cluster.raft.heartbeatIntervalMs));
  const local = new LocalStateFile(join(cfg.agent.stateDir, 'ha-state.json'));
  const intervalMs = cfg.cluster.raft.heartbeatIntervalMs;

  const defaults: ClusterConfigRecord = {
    haMode: cfg.ha.mode ?? (Object.values(cfg.cluster.nodes).filter((n) => n.kind === 'voter').length === 2 ? 'active_passive' : 'active_active'),
    autoFailover: cfg.ha.autoFailover,
    minQuorumSize: cfg.ha.minQuorumSize,
    failoverTimeoutMs: cfg.ha.failoverTimeoutMs,
    leaseMs: cfg.ha.leaseMs,
    durability: cfg.ha.durability,
  };
  const seedMembers: MemberRecord[] = Object.entries(cfg.cluster.joinExisting ? {} : cfg.cluster.nodes).map(([id, n]) => {
    const [pgHost, pgPort] = n.pg ? splitHostPort(n.pg) : [null, null];
    return { id, kind: n.kind, apiUrl: `${scheme}://${n.api}`, pgHost, pgPort, region: n.region, weight: n.weight, tags: n.tags, adminState: 'active' };
  });

  // The driver is built once the cluster's engine credentials are known (they live in the replicated state).
  let driver: EngineDriver | null = null;
  const loop = new HaLoop({
    self: { id: self, kind },
    raft: { isLeader: () => raft.isLeader(), leader: () => raft.leader(), transferLeadership: (to) => raft.transferLeadership(to) },
    state,
    driver: null,
    peers,
    local,
    intervalMs,
    electionTimeoutMs: cfg.cluster.raft.electionTimeoutMs,
    defaults,
    seedMembers,
    clusterName: cfg.cluster.clusterName,
    logger: log.child({ part: 'ha' }),
  });

  const [selfPgHost, selfPgPort] = selfEntry?.pg ? splitHostPort(selfEntry.pg) : kind === 'witness' ? [null, null] : [cfg.cluster.nodeAddress, cfg.engine.port];
  const certs = nodeTls
    ? new NodeCerts({
        nodeId: self,
        tls: nodeTls,
        files: { certFile: cfg.tls.certFile!, keyFile: cfg.tls.keyFile!, caFile: cfg.tls.caFile! },
        state,
        raft,
        logger: log.child({ part: 'pki' }),
      })
    : undefined;
  const admin = makeAdmin({
    nodeId: self,
    kind,
    clusterName: cfg.cluster.clusterName,
    selfRecord: {
      id: self,
      kind,
      apiUrl: `${scheme}://${selfEntry?.api ?? `${cfg.cluster.nodeAddress}:${cfg.api.port}`}`,
      pgHost: selfPgHost,
      pgPort: selfPgPort,
      region: selfEntry?.region ?? 'default',
      weight: selfEntry?.weight ?? 1,
      tags: selfEntry?.tags ?? [],
    },
    loop,
    state,
    raft,
    peers,
    peersFile,
    logger: log.child({ part: 'admin' }),
    certs,
  });
  // Force-quorum probes survivors and lost voters: a slower answer than the HA loop's must not read as "lost".
  const forceQuorum = makeForceQuorum({ nodeId: self, kind, clusterName: cfg.cluster.clusterName, raft, state, loop, peers: new PeerClient(Math.max(2000, 4 * cfg.cluster.raft.heartbeatIntervalMs)), logger: log.child({ part: 'force-quorum' }) });
  // A bad bootstrap token file is the operator's to fix: refuse to start rather than run with no way in.
  let bootstrapToken: BootstrapTokenFile | null = null;
  if (cfg.security.bootstrapTokenFile) {
    try {
      bootstrapToken = readBootstrapTokenFile(cfg.security.bootstrapTokenFile);
    } catch (err) {
      if (!(err instanceof BootstrapTokenError)) throw err;
      log.fatal({ err: err.message }, 'cannot start');
      process.stderr.write(`rustydb-agent: ${err.message}\n`);
      return 2;
    }
  }
  const upgradeOptions: UpgradeNodeOptions = { nodeId: self, loop, state, peers, local, raft, releases: cfg.engine.releases, logger: log.child({ part: 'upgrade' }) };
  const auth = makeAuth({ store: raft, logger: log.child({ part: 'auth' }) });
  const audit = new AuditLog({ store: raft, nodeId: self, logger: log.child({ part: 'audit' }) });
  const app = buildApp(makeApiDeps({ nodeId: self, loop, state, raft, peers, intervalMs, raftTiming: cfg.cluster.raft }), {
    plugins: [raftPeerRoutes(raft), internalRoutes(loop), ...(certs ? [pkiPeerRoutes(certs)] : [])],
    https: nodeTls ? serverTlsOptions(nodeTls.material) : undefined,
    pki: certs ? { certs, state } : undefined,
    admin,
    forceQuorum,
    authenticate: auth.authenticate,
    authorize: auth.authorize,
    audit: audit.hook,
    tokens: { store: raft, audit },
    upgradeNode: makeUpgradeNode(upgradeOptions),
    procedures: raft,
  });

  let stopping = false;
  let shutdownResolve: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    shutdownResolve = resolve;
  });
  function shutdown(why: string): void {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'stopping');
    void (async () => {
      await loop.stop().catch(() => {});
      if (driver && cfg.engine.stopOnExit) await driver.stop('fast').catch((err) => log.warn({ err: String(err) }, 'engine stop failed'));
      await app.close().catch(() => {});
      await audit.drain().catch(() => {});
      await raft.stop().catch(() => {});
      shutdownResolve();
    })();
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  try {
    raft.start();
    await app.listen({ host: cfg.api.listenAddress, port: cfg.api.port });
  } catch (err) {
    log.fatal({ err: (err as Error).message }, 'cannot start');
    await raft.stop().catch(() => {});
    return 1;
  }
  log.info({ api: `${cfg.api.listenAddress}:${cfg.api.port}`, kind, tls: nodeTls !== null }, 'agent started');
  // A joined or rotated certificate applies to new connections at once; open ones finish on the old (same CA).
  nodeTls?.onUpdate((m) => (app.server as unknown as HttpsServer).setSecureContext(serverTlsOptions(m)));
  if (certs) void certs.importCa(cfg.tls.caFile, cfg.tls.caKeyFile, () => stopping);
  if (bootstrapToken) {
    const name = bootstrapToken.name;
    void importBootstrapToken({
      store: raft,
      file: bootstrapToken,
      stopping: () => stopping,
      onImported: (created) => created && log.info({ token: name }, 'imported the bootstrap admin token (its hash) into the cluster state'),
    });
  }

  try {
    if (kind !== 'witness') {
      const secrets = await waitForSecrets(state, raft, cfg.engine.secretsFile, () => stopping);
      if (secrets) {
        const binDir = findBinDir(engineBinSearch(cfg, local.get().release, log));
        const settings: EngineSettings = {
          nodeId: self,
          dataDir: cfg.engine.dataDir,
          host: cfg.engine.listenAddress,
          port: cfg.engine.port,
          binDir,
          engineUser: cfg.engine.engineUser,
          superuser: { name: 'rustydb', password: secrets.superuserPassword },
          replicationUser: { name: 'rustydb_replication', password: secrets.replicationPassword },
          replicationPeers: seedMembers.map((m) => m.pgHost).filter((h): h is string => h !== null),
          parameters: cfg.engine.parameters,
        };
        driver = new PostgresDriver(settings, log.child({ part: 'engine' }));
        loop.attachDriver(driver);
        // Killed mid-upgrade last time: the engine back on a working release, the admin state restored (before the loop runs).
        void recoverInterruptedUpgrade({ ...upgradeOptions, stopping: () => stopping });
      }
    }
  } catch (err) {
    // No engine without credentials and binaries: say what to fix and stop.
    log.fatal({ err: (err as Error).message }, 'cannot set up the engine');
    process.stderr.write(`rustydb-agent: ${(err as Error).message}\n`);
    fatal = err as Error;
    shutdown('engine set-up failed');
  }
  // A leadership change is news for the HA loop (a new leader may have a failover to run).
  raft.onLeaderChange(() => loop.wake());
  if (!stopping) loop.start();
  await stopped;
  return fatal ? 1 : 0;
}

/** The first leader creates the engine credentials; everyone waits until they are readable. */
async function waitForSecrets(state: ClusterState, raft: RaftNode, secretsFile: string | null, stopping: () => boolean): Promise<EngineSecrets | null> {
  while (!stopping()) {
    try {
      const r = await raft.get(SECRETS_KEY, { consistency: 'linearizable', timeoutMs: 2000 });
      if (r) return JSON.parse(r.value) as EngineSecrets;
      if (raft.isLeader()) {
        // A bad secrets file is the operator's to fix: fail loudly rather than wait forever.
        const s: EngineSecrets = secretsFile
          ? readSecrets(secretsFile)
          : { superuserPassword: randomBytes(24).toString('base64url'), replicationPassword: randomBytes(24).toString('base64url') };
        await state.createIfAbsent(SECRETS_KEY, s, 'engine-secrets');
        continue;
      }
    } catch (err) {
      if (err instanceof SecretsFileError) throw err;
      // otherwise: no quorum yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return null;
}

class SecretsFileError extends Error {}

function readSecrets(file: string): EngineSecrets {
  let s: Partial<EngineSecrets>;
  try {
    s = JSON.parse(readFileSync(file, 'utf8')) as Partial<EngineSecrets>;
  } catch (err) {
    throw new SecretsFileError(`[engine] secrets_file ${file} cannot be read as JSON (${(err as Error).message})`);
  }
  if (typeof s.superuserPassword !== 'string' || typeof s.replicationPassword !== 'string' || s.superuserPassword.length < 12 || s.replicationPassword.length < 12) {
    throw new SecretsFileError(`[engine] secrets_file ${file} must hold {"superuserPassword": "...", "replicationPassword": "..."}, each at least 12 characters`);
  }
  return { superuserPassword: s.superuserPassword, replicationPassword: s.replicationPassword };
}

/**
 * Where the server binaries are: the release `node upgrade` last moved this
 * node to (kept in ha-state.json) wins over the config's `[engine] release`
 * and `bin_dir`, which only say where a new node starts.
 */
function engineBinSearch(cfg: AgentConfig, upgraded: string | null, log: { warn(o: object, msg: string): void }): Parameters<typeof findBinDir>[0] {
  const releases = cfg.engine.releases;
  if (upgraded !== null && Object.hasOwn(releases, upgraded)) return { release: upgraded, releases };
  if (upgraded !== null) {
    log.warn({ release: upgraded }, `this node was upgraded to release ${upgraded}, which [engine.releases] no longer lists; using the configured release instead`);
  }
  return { binDir: cfg.engine.binDir ?? undefined, release: cfg.engine.release ?? undefined, releases };
}

