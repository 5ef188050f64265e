/**
 * `rustydb-admin cluster join --node-id ID --cluster-address host:5433
 * [--role follower|observer|witness] [--config FILE] [--timeout DUR]`: run on
 * the new machine after `node init`. The local agent (started here if it does
 * not answer, as a service manager would) joins through any member: the
 * leader adds it as a non-voter (`joining`), its HA loop clones the database
 * from the primary (progress: bytes copied of total, rate, ETA), and once it
 * streams we promote it: a follower or witness becomes a voter, an observer
 * stays non-voting. Every step is idempotent, so re-running after a crash
 * continues where it stopped.
 */

import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import { parseConfigText } from '../../../agent/config/load.ts';
import { ConfigError, type AgentConfig } from '../../../agent/config/schema.ts';
import { API_PATHS, type NodeView } from '../../../agent/api/wire.ts';
import { ADMIN_PATHS, memberPath, type MemberAnswer } from '../../../agent/api/wire-admin.ts';
import { ApiClient, ApiRequestError } from '../../api/client.ts';
import { outputFormat, type Factory } from '../../cli.ts';
import { CliError } from '../../errors.ts';
import { printJson, type OutputFormat } from '../../output.ts';
import { interruptSignal, startProgress, type Progress } from '../../progress.ts';
import { configFileFrom, KIND_OF_ROLE, ROLES, type JoinRole } from '../node/init.ts';
import { parseDuration } from './failover.ts';
import { parseJoinToken } from '../../../agent/security/join-tokens.ts';
import { existsSync } from 'node:fs';

const AGENT_BIN = fileURLToPath(new URL('../../../bin/rustydb-agent', import.meta.url));
const POLL_MS = 500;

export interface JoinOptions {
  output: OutputFormat;
  nodeId: string;
  clusterAddress: string;
  role: JoinRole;
  configFile: string;
  timeoutMs: number;
  startAgent: boolean;
  /** The join token (`cluster token create`); required when the node's config has TLS on. */
  token: string | null;
}

export function newCmdJoin(f: Factory, runF: (o: JoinOptions) => Promise<void> = (o) => joinRun(f, o)): Command {
  return new Command('join')
    .description('add this machine (prepared by `node init`) to a cluster: clone the database, catch up, become a member')
    .requiredOption('--node-id <id>', 'this node (must match node_id in its rustydb.conf)')
    .requiredOption('--cluster-address <host:port>', "any member's agent address (leader or not)")
    .addOption(new Option('--role <role>', 'follower (voter), observer (non-voting replica) or witness (vote, no database)').choices([...ROLES]).default('follower'))
    .option('--config <file>', "this node's rustydb.conf (default: $RUSTYDB_CONFIG, else /etc/rustydb/rustydb.conf)")
    .addOption(new Option('--timeout <dur>', 'give up waiting after this long (re-running continues)').default(1_800_000, '30m').argParser(parseDuration))
    .option('--no-start-agent', 'do not start the local agent when it does not answer (a service manager runs it)')
    .option('--token <token>', 'the one-time join token from `cluster token create` (required for a TLS cluster; default: $RUSTYDB_JOIN_TOKEN)')
    .addHelpText('after', '\nExamples:\n  rustydb-admin cluster join --node-id n4 --cluster-address 10.0.0.1:5433 --token rdbj_…\n  rustydb-admin cluster join --node-id w1 --cluster-address 10.0.0.1:5433 --role witness\n')
    .action(async (opts: { nodeId: string; clusterAddress: string; role: JoinRole; config?: string; timeout: number; startAgent: boolean; token?: string }, cmd: Command) => {
      const token = opts.token ?? f.env.RUSTYDB_JOIN_TOKEN ?? null;
      await runF({ output: outputFormat(cmd), nodeId: opts.nodeId, clusterAddress: opts.clusterAddress, role: opts.role, configFile: configFileFrom(opts.config, f), timeoutMs: opts.timeout, startAgent: opts.startAgent, token });
    });
}

