import { defineTopic } from 'datasync/core';
import { pii, record, text, timestamp, uuid } from './fields.js';

/**
 * Page views, which Analytics consumes (the seed's section 7), are owned by the Storefront:
 * the web front end that renders the pages. Only it knows a page was shown (the Gateway sees
 * API calls, not page renders, and never sees pages served from a CDN cache), and the Gateway
 * is API-only and produces nothing in the seed. The Storefront is not among the seed's 20
 * services; it has no database, so it publishes directly rather than through an outbox (a lost
 * page view is acceptable). Ordered per browsing session.
 */

/** One page shown to a visitor. */
export interface PageViewed {
  /** The page view's id (one per render), for deduplication. */
  readonly id: string;
  readonly sessionId: string;
  /** Absent for an anonymous visitor. */
  readonly customerId?: string;
  /** The path without query string, e.g. `/products/blue-mug`. */
  readonly path: string;
  /** The product shown, on a product page. */
  readonly productId?: string;
  readonly referrer?: string;
  /** The visitor's user agent (personal: it helps fingerprinting). */
  readonly userAgent?: string;
  readonly viewedAt: string;
}

/** A page was shown to a visitor. */
export const pageViewed = defineTopic<PageViewed>({
  name: 'storefront.page.viewed',
  version: 1,
  owner: 'storefront',
  // the Gateway publishes the product pages it serves; a storefront app publishes the rest
  publishers: ['storefront', 'gateway'],
  subscribers: ['analytics'],
  schema: record({
    id: uuid,
    sessionId: uuid,
    customerId: uuid,
    path: { type: 'string', pattern: '^/[^?#\\s]*$', maxLength: 2000 },
    productId: uuid,
    referrer: { type: 'string', format: 'uri', maxLength: 2000 },
    userAgent: pii(text(512)),
    viewedAt: timestamp,
  }, ['id', 'sessionId', 'path', 'viewedAt']),
  // a page view is an immutable fact; keeping a session's views in order is what funnels need
  partitionKey: (view) => view.sessionId,
  description: 'A storefront page was shown to a visitor; Analytics counts views and funnels.',
});

/** Every topic the Storefront publishes. */
export const storefrontTopics = [pageViewed] as const;
