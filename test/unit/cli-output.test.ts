/**
 * Presentation decided by the streams (src/output.ts, src/cli.ts,
 * src/progress.ts) with a fake IO: the default output format (table on a
 * terminal, JSON otherwise), the one colour decision (NO_COLOR, TERM=dumb,
 * --no-color, a pipe), tables, and progress (spinner vs timestamped lines).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { useMockAgent } from './helpers/mock-http.ts';
import type { ClusterView } from '../../agent/api/wire.ts';
import { main, type Factory } from '../../src/cli.ts';
import { colorAllowed, colors, loadColors, printJson, printTable, timestamp, type IOStreams } from '../../src/output.ts';
import { startProgress, stopProgress } from '../../src/progress.ts';

const A = 'http://127.0.0.1:7001';
const ESC = /\x1b\[/;

const CLUSTER: ClusterView = {
  name: 'demo', id: 'c-1', epoch: 4, primary: 'n1', leader: 'n1', quorum: { voters: 1, healthy: 1, hasQuorum: true },
  haMode: 'active_passive', durability: 'strict', consistency: 'linearizable', staleMs: null, writable: true, problem: null,
  members: [{ id: 'n1', kind: 'voter', role: 'primary', adminState: 'active', health: 'healthy', timeline: 1, flushLsn: '0/1', replayLsn: null, lagBytes: null, lagMs: null, release: '16', region: 'local', apiUrl: A, pg: '127.0.0.1:6001', uptimeS: 60 }],
};

function fakeIO(tty: boolean, color = tty): IOStreams & { text: { out: string; err: string } } {
  const text = { out: '', err: '' };
  return { text, out: { write: (s: string) => (text.out += s) }, err: { write: (s: string) => (text.err += s) }, outIsTTY: tty, color, inIsTTY: tty, errIsTTY: tty };
}

const agent = useMockAgent();

async function status(args: string[], io: ReturnType<typeof fakeIO>): Promise<number> {
  agent().get(A).intercept({ path: '/v1/cluster' }).reply(200, CLUSTER);
  const f: Factory = { io, env: { RUSTYDB_ENDPOINTS: A, RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test' }, cwd: '/' };
  return main(['cluster', 'status', ...args], f);
}

test('-o defaults to table on a terminal and to one JSON document (nothing else on stdout) when piped', async () => {
  const tty = fakeIO(true);
  assert.equal(await status([], tty), 0, tty.text.err);
  assert.match(tty.text.out, /^cluster: +demo/);
  assert.match(tty.text.out, /ROLE/);
  const pipe = fakeIO(false);
  assert.equal(await status([], pipe), 0, pipe.text.err);
  assert.deepEqual(JSON.parse(pipe.text.out), CLUSTER);
  assert.equal(pipe.text.out.trim().split('\n').length, 1, 'compact: one line');
  const forced = fakeIO(false);
  await status(['-o', 'table'], forced);
  assert.match(forced.text.out, /^cluster: +demo/, '-o table still wins when piped');
  const json = fakeIO(true);
  await status(['-o', 'json'], json);
  assert.deepEqual(JSON.parse(json.text.out), CLUSTER, '-o json on a terminal (pretty-printed)');
  assert.ok(json.text.out.includes('\n  "name"'));
});

test('colour decision: terminal only, NO_COLOR non-empty and TERM=dumb turn it off', () => {
  assert.equal(colorAllowed(true, {}), true);
  assert.equal(colorAllowed(false, {}), false, 'not a terminal');
  assert.equal(colorAllowed(true, { NO_COLOR: '1' }), false);
  assert.equal(colorAllowed(true, { NO_COLOR: '' }), true, 'no-color.org: only a non-empty NO_COLOR counts');
  assert.equal(colorAllowed(true, { TERM: 'dumb' }), false);
  assert.equal(colorAllowed(true, { TERM: 'xterm-256color' }), true);
});

test('--no-color on a terminal: no escape codes at all; without it roles and health are coloured', async () => {
  const plain = fakeIO(true, true);
  assert.equal(await status(['--no-color'], plain), 0, plain.text.err);
  assert.doesNotMatch(plain.text.out, ESC);
  assert.equal(plain.color, false, 'the decision is made once, on the IO every command reads');
  const coloured = fakeIO(true, true);
  await status([], coloured);
  assert.match(coloured.text.out, /\x1b\[32mprimary\x1b\[39m/, 'primary in green (chalk)');
  assert.match(coloured.text.out, /\x1b\[32mhealthy\x1b\[39m/);
  assert.match(coloured.text.out, /\x1b\[1mID\x1b\[22m/, 'bold header');
});

test('chalk follows io.color, not the process: level 0 when off, even if colour was loaded', async () => {
  const on = fakeIO(true, true);
  await loadColors(on);
  assert.equal(colors(on).red('x'), '\x1b[31mx\x1b[39m');
  assert.equal(colors(fakeIO(true, false)).bold.red('x'), 'x');
  assert.equal(colors(fakeIO(false, false)).green('a', 'b'), 'a b');
});

test('printTable: aligned borderless columns on a terminal; tab-separated without header when piped', () => {
  const cols = [{ header: 'id' }, { header: 'role', style: (c: string) => (c === 'primary' ? ('green' as const) : null) }, { header: 'lag bytes' }];
  const rows = [['n1', 'primary', '-'], ['node-22', 'replica', '12345']];
  const tty = fakeIO(true, false);
  printTable(tty, cols, rows);
  assert.equal(tty.text.out, 'ID       ROLE     LAG BYTES\nn1       primary  -\nnode-22  replica  12345\n');
  const pipe = fakeIO(false);
  printTable(pipe, cols, rows);
  assert.equal(pipe.text.out, 'n1\tprimary\t-\nnode-22\treplica\t12345\n');
  const json = fakeIO(false);
  printJson(json, { a: 1 });
  assert.equal(json.text.out, '{"a":1}\n');
});

test('progress without a terminal: timestamped lines on stderr, identical consecutive steps once', () => {
  const io = fakeIO(false);
  let t = Date.parse('2026-11-26T12:00:01.250Z');
  const p = startProgress({ io }, 'switchover op-1', { now: () => new Date((t += 1000)) });
  p.update('pending: recorded');
  p.update('pending: recorded');
  p.update('running: demoting n1');
  p.update('running: demoting n1');
  p.update('pending: recorded');
  p.done('succeeded: n2 is the primary');
  p.update('after the end');
  p.fail('after the end');
  assert.equal(io.text.out, '', 'nothing on stdout');
  assert.deepEqual(io.text.err.split('\n'), [
    '2026-11-26T12:00:02Z switchover op-1: pending: recorded',
    '2026-11-26T12:00:03Z switchover op-1: running: demoting n1',
    '2026-11-26T12:00:04Z switchover op-1: pending: recorded',
    '2026-11-26T12:00:05Z switchover op-1: succeeded: n2 is the primary',
    '',
  ]);
  assert.equal(timestamp(new Date('2026-11-26T12:00:01.999Z')), '2026-11-26T12:00:01Z');

  const again = fakeIO(false);
  const q = startProgress({ io: again }, 'drain d-1');
  q.update('succeeded: n3 is drained');
  q.done();
  assert.equal(again.text.err.split('\n').length, 2, `a final line equal to the last step is not repeated: ${again.text.err}`);
  const none = fakeIO(false);
  startProgress({ io: none }, 'x').fail();
  assert.match(none.text.err, /Z x: failed\n$/, 'without any step, the end still gets its line');
});

test('progress on a terminal: a spinner redrawn in place on stderr, ending with one final line', () => {
  const io = fakeIO(true);
  const p = startProgress({ io }, 'join n4', { intervalMs: 60_000 });
  p.update('cloning 10 MB / 40 MB');
  p.update('cloning 10 MB / 40 MB');
  p.fail('clone failed: disk full');
  assert.equal(io.text.out, '');
  const frames = io.text.err.split('\r\x1b[2K').filter(Boolean);
  assert.equal(frames.length, 3, `first draw, one redraw (the repeat is skipped), the end: ${JSON.stringify(frames)}`);
  assert.match(frames[1], /^. join n4: cloning 10 MB \/ 40 MB$/);
  assert.equal(frames[2], '✗ join n4: clone failed: disk full\n');
  assert.ok(!frames.slice(0, 2).some((f) => f.includes('\n')), 'the spinner never scrolls');
});

test('stopProgress ends a spinner left drawing on its own line (before an error message)', () => {
  const io = fakeIO(true);
  const p = startProgress({ io }, 'join n4', { intervalMs: 60_000 });
  p.update('cloning');
  stopProgress();
  assert.ok(io.text.err.endsWith('\r\x1b[2K✗ join n4: cloning\n'), JSON.stringify(io.text.err));
  const len = io.text.err.length;
  p.done('late');
  stopProgress();
  assert.equal(io.text.err.length, len, 'ended once');
});

/**
 * The packages the real binary loads for `args` (ESM imports through a
 * resolve hook, CommonJS requires through Module._load), written to a file.
 */