export async function joinRun(f: Factory, o: JoinOptions): Promise<void> {
  const cfg = readLocalConfig(o.configFile);
  if (cfg.cluster.nodeId !== o.nodeId) {
    throw new CliError('usage', `--node-id ${o.nodeId} does not match ${o.configFile}, which is node ${cfg.cluster.nodeId}: pass --node-id ${cfg.cluster.nodeId} or the right --config`);
  }
  const kind = KIND_OF_ROLE[o.role];
  const configured = cfg.cluster.nodes[o.nodeId]?.kind ?? 'voter';
  if (configured !== kind) {
    throw new CliError('usage', `--role ${o.role} needs a node initialized as one, but ${o.configFile} makes ${o.nodeId} a ${configured}: re-run \`node init ... --role ${o.role} --force\` or pass the matching --role`);
  }
  const scheme = cfg.tls.enabled ? 'https' : 'http';
  const localUrl = `${scheme}://${cfg.cluster.nodes[o.nodeId]?.api ?? `${cfg.cluster.nodeAddress}:${cfg.api.port}`}`;
  const clusterUrl = o.clusterAddress.includes('://') ? o.clusterAddress : `${scheme}://${o.clusterAddress}`;
  const tls = cfg.tls.enabled ? await joinTrust(cfg, clusterUrl, o.token) : null;
  // The local agent: its join route takes the join token; the rest (progress) the operator's API token.
  const localJoin = new ApiClient([localUrl], { timeoutMs: 25_000, ...(tls && { ca: tls.localCa, token: o.token }) });
  const local = new ApiClient([localUrl], { timeoutMs: 25_000, ...(tls && { ca: tls.localCa }) });
  const cluster = new ApiClient([clusterUrl], { timeoutMs: 30_000, ...(tls && { ca: tls.clusterCa }) });
  const answers = (url: string) => agentAnswers(url, tls?.localCa ?? null);
  const deadline = Date.now() + o.timeoutMs;
  const progress = startProgress(f, `join ${o.nodeId}`);
  const interrupt = interruptSignal(f);
  try {
    if (!(await answers(localUrl))) {
      if (!o.startAgent) throw new CliError('unreachable', `the local agent (${localUrl}) does not answer: start it (rustydb-agent --config ${o.configFile}), then re-run`);
      progress.update(`starting the local agent (log: ${join(cfg.agent.stateDir, 'agent.log')})`);
      startAgent(o.configFile, cfg.agent.stateDir);
      await until(deadline, interrupt.signal, () => answers(localUrl), `the local agent did not answer at ${localUrl}; see ${join(cfg.agent.stateDir, 'agent.log')}`);
    }
    progress.update(`asking ${clusterUrl} to add ${o.nodeId} as a non-voting ${o.role}`);
    // A cluster still electing its first leader, or between leaders, is worth waiting for.
    await until(deadline, interrupt.signal, async () => {
      try {
        await localJoin.post<MemberAnswer>(ADMIN_PATHS.nodeJoin, { cluster_address: clusterUrl, kind }, { signal: interrupt.signal });
        return true;
      } catch (err) {
        if (err instanceof ApiRequestError && (err.code === 'RDB_ERR_UNAVAILABLE' || err.code === 'RDB_ERR_NO_QUORUM')) {
          progress.update(`waiting for the cluster: ${err.message}`);
          return false;
        }
        throw err;
      }
    }, `the cluster at ${clusterUrl} did not accept ${o.nodeId}`);

    if (kind !== 'witness') await waitStreaming(local, o.nodeId, progress, deadline, interrupt.signal);
    progress.update(kind === 'observer' ? 'streaming: marking the observer active' : 'caught up: promoting to voter');
    let member: MemberAnswer | null = null;
    await until(deadline, interrupt.signal, async () => {
      try {
        member = await cluster.post<MemberAnswer>(memberPath(o.nodeId, 'promote'), {}, { signal: interrupt.signal });
        return true;
      } catch (err) {
        // Not caught up yet (the leader checks): try again shortly.
        if (err instanceof CliError && err.kind === 'precondition' && /not streaming|caught up|retry/.test(err.message)) return false;
        throw err;
      }
    }, `${o.nodeId} could not be promoted in time`);
    const m = (member as MemberAnswer | null)!.member;
    progress.done(`${o.nodeId} is a member of the cluster (${m.kind}, ${m.adminState})`);
    if (o.output === 'json') printJson(f.io, { member: m, clusterAddress: clusterUrl });
    else f.io.out.write(`${o.nodeId} joined the cluster as ${o.role === 'follower' ? 'a follower (voter)' : `a ${o.role}`}\n`);
  } catch (err) {
    progress.fail();
    if (interrupt.signal.aborted) {
      throw new CliError('interrupted', `interrupted (Ctrl-C): ${o.nodeId} may be part-way through joining; re-run the same \`cluster join\` to continue`);
    }
    throw err;
  } finally {
    interrupt.dispose();
  }
}

