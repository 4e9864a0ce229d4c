import { quoteIdent } from '../../src/postgres/sql.js';

/**
 * The baseline's outbox: the textbook "sent_at" table. A row is pending while
 * `sent_at` is null; a partial index keeps finding pending rows cheap as sent rows
 * pile up (what anyone writing this pattern adds).
 */
export function baselineOutboxSql(schema: string): string {
  const s = quoteIdent(schema);
  return `
    CREATE TABLE ${s}.outbox (
      id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      topic      text NOT NULL,
      key        text NOT NULL,
      payload    jsonb NOT NULL,
      created_at timestamptz NOT NULL DEFAULT now(),
      sent_at    timestamptz
    );
    CREATE INDEX outbox_unsent ON ${s}.outbox (id) WHERE sent_at IS NULL;`;
}

/** The consumer group of the baseline's consumer on the topic stream. */
export const BASELINE_GROUP = 'search';
