import { defineTopic } from 'datasync/core';
import { record, text, timestamp, uuid, version } from './fields.js';

/**
 * The CMS owns editorial content: landing pages, guides, buying advice. It is not among the
 * seed's 20 services but Search consumes its content events (the seed's section 7), so it is a
 * producer here. Ordered per page.
 */

/** A page as it went live. */
export interface PagePublished {
  readonly id: string;
  readonly slug: string;
  /** BCP 47, e.g. `en-GB`. */
  readonly locale: string;
  readonly title: string;
  /** Plain text for the search index (not the rendered HTML). */
  readonly summary: string;
  readonly tags: readonly string[];
  readonly version: number;
  readonly publishedAt: string;
}

/** A page taken offline. */
export interface PageUnpublished {
  readonly id: string;
  readonly version: number;
  readonly unpublishedAt: string;
}

const audience = { owner: 'cms', subscribers: ['search'] } as const;

/** A page went live, or a new revision of it did. */
export const pagePublished = defineTopic<PagePublished>({
  name: 'cms.page.published',
  version: 1,
  ...audience,
  schema: record({
    id: uuid,
    slug: { type: 'string', pattern: '^[a-z0-9]+(-[a-z0-9]+)*(/[a-z0-9]+(-[a-z0-9]+)*)*$', maxLength: 200 },
    locale: { type: 'string', pattern: '^[a-z]{2}(-[A-Z]{2})?$' },
    title: text(200),
    summary: text(2000),
    tags: { type: 'array', maxItems: 20, uniqueItems: true, items: text(50) },
    version,
    publishedAt: timestamp,
  }, ['id', 'slug', 'locale', 'title', 'summary', 'tags', 'version', 'publishedAt']),
  partitionKey: (page) => page.id,
  entityVersion: (page) => page.version,
  description: 'A content page (or a new revision) was published; Search indexes it.',
});

/** A page was taken offline. */
export const pageUnpublished = defineTopic<PageUnpublished>({
  name: 'cms.page.unpublished',
  version: 1,
  ...audience,
  schema: record({ id: uuid, version, unpublishedAt: timestamp }, ['id', 'version', 'unpublishedAt']),
  partitionKey: (page) => page.id,
  entityVersion: (page) => page.version,
  description: 'A content page was taken offline; Search removes it from the index.',
});

/** Every topic the CMS publishes. */
export const cmsTopics = [pagePublished, pageUnpublished] as const;
