import type { Migration } from 'datasync/postgres';
import type { ProducerTransaction } from 'datasync/runtime';
import { pagePublished, pageUnpublished } from '../../contracts/cms.js';

/**
 * The CMS's pages: each change writes the row and publishes its event in the caller's
 * transaction. A page's version increases with every revision and with its unpublishing; an
 * unpublished page stays (status `unpublished`) so its slug is not reused by accident.
 */

/** The pages table. */
export const pagesTable: Migration = {
  id: 'cms_0001_pages',
  sql: `CREATE TABLE IF NOT EXISTS {schema}.pages (
    id            uuid PRIMARY KEY,
    slug          text NOT NULL UNIQUE,
    locale        text NOT NULL,
    title         text NOT NULL,
    body          text NOT NULL,
    tags          text[] NOT NULL DEFAULT '{}',
    status        text NOT NULL CHECK (status IN ('published', 'unpublished')),
    version       integer NOT NULL CHECK (version >= 1),
    published_at  timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
  )`,
};

/** A page as the API returns it. */
export interface Page {
  readonly id: string;
  readonly slug: string;
  readonly locale: string;
  readonly title: string;
  readonly body: string;
  readonly tags: readonly string[];
  readonly status: 'published' | 'unpublished';
  readonly version: number;
  readonly publishedAt: string;
}

/** A new page; callers validate. */
export interface NewPage {
  readonly slug: string;
  readonly title: string;
  readonly body: string;
  readonly locale: string;
  readonly tags: readonly string[];
}

/** Longest summary the published event carries (the contract's limit): the body's beginning. */
const SUMMARY_MAX = 2_000;

function summaryOf(body: string): string {
  const text = body.replace(/\s+/g, ' ').trim();
  return text.length <= SUMMARY_MAX ? text : `${text.slice(0, SUMMARY_MAX - 1)}…`;
}

interface PageRow {
  id: string; slug: string; locale: string; title: string; body: string; tags: string[];
  status: 'published' | 'unpublished'; version: number; published_at: Date; updated_at: Date;
}

function toPage(row: PageRow): Page {
  return {
    id: row.id, slug: row.slug, locale: row.locale, title: row.title, body: row.body, tags: row.tags,
    status: row.status, version: row.version, publishedAt: row.published_at.toISOString(),
  };
}

/** Publishes a new page at version 1 and publishes `cms.page.published`. */
export async function publishPage(tx: ProducerTransaction, id: string, page: NewPage): Promise<Page> {
  const { rows: [row] } = await tx.query<PageRow>(
    `INSERT INTO cms.pages (id, slug, locale, title, body, tags, status, version, published_at, updated_at)
     VALUES ($1, $2, $3, $4, $5, $6, 'published', 1, now(), now()) RETURNING *`,
    [id, page.slug, page.locale, page.title, page.body, page.tags],
  );
  const published = toPage(row!);
  await tx.publish(pagePublished, {
    id, slug: published.slug, locale: published.locale, title: published.title, summary: summaryOf(published.body),
    tags: published.tags, version: published.version, publishedAt: published.publishedAt,
  });
  return published;
}

/** Takes a published page offline (version + 1) and publishes `cms.page.unpublished`; undefined when there is no such published page. */
export async function unpublishPage(tx: ProducerTransaction, id: string): Promise<Page | undefined> {
  const { rows: [row] } = await tx.query<PageRow>(
    `UPDATE cms.pages SET status = 'unpublished', version = version + 1, updated_at = now()
     WHERE id = $1 AND status = 'published' RETURNING *`,
    [id],
  );
  if (!row) return undefined;
  await tx.publish(pageUnpublished, { id, version: row.version, unpublishedAt: row.updated_at.toISOString() });
  return toPage(row);
}
