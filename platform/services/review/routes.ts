import { Hono } from 'hono';
import type { SqlExecutor } from 'datasync/postgres';
import type { Producer } from 'datasync/runtime';
import { ApiError, readJsonObject } from '../../http/errors.js';
import { checkFields, enumField, integerField, textField, uuidField } from '../../http/fields.js';
import {
  AlreadyReviewedError, moderateReview, productReviews, productState, readReview, SameStatusError, submitReview, type NewReview,
} from './reviews.js';

/**
 * Review's HTTP routes. Each write is one producer transaction (row and event commit together).
 *
 *   POST /reviews              {"productId", "customerId", "authorName", "rating": 1–5, "title"?, "body"}
 *                              → 201 review, status pending (422 PRODUCT_UNKNOWN / PRODUCT_DELETED naming productId;
 *                                409 ALREADY_REVIEWED naming productId: one review per customer and product)
 *   POST /reviews/:id/moderate {"status": "approved"|"rejected"} → 200 review (404 unknown; 409 SAME_STATUS naming status)
 *   GET  /reviews/:id          → 200 review (404 unknown)
 *   GET  /reviews/products/:productId → 200 {productId, name, deleted, approvedCount, averageRating, reviews} (404 unknown product)
 */

/** The body of `POST /reviews`. */
export function parseNewReview(body: Record<string, unknown>): NewReview {
  checkFields(body, ['productId', 'customerId', 'authorName', 'rating', 'title', 'body'], ['productId', 'customerId', 'authorName', 'rating', 'body']);
  return {
    productId: uuidField('productId', body.productId),
    customerId: uuidField('customerId', body.customerId),
    authorName: textField('authorName', body.authorName, 100),
    rating: integerField('rating', body.rating, 1, 5),
    ...(body.title === undefined ? {} : { title: textField('title', body.title, 200) }),
    body: textField('body', body.body, 5_000),
  };
}

function notFound(id: string): ApiError {
  return new ApiError(404, 'REVIEW_NOT_FOUND', `no review with id ${JSON.stringify(id)}`);
}

/** Review's routes, to mount at `/reviews`. */
export function reviewRoutes(deps: { readonly producer: Producer; readonly db: SqlExecutor }): Hono {
  const routes = new Hono();

  routes.post('/', async (c) => {
    const input = parseNewReview(await readJsonObject(c));
    const review = await deps.producer.transaction(async (tx) => {
      const state = await productState(tx, input.productId);
      if (state === 'unknown') throw new ApiError(422, 'PRODUCT_UNKNOWN', `productId: no product ${input.productId} in the catalog (as Review knows it)`, 'productId');
      if (state === 'deleted') throw new ApiError(422, 'PRODUCT_DELETED', `productId: product ${input.productId} was removed from the catalog`, 'productId');
      return submitReview(tx, input);
    }).catch((error: unknown) => {
      if (error instanceof AlreadyReviewedError) throw new ApiError(409, 'ALREADY_REVIEWED', `productId: ${error.message}`, 'productId');
      throw error;
    });
    return c.json(review, 201);
  });

  routes.post('/:id/moderate', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const body = await readJsonObject(c);
    checkFields(body, ['status']);
    const status = enumField('status', body.status, ['approved', 'rejected'] as const);
    const review = await deps.producer.transaction((tx) => moderateReview(tx, id, status)).catch((error: unknown) => {
      if (error instanceof SameStatusError) throw new ApiError(409, 'SAME_STATUS', `status: ${error.message}`, 'status');
      throw error;
    });
    if (!review) throw notFound(id);
    return c.json(review, 200);
  });

  routes.get('/products/:productId', async (c) => {
    const productId = uuidField('productId', c.req.param('productId'));
    const page = await productReviews(deps.db, productId);
    if (!page) throw new ApiError(404, 'PRODUCT_UNKNOWN', `no product ${productId} in the catalog (as Review knows it)`);
    return c.json(page, 200);
  });

  routes.get('/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const review = await readReview(deps.db, id);
    if (!review) throw notFound(id);
    return c.json(review, 200);
  });

  return routes;
}