/** Until the local engine streams from the primary, showing the clone's bytes, rate and ETA. */
async function waitStreaming(local: ApiClient, id: string, progress: Progress, deadline: number, signal: AbortSignal): Promise<void> {
  let last: { at: number; done: number } | null = null;
  await until(deadline, signal, async () => {
    const v = await local.get<NodeView>(API_PATHS.node, { signal }).catch(() => null);
    if (!v) return false;
    if (v.engine.running && v.engine.inRecovery && v.engine.streamingFrom !== null) return true;
    const p = v.progress;
    if (p && p.total > 0) {
      const now = Date.now();
      const rate = last && now > last.at && p.done >= last.done ? ((p.done - last.done) * 1000) / (now - last.at) : null;
      last = { at: now, done: p.done };
      const eta = rate && rate > 0 ? `, ETA ${Math.ceil((p.total - p.done) / rate)} s` : '';
      progress.update(`${p.step}: ${mb(p.done)} of ${mb(p.total)} MB${rate ? `, ${mb(rate)} MB/s` : ''}${eta}`);
    } else {
      progress.update(v.decision ?? `waiting for ${id} to catch up`);
    }
    return false;
  }, `${id} is not streaming from the primary yet`);
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);

async function until(deadline: number, signal: AbortSignal, check: () => Promise<boolean>, what: string): Promise<void> {
  for (;;) {
    if (signal.aborted) throw new CliError('interrupted', 'interrupted (Ctrl-C)');
    if (await check()) return;
    if (Date.now() > deadline) throw new CliError('timeout', `gave up waiting: ${what}; re-running the same command continues`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/** Does the agent at `url` answer at all (any HTTP status)? */
async function agentAnswers(url: string, ca: string | null): Promise<boolean> {
  try {
    await new ApiClient([url], { timeoutMs: 2000, token: null, ca }).get('/liveness');
    return true;
  } catch (err) {
    return !(err instanceof CliError && err.kind === 'unreachable') && err instanceof ApiRequestError;
  }
}

/**
 * What a TLS join trusts: the cluster's CA, pinned by the fingerprint in the
 * join token; and for the local agent also its own certificate file, which is
 * self-signed until the join brings one signed by that CA.
 */
async function joinTrust(cfg: AgentConfig, clusterUrl: string, token: string | null): Promise<{ clusterCa: string; localCa: string }> {
  if (!token) {
    throw new CliError('auth', 'this node uses TLS, so joining needs a join token: create one on the cluster with `rustydb-admin cluster token create`, then pass it with --token (or RUSTYDB_JOIN_TOKEN)');
  }
  const parsed = parseJoinToken(token);
  if (!parsed) throw new CliError('auth', 'the join token is malformed (expected rdbj_<id>_<secret>_<fingerprint>): copy it again from `cluster token create`');
  // Loaded here: undici is more than `--help` should pay for.
  const { fetchPinnedCa, PinError } = await import('../../../agent/security/tls-client.ts');
  let clusterCa: string;
  try {
    clusterCa = await fetchPinnedCa(clusterUrl, parsed.caFingerprintPrefix);
  } catch (err) {
    if (err instanceof PinError) throw new CliError('auth', err.message);
    throw new CliError('unreachable', `cannot read the cluster CA at ${clusterUrl} (${(err as Error).message}): check --cluster-address and that its agent runs`);
  }
  const own = [cfg.tls.certFile, cfg.tls.caFile].filter((p): p is string => p !== null && existsSync(p)).map((p) => readFileSync(p, 'utf8'));
  return { clusterCa, localCa: [clusterCa, ...own].join('\n') };
}

function startAgent(configFile: string, stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  const out = openSync(join(stateDir, 'agent.log'), 'a', 0o600);
  try {
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(process.execPath, [AGENT_BIN, '--config', configFile], { detached: true, stdio: ['ignore', out, out], env });
    child.unref();
  } finally {
    closeSync(out);
  }
}

function readLocalConfig(file: string): AgentConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new CliError('precondition', `cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): prepare this machine with \`rustydb-admin node init\` first, or pass --config`);
  }
  try {
    return parseConfigText(text, file);
  } catch (err) {
    throw new CliError('usage', err instanceof ConfigError ? `invalid ${file}:\n${err.message}` : String(err));
  }
}
