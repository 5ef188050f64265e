/**
 * Raft peer traffic over HTTP/1.1 keep-alive: the server routes (a Fastify
 * plugin the agent's single listener registers) and the client that sends a
 * node's messages and forwarded requests to its peers (undici).
 *
 * The client never blocks the Raft ready loop: `send` only queues. Messages are
 * fire-and-forget and dropped on any error, because Raft retries by itself
 * (heartbeats, probes, re-sent AppendEntries); per-peer queues are bounded.
 */

import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { Client, Pool } from 'undici';
import type { KvCommand, KvRecord, KvWriteResult } from './kv.ts';
import { StoreError, type ReadConsistency, type StoreErrorCode } from './store.ts';
import type { Message, NodeId } from './types.ts';

// ---------------------------------------------------------------------------
// Wire types (shared by the routes and the client so they cannot drift)

export const PEER_PATHS = {
  messages: '/raft/v1/messages',
  propose: '/raft/v1/propose',
  read: '/raft/v1/read',
} as const;

/** `POST /raft/v1/propose`: a follower forwards a write to the leader. */
export interface PeerProposeRequest {
  command: KvCommand;
  /** How long the leader may take before answering `timeout`. */
  timeoutMs: number;
}

/** The leader's answer: the KV outcome and the log index it was applied at. */
export interface PeerProposeResponse {
  result: KvWriteResult;
  index: number;
}

/** `POST /raft/v1/read`: exactly one of `key` (get) or `prefix` (list). */
export interface PeerReadRequest {
  key?: string;
  prefix?: string;
  consistency?: ReadConsistency;
  timeoutMs: number;
}

export interface PeerReadResponse {
  records: KvRecord[];
}

/** Body of every non-2xx answer of the peer routes. */
export interface PeerErrorBody {
  error: { code: StoreErrorCode; message: string; leader: string };
}

/** HTTP status of each error code (one table, like fastify's lib/errors.js). */
export const STORE_ERROR_STATUS: Record<StoreErrorCode, number> = {
  'no-leader': 503,
  'not-leader': 421,
  dropped: 409,
  timeout: 504,
  'outcome-unknown': 504,
  stopped: 503,
  unreachable: 502,
  refused: 409,
  invalid: 400,
};

// ---------------------------------------------------------------------------
// Server side

/** What the peer routes need from the local Raft node. */
export interface RaftPeerHandler {
  readonly id: NodeId;
  /** Step a batch of messages addressed to this node. Must not block. */
  receive(messages: Message[]): void;
  /** Apply a write forwarded by a follower. Only a leader accepts (else `not-leader`). Rejects with StoreError. */
  handleForwardedProposal(req: PeerProposeRequest): Promise<PeerProposeResponse>;
  /** Serve a read for a peer or a tool. Rejects with StoreError. */
  handlePeerRead(req: PeerReadRequest): Promise<PeerReadResponse>;
}

export interface RaftPeerRoutesOptions {
  /** Largest accepted message batch in bytes (snapshots travel here). Default 64 MiB. */
  messagesBodyLimit?: number;
  /** Largest accepted forwarded request in bytes. Default 1 MiB. */
  requestBodyLimit?: number;
}

