/**
 * The fault fabric itself: namespaces and addresses, partitions (block,
 * one-way, isolate, split, flap, heal), the link proxy (delay, stall,
 * dropped connections, and partitions still holding through it), and
 * cleanup. Needs root, iproute2 and nftables; skipped, with the reason, without.
 *
 * This file runs twice: in the root namespace (no fabric in the environment)
 * it creates the fabric, runs itself inside the ctl namespace with
 * reexecInside, and checks destroy() leaves nothing; inside, it runs the
 * connectivity tests (the proxy must live in the ctl namespace).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { createFabric, destroyStaleFabrics, fabricFromEnv, faultSupport, listNamespaces, reexecInside, type Fabric } from './net/fabric.ts';
import { CTL, createPartitioner, type Partitioner } from './net/partition.ts';
import { peerLinks, startLinkProxy } from './net/proxy.ts';
import { sendUdp, startEchoServers, tcpProbe, type EchoServers, type ProbeResult } from './net/reach.ts';

const ECHO_PORT = 7100;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const inside = fabricFromEnv();
if (inside === null) outer();
else inner(inside);

function outer(): void {
  test('fault fabric: namespaces, partitions and the link proxy', { timeout: 600_000 }, async (t) => {
    const support = faultSupport();
    if (!support.ok) {
      t.skip(`fault suite not supported here: ${support.reason}`);
      return;
    }
    const name = `ft${process.pid}`;
    const fabric = createFabric({ name, nodes: ['n1', 'n2', 'n3'] });
    try {
      assert.deepEqual(listNamespaces(`rdbf-${name}-`).sort(), fabric.namespaces().sort());
      assert.equal(fabric.addressOf('n2'), '10.250.0.12');
      assert.equal(fabric.ctlAddress, '10.250.0.2');
      // Our addresses exist only inside our namespaces.
      const { execFileSync } = await import('node:child_process');
      assert.doesNotMatch(execFileSync('ip', ['-4', 'addr'], { encoding: 'utf8' }), /10\.250\.0\./);

      const r = await reexecInside(fabric, fileURLToPath(import.meta.url), { stdio: 'pipe' });
      assert.equal(r.code, 0, `the tests inside ${fabric.ctlNs} failed:\n${r.stdout}\n${r.stderr}`);
    } finally {
      fabric.destroy();
    }
    assert.deepEqual(listNamespaces(`rdbf-${name}-`), [], 'destroy() left namespaces behind');
    fabric.destroy(); // idempotent

    // A crashed run's leftovers: made again, then swept by prefix.
    createFabric({ name, nodes: ['n1'] });
    assert.deepEqual(destroyStaleFabrics(`rdbf-${name}-`).sort(), [`rdbf-${name}-br`, `rdbf-${name}-ctl`, `rdbf-${name}-n1`]);
    assert.deepEqual(listNamespaces(`rdbf-${name}-`), []);
    assert.throws(() => destroyStaleFabrics('other-'), /only removes namespaces named rdbf-/);
  });
}

function inner(fabric: Fabric): void {
  let echo: EchoServers;
  let parts: Partitioner;
  const addr = (id: string) => fabric.addressOf(id);
  /** TCP round trip from `from` (a node id, or ctl) to node `to`'s echo server. */
  const probe = (from: string, to: string, timeoutMs = 1500): Promise<ProbeResult> =>
    tcpProbe(from === CTL ? null : fabric.nsOf(from), addr(to), ECHO_PORT, timeoutMs);
  const reaches = async (from: string, to: string) => (await probe(from, to)).result === 'ok';
  /** Every listed reachability at once: [from, to, expected]. */
  const expectReach = async (cases: [string, string, boolean][]) => {
    const got = await Promise.all(cases.map(([f, to]) => reaches(f, to)));
    assert.deepEqual(
      cases.map(([f, to], i) => `${f}->${to} ${got[i] ? 'reaches' : 'cut'}`),
      cases.map(([f, to, want]) => `${f}->${to} ${want ? 'reaches' : 'cut'}`),
    );
  };

  test.before(async () => {
    echo = await startEchoServers(fabric, ECHO_PORT);
    parts = await createPartitioner(fabric);
  });
  test.after(async () => {
    await parts?.dispose();
    await echo?.stop();
  });

  test('every host reaches every node', async () => {
    await expectReach([
      [CTL, 'n1', true],
      [CTL, 'n2', true],
      [CTL, 'n3', true],
      ['n1', 'n2', true],
      ['n2', 'n3', true],
      ['n3', 'n1', true],
    ]);
  });

  test('block cuts two nodes both ways, and only them; heal restores', async () => {
    await parts.block('n1', 'n2');
    assert.equal(parts.describe().length, 1);
    await expectReach([
      ['n1', 'n2', false],
      ['n2', 'n1', false],
      ['n1', 'n3', true],
      ['n3', 'n2', true],
      [CTL, 'n1', true],
    ]);
    await parts.heal();
    assert.deepEqual(parts.describe(), []);
    await expectReach([
      ['n1', 'n2', true],
      ['n2', 'n1', true],
    ]);
  });

  test('blockOneWay: the receiver stops hearing the sender, the sender still hears the receiver; TCP stalls both ways', async () => {
    await parts.blockOneWay('n1', 'n2');
    await sendUdp(fabric.nsOf('n1'), addr('n2'), ECHO_PORT + 1, 'from-n1');
    await sendUdp(fabric.nsOf('n2'), addr('n1'), ECHO_PORT + 1, 'from-n2');
    await sleep(500);
    assert.ok(!echo.udpReceived('n2').includes('from-n1'), 'n2 heard n1 through a one-way block');
    assert.ok(echo.udpReceived('n1').includes('from-n2'), 'n1 no longer hears n2 although only n1 -> n2 is blocked');
    await expectReach([
      ['n1', 'n2', false],
      ['n2', 'n1', false],
      ['n1', 'n3', true],
    ]);
    await parts.heal();
    await expectReach([['n1', 'n2', true]]);
  });

  test('isolate without clients cuts the node from its peers only; with clients from the ctl namespace too', async () => {
    const id = await parts.isolate('n1', { clients: false });
    await expectReach([
      ['n1', 'n2', false],
      ['n3', 'n1', false],
      ['n2', 'n3', true],
      [CTL, 'n1', true],
    ]);
    await parts.remove(id);
    await parts.isolate('n1', { clients: true });
    await expectReach([
      [CTL, 'n1', false],
      ['n2', 'n1', false],
      [CTL, 'n2', true],
    ]);
    await parts.heal();
    await expectReach([
      [CTL, 'n1', true],
      ['n2', 'n1', true],
    ]);
  });

  test('split 1-2 and 1-1-1', async () => {
    await parts.split([['n1'], ['n2', 'n3']]);
    await expectReach([
      ['n1', 'n2', false],
      ['n3', 'n1', false],
      ['n2', 'n3', true],
      [CTL, 'n1', true],
    ]);
    await parts.heal();
    await parts.split([['n1'], ['n2'], ['n3']]);
    await expectReach([
      ['n1', 'n2', false],
      ['n2', 'n3', false],
      ['n3', 'n1', false],
      [CTL, 'n3', true],
    ]);
    await parts.heal();
    await expectReach([['n2', 'n3', true]]);
  });

  test('composed blocks: the primary reaches both standbys, the standbys not each other', async () => {
    await parts.block('n2', 'n3');
    await expectReach([
      ['n1', 'n2', true],
      ['n1', 'n3', true],
      ['n2', 'n3', false],
    ]);
    await parts.heal();
  });

  test('flap starts blocked, and its stop leaves the link open', async () => {
    const stop = await parts.flap('n1', 'n2', { periodMs: 5000 });
    assert.ok(parts.isBlocked('n1', 'n2'));
    await expectReach([['n1', 'n2', false]]);
    await stop();
    assert.ok(!parts.isBlocked('n1', 'n2'));
    assert.deepEqual(parts.describe(), []);
    await expectReach([['n1', 'n2', true]]);
  });

  test('link proxy: traffic goes through it, delay is a lower bound on the round trip, stalls and drops, partitions still hold', async () => {
    const ports = Object.fromEntries(fabric.nodes.map((n) => [n, ECHO_PORT]));
    const proxy = await startLinkProxy(fabric, peerLinks(fabric, ports));
    try {
      const before = proxy.stats().find((s) => s.from === 'n1' && s.to === 'n2')!.accepted;
      assert.equal((await probe('n1', 'n2')).result, 'ok');
      assert.equal(proxy.stats().find((s) => s.from === 'n1' && s.to === 'n2')!.accepted, before + 1, 'n1 -> n2 did not go through the proxy');

      proxy.set('n1', 'n2', { delayMs: 300, jitterMs: 50 });
      proxy.set('n2', 'n1', { delayMs: 200 });
      const slow = await probe('n1', 'n2', 5000);
      assert.equal(slow.result, 'ok');
      // Each direction is delayed by at least its delayMs: the round trip by at least their sum (rounding aside).
      assert.ok(slow.result === 'ok' && slow.rttMs >= 500 - 2, `round trip ${slow.result === 'ok' ? slow.rttMs.toFixed(0) : '?'} ms < 500 ms`);
      assert.equal(proxy.describe().length, 2);

      proxy.clear();
      // Nothing n3 sends reaches n1 until 3 s after the stall was set, so no echo comes back before then.
      const stallSet = Date.now();
      proxy.set('n3', 'n1', { stallMs: 3000 });
      const stalled = await probe('n3', 'n1', 8000);
      const answeredAfter = Date.now() - stallSet;
      assert.equal(stalled.result, 'ok');
      assert.ok(answeredAfter >= 3000, `a link stalled for 3000 ms answered after ${answeredAfter} ms`);

      proxy.set('n2', 'n3', { dropConnections: 1 });
      const dropped = await probe('n2', 'n3');
      assert.notEqual(dropped.result, 'ok');
      assert.ok(proxy.stats().find((s) => s.from === 'n2' && s.to === 'n3')!.dropped >= 1);
      proxy.clear();

      // Partitions must hold through the proxy (it is on the ctl side, the dnat happens on the sender).
      await parts.block('n1', 'n2');
      await expectReach([
        ['n1', 'n2', false],
        ['n2', 'n1', false],
        ['n1', 'n3', true],
      ]);
      await parts.heal();
      await parts.blockOneWay('n3', 'n1');
      await expectReach([
        ['n3', 'n1', false],
        ['n1', 'n3', false],
      ]);
      await parts.heal();
      await parts.isolate('n2', { clients: false });
      await expectReach([
        ['n1', 'n2', false],
        ['n2', 'n3', false],
        [CTL, 'n2', true],
      ]);
      await parts.heal();
      await expectReach([['n1', 'n2', true]]);
    } finally {
      await proxy.close();
    }
    // Without the proxy, direct again.
    await expectReach([['n1', 'n2', true]]);
  });
}
