/**
 * Delay, jitter, stalls and dropped connections on the agents' peer links
 * (`tc netem` is not on this kernel, so we proxy the way etcd's robustness
 * tests do).
 *
 * The proxy runs inside the harness process, which must run in the fabric's
 * ctl namespace ({@link reexecInside}). For each link — connections node
 * `from` opens to node `to`'s agent port (Raft and HA peer calls; TLS passes
 * through untouched) — it listens on `<ctl address>:<link port>`, and an
 * nftables `dnat` rule in `from`'s namespace (table `ip rdbproxy`, nat output
 * chain) steers `ip daddr <to> tcp dport <to's port>` there. The proxy
 * connects on to `to` from the ctl address. PostgreSQL traffic is never
 * proxied: pg_hba admits replication only from member addresses.
 *
 * Settings are per direction of bytes: `set(a, b, …)` applies to what a sends
 * to b, on every connection between them whichever side opened it. Chunks are
 * delayed in order, one queue per direction, never reordered.
 *
 * Start the proxy before the agents: connections opened before the dnat rule
 * existed go direct until they close.
 */

import { createServer, connect, type Server, type Socket } from 'node:net';
import { FabricError, type Fabric } from './fabric.ts';
import { nft } from './partition.ts';

const TABLE = 'rdbproxy';

/** One direction of a peer link. */
export interface LinkSettings {
  /** Added to every chunk's trip, in ms. Default 0. */
  delayMs?: number;
  /** Plus a uniformly random 0..jitterMs (order is kept: a chunk never overtakes an earlier one). Default 0. */
  jitterMs?: number;
  /** Probability (0..1) that a new connection opened by `a` to `b` is reset at once. Default 0. */
  dropConnections?: number;
  /**
   * Hold every byte a sends to b for this long from the moment `set` is
   * called (connections stay open, nothing moves), then release them in order.
   * A one-shot pause: set it again for another one.
   */
  stallMs?: number;
}

/** A proxied link: connections `from` opens to `to`'s agent at `port` (`to`'s address). */
export interface LinkSpec {
  from: string;
  to: string;
  port: number;
}

/** Counters of one link, for assertions and the timeline. */
export interface LinkStats {
  from: string;
  to: string;
  listenPort: number;
  accepted: number;
  dropped: number;
  open: number;
}

/** The running proxy. */
export interface LinkProxy {
  /** Change what a sends to b (merged over the current settings; effective at once, also on open connections). */
  set(a: string, b: string, settings: LinkSettings): void;
  /** Every link back to no delay, no loss (queued chunks still go out in order). */
  clear(): void;
  /** Current settings of direction a -> b. */
  get(a: string, b: string): Required<Omit<LinkSettings, 'stallMs'>> & { stalledUntil: number };
  stats(): LinkStats[];
  /** Lines for a timeline: each direction whose settings are not the default. */
  describe(): string[];
  /** Remove the dnat rules, close the listeners and every proxied connection. */
  close(): Promise<void>;
}

/** Every directed link between the fabric's nodes, given each node's agent port. */
export function peerLinks(fabric: Fabric, agentPorts: Record<string, number>): LinkSpec[] {
  const out: LinkSpec[] = [];
  for (const from of fabric.nodes) {
    for (const to of fabric.nodes) {
      if (from === to) continue;
      const port = agentPorts[to];
      if (port === undefined) throw new FabricError(`peerLinks: no agent port for node ${to}`);
      out.push({ from, to, port });
    }
  }
  return out;
}

interface Direction {
  delayMs: number;
  jitterMs: number;
  dropConnections: number;
  stalledUntil: number;
}

const DEFAULT: Direction = { delayMs: 0, jitterMs: 0, dropConnections: 0, stalledUntil: 0 };

/**
 * Start the proxy for `links`: listeners on the ctl address (this process
 * must run in the fabric's ctl namespace), then the dnat rules in each
 * `from` namespace. Resolves once traffic is steered.
 */
