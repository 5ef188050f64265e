/**
 * The CLI's side of the upgrade journal (agent/upgrade-journal.ts): read it,
 * and change it by compare-and-set. A change is a function applied to the
 * journal as last read; when the agent answers 409 (someone else wrote, e.g.
 * `cluster upgrade abort`), the journal is read again and the change applied
 * to that, keeping the other writer's `state` when it is an abort, so an
 * abort is never overwritten by a running CLI.
 */

import { randomUUID } from 'node:crypto';
import { isActive, UPGRADE_JOURNAL_PATH, type ProcedureConflict, type UpgradeJournal, type UpgradeJournalAnswer } from '../../../agent/upgrade-journal.ts';
import { ApiRequestError, type ApiClient } from '../../api/client.ts';
import { CliError } from '../../errors.ts';

export async function readJournal(client: ApiClient): Promise<UpgradeJournal | null> {
  return (await readJournalAnswer(client)).journal;
}

/** The journal and what else holds upgrades back (`blockedBy`: a pending switchover/failover, a force-quorum). */
export async function readJournalAnswer(client: ApiClient): Promise<UpgradeJournalAnswer> {
  const a = await client.get<UpgradeJournalAnswer>(UPGRADE_JOURNAL_PATH);
  return { journal: a.journal, blockedBy: a.blockedBy ?? null };
}

/** Exit 6 naming the procedure that holds the upgrade back; the journal stays running. */
export function blockedConflict(j: UpgradeJournal, b: ProcedureConflict, where: string): CliError {
  return new CliError(
    'conflict',
    `${where}: ${b.message}; the upgrade ${j.id} stays running: \`rustydb-admin cluster upgrade resume\` continues it once that has finished`,
  );
}

/** Exit 6 naming the running upgrade and what the operator can do about it. */
export function runningConflict(j: UpgradeJournal): CliError {
  return new CliError(
    'conflict',
    `upgrade ${j.id} to ${j.version} is ${j.state} (started ${j.startedAt}; ${j.message}): see it with \`rustydb-admin cluster upgrade status\`, continue it with \`cluster upgrade resume\`, or stop it with \`cluster upgrade abort\``,
  );
}

function isConflict(err: unknown): boolean {
  return err instanceof ApiRequestError && err.status === 409;
}

/** Put `j` as a new journal (revision = the one read, 0 if none); exit 6 if another upgrade holds the cluster. */
export async function createJournal(client: ApiClient, j: UpgradeJournal): Promise<UpgradeJournal> {
  try {
    return await client.put<UpgradeJournal>(UPGRADE_JOURNAL_PATH, { ...j, request_id: randomUUID() });
  } catch (err) {
    if (!isConflict(err)) throw err;
    const cur = await readJournal(client);
    if (cur && isActive(cur)) throw runningConflict(cur);
    throw new CliError('conflict', `another \`cluster upgrade\` wrote the journal at the same time${cur ? ` (${cur.id}, ${cur.state})` : ''}: see \`rustydb-admin cluster upgrade status\``);
  }
}

/** One run's handle on the journal: `current` is the last version written or read. */
export class JournalHandle {
  constructor(
    private readonly client: ApiClient,
    public current: UpgradeJournal,
  ) {}

  /** Read it again (an abort may have been recorded); exit 6 if another upgrade replaced it. */
  async refresh(): Promise<UpgradeJournal> {
    const cur = await readJournal(this.client);
    if (!cur || cur.id !== this.current.id) throw this.replaced(cur);
    this.current = cur;
    return cur;
  }

  /**
   * Apply `change` and write it (compare-and-set), retrying on another
   * writer's change. An abort recorded meanwhile (`aborting`/`aborted`)
   * stays: `change` may not undo it.
   */
  async write(change: (j: UpgradeJournal) => void): Promise<UpgradeJournal> {
    for (let attempt = 0; ; attempt++) {
      const next = structuredClone(this.current);
      const abortState = next.state === 'aborting' || next.state === 'aborted' ? next.state : null;
      change(next);
      if (abortState && (next.state === 'running' || next.state === 'aborting')) next.state = abortState;
      next.updatedAt = new Date().toISOString();
      try {
        this.current = await this.client.put<UpgradeJournal>(UPGRADE_JOURNAL_PATH, { ...next, request_id: randomUUID() });
        return this.current;
      } catch (err) {
        if (!isConflict(err) || attempt >= 5) throw err;
        const cur = await this.refresh();
        // Ended meanwhile (an abort with no step in flight): nothing more may be written or done.
        if (!isActive(cur)) throw new CliError('failed', `upgrade ${cur.id} to ${cur.version} is ${cur.state} (${cur.message}): this run stops here, before touching another node`);
      }
    }
  }

  private replaced(cur: UpgradeJournal | null): CliError {
    return new CliError(
      'conflict',
      `the upgrade journal ${this.current.id} was replaced${cur ? ` by upgrade ${cur.id} to ${cur.version} (${cur.state})` : ' (it is gone)'}: this run stops; see \`rustydb-admin cluster upgrade status\``,
    );
  }
}
