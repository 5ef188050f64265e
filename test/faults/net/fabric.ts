/**
 * The fault suite's hosts: one network namespace per node, one for the
 * control side (the harness, its clients and probes) and one holding a Linux
 * bridge that joins them, with a veth pair from each host namespace to the
 * bridge. Addresses are 10.250.0.0/24 (ctl .2, node i .(10+i)); they exist
 * only inside our namespaces, never in the root namespace.
 *
 *     rdbf-<name>-ctl  10.250.0.2  ─┐
 *     rdbf-<name>-n1   10.250.0.11 ─┼─ br0 in rdbf-<name>-br
 *     rdbf-<name>-n2   10.250.0.12 ─┤
 *     …                             ┘
 *
 * The harness must run inside the ctl namespace to reach the nodes: create
 * the fabric from the root namespace, then {@link reexecInside} a script
 * there; the script gets the fabric back with {@link fabricFromEnv}.
 *
 * Everything here shells out to `ip` (iproute2) and `nft`, and needs root.
 */

import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/** Prefix of every namespace the suite creates. */
export const NS_PREFIX = 'rdbf-';
const SUBNET_PREFIX = '10.250.0.';
const PREFIX_LEN = 24;
const CTL_ADDRESS = `${SUBNET_PREFIX}2`;
/** Environment variable that carries the fabric into a script started by {@link reexecInside}. */
export const FABRIC_ENV = 'RDBF_FABRIC';
const EXEC_TIMEOUT_MS = 15_000;

/** A fabric operation failed; the message names the namespace and the command. */
export class FabricError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FabricError';
  }
}

/** The namespaces and addresses of one fabric. Plain data: it can be rebuilt from `name` and `nodes` ({@link describeFabric}). */
export interface Fabric {
  name: string;
  /** Node ids, in order: node i (0-based) has address 10.250.0.(11+i). */
  nodes: string[];
  /** The control namespace: the harness, the clients and the probes run here. */
  ctlNs: string;
  /** The control namespace's address (10.250.0.2). */
  ctlAddress: string;
  /** The namespace holding the bridge. */
  bridgeNs: string;
  /** The namespace of node `id` (FabricError for an unknown id). */
  nsOf(id: string): string;
  /** The address of node `id` (FabricError for an unknown id). */
  addressOf(id: string): string;
  /** Every namespace of this fabric (hosts, ctl, bridge). */
  namespaces(): string[];
  /** Delete every namespace of this fabric (and SIGKILL what still runs in them); idempotent. */
  destroy(): void;
}

