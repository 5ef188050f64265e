/**
 * Smoke check of the fault suite's workload, prober, checker and timeline on
 * an ordinary 3-node loopback sandbox (no namespaces): clients and probes run
 * through one planned switchover and one kill -9 of the primary (agent and
 * postmaster), the killed node is restarted, and the run is judged.
 *
 *   node --import tsx test/faults/workload.smoke.ts
 *
 * Prints the ops/s per client type, the verdict and the timeline; exits 1
 * when the verdict fails. Not part of `npm test`.
 */

import { performance } from 'node:perf_hooks';
import { closeTestSandbox, openTestSandbox, type TestSandbox } from '../integration/helpers/cli-sandbox.ts';
import { requestSwitchover, waitFor, waitOperation } from '../integration/helpers/checker.ts';
import { sleep } from '../integration/helpers/pg.ts';
import { check, summarizeVerdict } from './checker.ts';
import { startProbes } from './probes.ts';
import { formatTimeline, type TimelineEvent } from './timeline.ts';
import { prepareSchema, readFinal, startWorkload, type FaultNode, type Op } from './workload.ts';

const WRITERS = 3;
const REGISTERS = 3;

async function main(): Promise<number> {
  let t: TestSandbox | undefined;
  try {
    t = await openTestSandbox('faults-smoke', { electionTimeoutMs: 1000, heartbeatIntervalMs: 100 });
    const sb = t.sb;
    const view = await sb.waitHealthy(60_000);
    const first = view.primary!;
    const nodes: FaultNode[] = sb.nodes().map((n) => ({ id: n.id, ...sb.pgConfigFor(n.id) }));
    const node = (id: string): FaultNode => nodes.find((n) => n.id === id)!;
    await prepareSchema(node(first));

    const events: TimelineEvent[] = [];
    const say = (text: string): void => {
      events.push({ at: performance.now(), text });
      console.error(`[smoke] ${text}`);
    };
    const probes = startProbes({ nodes });
    const workload = await startWorkload({ connString: sb.connectionString(), writers: WRITERS, registers: REGISTERS, pauseMs: 5 });
    const ackedBy = (id: string, after: number) => (): boolean => workload.snapshot().some((o) => o.outcome === 'ok' && o.kind === 'insert' && o.node === id && o.invoke > after);

    await sleep(2000);
    // 1. Planned switchover.
    const target = nodes.map((n) => n.id).find((id) => id !== first)!;
    const apiUrls = [sb.node(first).apiUrl, ...sb.nodes().filter((n) => n.id !== first).map((n) => n.apiUrl)];
    const via = (url: string, init: RequestInit) => sb.apiFetch(url, init);
    say(`switchover ${first} -> ${target} requested`);
    const requestedAt = performance.now();
    const { location } = await requestSwitchover(apiUrls, target, via);
    const op = await waitOperation(apiUrls, location, 60_000, via);
    say(`switchover operation ${op.state}: ${op.message}`);
    await waitFor(`a client write acknowledged by ${target}`, async () => ackedBy(target, requestedAt)(), 60_000);
    say(`clients write on ${target}`);

    await sleep(2000);
    // 2. kill -9 of the primary's agent and postmaster (agent first, so it cannot restart the engine).
    const killed = target;
    const killedAt = performance.now();
    sb.signalAgent(killed, 'SIGKILL');
    sb.killEngine(killed);
    say(`kill -9 of ${killed}'s agent and postmaster`);
    const next = await waitFor(
      'a client write acknowledged by another node',
      async () => workload.snapshot().find((o: Op) => o.outcome === 'ok' && o.kind === 'insert' && o.node !== killed && o.invoke > killedAt)?.node,
      90_000,
    );
    say(`clients write on ${next}`);
    await sleep(1000);
    await sb.startAgent(killed);
    say(`restarted ${killed}'s agent`);
    await sleep(2000);

    const history = await workload.stop();
    const log = await probes.stop();
    say('workload and probes stopped');
    const settled = await sb.waitHealthy(90_000);
    say(`cluster healthy, primary ${settled.primary}`);
    const final = await readFinal(node(settled.primary!), history, log.firstSeq);
    const verdict = check({ history, probes: log, final, healedAt: killedAt, writableBoundMs: 30_000 });

    const secs = (history.stoppedAt - history.startedAt) / 1000;
    const rate = (pred: (o: Op) => boolean, clients: number) => (history.ops.filter(pred).length / secs / clients).toFixed(1);
    console.log(`run: ${secs.toFixed(1)} s, ${history.ops.length} client ops, ${log.records.length} probes`);
    console.log(`writers: ${rate((o) => o.kind === 'insert', WRITERS)} ops/s per client (${rate((o) => o.kind === 'insert' && o.outcome === 'ok', WRITERS)} acknowledged)`);
    console.log(`registers: ${rate((o) => o.kind !== 'insert', REGISTERS)} ops/s per client (${rate((o) => o.kind !== 'insert' && o.outcome === 'ok', REGISTERS)} acknowledged)`);
    console.log(`epochs seen by the prober: ${log.epochs.map((e) => `${e.epoch} on ${e.node}`).join(', ') || 'none (rustydb.epoch not set by the agent yet)'}`);
    console.log(summarizeVerdict(verdict));
    console.log('\ntimeline:');
    console.log(formatTimeline({ events, history, probes: log, verdict }));
    return verdict.ok ? 0 : 1;
  } finally {
    await closeTestSandbox(t);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);
