/**
 * CMS: owns editorial content pages (buying guides, landing pages) and publishes each page that
 * goes live or offline, so Search can index them. Not among the seed's 20 services (no audit
 * row), but a producer Search's content consumer needs.
 *
 * Owns:            cms.pages (pages.ts)
 * Publishes:       cms.page.published, cms.page.unpublished (versioned per page)
 * Keeps a copy of: nothing
 */
import { randomBytes } from 'node:crypto';
import type { PlatformModule } from '../../host/module.js';
import { cmsTopics, pagePublished } from '../../contracts/cms.js';
import { pagesTable } from './pages.js';
import { cmsRoutes } from './routes.js';

export type { Page } from './pages.js';

/** The CMS. */
export const cmsModule: PlatformModule = {
  name: 'cms',
  summary: 'Owns content pages (guides, landing pages); publishes them for Search',
  migrations: [pagesTable],
  publishes: cmsTopics,
  mount: '/cms',
  build(ctx) {
    return { routes: cmsRoutes({ producer: ctx.producer }) };
  },
  audit: {
    produce: {
      async run(api) {
        const slug = `audit-${randomBytes(5).toString('hex')}`;
        const reply = await api.request('cms', 'POST', '/cms/pages', { slug, title: `Audit page ${slug}`, body: 'A page the audit published.' });
        if (reply.status !== 201) throw new Error(`POST /cms/pages answered ${reply.status}: ${JSON.stringify(reply.body)}`);
        return { topic: pagePublished, key: (reply.body as { id: string }).id };
      },
    },
  },
};
