import { untilAborted } from '../core/abort.js';
import { DLQ_ATTRIBUTES, type CloudEvent } from '../core/envelope.js';
import { SyncError } from '../core/errors.js';
import type { Publisher } from '../transports/transport.js';
import { AUDIT_ACTIONS, AuditLog } from './audit-log.js';
import type { DeadLetter, DeadLetterStore } from './dead-letter-store.js';
import type { SqlPool } from './sql.js';
import { inTransaction } from './sql.js';

/**
 * The operator actions on a dead letter, shared by `datasync dlq replay|discard` and the
 * dashboard's admin API: each runs in one transaction with its entry in the schema's
 * `audit_log` (who did it), so the trail and the action cannot disagree.
 */

const DLQ_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(Object.values(DLQ_ATTRIBUTES));

/** How long a replay waits for the broker to acknowledge its event, ms (it holds a row lock and a connection meanwhile). */
export const DEFAULT_REPLAY_PUBLISH_TIMEOUT_MS = 10_000;

/** The event as first published: the envelope without any `dlq*` attribute. */
export function originalEvent(envelope: CloudEvent): CloudEvent {
  return Object.fromEntries(Object.entries(envelope).filter(([name]) => !DLQ_ATTRIBUTE_NAMES.has(name))) as unknown as CloudEvent;
}

/** Options of {@link replayDeadLetter}. */
export interface ReplayDeadLetterOptions {
  /** Who asks, recorded in `audit_log`: `cli:<os user>`, `dashboard@<address>`. */
  readonly actor: string;
  /**
   * The letter was asked for by id: a replayed one may be replayed again. Otherwise (a filtered
   * replay, the dashboard's button) only a letter still pending is.
   */
  readonly byId?: boolean;
  /** Also replay a discarded letter (with `byId`). */
  readonly force?: boolean;
  /** Abandons the wait for the broker's acknowledgement (the replay then fails and is rolled back). */
  readonly signal?: AbortSignal;
  /**
   * How long to wait for the broker's acknowledgement, ms; default
   * {@link DEFAULT_REPLAY_PUBLISH_TIMEOUT_MS}. Past it the replay fails with `SERVER_UNREACHABLE`
   * and is rolled back, releasing the row lock and the connection.
   */
  readonly publishTimeoutMs?: number;
}

/** Where a dead-letter action is recorded in the audit log. */
function targetOf(store: DeadLetterStore, id: string): string {
  return `${store.schema}.dead_letters/${id}`;
}

function detailOf(letter: DeadLetter): Record<string, unknown> {
  return { consumer: letter.consumer, topic: letter.topic, eventId: letter.eventId, reason: letter.reason, previousStatus: letter.status };
}

/**
 * Replays one dead letter in one transaction: locks its row, checks it may still be
 * replayed, marks it replayed, records the action in `audit_log`, publishes the original
 * event (decision 5: on its original topic), commits. A failed publish rolls the mark and the
 * entry back. Holding the row lock until after the publish means a consumer that
 * dead-letters the replayed event again records a new pending row instead of updating this
 * one; so the publish is bounded by `publishTimeoutMs`, and a broker that does not acknowledge
 * in time fails the replay (`SERVER_UNREACHABLE`) instead of holding the lock. Returns why it
 * was skipped, or `undefined` when it was replayed. A letter without an envelope cannot be
 * replayed: the caller checks `letter.envelope` first.
 */
export async function replayDeadLetter(
  pool: SqlPool, store: DeadLetterStore, publisher: Publisher, letter: DeadLetter & { envelope: CloudEvent }, options: ReplayDeadLetterOptions,
): Promise<string | undefined> {
  return inTransaction(pool, async (tx) => {
    const status = await store.lockForReplay(tx, letter.id);
    if (status === undefined) return 'it was deleted meanwhile';
    if (!options.byId && status !== 'pending') return `its status changed to ${status} meanwhile`;
    if (status === 'discarded' && !options.force) return 'it was discarded meanwhile; add --force to replay it anyway';
    await store.markReplayed(tx, letter.id);
    await new AuditLog(store.schema).record(tx, {
      actor: options.actor, action: AUDIT_ACTIONS.dlqReplay, target: targetOf(store, letter.id), detail: { ...detailOf(letter), previousStatus: status },
    });
    await publishReplay(publisher, store, letter, options);
    return undefined;
  });
}

/** Publishes the letter's original event, failing with a clear error when the broker does not acknowledge it in time. */
async function publishReplay(publisher: Publisher, store: DeadLetterStore, letter: DeadLetter & { envelope: CloudEvent }, options: ReplayDeadLetterOptions): Promise<void> {
  const timeoutMs = options.publishTimeoutMs ?? DEFAULT_REPLAY_PUBLISH_TIMEOUT_MS;
  const timeout = AbortSignal.timeout(timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    // A replay repeats an event id on purpose: a broker's de-duplication window must not drop it.
    // Raced with the signal too: a transport that ignores it must not hold the row lock either.
    await untilAborted(publisher.publish(letter.topic, [originalEvent(letter.envelope)], { deduplicate: false, signal }), signal);
  } catch (error) {
    if (!timeout.aborted || options.signal?.aborted) throw error;
    throw new SyncError('SERVER_UNREACHABLE',
      `dead letter ${letter.id} of ${store.schema} was not replayed: the broker did not acknowledge its event on ${letter.topic} within ${timeoutMs / 1_000} s; `
      + 'its status is unchanged and no action was recorded (the event may still reach the broker: check the broker, then replay again)', { cause: error });
  }
}

/**
 * Marks one pending dead letter discarded (kept, never replayed unless by id with force) and
 * records the action in `audit_log`, in one transaction. Returns false, recording nothing,
 * when the letter is not pending (any more).
 */
export async function discardDeadLetter(pool: SqlPool, store: DeadLetterStore, letter: DeadLetter, options: { readonly actor: string }): Promise<boolean> {
  return inTransaction(pool, async (tx) => {
    if (!(await store.discard(tx, letter.id))) return false;
    await new AuditLog(store.schema).record(tx, {
      actor: options.actor, action: AUDIT_ACTIONS.dlqDiscard, target: targetOf(store, letter.id), detail: detailOf(letter),
    });
    return true;
  });
}
