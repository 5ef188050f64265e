/**
 * `GET /v1/procedures/upgrade` (the rolling-upgrade journal, or null, and
 * another procedure that holds upgrades back, or null) and
 * `PUT /v1/procedures/upgrade` (write it by compare-and-set). The journal's
 * `revision` is the store version of its key: a PUT carries the revision it
 * read (0: none existed) and is refused with 409 RDB_ERR_CONFLICT when the
 * record changed meanwhile; the answer carries the new revision.
 *
 * One upgrade at a time: a PUT of a journal with another id while the stored
 * one is running (or aborting) is a 409 naming the running one, whatever its
 * revision. Everything else (which step comes when) is the CLI's business;
 * the agent only keeps the record consistent. Any agent takes the PUT: the
 * Raft node forwards the write to the leader.
 */

import type { FastifyPluginAsync } from 'fastify';
import type { ClusterStore } from '../../raft/store.ts';
import { ClusterState, StaleRecordError } from '../../state/cluster-state.ts';
import { KEY } from '../../state/records.ts';
import type { FailoverRequest, OperationRecord, PrimaryRecord } from '../../state/records.ts';
import {
  isActive,
  procedureConflict,
  type ProcedureConflict,
  UPGRADE_JOURNAL_PATH,
  upgradeJournalAnswerSchema,
  upgradeJournalPutSchema,
  upgradeJournalSchema,
  type UpgradeJournal,
  type UpgradeJournalAnswer,
  type UpgradeJournalPut,
} from '../../upgrade-journal.ts';
import { ApiError } from '../errors.ts';
import { errorBodySchema, noQuerySchema } from '../wire.ts';

const errors = { '4xx': errorBodySchema, '5xx': errorBodySchema } as const;

/** The stored journal with its revision (the key's store version), or null. */
export async function readUpgradeJournal(store: ClusterStore): Promise<UpgradeJournal | null> {
  const r = await store.get(KEY.upgradeProcedure, { consistency: 'linearizable' });
  return r ? { ...(JSON.parse(r.value) as UpgradeJournal), revision: r.version } : null;
}

/**
 * Another procedure pending now that holds upgrades back (agent/upgrade-journal.ts
 * `procedureConflict`): the failover request and primary record read
 * linearizably, the operation records from this node's applied state.
 */
export async function readProcedureConflict(store: Pick<ClusterStore, 'get' | 'list'>, now = Date.now()): Promise<ProcedureConflict | null> {
  const [req, primary] = await Promise.all([store.get(KEY.failoverRequest, { consistency: 'linearizable' }), store.get(KEY.primary, { consistency: 'linearizable' })]);
  const ops = (await store.list(KEY.operationPrefix, { consistency: 'local' })).map((r) => JSON.parse(r.value) as OperationRecord);
  return procedureConflict({
    failoverRequest: req ? (JSON.parse(req.value) as FailoverRequest) : null,
    epoch: primary ? (JSON.parse(primary.value) as PrimaryRecord).epoch : null,
    operations: ops,
    now,
  });
}

function conflict(current: UpgradeJournal | null, why: string): ApiError {
  const holder = current ? `upgrade ${current.id} to ${current.version} (${current.state}, revision ${current.revision})` : 'no upgrade journal';
  return new ApiError('RDB_ERR_CONFLICT', `${why}: the cluster holds ${holder}; re-read GET ${UPGRADE_JOURNAL_PATH} and decide again`, {
    ...(current ? { id: current.id, version: current.version, state: current.state, revision: current.revision } : {}),
  });
}

/** Equal apart from the revision (JSON order is the schema's, as both went through the same validation). */
function sameJournal(a: UpgradeJournal, b: Omit<UpgradeJournal, 'revision'>): boolean {
  const { revision: _r, ...rest } = a;
  return JSON.stringify(rest) === JSON.stringify(b);
}

export function upgradeJournalRoutes(store: ClusterStore): FastifyPluginAsync {
  const state = new ClusterState(store);
  return async (app) => {
    app.get(
      UPGRADE_JOURNAL_PATH,
      { schema: { querystring: noQuerySchema, response: { 200: upgradeJournalAnswerSchema, ...errors } } },
      async (): Promise<UpgradeJournalAnswer> => ({ journal: await readUpgradeJournal(store), blockedBy: await readProcedureConflict(store) }),
    );

    app.put<{ Body: UpgradeJournalPut }>(
      UPGRADE_JOURNAL_PATH,
      { schema: { querystring: noQuerySchema, body: upgradeJournalPutSchema, response: { 200: upgradeJournalSchema, ...errors } } },
      async (req): Promise<UpgradeJournal> => {
        const { request_id: requestId, revision, ...journal } = req.body;
        const current = await readUpgradeJournal(store);
        // A retry of a PUT that was applied (its answer was lost) must not be refused by its own first write.
        if (current !== null && current.revision === revision + 1 && sameJournal(current, journal)) return current;
        if (current && current.id !== journal.id && isActive(current)) throw conflict(current, `another upgrade is ${current.state}`);
        if ((current?.revision ?? 0) !== revision) throw conflict(current, `the journal changed since revision ${revision}`);
        try {
          const version =
            revision === 0
              ? (await state.createIfAbsent(KEY.upgradeProcedure, journal, requestId)) ? 1 : -1
              : await state.replace(KEY.upgradeProcedure, journal, revision, requestId);
          if (version < 0) throw conflict(await readUpgradeJournal(store), 'another upgrade journal was created first');
          return { ...journal, revision: version };
        } catch (err) {
          if (err instanceof StaleRecordError) throw conflict(await readUpgradeJournal(store), `the journal changed since revision ${revision}`);
          throw err;
        }
      },
    );
  };
}
