import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { startEmbeddedPostgres } from '../../src/postgres/embedded.js';
import { answers } from './ports.js';

/**
 * Global setup of the integration project: PostgreSQL tests fall back to the embedded
 * PostgreSQL (DESIGN.md section 5), so they run on a machine with no server.
 *
 * `DATASYNC_TEST_POSTGRES` chooses:
 * - unset (auto): use `DATABASE_URL` when set, else PostgreSQL on 127.0.0.1:5432 when it
 *   answers, else start the embedded one, unless `DATASYNC_REQUIRE_SERVERS=1` (CI wants its
 *   real server, and a missing one fails the run);
 * - `embedded`: always start the embedded one (how the fallback itself is tested);
 * - `server`: never start it.
 *
 * The embedded cluster lives in a temp folder removed at the end. Its URL reaches the test
 * workers through `provide`; test/support/servers.ts turns it into `POSTGRES_URL`.
 */
export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const mode = process.env.DATASYNC_TEST_POSTGRES || 'auto';
  if (!['auto', 'embedded', 'server'].includes(mode)) {
    throw new Error(`DATASYNC_TEST_POSTGRES=${mode} is not valid; use embedded, server, or leave it unset.`);
  }
  if (mode === 'server') return undefined;
  if (mode === 'auto') {
    if (process.env.DATABASE_URL || process.env.DATASYNC_REQUIRE_SERVERS === '1') return undefined;
    if (await answers(5432)) return undefined;
  }

  const reason = mode === 'embedded' ? 'DATASYNC_TEST_POSTGRES=embedded' : 'DATABASE_URL is unset and nothing answers on 127.0.0.1:5432';
  // The temp folder itself is the data folder, so a PostgreSQL run as user postgres (when
  // the tests run as root) only has to enter the system temp folder above it.
  const dataDir = await mkdtemp(path.join(tmpdir(), 'datasync-test-postgres-'));
  try {
    const postgres = await startEmbeddedPostgres({
      dataDir,
      durable: false,
      log: (line) => console.log(line.startsWith('datasync: ') ? `datasync tests (${reason}): ${line.slice('datasync: '.length)}` : line),
    });
    project.provide('datasync.postgresUrl', postgres.url);
    return async () => {
      await postgres.stop();
      await rm(dataDir, { recursive: true, force: true });
    };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    if (mode === 'embedded') throw error;
    const problem = error instanceof Error ? error.message : String(error);
    console.warn(`datasync tests: the embedded PostgreSQL did not start, so PostgreSQL tests are skipped: ${problem}`);
    project.provide('datasync.postgresProblem', problem);
    return undefined;
  }
}

declare module 'vitest' {
  export interface ProvidedContext {
    /** URL of the embedded PostgreSQL the global setup started; unset when the tests use a server. */
    'datasync.postgresUrl'?: string;
    /** Why the embedded PostgreSQL could not be started, when the fallback was tried. */
    'datasync.postgresProblem'?: string;
  }
}
