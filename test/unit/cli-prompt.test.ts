/**
 * Confirmations (src/prompt.ts) with a fake IO and a fake prompter: no
 * prompt without a terminal on stdin AND stderr (exit 3, naming the flag),
 * typed confirmations that must match exactly, Ctrl-C at a prompt (130).
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CliError } from '../../src/errors.ts';
import type { IOStreams } from '../../src/output.ts';
import { canPrompt, confirm, confirmTyped, requireConfirmation, type Prompter, type PromptFactory } from '../../src/prompt.ts';

function io(inIsTTY: boolean, errIsTTY: boolean): IOStreams {
  return { out: { write: () => {} }, err: { write: () => {} }, outIsTTY: false, color: false, inIsTTY, errIsTTY };
}

/** Answers with `typed` / `yes`, recording each question; an Error is thrown instead (as inquirer on Ctrl-C). */
function fake(answer: { typed?: string | Error; yes?: boolean | Error }): Prompter & { asked: string[] } {
  const asked: string[] = [];
  const give = <T>(a: T | Error | undefined): T => {
    if (a === undefined) assert.fail('unexpected kind of prompt');
    if (a instanceof Error) throw a;
    return a;
  };
  return {
    asked,
    confirm: async (m) => (asked.push(m), give(answer.yes)),
    input: async (m) => (asked.push(m), give(answer.typed)),
  };
}

async function rejection(p: Promise<unknown>): Promise<CliError> {
  const err = await p.then(
    () => assert.fail('resolved'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof CliError, String(err));
  return err;
}

const ctrlC = () => Object.assign(new Error('User force closed the prompt with SIGINT'), { name: 'ExitPromptError' });

test('canPrompt needs stdin and stderr both terminals (a piped stdin is not a person)', () => {
  assert.equal(canPrompt(io(true, true)), true);
  assert.equal(canPrompt(io(false, true)), false);
  assert.equal(canPrompt(io(true, false)), false);
  assert.equal(canPrompt({ out: { write: () => {} }, err: { write: () => {} }, outIsTTY: true, color: true }), false, 'fields absent: not a terminal');
});

test('requireConfirmation without a terminal: exit 3 naming the flag, the prompter is never asked', async () => {
  for (const [inTTY, errTTY] of [[false, false], [false, true], [true, false]] as const) {
    const p = fake({ typed: 'c1', yes: true });
    const f: PromptFactory = { io: io(inTTY, errTTY), prompter: p };
    let e = await rejection(requireConfirmation(f, { yes: false, message: 'removing n3 drops its replication slot' }));
    assert.equal(e.exitCode, 3);
    assert.match(e.message, /removing n3 drops its replication slot: add --yes to confirm.*nothing was changed/);
    e = await rejection(requireConfirmation(f, { yes: false, flag: '--confirm-data-loss', typed: 'c1', message: 'force-quorum may lose writes' }));
    assert.equal(e.exitCode, 3);
    assert.match(e.message, /add --confirm-data-loss to confirm/);
    assert.deepEqual(p.asked, []);
  }
});

test('requireConfirmation with its flag given goes on without asking, terminal or not', async () => {
  for (const tty of [true, false]) {
    const p = fake({});
    await requireConfirmation({ io: io(tty, tty), prompter: p }, { yes: true, typed: 'n3', message: 'x' });
    assert.deepEqual(p.asked, []);
  }
});

test('typed confirmation: the exact answer goes on; a wrong or empty answer is declined (3)', async () => {
  const ok = fake({ typed: ' n3 ' });
  await requireConfirmation({ io: io(true, true), prompter: ok }, { yes: false, typed: 'n3', message: 'reinitializing n3 wipes its data' });
  assert.match(ok.asked[0], /reinitializing n3 wipes its data\. Type n3 to confirm:/);

  let e = await rejection(requireConfirmation({ io: io(true, true), prompter: fake({ typed: 'n2' }) }, { yes: false, typed: 'n3', message: 'x' }));
  assert.equal(e.exitCode, 3);
  assert.match(e.message, /you typed "n2", not "n3": declined; nothing was changed/);
  e = await rejection(confirmTyped({ io: io(true, true), prompter: fake({ typed: '' }) }, { expected: 'c1', message: 'x' }));
  assert.equal(e.kind, 'declined');
  assert.match(e.message, /nothing was typed, not "c1"/);
  e = await rejection(confirmTyped({ io: io(true, true), prompter: fake({ typed: 'N3' }) }, { expected: 'n3', message: 'x' }));
  assert.equal(e.exitCode, 3, 'case matters');
});

test('yes/no confirmation: yes goes on, no is declined (3); default question ends with Continue?', async () => {
  const yes = fake({ yes: true });
  await requireConfirmation({ io: io(true, true), prompter: yes }, { yes: false, message: 'stopping n2 ends its sessions' });
  assert.deepEqual(yes.asked, ['stopping n2 ends its sessions. Continue?']);
  const e = await rejection(confirm({ io: io(true, true), prompter: fake({ yes: false }) }, { message: 'x' }));
  assert.equal(e.exitCode, 3);
});

test('Ctrl-C at a prompt is exit 130; other prompter errors pass through', async () => {
  let e = await rejection(requireConfirmation({ io: io(true, true), prompter: fake({ typed: ctrlC() }) }, { yes: false, typed: 'n3', message: 'x' }));
  assert.equal(e.kind, 'interrupted');
  assert.equal(e.exitCode, 130);
  e = await rejection(confirm({ io: io(true, true), prompter: fake({ yes: Object.assign(new Error('aborted'), { name: 'AbortPromptError' }) }) }, { message: 'x' }));
  assert.equal(e.exitCode, 130);
  await assert.rejects(confirm({ io: io(true, true), prompter: fake({ yes: new TypeError('bug') }) }, { message: 'x' }), TypeError);
});