/** Can the suite run here? Not ok (with the reason) unless we are root and `ip netns` and `nft` work. */
export function faultSupport(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'the fault suite needs root (network namespaces and nftables); run it as root' };
  for (const tool of ['ip', 'nft']) {
    try {
      execFileSync(tool, ['-V'], { stdio: 'ignore', timeout: EXEC_TIMEOUT_MS });
    } catch {
      return { ok: false, reason: `\`${tool}\` is not installed or does not run (install iproute2 and nftables)` };
    }
  }
  const probe = `${NS_PREFIX}probe-${process.pid}`;
  try {
    run(['ip', 'netns', 'add', probe]);
    run(['ip', 'netns', 'exec', probe, 'nft', '-f', '-'], 'table inet rdbprobe {\n  chain input { type filter hook input priority 0; }\n  chain out { type nat hook output priority -100; }\n}\n');
    run(['ip', '-n', probe, 'link', 'add', 'br0', 'type', 'bridge']);
    run(['ip', '-n', probe, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth1']);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace with a bridge, a veth pair and an nft table: ${(err as Error).message}` };
  } finally {
    try {
      run(['ip', 'netns', 'del', probe]);
    } catch {
      // never made
    }
  }
  return { ok: true };
}

/** The fabric called `name` with these nodes, without creating anything (to address one that exists). */
export function describeFabric(o: { name: string; nodes: string[] }): Fabric {
  checkName(o.name);
  if (o.nodes.length === 0 || o.nodes.length > 200) throw new FabricError(`a fabric needs 1..200 nodes, got ${o.nodes.length}`);
  if (new Set(o.nodes).size !== o.nodes.length) throw new FabricError(`node ids must be unique, got ${o.nodes.join(', ')}`);
  for (const id of o.nodes) {
    if (!/^[a-z0-9]+$/.test(id) || id === 'ctl' || id === 'br') throw new FabricError(`node id "${id}" must be lower-case letters and digits, and not "ctl" or "br"`);
  }
  const base = `${NS_PREFIX}${o.name}-`;
  const index = (id: string) => {
    const i = o.nodes.indexOf(id);
    if (i < 0) throw new FabricError(`no node "${id}" in fabric ${o.name} (nodes: ${o.nodes.join(', ')})`);
    return i;
  };
  const fabric: Fabric = {
    name: o.name,
    nodes: [...o.nodes],
    ctlNs: `${base}ctl`,
    ctlAddress: CTL_ADDRESS,
    bridgeNs: `${base}br`,
    nsOf: (id) => `${base}${o.nodes[index(id)]}`,
    addressOf: (id) => `${SUBNET_PREFIX}${11 + index(id)}`,
    namespaces: () => [fabric.ctlNs, ...o.nodes.map((id) => `${base}${id}`), fabric.bridgeNs],
    destroy: () => deleteNamespaces(fabric.namespaces()),
  };
  return fabric;
}

/**
 * Create the fabric: its namespaces, the bridge, one veth pair per host, `lo`
 * up everywhere, the addresses. Leftovers of an earlier fabric of the same
 * name are removed first. On failure, what was made is removed again.
 */
export function createFabric(o: { name: string; nodes: string[] }): Fabric {
  const f = describeFabric(o);
  f.destroy();
  try {
    run(['ip', 'netns', 'add', f.bridgeNs]);
    run(['ip', '-n', f.bridgeNs, 'link', 'set', 'lo', 'up']);
    run(['ip', '-n', f.bridgeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    run(['ip', '-n', f.bridgeNs, 'link', 'set', 'br0', 'up']);
    const hosts = [{ ns: f.ctlNs, address: f.ctlAddress }, ...f.nodes.map((id) => ({ ns: f.nsOf(id), address: f.addressOf(id) }))];
    hosts.forEach((h, i) => {
      // Made inside the host namespace with its peer moved straight into the bridge's: nothing ever appears in the root namespace.
      const port = `v${i}`;
      run(['ip', 'netns', 'add', h.ns]);
      run(['ip', '-n', h.ns, 'link', 'set', 'lo', 'up']);
      run(['ip', '-n', h.ns, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', port, 'netns', f.bridgeNs]);
      run(['ip', '-n', h.ns, 'addr', 'add', `${h.address}/${PREFIX_LEN}`, 'dev', 'eth0']);
      run(['ip', '-n', h.ns, 'link', 'set', 'eth0', 'up']);
      run(['ip', '-n', f.bridgeNs, 'link', 'set', port, 'master', 'br0']);
      run(['ip', '-n', f.bridgeNs, 'link', 'set', port, 'up']);
    });
  } catch (err) {
    f.destroy();
    throw err;
  }
  return f;
}

/** Names of the network namespaces that start with `prefix`. */
export function listNamespaces(prefix = NS_PREFIX): string[] {
  const out = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: EXEC_TIMEOUT_MS });
  // Lines are "name" or "name (id: 3)".
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0])
    .filter((n) => n !== undefined && n !== '' && n.startsWith(prefix));
}

/**
 * Remove leftovers of a crashed run: every namespace whose name starts with
 * `prefix` (which must start with "rdbf-"), SIGKILLing what still runs in it.
 * Pass your own fabric's prefix (`rdbf-<name>-`): "rdbf-" alone would also
 * take down fabrics other runs on this machine are using. Returns the names removed.
 */
export function destroyStaleFabrics(prefix: string): string[] {
  if (!prefix.startsWith(NS_PREFIX)) throw new FabricError(`destroyStaleFabrics only removes namespaces named ${NS_PREFIX}*; "${prefix}" is not such a prefix`);
  const names = listNamespaces(prefix);
  deleteNamespaces(names);
  return names;
}

/**
 * Spawn `argv` inside namespace `ns` (`ip netns exec NS …`). `ip netns exec`
 * execs the command, so the child's pid is the command's own pid (signal it directly).
 */
export function runInNamespace(ns: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
  if (argv.length === 0) throw new FabricError(`runInNamespace(${ns}) needs a command`);
  return spawn('ip', ['netns', 'exec', ns, ...argv], opts);
}

/** Run `argv` inside `ns` to completion (stdin `input`); its stdout, or FabricError with its stderr. */
export function execInNamespace(ns: string, argv: string[], input?: string): string {
  return run(['ip', 'netns', 'exec', ns, ...argv], input);
}

/** Options of {@link reexecInside}. */
export interface ReexecOptions {
  args?: string[];
  env?: Record<string, string>;
  /** 'inherit' (default): the child's output is this process's. 'pipe': collected and returned. */
  stdio?: 'inherit' | 'pipe';
}

/**
 * Run `script` (a TypeScript file, with tsx) inside the fabric's ctl
 * namespace with the fabric in {@link FABRIC_ENV} and SIGINT/SIGTERM
 * relayed; resolves to its exit code (128+n when killed by signal n) and,
 * with `stdio: 'pipe'`, its output. The pattern: create the fabric in the
 * root namespace, `reexecInside`, then `destroy()` it whatever the code was.
 */
export function reexecInside(fabric: Fabric, script: string, opts: ReexecOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env, [FABRIC_ENV]: JSON.stringify({ name: fabric.name, nodes: fabric.nodes }) };
  // The script is not a node:test runner's child even if we are: its output must not be read as the runner's protocol.
  delete env.NODE_TEST_CONTEXT;
  const piped = opts.stdio === 'pipe';
  const child = runInNamespace(fabric.ctlNs, [process.execPath, '--import', 'tsx', script, ...(opts.args ?? [])], {
    stdio: piped ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env,
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const relay = (sig: NodeJS.Signals) => () => child.kill(sig);
  const onInt = relay('SIGINT');
  const onTerm = relay('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  return new Promise((resolve, reject) => {
    child.once('error', (err) => reject(new FabricError(`cannot start ${script} in ${fabric.ctlNs}: ${err.message}`)));
    child.once('close', (code, sig) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      resolve({ code: code ?? 128 + signalNumber(sig), stdout, stderr });
    });
  });
}