const idx = { type: 'integer', minimum: 0 } as const;
const membershipSchema = {
  type: 'object',
  required: ['voters', 'learners'],
  properties: { voters: { type: 'array', items: { type: 'string' } }, learners: { type: 'array', items: { type: 'string' } } },
} as const;
const entrySchema = {
  type: 'object',
  required: ['index', 'term', 'type', 'data'],
  properties: { index: idx, term: idx, type: { enum: ['normal', 'noop', 'conf'] }, data: { type: 'string' } },
} as const;
// No `additionalProperties: false`: fastify's ajv would silently strip fields
// that a newer peer adds; the core ignores what it does not know instead.
const messageSchema = {
  type: 'object',
  required: ['type', 'from', 'to', 'term', 'index', 'logTerm', 'entries', 'commit', 'reject', 'rejectHint', 'hintTerm', 'context'],
  properties: {
    type: {
      enum: ['app', 'app-resp', 'heartbeat', 'heartbeat-resp', 'vote', 'vote-resp', 'prevote', 'prevote-resp', 'snap', 'timeout-now', 'read-index', 'read-index-resp'],
    },
    from: { type: 'string', minLength: 1 },
    to: { type: 'string', minLength: 1 },
    term: idx,
    index: idx,
    logTerm: idx,
    entries: { type: 'array', items: entrySchema },
    commit: idx,
    reject: { type: 'boolean' },
    rejectHint: idx,
    hintTerm: idx,
    context: { type: 'string' },
    snapshot: {
      type: 'object',
      required: ['meta', 'data'],
      properties: {
        meta: { type: 'object', required: ['index', 'term', 'membership'], properties: { index: idx, term: idx, membership: membershipSchema } },
        data: { type: 'string' },
      },
    },
    transfer: { type: 'boolean' },
  },
} as const;

const commandSchema = {
  type: 'object',
  required: ['op', 'key'],
  additionalProperties: false,
  properties: {
    op: { enum: ['put', 'delete'] },
    key: { type: 'string', minLength: 1 },
    value: { type: 'string' },
    expectVersion: idx,
    requestId: { type: 'string', minLength: 1 },
  },
} as const;
const timeoutSchema = { type: 'integer', minimum: 1, maximum: 600_000 } as const;
const errorBodySchema = {
  type: 'object',
  properties: { error: { type: 'object', properties: { code: { type: 'string' }, message: { type: 'string' }, leader: { type: 'string' } } } },
} as const;
const recordSchema = {
  type: 'object',
  required: ['key', 'value', 'version', 'modIndex', 'createIndex'],
  properties: { key: { type: 'string' }, value: { type: 'string' }, version: idx, modIndex: idx, createIndex: idx },
} as const;

function sendError(reply: FastifyReply, err: unknown): FastifyReply {
  const e =
    err instanceof StoreError ? err : new StoreError('timeout', `internal error while serving the request (${String((err as Error)?.message ?? err)}); outcome unknown, check the agent log`);
  const body: PeerErrorBody = { error: { code: e.code, message: e.message, leader: e.leader } };
  return reply.code(STORE_ERROR_STATUS[e.code] ?? 500).send(body);
}

/**
 * Fastify plugin with the peer routes. Register it on the agent's listener;
 * authentication of peers (mTLS) is the listener's job, not this plugin's.
 */
