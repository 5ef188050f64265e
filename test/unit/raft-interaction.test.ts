/**
 * Golden interaction scripts for the Raft core (etcd-io/raft `testdata/*.txt`
 * is the model). Each file in test/unit/testdata/ is a sequence of commands
 * with their expected output; the format and the commands are described at
 * the top of test/unit/raft-interaction/interp.ts.
 *
 * A mismatch fails with the first differing command (file:line) and a diff.
 *
 * To rewrite the expectations after an intended change of behaviour:
 *
 *     UPDATE_GOLDEN=1 node --import tsx --test test/unit/raft-interaction.test.ts
 *
 * then READ the diff (git diff test/unit/testdata): the files are a
 * specification of correct behaviour, not a recording of whatever happens.
 */

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseScript, renderScript, runBlocks } from './raft-interaction/interp.ts';

const dir = join(dirname(fileURLToPath(import.meta.url)), 'testdata');
const update = process.env.UPDATE_GOLDEN === '1';
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();

test('the golden scripts are there', () => {
  for (const name of [
    'prevote_checkquorum.txt',
    'figure8.txt',
    'conf_change_2015_bug.txt',
    'learner_promotion.txt',
    'leadership_transfer.txt',
    'snapshot_catchup.txt',
    'read_index.txt',
    'checkquorum_stepdown.txt',
  ]) {
    assert.ok(files.includes(name), `missing test/unit/testdata/${name}`);
  }
});

for (const file of files) {
  test(`interaction: ${file}`, () => {
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const blocks = parseScript(text);
    const outputs = runBlocks(blocks);
    const actual = renderScript(blocks, outputs);
    if (update) {
      if (actual !== text) writeFileSync(path, actual);
      return;
    }
    let k = 0;
    for (const b of blocks) {
      if (b.kind !== 'command') continue;
      const got = outputs[k++];
      if (got.join('\n') !== b.expected.join('\n')) {
        assert.equal(
          got.join('\n'),
          b.expected.join('\n'),
          `${file}:${b.lineNo}: output of "${b.command}" differs from the golden file (rerun with UPDATE_GOLDEN=1 only if the new behaviour is correct)`,
        );
      }
    }
    assert.equal(actual, text, `${file}: the script does not round-trip (blank lines between blocks?)`);
  });
}
