import { randomUUID } from 'node:crypto';
import type { Topic } from 'datasync/core';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { pointsChanged, tierChanged, type PointsChanged, type Tier } from '../../contracts/loyalty.js';

/**
 * Loyalty's own data: a loyalty account per customer (points balance, tier), the ledger of
 * every points change (each row names the event or request behind it), and the orders it
 * remembers from `order.order.placed` until they are delivered or cancelled.
 *
 * Every change of an account increments its version and publishes
 * `loyalty.account.points-changed` (and `tier-changed` when the tier moves) in the caller's
 * transaction: the route's producer transaction, or a consumer's `tx` through
 * `producer.publishWithin`.
 */

export const loyaltyTables: Migration = {
  id: 'loyalty_0001_accounts',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.accounts (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL UNIQUE,
    balance      integer NOT NULL CHECK (balance >= 0),
    tier         text NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
    version      integer NOT NULL CHECK (version >= 0),  -- 0 until the first change
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
  );
  CREATE TABLE IF NOT EXISTS {schema}.ledger (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    account_id       uuid NOT NULL REFERENCES {schema}.accounts (id),
    delta            integer NOT NULL CHECK (delta <> 0),
    balance_after    integer NOT NULL CHECK (balance_after >= 0),
    reason           text NOT NULL,
    order_id         uuid,
    note             text,
    source_event_id  text,
    created_at       timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS ledger_account ON {schema}.ledger (account_id, id DESC);
  CREATE INDEX IF NOT EXISTS ledger_order ON {schema}.ledger (order_id);
  CREATE TABLE IF NOT EXISTS {schema}.orders (
    order_id           uuid PRIMARY KEY,
    customer_id        uuid NOT NULL,
    currency           char(3) NOT NULL,
    total              numeric NOT NULL CHECK (total >= 0),
    status             text NOT NULL,
    version            integer NOT NULL,
    points_awarded     integer NOT NULL DEFAULT 0,
    points_clawed_back integer NOT NULL DEFAULT 0,
    placed_event_id    text NOT NULL,
    updated_at         timestamptz NOT NULL
  )`,
};

/** Writes an event in the caller's transaction. */
export type Publish = <T>(topic: Topic<T>, data: T) => Promise<unknown>;

/** Balance from which each tier starts (the tier follows the balance, down as well as up). */
export const TIER_THRESHOLDS: readonly (readonly [Tier, number])[] = [['platinum', 10_000], ['gold', 2_000], ['silver', 500], ['bronze', 0]];

export function tierFor(balance: number): Tier {
  return TIER_THRESHOLDS.find(([, from]) => balance >= from)![0];
}

/** A loyalty account as the API returns it. */
export interface LoyaltyAccount {
  readonly accountId: string;
  readonly customerId: string;
  readonly balance: number;
  readonly tier: Tier;
  readonly version: number;
}

interface AccountRow {
  id: string;
  customer_id: string;
  balance: number;
  tier: Tier;
  version: number;
}

function toAccount(row: AccountRow): LoyaltyAccount {
  return { accountId: row.id, customerId: row.customer_id, balance: row.balance, tier: row.tier, version: row.version };
}

/** The customer's account, locked for the caller's transaction; created (bronze, 0 points) if it has none. */
async function lockAccount(tx: SqlExecutor, customerId: string): Promise<AccountRow> {
  await tx.query(
    `INSERT INTO loyalty.accounts (id, customer_id, balance, tier, version, created_at, updated_at)
     VALUES ($1, $2, 0, 'bronze', 0, now(), now()) ON CONFLICT (customer_id) DO NOTHING`,
    [randomUUID(), customerId],
  );
  const { rows: [row] } = await tx.query<AccountRow>('SELECT id, customer_id, balance, tier, version FROM loyalty.accounts WHERE customer_id = $1 FOR UPDATE', [customerId]);
  return row!;
}

/** The customer's account; undefined if it has none. */
export async function readAccount(db: SqlExecutor, customerId: string): Promise<(LoyaltyAccount & { ledger: unknown[] }) | undefined> {
  const { rows: [row] } = await db.query<AccountRow>('SELECT id, customer_id, balance, tier, version FROM loyalty.accounts WHERE customer_id = $1', [customerId]);
  if (!row) return undefined;
  const { rows } = await db.query<{ delta: number; balance_after: number; reason: string; order_id: string | null; note: string | null; source_event_id: string | null; created_at: Date }>(
    'SELECT delta, balance_after, reason, order_id, note, source_event_id, created_at FROM loyalty.ledger WHERE account_id = $1 ORDER BY id DESC LIMIT 50',
    [row.id],
  );
  return {
    ...toAccount(row),
    ledger: rows.map((entry) => ({
      delta: entry.delta, balanceAfter: entry.balance_after, reason: entry.reason, orderId: entry.order_id, note: entry.note,
      sourceEventId: entry.source_event_id, at: entry.created_at.toISOString(),
    })),
  };
}

/** A points change to make. */
export interface PointsChange {
  readonly customerId: string;
  /** Not 0. */
  readonly delta: number;
  readonly reason: PointsChanged['reason'];
  readonly orderId?: string;
  /** Free text kept in the ledger (an adjustment's reason). */
  readonly note?: string;
  /** The event behind the change; none for a request through the API. */
  readonly sourceEventId?: string;
}

/** The change would leave a negative balance; nothing was written. */
export class InsufficientPointsError extends Error {
  constructor(readonly balance: number, readonly delta: number) {
    super(`the balance is ${balance} points; a change of ${delta} would leave ${balance + delta}`);
    this.name = 'InsufficientPointsError';
  }
}

/**
 * Applies `change` to the customer's account (created if it has none): a ledger row, the new
 * balance and tier, the next version, and `points-changed` (+ `tier-changed` when the tier
 * moved) through `publish`. Throws {@link InsufficientPointsError} for a negative result.
 */
export async function changePoints(tx: SqlExecutor, publish: Publish, change: PointsChange): Promise<LoyaltyAccount> {
  const account = await lockAccount(tx, change.customerId);
  const balance = account.balance + change.delta;
  if (balance < 0) throw new InsufficientPointsError(account.balance, change.delta);
  const tier = tierFor(balance);
  const { rows: [row] } = await tx.query<AccountRow & { updated_at: Date }>(
    'UPDATE loyalty.accounts SET balance = $2, tier = $3, version = version + 1, updated_at = now() WHERE id = $1 RETURNING id, customer_id, balance, tier, version, updated_at',
    [account.id, balance, tier],
  );
  await tx.query(
    'INSERT INTO loyalty.ledger (account_id, delta, balance_after, reason, order_id, note, source_event_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, now())',
    [account.id, change.delta, balance, change.reason, change.orderId ?? null, change.note ?? null, change.sourceEventId ?? null],
  );
  const changedAt = row!.updated_at.toISOString();
  await publish(pointsChanged, {
    accountId: account.id, customerId: change.customerId, delta: change.delta, balance, reason: change.reason,
    ...(change.orderId ? { orderId: change.orderId } : {}), version: row!.version, changedAt,
  });
  if (tier !== account.tier) {
    await publish(tierChanged, { accountId: account.id, customerId: change.customerId, tier, previousTier: account.tier, version: row!.version, changedAt });
  }
  return toAccount(row!);
}