async function packagesLoaded(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Set<string>> {
  const dir = mkdtempSync(join(tmpdir(), 'rustydb-cli-loads-'));
  const log = join(dir, 'loaded.log');
  try {
    const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { appendFileSync(${JSON.stringify(log)}, spec + '\\n'); return next(spec, ctx); }`;
    writeFileSync(join(dir, 'hooks.mjs'), hooks);
    writeFileSync(join(dir, 'preload.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify('file://' + join(dir, 'hooks.mjs'))});\n`);
    writeFileSync(
      join(dir, 'preload.cjs'),
      `const M = require('node:module'); const fs = require('node:fs'); const load = M._load;
M._load = function (req, ...rest) { fs.appendFileSync(${JSON.stringify(log)}, req + '\\n'); return load.call(this, req, ...rest); };`,
    );
    const admin = fileURLToPath(new URL('../../bin/rustydb-admin', import.meta.url));
    const childEnv: NodeJS.ProcessEnv = { ...process.env, RUSTYDB_CONFIG_DIR: '/nonexistent-rustydb-test', ...env };
    delete childEnv.NODE_TEST_CONTEXT;
    await new Promise<void>((resolve) =>
      execFile(process.execPath, ['--require', join(dir, 'preload.cjs'), '--import', join(dir, 'preload.mjs'), admin, ...args], { env: childEnv, timeout: 60_000 }, () => resolve()),
    );
    const names = readFileSync(log, 'utf8').split('\n').filter((l) => l && !l.startsWith('.') && !l.startsWith('/') && !l.startsWith('node:') && !l.startsWith('file:'));
    return new Set(names.map((n) => (n.startsWith('@') ? n.split('/').slice(0, 2).join('/') : n.split('/')[0])));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('start-up: --version and --help load no prompt, HTTP, table or colour code; status -o json no prompt or table code', async () => {
  const heavy = ['undici', '@inquirer/prompts', 'cli-table3', 'chalk', 'pg'];
  for (const args of [['--version'], ['--help']]) {
    const loaded = await packagesLoaded(args);
    assert.ok(loaded.has('commander'), `the hooks saw the CLI load: ${[...loaded].join(', ')}`);
    for (const p of heavy) assert.ok(!loaded.has(p), `rustydb-admin ${args.join(' ')} loaded ${p}`);
  }
  const loaded = await packagesLoaded(['cluster', 'status', '-o', 'json', '--endpoint', 'http://127.0.0.1:9']);
  for (const p of heavy) assert.ok(!loaded.has(p), `cluster status -o json loaded ${p}`);
});
