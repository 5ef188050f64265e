/**
 * What one agent asks another during HA work: its observation (engine status),
 * and the two steps of a failover — stop receiving WAL and report the position
 * (candidates), stop the engine cleanly and report the final position (the old
 * primary in a planned switchover). Every call has a deadline.
 */

import { request } from 'undici';
import type { EngineStatus } from '../engine/driver.ts';
import { peerDispatcher } from '../security/tls-client.ts';

export interface Observation {
  nodeId: string;
  engine: EngineStatus;
  /** The epoch this agent believes current, and whether its lease as primary is fresh. */
  epoch: number | null;
  writable: boolean;
  /** Why this primary's writes cannot complete although it is writable (null when they can). */
  warning: string | null;
}

export interface PositionReport {
  nodeId: string;
  flushLsn: string | null;
  timeline: number | null;
}

export const INTERNAL = {
  observe: '/internal/v1/observe',
  prepare: '/internal/v1/prepare-promotion',
  demote: '/internal/v1/demote',
  release: '/internal/v1/release',
  wake: '/internal/v1/wake',
} as const;

export class PeerClient {
  constructor(private readonly timeoutMs: number) {}

  async observe(apiUrl: string): Promise<Observation> {
    return this.call<Observation>(apiUrl, 'GET', INTERNAL.observe);
  }

  /** Ask a candidate to stop streaming WAL for `holdMs` and report how far it got. */
  async prepare(apiUrl: string, epoch: number, holdMs: number): Promise<PositionReport> {
    // Stopping the WAL receiver takes a reload and a wait: more than a heartbeat on a busy machine.
    return this.call<PositionReport>(apiUrl, 'POST', INTERNAL.prepare, { epoch, holdMs }, Math.max(this.timeoutMs, 2000));
  }

  /** Ask the primary of `epoch` to stop its engine cleanly (planned switchover) and report its final position. */
  async demote(apiUrl: string, epoch: number, holdMs: number): Promise<PositionReport> {
    return this.call<PositionReport>(apiUrl, 'POST', INTERNAL.demote, { epoch, holdMs }, Math.max(this.timeoutMs, 30_000));
  }

  /** Ask an agent to run its HA cycle now (e.g. the failover target, to promote at once). */
  async wake(apiUrl: string): Promise<void> {
    await this.call<unknown>(apiUrl, 'POST', INTERNAL.wake, {});
  }

  /** End a hold; with `epoch`, the failover made that epoch: never follow an older primary again. */
  async release(apiUrl: string, epoch?: number): Promise<void> {
    await this.call<unknown>(apiUrl, 'POST', INTERNAL.release, epoch === undefined ? {} : { epoch });
  }

  private async call<T>(apiUrl: string, method: 'GET' | 'POST', path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    const res = await request(new URL(path, apiUrl), {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      // TLS: present the node certificate, trust only the cluster CA.
      dispatcher: peerDispatcher(),
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`${method} ${apiUrl}${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }
}
