/**
 * rustydb-admin at a real terminal (tmux pseudo-terminal, helpers/pty.ts)
 * against a real 3-node sandbox: `cluster status` draws a table, not JSON;
 * `cluster failover --force` asks the operator to type the target node id,
 * and a wrong id exits 3, Ctrl-C at the prompt exits 130, the primary
 * unchanged both times.
 */

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ClusterView } from '../../agent/api/wire.ts';
import { Pty } from './helpers/pty.ts';
import { ADMIN_BIN, adminEnv, closeTestSandbox, openTestSandbox, runAdmin, type TestSandbox } from './helpers/cli-sandbox.ts';

let box: TestSandbox;

/** Colours allowed: at a terminal the CLI decides by itself. */
const env = () => adminEnv(box, { NO_COLOR: undefined });

/** `cluster status -o json` without a terminal. */
async function status(): Promise<ClusterView> {
  const r = await runAdmin(['cluster', 'status', '-o', 'json'], env(), 60_000);
  if (r.code !== 0) throw new Error(`cluster status failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as ClusterView;
}

/** Run the real CLI in a pseudo-terminal; closed by the caller. */
function inPty(args: string[]): Pty {
  return Pty.start({ argv: [process.execPath, ADMIN_BIN, ...args], env: env() });
}

before(async () => {
  box = await openTestSandbox('cli-pty-test');
});

after(() => closeTestSandbox(box));

test('cluster status at a terminal: a coloured table by default, not JSON', async () => {
  const pty = inPty(['cluster', 'status']);
  try {
    assert.equal(await pty.exitCode(), 0, pty.screen());
    const screen = pty.screen();
    assert.match(screen, /ID +KIND +ROLE +STATE +HEALTH/);
    assert.doesNotMatch(screen, /"members"/);
    assert.match(pty.screen(true), /\x1b\[32mprimary/, 'the primary in green on a terminal');
  } finally {
    pty.close();
  }
});

test('cluster failover --force at a terminal: a wrong node id exits 3 and changes nothing; Ctrl-C exits 130', async () => {
  const before = await status();
  const replicas = before.members.filter((m) => m.role === 'replica').map((m) => m.id);
  assert.ok(replicas.length >= 2, `two replicas expected: ${JSON.stringify(before.members)}`);
  const [target, other] = replicas;

  let pty = inPty(['cluster', 'failover', '--force', '--to', target]);
  try {
    await pty.waitFor(new RegExp(`Type ${target} to confirm`));
    pty.type(other);
    pty.keys('Enter');
    assert.equal(await pty.exitCode(), 3, pty.screen());
    assert.match(pty.screen(), new RegExp(`you typed "${other}", not "${target}"`));
  } finally {
    pty.close();
  }
  assert.equal((await status()).primary, before.primary, 'a wrong answer changes nothing');

  pty = inPty(['cluster', 'failover', '--force', '--to', target]);
  try {
    await pty.waitFor(new RegExp(`Type ${target} to confirm`));
    pty.type(target.slice(0, 1)); // half typed, then Ctrl-C
    pty.keys('C-c');
    assert.equal(await pty.exitCode(), 130, pty.screen());
    assert.match(pty.screen(), /interrupted at the prompt/);
  } finally {
    pty.close();
  }
  const now = await status();
  assert.equal(now.primary, before.primary, 'Ctrl-C changes nothing');
  assert.equal(now.epoch, before.epoch);
});
