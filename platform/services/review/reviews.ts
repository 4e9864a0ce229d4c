import { randomUUID } from 'node:crypto';
import type { Migration, SqlExecutor } from 'datasync/postgres';
import { readModelMigration, type ProducerTransaction } from 'datasync/runtime';
import { reviewModerated, reviewSubmitted, type Review } from '../../contracts/review.js';

/**
 * Review's own data: reviews and their moderation, beside its copies of Catalog's products
 * (`review.products`, the read-model layout of datasync's applyIfNewer) and of purchases from
 * Order's placed orders (`review.purchases`). Each change writes the row and publishes the
 * whole review in the route's producer transaction.
 */

export const reviewTables: readonly Migration[] = [
  readModelMigration('review_0001_products', 'products'),
  {
    id: 'review_0002_reviews',
    sql: `CREATE TABLE IF NOT EXISTS {schema}.reviews (
      id                 uuid PRIMARY KEY,
      product_id         uuid NOT NULL,
      customer_id        uuid NOT NULL,
      author_name        text NOT NULL,
      rating             integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
      title              text,
      body               text NOT NULL,
      status             text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
      verified_purchase  boolean NOT NULL,
      version            integer NOT NULL CHECK (version >= 1),
      created_at         timestamptz NOT NULL,
      updated_at         timestamptz NOT NULL,
      UNIQUE (customer_id, product_id)
    );
    CREATE INDEX IF NOT EXISTS reviews_product ON {schema}.reviews (product_id, status);
    CREATE TABLE IF NOT EXISTS {schema}.purchases (
      id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      order_id     uuid NOT NULL,
      customer_id  uuid NOT NULL,
      product_id   uuid NOT NULL,
      placed_at    timestamptz NOT NULL,
      event_id     text NOT NULL
    );
    CREATE INDEX IF NOT EXISTS purchases_customer_product ON {schema}.purchases (customer_id, product_id);
    CREATE INDEX IF NOT EXISTS purchases_order ON {schema}.purchases (order_id)`,
  },
];

/** What Review's copy knows of a product. */
export type ProductState = 'unknown' | 'deleted' | 'present';

/** Whether the product is in Review's copy (a tombstone is `deleted`). */
export async function productState(db: SqlExecutor, productId: string): Promise<ProductState> {
  const { rows: [row] } = await db.query<{ deleted: boolean }>('SELECT deleted FROM review.products WHERE id = $1', [productId]);
  return !row ? 'unknown' : row.deleted ? 'deleted' : 'present';
}

/** True if an order placed by `customerId` contained `productId`. */
async function bought(db: SqlExecutor, customerId: string, productId: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM review.purchases WHERE customer_id = $1 AND product_id = $2 LIMIT 1', [customerId, productId]);
  return rows.length > 0;
}

interface ReviewRow {
  id: string;
  product_id: string;
  customer_id: string;
  author_name: string;
  rating: number;
  title: string | null;
  body: string;
  status: Review['status'];
  verified_purchase: boolean;
  version: number;
  updated_at: Date;
}

const COLUMNS = 'id, product_id, customer_id, author_name, rating, title, body, status, verified_purchase, version, updated_at';

function toReview(row: ReviewRow): Review {
  return {
    id: row.id, productId: row.product_id, customerId: row.customer_id, authorName: row.author_name, rating: row.rating,
    ...(row.title === null ? {} : { title: row.title }),
    body: row.body, status: row.status, verifiedPurchase: row.verified_purchase, version: row.version, updatedAt: row.updated_at.toISOString(),
  };
}

/** A submission; callers validate the fields and that the product is present. */
export interface NewReview {
  readonly productId: string;
  readonly customerId: string;
  readonly authorName: string;
  readonly rating: number;
  readonly title?: string;
  readonly body: string;
}

/** The customer reviewed the product before; nothing was written. */
export class AlreadyReviewedError extends Error {}

/**
 * Inserts a `pending` review (version 1), verified if the customer bought the product, and
 * publishes `review.review.submitted`. One review per customer and product
 * ({@link AlreadyReviewedError}).
 */
export async function submitReview(tx: ProducerTransaction, input: NewReview): Promise<Review> {
  const verified = await bought(tx, input.customerId, input.productId);
  const { rows: [row] } = await tx.query<ReviewRow>(
    `INSERT INTO review.reviews (id, product_id, customer_id, author_name, rating, title, body, status, verified_purchase, version, created_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, 1, now(), now()) ON CONFLICT (customer_id, product_id) DO NOTHING RETURNING ${COLUMNS}`,
    [randomUUID(), input.productId, input.customerId, input.authorName, input.rating, input.title ?? null, input.body, verified],
  );
  if (!row) throw new AlreadyReviewedError(`customer ${input.customerId} has already reviewed product ${input.productId}`);
  const review = toReview(row);
  await tx.publish(reviewSubmitted, review);
  return review;
}

/** A moderation that changes nothing; nothing was written. */
export class SameStatusError extends Error {}

/**
 * Sets the review's status (next version; the purchase check is made again, an order may have
 * arrived since) and publishes `review.review.moderated`; undefined for an unknown review.
 * A moderator may revise a decision; moving to the status it has is {@link SameStatusError}.
 */
export async function moderateReview(tx: ProducerTransaction, id: string, status: 'approved' | 'rejected'): Promise<Review | undefined> {
  const { rows: [current] } = await tx.query<ReviewRow>(`SELECT ${COLUMNS} FROM review.reviews WHERE id = $1 FOR UPDATE`, [id]);
  if (!current) return undefined;
  if (current.status === status) throw new SameStatusError(`review ${id} is already ${status}`);
  const verified = current.verified_purchase || await bought(tx, current.customer_id, current.product_id);
  const { rows: [row] } = await tx.query<ReviewRow>(
    `UPDATE review.reviews SET status = $2, verified_purchase = $3, version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
    [id, status, verified],
  );
  const review = toReview(row!);
  await tx.publish(reviewModerated, review);
  return review;
}

/** A review; undefined if unknown. */
export async function readReview(db: SqlExecutor, id: string): Promise<Review | undefined> {
  const { rows: [row] } = await db.query<ReviewRow>(`SELECT ${COLUMNS} FROM review.reviews WHERE id = $1`, [id]);
  return row ? toReview(row) : undefined;
}

/** A product's page of reviews: its copy's name, the approved reviews and their rating; undefined if unknown. */
export async function productReviews(db: SqlExecutor, productId: string): Promise<unknown> {
  const { rows: [product] } = await db.query<{ deleted: boolean; name: string | null; version: string }>(
    "SELECT deleted, data->>'name' AS name, version FROM review.products WHERE id = $1",
    [productId],
  );
  if (!product) return undefined;
  const { rows } = await db.query<ReviewRow>(`SELECT ${COLUMNS} FROM review.reviews WHERE product_id = $1 AND status = 'approved' ORDER BY updated_at DESC LIMIT 100`, [productId]);
  const reviews = rows.map(toReview);
  const average = reviews.length === 0 ? null : Math.round((reviews.reduce((sum, r) => sum + r.rating, 0) / reviews.length) * 100) / 100;
  return {
    productId, name: product.name, deleted: product.deleted, productVersion: Number(product.version),
    approvedCount: reviews.length, averageRating: average, reviews,
  };
}
