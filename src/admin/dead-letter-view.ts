import type { JsonSchema } from '../core/contracts.js';
import { AuditLog, type AuditEntry } from '../postgres/audit-log.js';
import { DeadLetterStore, type DeadLetter } from '../postgres/dead-letter-store.js';
import type { SqlExecutor } from '../postgres/sql.js';
import { maskPii } from './mask-pii.js';

/**
 * The admin API's view of the dead letters and the action trail of several service schemas
 * (one per consuming service on the platform): listed together, found by consumer and id.
 */

/** A dead letter as `GET /api/dlq` shows it: its failure context and its event data, personal fields masked. */
export interface DeadLetterEntry extends Pick<DeadLetter,
  'id' | 'consumer' | 'topic' | 'eventId' | 'reason' | 'errorClass' | 'errorCode' | 'errorMessage' | 'attempts' | 'firstFailedAt' | 'lastFailedAt' | 'status' | 'replayCount'> {
  /** The schema holding it (on the platform, the consumer's). */
  readonly schema: string;
  /** False when the message was not a CloudEvent (nothing to publish again). */
  readonly replayable: boolean;
  /** The event's data with `x-pii` fields masked; null when there is no envelope. */
  readonly data: unknown;
}

/** Which of `schemas` have `table` (a schema not migrated, or not there, is left out). */
export async function schemasWith(db: SqlExecutor, schemas: readonly string[], table: 'dead_letters' | 'audit_log'): Promise<string[]> {
  if (schemas.length === 0) return [];
  const { rows } = await db.query<{ schema: string }>(
    `SELECT s AS schema FROM unnest($1::text[]) WITH ORDINALITY AS t(s, n) WHERE to_regclass(format('%I.%I', s, $2::text)) IS NOT NULL ORDER BY n`,
    [[...new Set(schemas)], table],
  );
  return rows.map((row) => row.schema);
}

/**
 * The most recently failed dead letters of every schema (status `pending` by default), latest
 * failure first, at most `limit`: each schema gives its `limit` latest by `last_failed_at`, so
 * none of the overall latest is cut off.
 */
export async function listDeadLetters(
  db: SqlExecutor, schemas: readonly string[],
  filter: { consumer?: string; status: DeadLetter['status'] | 'all'; limit: number },
  topicSchema: (topic: string) => JsonSchema | undefined,
): Promise<DeadLetterEntry[]> {
  const present = await schemasWith(db, schemas, 'dead_letters');
  const lists = await Promise.all(present.map(async (schema) => {
    const letters = await new DeadLetterStore(schema).list(db, { consumer: filter.consumer, status: filter.status, limit: filter.limit, newestFirst: true });
    return letters.map((letter) => entryOf(schema, letter, topicSchema));
  }));
  return lists.flat().sort((a, b) => b.lastFailedAt.getTime() - a.lastFailedAt.getTime() || Number(b.id) - Number(a.id)).slice(0, filter.limit);
}

function entryOf(schema: string, letter: DeadLetter, topicSchema: (topic: string) => JsonSchema | undefined): DeadLetterEntry {
  return {
    id: letter.id, schema, consumer: letter.consumer, topic: letter.topic, eventId: letter.eventId, reason: letter.reason,
    errorClass: letter.errorClass, errorCode: letter.errorCode, errorMessage: letter.errorMessage, attempts: letter.attempts,
    firstFailedAt: letter.firstFailedAt, lastFailedAt: letter.lastFailedAt, status: letter.status, replayCount: letter.replayCount,
    replayable: letter.envelope !== null,
    data: letter.envelope === null ? null : maskPii(topicSchema(letter.topic), letter.envelope.data),
  };
}

/**
 * The dead letter `id` of `consumer` and the store holding it: looked for in the schema named
 * like the consumer first (the platform's layout), then in the others. Undefined if none has it.
 */
export async function findDeadLetter(db: SqlExecutor, schemas: readonly string[], consumer: string, id: string): Promise<{ store: DeadLetterStore; letter: DeadLetter } | undefined> {
  const present = await schemasWith(db, schemas, 'dead_letters');
  const ordered = [...present.filter((s) => s === consumer), ...present.filter((s) => s !== consumer)];
  for (const schema of ordered) {
    const store = new DeadLetterStore(schema);
    const [letter] = await store.list(db, { ids: [id], consumer, status: 'all', limit: 1 });
    if (letter) return { store, letter };
  }
  return undefined;
}

/** The latest actions recorded in every schema's `audit_log`, newest first, at most `limit`. */
export async function listActions(db: SqlExecutor, schemas: readonly string[], limit: number): Promise<AuditEntry[]> {
  const present = await schemasWith(db, schemas, 'audit_log');
  const lists = await Promise.all(present.map((schema) => new AuditLog(schema).list(db, { limit })));
  return lists.flat().sort((a, b) => b.at.getTime() - a.at.getTime() || Number(b.id) - Number(a.id)).slice(0, limit);
}