export function raftPeerRoutes(handler: RaftPeerHandler, opts: RaftPeerRoutesOptions = {}): FastifyPluginAsync {
  const messagesBodyLimit = opts.messagesBodyLimit ?? 64 * 1024 * 1024;
  const requestBodyLimit = opts.requestBodyLimit ?? 1024 * 1024;

  return async (app) => {
    app.post<{ Body: Message[] }>(
      PEER_PATHS.messages,
      { bodyLimit: messagesBodyLimit, schema: { body: { type: 'array', items: messageSchema } } },
      async (req, reply) => {
        const misrouted = req.body.find((m) => m.to !== handler.id);
        if (misrouted) {
          // A wrong peer address map would otherwise make elections fail silently.
          return sendError(
            reply,
            new StoreError('invalid', `message for node ${misrouted.to} reached node ${handler.id}: fix the peer address of ${misrouted.to} on node ${misrouted.from}`),
          );
        }
        handler.receive(req.body);
        return reply.code(204).send();
      },
    );

    app.post<{ Body: PeerProposeRequest }>(
      PEER_PATHS.propose,
      {
        bodyLimit: requestBodyLimit,
        schema: {
          body: { type: 'object', required: ['command', 'timeoutMs'], properties: { command: commandSchema, timeoutMs: timeoutSchema } },
          response: {
            200: {
              type: 'object',
              required: ['result', 'index'],
              properties: {
                result: { type: 'object', properties: { ok: { type: 'boolean' }, version: idx, reason: { type: 'string' } } },
                index: idx,
              },
            },
            '4xx': errorBodySchema,
            '5xx': errorBodySchema,
          },
        },
      },
      async (req, reply) => {
        const cmd = req.body.command;
        if (cmd.op === 'put' && typeof cmd.value !== 'string') {
          return sendError(reply, new StoreError('invalid', `put of ${cmd.key} has no value: send {op:'put', key, value}`));
        }
        try {
          return await handler.handleForwardedProposal(req.body);
        } catch (err) {
          return sendError(reply, err);
        }
      },
    );

    app.post<{ Body: PeerReadRequest }>(
      PEER_PATHS.read,
      {
        bodyLimit: requestBodyLimit,
        schema: {
          body: {
            type: 'object',
            required: ['timeoutMs'],
            properties: { key: { type: 'string' }, prefix: { type: 'string' }, consistency: { enum: ['linearizable', 'local'] }, timeoutMs: timeoutSchema },
          },
          response: {
            200: { type: 'object', required: ['records'], properties: { records: { type: 'array', items: recordSchema } } },
            '4xx': errorBodySchema,
            '5xx': errorBodySchema,
          },
        },
      },
      async (req, reply) => {
        if ((req.body.key === undefined) === (req.body.prefix === undefined)) {
          return sendError(reply, new StoreError('invalid', 'a read needs exactly one of "key" (get) or "prefix" (list)'));
        }
        try {
          return await handler.handlePeerRead(req.body);
        } catch (err) {
          return sendError(reply, err);
        }
      },
    );
  };
}

// ---------------------------------------------------------------------------
// Client side

/** How a node reaches its peers. `RaftNode` depends on this, not on HTTP. */
export interface RaftTransport {
  /** Set or change the base URL of a peer (e.g. `http://127.0.0.1:5433`). */
  setPeer(id: NodeId, url: string): void;
  removePeer(id: NodeId): void;
  /** Queue messages for their peers. Never throws, never waits; undeliverable messages are dropped. */
  send(messages: Message[]): void;
  /** Forward a write to `to` (the leader). Rejects with StoreError. */
  propose(to: NodeId, req: PeerProposeRequest): Promise<PeerProposeResponse>;
  /** Ask `to` to serve a read. Rejects with StoreError. */
  read(to: NodeId, req: PeerReadRequest): Promise<PeerReadResponse>;
  close(): Promise<void>;
}

/** Minimal pino-compatible logger (`logger.warn({ peer }, 'text')`). */
export interface RaftLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const silentLogger: RaftLogger = { debug() {}, info() {}, warn() {}, error() {} };

export interface HttpTransportOptions {
  /** This node's id (for log lines). */
  selfId: NodeId;
  /** Initial peer URLs; more with `setPeer`. */
  peers?: Record<NodeId, string>;
  /** Give up on one message batch after this long (the batch is dropped). Default 1000 ms. */
  messageTimeoutMs?: number;
  /** Most messages queued per peer; beyond it the oldest are dropped. Default 4096. */
  maxQueuedMessages?: number;
  /** Most messages in one request. Default 1024. */
  maxBatchMessages?: number;
  /**
   * Message batches in flight per peer, pipelined in order on one connection, so
   * a new AppendEntries does not wait a round trip behind the previous batch. Default 4.
   */
  maxInflightBatches?: number;
  /** Connections per peer for forwarded requests (messages use one of their own). Default 64. */
  requestConnections?: number;
  /**
   * TLS options for `https://` peers (undici `connect` options: ca, cert, key,
   * servername, ...). Unused for plain `http://` (loopback, tests).
   */
  connect?: Client.Options['connect'];
  logger?: RaftLogger;
}

