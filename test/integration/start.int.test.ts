import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/postgres/embedded.js';
import { describeWithServers, waitFor } from '../support/servers.js';

/** Process ids and command lines of the processes whose command line names `text`. */
function processesNaming(text: string): string[] {
  return (spawnSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).stdout ?? '').split('\n').filter((line) => line.includes(text));
}

describeWithServers([], 'npm start: the platform on the embedded PostgreSQL', () => {
  it('brings up every service with no DATABASE_URL, runs the workload, keeps Search current, and stops everything on SIGINT with exit 0', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'datasync-start-test-'));
    await chmod(root, 0o755); // user postgres runs the server when the tests run as root
    const dataDir = path.join(root, 'postgres');
    const env: NodeJS.ProcessEnv = { ...process.env, DATASYNC_DATA_DIR: dataDir, DATASYNC_PROGRESS_SECONDS: '1', DATASYNC_DEMO_PRODUCTS: '20', DATASYNC_HTTP_PORT: '0' }; // any free port for the HTTP API
    delete env.DATABASE_URL;
    delete env.DATASYNC_TRANSPORT;
    delete env.REDIS_URL;
    // `npm start` runs this file with tsx; node runs it directly here so SIGINT reaches it alone.
    const demo = spawn(process.execPath, ['--import', 'tsx', 'platform/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    createInterface({ input: demo.stdout }).on('line', (line) => output.push(line));
    createInterface({ input: demo.stderr }).on('line', (line) => output.push(line));
    const exited = once(demo, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
    const printed = async (pattern: RegExp, what: string, timeoutMs: number): Promise<RegExpMatchArray> => {
      await waitFor(what, () => {
        if (demo.exitCode !== null) throw new Error(`the demo exited (${demo.exitCode}) before ${what}:\n${output.join('\n')}`);
        return output.some((line) => pattern.test(line));
      }, timeoutMs);
      return output.map((line) => pattern.exec(line)).find(Boolean)!;
    };

    try {
      // The first start runs initdb, which takes seconds (more on a busy machine).
      const [, url] = await printed(/^\s+database\s+(postgres:\/\/\S+)/, 'the database line', 90_000);
      await printed(/applied [1-9][\d,]* \(duplicate/, 'a progress line with events applied', 30_000);
      await printed(/workload products [1-9].*orders [1-9]/, 'a progress line with products and orders from the workload', 60_000);

      const pool = new pg.Pool({ connectionString: url, max: 2 });
      try {
        // With 20 products, the workload deletes one now and then once the catalog has grown to them.
        await waitFor('a changed product in Catalog and a deleted one in Search', async () => {
          const { rows: [seen] } = await pool.query<{ changed: boolean; deleted: boolean }>(
            'SELECT EXISTS (SELECT 1 FROM catalog.products WHERE version > 1) AS changed, EXISTS (SELECT 1 FROM search.products WHERE deleted) AS deleted');
          return seen!.changed && seen!.deleted;
        }, 120_000);
        const { rows: snapshot } = await pool.query<{ id: string; version: number }>('SELECT id, version FROM catalog.products');
        expect(snapshot.length).toBeGreaterThan(0);
        // Catalog keeps changing; every product it has now reaches Search at this version or a later one.
        await waitFor('Search to hold every product of the snapshot at its version or newer', async () => {
          const { rows } = await pool.query<{ id: string; version: string }>('SELECT id, version FROM search.products WHERE id = ANY($1)', [snapshot.map((p) => p.id)]);
          const copy = new Map(rows.map((row) => [row.id, Number(row.version)]));
          return snapshot.every((product) => (copy.get(product.id) ?? 0) >= product.version);
        }, 30_000);
      } finally {
        await pool.end();
      }

      demo.kill('SIGINT');
      const [code] = await exited;
      expect(code, output.join('\n')).toBe(0);
      expect(output).toContain('datasync: every outbox is published and Search has caught up with Catalog');
      expect(output.at(-1)).toBe('datasync: stopped');
      expect(processesNaming(dataDir)).toEqual([]);
      await expect(stat(path.join(dataDir, 'postmaster.pid'))).rejects.toMatchObject({ code: 'ENOENT' }); // a clean shutdown

      // The data stays, and after the catch-up on stop Search matches Catalog exactly.
      const postgres = await startEmbeddedPostgres({ dataDir, durable: false, log: () => undefined });
      const check = new pg.Client({ connectionString: postgres.url });
      try {
        await check.connect();
        const { rows: [mismatch] } = await check.query<{ catalog: number; tombstones: number; differing: number }>(
          `SELECT (SELECT count(*)::int FROM catalog.products) AS catalog,
                  (SELECT count(*)::int FROM search.products WHERE deleted) AS tombstones,
                  (SELECT count(*)::int FROM catalog.products c FULL JOIN (SELECT * FROM search.products WHERE NOT deleted) s ON s.id = c.id
                   WHERE c.version IS DISTINCT FROM s.version) AS differing`,
        );
        expect(mismatch!.catalog).toBeGreaterThan(0);
        expect(mismatch!.tombstones).toBeGreaterThan(0);
        expect(mismatch!.differing).toBe(0);
      } finally {
        await check.end();
        await postgres.stop();
      }
    } finally {
      if (demo.exitCode === null && demo.signalCode === null) {
        demo.kill('SIGKILL');
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    }
  });
});
