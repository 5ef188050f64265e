/** Every generated doc file, in memory: path relative to the repository → content (gen-docs writes them, the test compares). */

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { buildProgram } from '../cli.ts';
import type { IOStreams } from '../output.ts';
import { completionScript } from './completions.ts';
import { manAdmin } from './man-admin.ts';
import { manAgent } from './man-agent.ts';
import { manConf } from './man-conf.ts';
import { docTree } from './tree.ts';

export function generateDocs(repoRoot: string): Record<string, string> {
  // A quiet, env-free factory: nothing in the output may depend on who runs it.
  const io = { out: new PassThrough(), err: new PassThrough(), outIsTTY: false, errIsTTY: false, inIsTTY: false, color: false } as unknown as IOStreams;
  const program = buildProgram({ io, env: {}, cwd: repoRoot });
  const root = docTree(program);
  const version = program.version() ?? 'unknown';
  return {
    'completions/rustydb-admin.bash': completionScript('bash', root),
    'completions/rustydb-admin.zsh': completionScript('zsh', root),
    'completions/rustydb-admin.fish': completionScript('fish', root),
    'man/rustydb-admin.1': manAdmin(root, version),
    'man/rustydb-agent.8': manAgent(version),
    'man/rustydb.conf.5': manConf(readFileSync(join(repoRoot, 'docs/rustydb.conf.example'), 'utf8'), version),
  };
}
