import { randomUUID } from 'node:crypto';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { promotionCreated, promotionDeleted, type Promotion, type PromotionDeleted } from '../../contracts/promotion.js';

/**
 * Promotion's own data: the promotions table and the changes made to it. Each change writes
 * the row and publishes its event in the caller's transaction (the transactional outbox), so
 * both commit or neither does. Callers validate the promotion (routes.ts); the table's CHECKs
 * hold the same rules.
 */

/** The promotions table, in Promotion's schema beside datasync's outbox. */
export const promotionsTable: Migration = {
  id: 'promotion_0001_promotions',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.promotions (
    id             uuid PRIMARY KEY,
    name           text NOT NULL,
    code           text UNIQUE,
    status         text NOT NULL CHECK (status IN ('draft', 'active', 'paused', 'ended')),
    discount_type  text NOT NULL CHECK (discount_type IN ('percentage', 'fixed-amount')),
    value          numeric NOT NULL CHECK (value > 0 AND (discount_type = 'fixed-amount' OR value <= 100)),
    currency       char(3) CHECK ((discount_type = 'fixed-amount') = (currency IS NOT NULL)),
    product_ids    uuid[] NOT NULL,
    categories     text[] NOT NULL,
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz CHECK (ends_at > starts_at),
    version        integer NOT NULL CHECK (version >= 1),
    updated_at     timestamptz NOT NULL
  );
  CREATE INDEX IF NOT EXISTS promotions_products ON {schema}.promotions USING gin (product_ids)`,
};

/** A promotion's fields as a client sets them; Promotion assigns the id, version and time. */
export type PromotionFields = Omit<Promotion, 'id' | 'version' | 'updatedAt'>;

interface PromotionRow {
  id: string; name: string; code: string | null; status: Promotion['status']; discount_type: Promotion['discountType'];
  value: string; currency: string | null; product_ids: string[]; categories: string[];
  starts_at: Date; ends_at: Date | null; version: number; updated_at: Date;
}

const COLUMNS = `id, name, code, status, discount_type, value::text AS value, currency, product_ids::text[] AS product_ids, categories,
  starts_at, ends_at, version, updated_at`;

function toPromotion(row: PromotionRow): Promotion {
  return {
    id: row.id, name: row.name, ...(row.code === null ? {} : { code: row.code }), status: row.status,
    discountType: row.discount_type, value: row.value, ...(row.currency === null ? {} : { currency: row.currency }),
    productIds: row.product_ids, categories: row.categories, startsAt: row.starts_at.toISOString(),
    ...(row.ends_at === null ? {} : { endsAt: row.ends_at.toISOString() }), version: row.version, updatedAt: row.updated_at.toISOString(),
  };
}

/** The promotion `id`, or undefined; `forUpdate` locks its row. */
export async function findPromotion(db: SqlExecutor, id: string, forUpdate = false): Promise<Promotion | undefined> {
  const { rows: [row] } = await db.query<PromotionRow>(`SELECT ${COLUMNS} FROM promotion.promotions WHERE id = $1${forUpdate ? ' FOR UPDATE' : ''}`, [id]);
  return row ? toPromotion(row) : undefined;
}

function values(fields: PromotionFields): unknown[] {
  return [fields.name, fields.code ?? null, fields.status, fields.discountType, fields.value, fields.currency ?? null,
    fields.productIds, fields.categories, fields.startsAt, fields.endsAt ?? null];
}

/** Inserts a promotion at version 1 and publishes `promotion.promotion.created`. */
export async function createPromotion(tx: ProducerTransaction, fields: PromotionFields): Promise<Promotion> {
  const { rows: [row] } = await tx.query<PromotionRow>(
    `INSERT INTO promotion.promotions (id, name, code, status, discount_type, value, currency, product_ids, categories, starts_at, ends_at, version, updated_at)
     VALUES ($11, $1, $2, $3, $4, $5::numeric, $6, $7::uuid[], $8::text[], $9, $10, 1, now()) RETURNING ${COLUMNS}`,
    [...values(fields), randomUUID()],
  );
  const promotion = toPromotion(row!);
  await tx.publish(promotionCreated, promotion);
  return promotion;
}

/**
 * Replaces the promotion's fields with `fields` (the caller merged the change into the current
 * state), increments the version and publishes `promotion.promotion.updated` through `publish`;
 * `undefined` if there is no such promotion.
 */
export async function updatePromotion(
  tx: SqlExecutor, publish: (promotion: Promotion) => Promise<unknown>, id: string, fields: PromotionFields,
): Promise<Promotion | undefined> {
  const { rows: [row] } = await tx.query<PromotionRow>(
    `UPDATE promotion.promotions SET name = $1, code = $2, status = $3, discount_type = $4, value = $5::numeric, currency = $6,
       product_ids = $7::uuid[], categories = $8::text[], starts_at = $9, ends_at = $10, version = version + 1, updated_at = now()
     WHERE id = $11 RETURNING ${COLUMNS}`,
    [...values(fields), id],
  );
  if (!row) return undefined;
  const promotion = toPromotion(row);
  await publish(promotion);
  return promotion;
}

/** Deletes the promotion and publishes `promotion.promotion.deleted` with the next version; `undefined` if there is no such promotion. */
export async function deletePromotion(tx: ProducerTransaction, id: string): Promise<PromotionDeleted | undefined> {
  const { rows: [row] } = await tx.query<{ version: number; deleted_at: Date }>(
    'DELETE FROM promotion.promotions WHERE id = $1 RETURNING version, now() AS deleted_at',
    [id],
  );
  if (!row) return undefined;
  const deleted: PromotionDeleted = { id, version: row.version + 1, deletedAt: row.deleted_at.toISOString() };
  await tx.publish(promotionDeleted, deleted);
  return deleted;
}

/**
 * A product left the catalog: it is taken out of every promotion naming it, and a promotion
 * left with neither products nor categories ends. Each changed promotion is published
 * (`promotion.promotion.updated`) through `publish`; returns them.
 */
export async function withdrawProduct(tx: SqlExecutor, publish: (promotion: Promotion) => Promise<unknown>, productId: string): Promise<Promotion[]> {
  const { rows } = await tx.query<PromotionRow>(
    `UPDATE promotion.promotions SET product_ids = array_remove(product_ids, $1::uuid),
       status = CASE WHEN cardinality(array_remove(product_ids, $1::uuid)) = 0 AND cardinality(categories) = 0 THEN 'ended' ELSE status END,
       version = version + 1, updated_at = now()
     WHERE $1::uuid = ANY (product_ids) RETURNING ${COLUMNS}`,
    [productId],
  );
  const changed = rows.map(toPromotion).sort((a, b) => a.id.localeCompare(b.id));
  for (const promotion of changed) await publish(promotion);
  return changed;
}
