/**
 * Process faults on a node's engine: the sandbox signals agents itself
 * (Sandbox.signalAgent); PostgreSQL is a family of processes, and pausing
 * only the postmaster would leave its backends answering clients.
 */

import { readdirSync, readFileSync } from 'node:fs';

/** The pids of `root` and all its descendants (from /proc; empty if `root` is gone). */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(name));
    children.set(ppid, list);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** Send `sig` to a process and all its descendants; processes that are gone are skipped. Returns how many got it. */
export function signalTree(root: number, sig: NodeJS.Signals): number {
  let n = 0;
  for (const pid of processTree(root)) {
    try {
      process.kill(pid, sig);
      n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}
