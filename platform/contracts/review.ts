import { defineTopic } from 'datasync/core';
import { oneOf, personName, record, text, timestamp, uuid, version } from './fields.js';

/**
 * Review owns product reviews and their moderation. Catalog keeps the moderated ones to show
 * a product's rating. Ordered per review.
 */

/** A review after submission or moderation. */
export interface Review {
  readonly id: string;
  readonly productId: string;
  readonly customerId: string;
  /** The name shown with the review (personal). */
  readonly authorName: string;
  /** 1 to 5 stars. */
  readonly rating: number;
  readonly title?: string;
  readonly body: string;
  readonly status: 'pending' | 'approved' | 'rejected';
  /** Whether the customer bought the product. */
  readonly verifiedPurchase: boolean;
  readonly version: number;
  readonly updatedAt: string;
}

const ReviewSchema = record({
  id: uuid,
  productId: uuid,
  customerId: uuid,
  authorName: personName,
  rating: { type: 'integer', minimum: 1, maximum: 5 },
  title: text(200),
  body: text(5000),
  status: oneOf(['pending', 'approved', 'rejected']),
  verifiedPurchase: { type: 'boolean' },
  version,
  updatedAt: timestamp,
}, ['id', 'productId', 'customerId', 'authorName', 'rating', 'body', 'status', 'verifiedPurchase', 'version', 'updatedAt']);

/** A customer submitted a review (status `pending`). */
export const reviewSubmitted = defineTopic<Review>({
  name: 'review.review.submitted',
  version: 1,
  owner: 'review',
  subscribers: [],
  schema: ReviewSchema,
  partitionKey: (review) => review.id,
  entityVersion: (review) => review.version,
  description: 'A customer submitted a product review, pending moderation.',
});

/** A moderator approved or rejected a review. */
export const reviewModerated = defineTopic<Review>({
  name: 'review.review.moderated',
  version: 1,
  owner: 'review',
  subscribers: ['catalog'],
  schema: ReviewSchema,
  partitionKey: (review) => review.id,
  entityVersion: (review) => review.version,
  description: 'A moderator approved or rejected a review; carries the whole review.',
});

/** Every topic Review publishes. */
export const reviewTopics = [reviewSubmitted, reviewModerated] as const;
