import { describeWithServers, REDIS_URL } from '../support/servers.js';
import { usePlatformProcess } from '../support/platform-process.js';
import { platformScenarios } from './platform-scenarios.js';

// The whole platform in a child process, as `npm start` / `datasync start` run it.

describeWithServers(['postgres', 'redis'], 'the platform on PostgreSQL + Redis Streams, caches in Redis', () => {
  const platform = usePlatformProcess('e2e_redis', { transport: REDIS_URL, redisUrl: REDIS_URL });
  platformScenarios(platform, () => ({ DATABASE_URL: platform.databaseUrl(), DATASYNC_TRANSPORT: REDIS_URL }));
});

describeWithServers([], 'the platform on the embedded default (embedded PostgreSQL, postgres transport, in-process caches)', () => {
  const platform = usePlatformProcess('e2e_embedded', { embedded: true });
  platformScenarios(platform, () => ({ DATABASE_URL: platform.databaseUrl(), DATASYNC_TRANSPORT: 'postgres' }));
});