/** In a script started by {@link reexecInside}: the fabric it runs in, or null when it was not started that way. */
export function fabricFromEnv(env: NodeJS.ProcessEnv = process.env): Fabric | null {
  const raw = env[FABRIC_ENV];
  if (raw === undefined || raw === '') return null;
  const o = JSON.parse(raw) as { name: string; nodes: string[] };
  return describeFabric(o);
}

// ---------------------------------------------------------------- internals

function checkName(name: string): void {
  // Namespace names end up in file names under /run/netns; keep them short and plain.
  if (!/^[a-z0-9]{1,24}$/.test(name)) throw new FabricError(`fabric name "${name}" must be 1-24 lower-case letters and digits`);
}

/** SIGKILL every process in each namespace, then delete it; missing namespaces are fine. */
function deleteNamespaces(names: string[]): void {
  const existing = new Set(listNamespaces(NS_PREFIX));
  for (const ns of names) {
    if (!existing.has(ns)) continue;
    let pids: number[] = [];
    try {
      pids = run(['ip', 'netns', 'pids', ns])
        .split('\n')
        .filter((l) => /^\d+$/.test(l.trim()))
        .map(Number);
    } catch {
      // listing failed: delete anyway
    }
    // A process left inside would keep the namespace (and its sockets) alive after its name is gone.
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    try {
      run(['ip', 'netns', 'del', ns]);
    } catch (err) {
      if (listNamespaces(ns).includes(ns)) throw err;
    }
  }
}

function run(argv: string[], input?: string): string {
  try {
    return execFileSync(argv[0], argv.slice(1), {
      input,
      encoding: 'utf8',
      timeout: EXEC_TIMEOUT_MS,
      stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    const detail = (e.stderr ?? '').trim() || e.message;
    throw new FabricError(`\`${argv.join(' ')}\` failed: ${detail}`);
  }
}

function signalNumber(sig: NodeJS.Signals | null): number {
  const table: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return sig === null ? 0 : (table[sig] ?? 1);
}
