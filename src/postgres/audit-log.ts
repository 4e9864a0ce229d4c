import type { SqlExecutor } from './sql.js';
import { quoteIdent } from './sql.js';

/**
 * The trail of operator actions on a service schema (`<schema>.audit_log`, DESIGN.md section 3):
 * who replayed or discarded which dead letter, from the CLI or the dashboard. Written in the
 * same transaction as the action, so an action that rolled back leaves no entry.
 */

/** What the dead-letter actions record as `action`. */
export const AUDIT_ACTIONS = { dlqReplay: 'dlq.replay', dlqDiscard: 'dlq.discard' } as const;

/** One recorded action. */
export interface AuditEntry {
  readonly id: string;
  readonly at: Date;
  /** Who: `cli:<os user>`, `dashboard@<remote address>`. */
  readonly actor: string;
  /** What, e.g. `dlq.replay`. */
  readonly action: string;
  /** On what, e.g. `search.dead_letters/42`. */
  readonly target: string;
  /** The context (topic, consumer, event id, previous status), as JSON. */
  readonly detail: unknown;
}

/** An action to record. */
export type NewAuditEntry = Pick<AuditEntry, 'actor' | 'action' | 'target' | 'detail'>;

/** The audit log of one service schema. */
export class AuditLog {
  readonly schema: string;
  readonly #table: string;

  constructor(schema: string) {
    this.schema = schema;
    this.#table = `${quoteIdent(schema)}.audit_log`;
  }

  /** Records an action (pass the action's transaction to make both one). Returns the entry's id. */
  async record(db: SqlExecutor, entry: NewAuditEntry): Promise<string> {
    const { rows } = await db.query<{ id: string }>(
      `INSERT INTO ${this.#table} (actor, action, target, detail) VALUES ($1, $2, $3, $4) RETURNING id::text`,
      [entry.actor, entry.action, entry.target, entry.detail === undefined ? null : JSON.stringify(entry.detail)],
    );
    return rows[0]!.id;
  }

  /** The latest `limit` entries (default 20), newest first. */
  async list(db: SqlExecutor, options: { limit?: number } = {}): Promise<AuditEntry[]> {
    const { rows } = await db.query<{ id: string; at: Date; actor: string; action: string; target: string; detail: unknown }>(
      `SELECT id::text, at, actor, action, target, detail FROM ${this.#table} ORDER BY at DESC, id DESC LIMIT $1`,
      [options.limit ?? 20],
    );
    return rows;
  }
}
