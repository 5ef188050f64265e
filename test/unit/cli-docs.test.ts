/**
 * Generated docs: completions/ and man/ are up to date with the command
 * tree, cover every command, and parse in their shells; the bash script
 * completes commands, flag values and node ids; `help exit-codes` works.
 */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildProgram, main, type Factory } from '../../src/cli.ts';
import { generateDocs } from '../../src/docs/generate.ts';
import { allCommands, docTree } from '../../src/docs/tree.ts';
import { EXIT_CODES_HELP } from '../../src/errors.ts';
import type { IOStreams } from '../../src/output.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const has = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;

function fakeFactory(): { f: Factory; out: () => string; err: () => string } {
  const o = new PassThrough();
  const e = new PassThrough();
  let out = '';
  let err = '';
  o.on('data', (d) => (out += d));
  e.on('data', (d) => (err += d));
  const io = { out: o, err: e, outIsTTY: false, color: false } as unknown as IOStreams;
  return { f: { io, env: {}, cwd: ROOT }, out: () => out, err: () => err };
}

const docs = generateDocs(ROOT);

test('committed completions/ and man/ match the command tree', () => {
  for (const [path, want] of Object.entries(docs)) {
    let got = '';
    try {
      got = readFileSync(join(ROOT, path), 'utf8');
    } catch {
      assert.fail(`${path} is missing: run \`npm run gen-docs\` and commit it`);
    }
    assert.ok(got === want, `${path} is out of date with the command tree: run \`npm run gen-docs\` and commit it`);
  }
});

test('generation is deterministic', () => {
  assert.deepEqual(generateDocs(ROOT), docs);
});

test('every command and subcommand is in the bash completion and the man page', () => {
  const root = docTree(buildProgram(fakeFactory().f));
  const bash = docs['completions/rustydb-admin.bash'];
  const man = docs['man/rustydb-admin.1'];
  for (const c of allCommands(root).filter((x) => x.path.length)) {
    assert.match(bash, new RegExp(`\\b${c.name}\\b`), `bash completion lacks ${c.path.join(' ')}`);
    if (c.subcommands.length === 0) assert.ok(man.includes(`.SS ${c.path.join(' ')}\n`), `man page lacks a section for ${c.path.join(' ')}`);
    for (const o of c.options) if (o.long) assert.ok(bash.includes(o.long), `bash completion lacks ${c.path.join(' ')} ${o.long}`);
  }
  for (const section of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'OPTIONS', '"EXIT STATUS"', 'ENVIRONMENT', 'FILES', 'EXAMPLES'])
    assert.ok(man.includes(`\n.SH ${section}\n`), `man page lacks .SH ${section}`);
});

test('bash script parses (bash -n)', () => {
  const r = spawnSync('bash', ['-n', join(ROOT, 'completions/rustydb-admin.bash')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

for (const [shell, file] of [
  ['zsh', 'completions/rustydb-admin.zsh'],
  ['fish', 'completions/rustydb-admin.fish'],
] as const) {
  test(`${shell} script parses (${shell} -n)`, { skip: has(shell) ? false : `${shell} is not installed on this machine` }, () => {
    const r = spawnSync(shell, ['-n', join(ROOT, file)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });
}

test('man pages render without groff warnings', { skip: has('groff') ? false : 'groff is not installed on this machine' }, () => {
  for (const page of ['man/rustydb-admin.1', 'man/rustydb-agent.8', 'man/rustydb.conf.5']) {
    const r = spawnSync('groff', ['-man', '-ww', '-z', join(ROOT, page)], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `${page}: ${r.stderr}`);
  }
});

test('bash completion: commands, flag values, and node ids from `cluster status -o json`', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rustydb-comp-'));
  // A stand-in for rustydb-admin that records its arguments and answers with two members.
  const fake = join(dir, 'rustydb-admin');
  writeFileSync(fake, `#!/bin/sh\necho "$@" >> ${dir}/args\necho '{"name":"prod","id":"c1","members":[{"id":"n1"},{"id":"n2"}]}'\n`);
  chmodSync(fake, 0o755);
  const complete = (...words: string[]): string => {
    const script = `source ${join(ROOT, 'completions/rustydb-admin.bash')}; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _rustydb_admin; echo "\${COMPREPLY[*]}"`;
    const r = spawnSync('bash', ['-c', script, '_', fake, ...words], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  assert.equal(complete('cl'), 'cluster');
  // Other verbs join the noun over time: the ones this test knows must be offered.
  const verbs = complete('cluster', '').split(' ');
  for (const v of ['status', 'failover', 'history']) assert.ok(verbs.includes(v), `cluster ${v} in ${verbs.join(' ')}`);
  assert.equal(complete('--output', '=', ''), 'table json');
  assert.equal(complete('completion', ''), 'bash zsh fish');
  assert.ok(complete('help', '').split(' ').includes('exit-codes'));
  assert.ok(complete('cluster', 'failover', '--').split(' ').includes('--prepare'));
  assert.equal(complete('node', 'status', ''), 'n1 n2');
  assert.equal(complete('--endpoint', 'http://127.0.0.1:9', 'cluster', 'failover', '--to', ''), 'n1 n2');
  assert.deepEqual(readFileSync(join(dir, 'args'), 'utf8').trim().split('\n'), [
    'cluster status -o json',
    '--endpoint http://127.0.0.1:9 cluster status -o json',
  ]);
});

test('`help exit-codes` prints the exit-code table; unknown topics are usage errors', async () => {
  const a = fakeFactory();
  assert.equal(await main(['help', 'exit-codes'], a.f), 0);
  assert.equal(a.out(), `${EXIT_CODES_HELP}\n`);
  const b = fakeFactory();
  assert.equal(await main(['help', 'no-such-topic'], b.f), 2);
  assert.match(b.err(), /no-such-topic.*exit-codes/);
  const c = fakeFactory();
  assert.equal(await main(['help', 'cluster', 'failover'], c.f), 0);
  assert.match(c.out(), /Usage: rustydb-admin cluster failover/);
});

test('`completion bash` prints the committed script; a bad shell is a usage error', async () => {
  const a = fakeFactory();
  assert.equal(await main(['completion', 'bash'], a.f), 0);
  assert.equal(a.out(), docs['completions/rustydb-admin.bash']);
  const b = fakeFactory();
  assert.equal(await main(['completion', 'ksh'], b.f), 2);
});

test('every command that runs something shows an example in its --help', async () => {
  const root = docTree(buildProgram({ io: { out: { write: () => true }, err: { write: () => true }, outIsTTY: false, color: false }, env: {}, cwd: '/' } as Factory));
  const missing: string[] = [];
  for (const c of allCommands(root).filter((x) => x.path.length > 0 && x.subcommands.length === 0 && x.name !== 'help')) {
    let out = '';
    const r = await main([...c.path, '--help'], { io: { out: { write: (s: string) => ((out += s), true) }, err: { write: () => true }, outIsTTY: false, color: false }, env: {}, cwd: '/' } as Factory);
    assert.equal(r, 0, `${c.path.join(' ')} --help exits 0`);
    if (!/Examples?:\n[^\n]*rustydb-admin /.test(out)) missing.push(c.path.join(' '));
  }
  assert.deepEqual(missing, [], 'commands whose --help has no "Example:" block');
});
