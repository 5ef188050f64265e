/**
 * Free TCP ports on 127.0.0.1 for a sandbox's agents and engines.
 *
 * Ports are taken from below the kernel's ephemeral range (32768+ on Linux),
 * so an outgoing connection cannot grab one between the check and the agent's
 * listen. Every candidate is held open until all `count` are found, so the
 * ports returned are distinct and each was bindable at the time of the call.
 */

import { createServer, type Server } from 'node:net';

export const PORT_RANGE = { low: 20000, high: 32000 } as const;

/** No free ports where they were looked for. */
export class PortsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PortsError';
  }
}

/** Listen on `port` at 127.0.0.1; resolves with the server, or null if the port is taken. */
function tryListen(port: number): Promise<Server | null> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(null));
    srv.listen({ port, host: '127.0.0.1', exclusive: true }, () => resolve(srv));
  });
}

/** Can something listen on 127.0.0.1:`port` right now? */
export async function isPortFree(port: number): Promise<boolean> {
  const srv = await tryListen(port);
  if (srv === null) return false;
  await new Promise<void>((r) => srv.close(() => r()));
  return true;
}

/**
 * `count` distinct ports, free on 127.0.0.1 now, from a random place in
 * `range` (so concurrent sandboxes rarely probe the same ports), scanning
 * upward and wrapping around.
 */
export async function findFreePorts(count: number, range: { low: number; high: number } = PORT_RANGE): Promise<number[]> {
  const span = range.high - range.low;
  const start = Math.floor(Math.random() * span);
  const held: Server[] = [];
  const ports: number[] = [];
  try {
    for (let i = 0; i < span && ports.length < count; i++) {
      const port = range.low + ((start + i) % span);
      const srv = await tryListen(port);
      if (srv === null) continue;
      held.push(srv);
      ports.push(port);
    }
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
  if (ports.length < count) {
    throw new PortsError(`only ${ports.length} of ${count} free ports found on 127.0.0.1 in ${range.low}-${range.high - 1}; stop what holds them and try again`);
  }
  return ports;
}