/** Extra time a forwarded request may take beyond the leader's own timeout (network, queueing). */
const FORWARD_SLACK_MS = 1000;

interface PeerLink {
  id: NodeId;
  url: string;
  /** One keep-alive connection for Raft messages, so they never queue behind slow forwarded writes. */
  messages: Client;
  /** Forwarded proposals wait for a commit: a small pool so they do not serialize. */
  requests: Pool;
  queue: Message[];
  inflight: number;
  /** Last send failed; logged once per outage rather than per batch. */
  down: boolean;
  dropped: number;
}

/** {@link RaftTransport} over HTTP/1.1 keep-alive with undici. */
export class HttpTransport implements RaftTransport {
  private readonly opts: Required<Omit<HttpTransportOptions, 'connect' | 'peers'>> & Pick<HttpTransportOptions, 'connect'>;
  private readonly links = new Map<NodeId, PeerLink>();
  private closed = false;

  constructor(opts: HttpTransportOptions) {
    this.opts = {
      selfId: opts.selfId,
      messageTimeoutMs: opts.messageTimeoutMs ?? 1000,
      maxQueuedMessages: opts.maxQueuedMessages ?? 4096,
      maxBatchMessages: opts.maxBatchMessages ?? 1024,
      maxInflightBatches: opts.maxInflightBatches ?? 4,
      // A forwarded write holds its connection until it commits: one per concurrent writer.
      requestConnections: opts.requestConnections ?? 64,
      connect: opts.connect,
      logger: opts.logger ?? silentLogger,
    };
    for (const [id, url] of Object.entries(opts.peers ?? {})) this.setPeer(id, url);
  }

  setPeer(id: NodeId, url: string): void {
    if (this.closed || id === this.opts.selfId) return;
    const base = url.replace(/\/+$/, '');
    const old = this.links.get(id);
    if (old?.url === base) return;
    if (old) this.destroyLink(old);
    const common = { keepAliveTimeout: 30_000, connect: this.opts.connect };
    this.links.set(id, {
      id,
      url: base,
      messages: new Client(base, { ...common, pipelining: this.opts.maxInflightBatches }),
      requests: new Pool(base, { ...common, connections: this.opts.requestConnections }),
      queue: [],
      inflight: 0,
      down: false,
      dropped: 0,
    });
  }

  removePeer(id: NodeId): void {
    const link = this.links.get(id);
    if (!link) return;
    this.links.delete(id);
    this.destroyLink(link);
  }

  /** Peer ids with a known address. */
  peers(): NodeId[] {
    return [...this.links.keys()];
  }

