import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { Producer } from 'datasync/runtime';
import { ApiError, invalidField, readJsonObject } from '../../http/errors.js';
import { checkFields, textField, uuidField } from '../../http/fields.js';
import { publishPage, unpublishPage, type NewPage } from './pages.js';

/**
 * The CMS's routes. Each write is one producer transaction (the page and its event commit together).
 *
 *   POST   /cms/pages      {"slug": "kettle-buying-guide", "title": "…", "body": "…", "locale"?: "en-GB", "tags"?: ["kettles"]}
 *                          → 201 the page {"id", "slug", "locale", "title", "body", "tags", "status", "version", "publishedAt"}
 *                          400 naming the field; 409 SLUG_TAKEN naming `slug`
 *   DELETE /cms/pages/:id  → 204 (the page is unpublished); 404 PAGE_NOT_FOUND when there is no published page with that id
 */

// the patterns and limits of the published cms.page.published schema (contracts/cms.ts)
const SLUG = /^[a-z0-9]+(-[a-z0-9]+)*(\/[a-z0-9]+(-[a-z0-9]+)*)*$/;
const LOCALE = /^[a-z]{2}(-[A-Z]{2})?$/;
const SLUG_MAX = 200;
const TITLE_MAX = 200;
const BODY_MAX = 100_000;
const TAGS_MAX = 20;
const TAG_MAX = 50;
const DEFAULT_LOCALE = 'en-GB';

function checkSlug(value: unknown): string {
  const slug = textField('slug', value, SLUG_MAX);
  if (!SLUG.test(slug)) throw invalidField('slug', `expected lower-case words joined by - (sections by /), e.g. "guides/kettle-buying", got ${JSON.stringify(slug)}`);
  return slug;
}

function checkLocale(value: unknown): string {
  if (value === undefined) return DEFAULT_LOCALE;
  if (typeof value !== 'string' || !LOCALE.test(value)) throw invalidField('locale', `expected a language tag such as "en" or "en-GB", got ${JSON.stringify(value)}`);
  return value;
}

function checkTags(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw invalidField('tags', `expected an array of strings, got ${JSON.stringify(value)}`);
  if (value.length > TAGS_MAX) throw invalidField('tags', `expected at most ${TAGS_MAX} tags, got ${value.length}`);
  const tags = value.map((tag, i) => textField(`tags[${i}]`, tag, TAG_MAX));
  if (new Set(tags).size !== tags.length) throw invalidField('tags', 'must not repeat a tag');
  return tags;
}

/** The body of `POST /cms/pages`; throws a 400 ApiError naming the first bad field. */
export function parseNewPage(body: Record<string, unknown>): NewPage {
  checkFields(body, ['slug', 'title', 'body', 'locale', 'tags'], ['slug', 'title', 'body']);
  return {
    slug: checkSlug(body.slug),
    title: textField('title', body.title, TITLE_MAX),
    body: textField('body', body.body, BODY_MAX),
    locale: checkLocale(body.locale),
    tags: checkTags(body.tags),
  };
}

/** The CMS's routes, to mount at `/cms`. */
export function cmsRoutes(deps: { readonly producer: Producer }): Hono {
  const routes = new Hono();
  routes.post('/pages', async (c) => {
    const page = parseNewPage(await readJsonObject(c));
    const published = await deps.producer.transaction((tx) => publishPage(tx, randomUUID(), page)).catch((error: unknown) => {
      const pgError = error as { code?: string; constraint?: string };
      if (pgError.code === '23505' && pgError.constraint === 'pages_slug_key') {
        throw new ApiError(409, 'SLUG_TAKEN', `slug: another page has the slug ${JSON.stringify(page.slug)}`, 'slug');
      }
      throw error;
    });
    return c.json(published, 201);
  });
  routes.delete('/pages/:id', async (c) => {
    const id = uuidField('id', c.req.param('id'));
    const page = await deps.producer.transaction((tx) => unpublishPage(tx, id));
    if (!page) throw new ApiError(404, 'PAGE_NOT_FOUND', `id: no published page ${id}`, 'id');
    return c.body(null, 204);
  });
  return routes;
}
