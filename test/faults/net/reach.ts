/**
 * Small probes of a fabric's connectivity, for tests of the fabric itself and
 * for scenarios that want to check a fault is in force: a TCP echo + UDP
 * listener per node namespace, and a TCP round trip from the ctl namespace
 * (in process) or from a node's namespace (a child `node -e`).
 */

import type { ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { runInNamespace, type Fabric } from './fabric.ts';

/** What one TCP probe saw: a full echo round trip, a timeout, or an error (e.g. ECONNRESET, ECONNREFUSED). */
export type ProbeResult = { result: 'ok'; rttMs: number } | { result: 'timeout' } | { result: 'error'; code: string };

/** Echo servers started by {@link startEchoServers}. */
export interface EchoServers {
  /** UDP payloads each node received so far (by node id). */
  udpReceived(id: string): string[];
  /** Stop every server (SIGKILL by pid) and wait for them to exit. */
  stop(): Promise<void>;
}

// TCP echo on PORT, UDP on PORT+1 that prints each datagram; "ready" once both listen.
const ECHO_SCRIPT = `
const [host, port] = process.argv.slice(1);
const net = require('node:net'), dgram = require('node:dgram');
let ready = 0; const up = () => { if (++ready === 2) console.log('ready'); };
net.createServer((s) => { s.on('error', () => {}); s.pipe(s); }).listen(Number(port), host, up);
const u = dgram.createSocket('udp4'); u.on('message', (m) => console.log('udp ' + m.toString())); u.bind(Number(port) + 1, host, up);
`;

// One TCP round trip to HOST:PORT: connect, send "ping", wait for it back; prints a ProbeResult as JSON.
const PROBE_SCRIPT = `
const [host, port, timeoutMs] = process.argv.slice(1);
const out = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
setTimeout(() => out({ result: 'timeout' }), Number(timeoutMs));
const s = require('node:net').connect(Number(port), host, () => { const t0 = performance.now(); s.write('ping'); let got = '';
  s.on('data', (d) => { got += d; if (got.length >= 4) out({ result: 'ok', rttMs: performance.now() - t0 }); }); });
s.on('error', (e) => out({ result: 'error', code: e.code || e.message }));
`;

const SEND_UDP_SCRIPT = `
const [host, port, payload] = process.argv.slice(1);
const u = require('node:dgram').createSocket('udp4');
u.send(payload, Number(port), host, () => u.close());
`;

/** Start a TCP echo server on `port` and a UDP listener on `port + 1` at each node's address, in its namespace. */
export async function startEchoServers(fabric: Fabric, port: number): Promise<EchoServers> {
  const children = new Map<string, ChildProcess>();
  const udp = new Map<string, string[]>();
  const stop = async () => {
    await Promise.all(
      [...children.values()].map(
        (c) =>
          new Promise<void>((r) => {
            if (c.exitCode !== null || c.signalCode !== null) return r();
            c.once('exit', () => r());
            c.kill('SIGKILL');
          }),
      ),
    );
  };
  try {
    await Promise.all(
      fabric.nodes.map(
        (id) =>
          new Promise<void>((resolve, reject) => {
            const c = runInNamespace(fabric.nsOf(id), [process.execPath, '-e', ECHO_SCRIPT, fabric.addressOf(id), String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
            children.set(id, c);
            udp.set(id, []);
            let buf = '';
            let err = '';
            c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
            c.stdout!.on('data', (d: Buffer) => {
              buf += d.toString();
              const lines = buf.split('\n');
              buf = lines.pop()!;
              for (const l of lines) {
                if (l === 'ready') resolve();
                else if (l.startsWith('udp ')) udp.get(id)!.push(l.slice(4));
              }
            });
            c.once('exit', (code) => reject(new Error(`echo server in ${fabric.nsOf(id)} exited (${code}) before it listened: ${err.trim()}`)));
          }),
      ),
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { udpReceived: (id) => [...(udp.get(id) ?? [])], stop };
}

/**
 * One TCP echo round trip to `host:port`, from namespace `fromNs` (a child
 * process) or, when `fromNs` is null, from this process (which must then be
 * in a namespace that reaches `host`, e.g. the ctl one).
 */
export function tcpProbe(fromNs: string | null, host: string, port: number, timeoutMs = 1500): Promise<ProbeResult> {
  if (fromNs === null) return probeHere(host, port, timeoutMs);
  return new Promise((resolve, reject) => {
    const c = runInNamespace(fromNs, [process.execPath, '-e', PROBE_SCRIPT, host, String(port), String(timeoutMs)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('close', () => {
      try {
        resolve(JSON.parse(out.trim()) as ProbeResult);
      } catch {
        reject(new Error(`probe from ${fromNs} to ${host}:${port} printed no result: ${out.trim()} ${err.trim()}`));
      }
    });
  });
}

/** Send one UDP datagram from namespace `fromNs` to `host:port` (see {@link EchoServers.udpReceived}). */
export function sendUdp(fromNs: string, host: string, port: number, payload: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = runInNamespace(fromNs, [process.execPath, '-e', SEND_UDP_SCRIPT, host, String(port), payload], { stdio: 'ignore' });
    c.once('error', reject);
    c.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`sending UDP from ${fromNs} to ${host}:${port} failed (exit ${code})`))));
  });
}

function probeHere(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = connect(port, host);
    let done = false;
    const finish = (r: ProbeResult) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ result: 'timeout' }), timeoutMs);
    s.once('connect', () => {
      const t0 = performance.now();
      let got = '';
      s.on('data', (d: Buffer) => {
        got += d.toString();
        if (got.length >= 4) finish({ result: 'ok', rttMs: performance.now() - t0 });
      });
      s.write('ping');
    });
    s.on('error', (e: NodeJS.ErrnoException) => finish({ result: 'error', code: e.code ?? e.message }));
  });
}