  send(messages: Message[]): void {
    if (this.closed) return;
    const touched = new Set<PeerLink>();
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (!link) {
        this.opts.logger.debug({ peer: m.to, type: m.type }, 'raft: no address for peer, message dropped');
        continue;
      }
      link.queue.push(m);
      touched.add(link);
    }
    for (const link of touched) {
      const excess = link.queue.length - this.opts.maxQueuedMessages;
      if (excess > 0) {
        // Oldest first: newer messages supersede them (higher commit, fresher heartbeats).
        link.queue.splice(0, excess);
        link.dropped += excess;
      }
      this.pump(link);
    }
  }

  /** Send the queued messages of one peer; while the pipeline is full, whatever queues meanwhile becomes the next batch. */
  private pump(link: PeerLink): void {
    while (link.inflight < this.opts.maxInflightBatches && link.queue.length > 0 && !this.closed && this.links.get(link.id) === link) {
      const batch = link.queue.splice(0, this.opts.maxBatchMessages);
      link.inflight++;
      void this.postBatch(link, batch).finally(() => {
        link.inflight--;
        this.pump(link);
      });
    }
  }

  private async postBatch(link: PeerLink, batch: Message[]): Promise<void> {
    try {
      const res = await link.messages.request({
        path: PEER_PATHS.messages,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(batch),
        // Pipelining needs both: Raft tolerates a duplicated or lost batch, and the handler answers at once.
        idempotent: true,
        blocking: false,
        signal: AbortSignal.timeout(this.opts.messageTimeoutMs),
      });
      const text = await res.body.text();
      if (res.statusCode !== 204 && res.statusCode !== 200) {
        this.opts.logger.warn({ peer: link.id, url: link.url, status: res.statusCode, body: text.slice(0, 500) }, 'raft: peer rejected a message batch');
      } else if (link.down) {
        link.down = false;
        this.opts.logger.info({ peer: link.id, dropped: link.dropped }, 'raft: peer reachable again');
      }
    } catch (err) {
      if (this.closed) return;
      link.dropped += batch.length;
      if (!link.down) {
        link.down = true;
        this.opts.logger.warn({ peer: link.id, url: link.url, err: describeError(err) }, 'raft: cannot reach peer; dropping messages until it is back (Raft will retry)');
      }
    }
  }

  async propose(to: NodeId, req: PeerProposeRequest): Promise<PeerProposeResponse> {
    return (await this.call(to, PEER_PATHS.propose, req, req.timeoutMs, true)) as PeerProposeResponse;
  }

  async read(to: NodeId, req: PeerReadRequest): Promise<PeerReadResponse> {
    return (await this.call(to, PEER_PATHS.read, req, req.timeoutMs, false)) as PeerReadResponse;
  }

  private async call(to: NodeId, path: string, body: unknown, timeoutMs: number, isWrite: boolean): Promise<unknown> {
    if (this.closed) throw new StoreError('stopped', 'the Raft transport is closed: the node is stopping');
    const link = this.links.get(to);
    if (!link) throw new StoreError('unreachable', `no address known for node ${to}: add it to the peer map ([cluster.nodes])`, to);
    let res;
    try {
      res = await link.requests.request({
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs + FORWARD_SLACK_MS),
      });
    } catch (err) {
      // Only a refused connection proves the request never arrived.
      if ((err as { code?: string }).code === 'ECONNREFUSED' || !isWrite) {
        throw new StoreError('unreachable', `node ${to} at ${link.url} did not answer (${describeError(err)}); retry once a leader is reachable`, to);
      }
      throw new StoreError('timeout', `forwarding the write to node ${to} failed mid-request (${describeError(err)}): outcome unknown; retry with the same requestId or read the key`, to);
    }
    const text = await res.body.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (res.statusCode === 200 && parsed !== undefined) return parsed;
    const e = (parsed as Partial<PeerErrorBody> | undefined)?.error;
    if (e && typeof e.code === 'string' && e.code in STORE_ERROR_STATUS) {
      throw new StoreError(e.code, `node ${to}: ${e.message}`, e.leader ?? '');
    }
    const message = `node ${to} answered HTTP ${res.statusCode} to ${path}: ${text.slice(0, 300)}`;
    // A 4xx without our error body means the request was refused before it was handled.
    if (res.statusCode >= 400 && res.statusCode < 500) throw new StoreError('invalid', message, to);
    throw new StoreError(isWrite ? 'timeout' : 'unreachable', `${message}${isWrite ? '; outcome unknown' : ''}`, to);
  }

  private destroyLink(link: PeerLink): void {
    link.queue.length = 0;
    // destroy, not close: pending requests are Raft messages or forwarded calls that will be retried.
    void link.messages.destroy().catch(() => {});
    void link.requests.destroy().catch(() => {});
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const links = [...this.links.values()];
    this.links.clear();
    await Promise.all(links.flatMap((l) => [l.messages.destroy().catch(() => {}), l.requests.destroy().catch(() => {})]));
  }
}

function describeError(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError') return 'timed out';
  return [e?.code ?? e?.cause?.code, e?.message].filter(Boolean).join(': ') || String(err);
}