export async function startLinkProxy(fabric: Fabric, links: LinkSpec[]): Promise<LinkProxy> {
  const settings = new Map<string, Direction>();
  const key = (a: string, b: string) => `${a}->${b}`;
  const dir = (a: string, b: string): Direction => settings.get(key(a, b)) ?? DEFAULT;
  const sockets = new Set<Socket>();
  const entries: { spec: LinkSpec; server: Server; listenPort: number; stats: LinkStats }[] = [];

  const check = (a: string, b: string) => {
    if (!links.some((l) => (l.from === a && l.to === b) || (l.from === b && l.to === a))) {
      throw new FabricError(`no proxied link between ${a} and ${b} (links: ${links.map((l) => key(l.from, l.to)).join(', ')})`);
    }
  };

  try {
    for (const spec of links) {
      fabric.nsOf(spec.from);
      const stats: LinkStats = { from: spec.from, to: spec.to, listenPort: 0, accepted: 0, dropped: 0, open: 0 };
      // Half-open allowed on both legs: a FIN is passed on (after the queued bytes), not turned into a full close that would cut the other direction's queue.
      const server = createServer({ allowHalfOpen: true }, (client) => {
        stats.accepted++;
        if (Math.random() < dir(spec.from, spec.to).dropConnections) {
          stats.dropped++;
          client.resetAndDestroy();
          return;
        }
        stats.open++;
        const upstream = connect({ host: fabric.addressOf(spec.to), port: spec.port, localAddress: fabric.ctlAddress, allowHalfOpen: true });
        sockets.add(client);
        sockets.add(upstream);
        let closed = false;
        const close = () => {
          if (closed) return;
          closed = true;
          stats.open--;
          sockets.delete(client);
          sockets.delete(upstream);
          client.destroy();
          upstream.destroy();
        };
        client.on('error', close).on('close', close);
        upstream.on('error', close).on('close', close);
        pipeDelayed(client, upstream, () => dir(spec.from, spec.to));
        pipeDelayed(upstream, client, () => dir(spec.to, spec.from));
      });
      const listenPort = await new Promise<number>((resolve, reject) => {
        server.once('error', (err: NodeJS.ErrnoException) =>
          reject(
            new FabricError(
              err.code === 'EADDRNOTAVAIL'
                ? `the link proxy must run inside ${fabric.ctlNs} (no ${fabric.ctlAddress} here): start the harness with reexecInside()`
                : `the link proxy cannot listen on ${fabric.ctlAddress}: ${err.message}`,
            ),
          ),
        );
        server.listen(0, fabric.ctlAddress, () => resolve((server.address() as { port: number }).port));
      });
      stats.listenPort = listenPort;
      entries.push({ spec, server, listenPort, stats });
    }
    // One table per source namespace. The empty nat input chain makes sure replies are de-NATed before the partition's input chain (priority 200) looks at them.
    const bySource = new Map<string, typeof entries>();
    for (const e of entries) bySource.set(e.spec.from, [...(bySource.get(e.spec.from) ?? []), e]);
    await Promise.all(
      [...bySource].map(([from, es]) =>
        nft(
          fabric.nsOf(from),
          [
            `table ip ${TABLE} {}`,
            `delete table ip ${TABLE}`,
            `table ip ${TABLE} {`,
            '  chain output {',
            '    type nat hook output priority -100; policy accept;',
            ...es.map((e) => `    ip daddr ${fabric.addressOf(e.spec.to)} tcp dport ${e.spec.port} dnat to ${fabric.ctlAddress}:${e.listenPort}`),
            '  }',
            '  chain input {',
            '    type nat hook input priority 100; policy accept;',
            '  }',
            '}',
            '',
          ].join('\n'),
        ),
      ),
    );
  } catch (err) {
    await closeAll();
    throw err;
  }

  async function closeAll(): Promise<void> {
    const sources = [...new Set(links.map((l) => l.from))];
    await Promise.all(sources.map((from) => nft(fabric.nsOf(from), `table ip ${TABLE} {}\ndelete table ip ${TABLE}\n`).catch(() => {})));
    for (const s of sockets) s.destroy();
    await Promise.all(entries.map((e) => new Promise<void>((r) => e.server.close(() => r()))));
  }

  return {
    set(a, b, s) {
      check(a, b);
      const cur = dir(a, b);
      settings.set(key(a, b), {
        delayMs: s.delayMs ?? cur.delayMs,
        jitterMs: s.jitterMs ?? cur.jitterMs,
        dropConnections: s.dropConnections ?? cur.dropConnections,
        stalledUntil: s.stallMs !== undefined ? Date.now() + s.stallMs : cur.stalledUntil,
      });
    },
    clear() {
      settings.clear();
    },
    get(a, b) {
      return { ...dir(a, b) };
    },
    stats() {
      return entries.map((e) => ({ ...e.stats }));
    },
    describe() {
      const now = Date.now();
      return [...settings]
        .map(([k, d]) => {
          const parts: string[] = [];
          if (d.delayMs > 0 || d.jitterMs > 0) parts.push(`delay ${d.delayMs}${d.jitterMs > 0 ? `+0..${d.jitterMs}` : ''} ms`);
          if (d.dropConnections > 0) parts.push(`drop ${Math.round(d.dropConnections * 100)}% of new connections`);
          if (d.stalledUntil > now) parts.push(`stalled for ${d.stalledUntil - now} ms more`);
          return parts.length > 0 ? `proxy ${k}: ${parts.join(', ')}` : '';
        })
        .filter((l) => l !== '');
    },
    close: closeAll,
  };
}

/**
 * Copy `src` to `dst`, each chunk held until its release time: now + delay +
 * jitter, but never before the previous chunk's (order is kept) nor before
 * the direction's stall ends. Backpressure: `src` pauses while `dst` is full.
 */
function pipeDelayed(src: Socket, dst: Socket, settings: () => Direction): void {
  const queue: { chunk: Buffer; at: number }[] = [];
  let lastAt = 0;
  let timer: NodeJS.Timeout | null = null;
  let ended = false;

  const pump = () => {
    timer = null;
    const now = Date.now();
    const stalledUntil = settings().stalledUntil;
    while (queue.length > 0 && queue[0].at <= now && stalledUntil <= now) {
      const { chunk } = queue.shift()!;
      if (!dst.destroyed && !dst.write(chunk)) {
        src.pause();
        dst.once('drain', () => src.resume());
      }
    }
    if (queue.length > 0) {
      timer = setTimeout(pump, Math.max(1, Math.max(queue[0].at, stalledUntil) - now));
    } else if (ended && !dst.destroyed) {
      dst.end();
    }
  };

  src.on('data', (chunk: Buffer) => {
    const s = settings();
    const at = Math.max(Date.now() + s.delayMs + (s.jitterMs > 0 ? Math.random() * s.jitterMs : 0), lastAt);
    lastAt = at;
    queue.push({ chunk, at });
    if (timer === null) pump();
  });
  src.on('end', () => {
    ended = true;
    if (timer === null) pump();
  });
  src.on('close', () => {
    if (timer !== null) clearTimeout(timer);
  });
}
