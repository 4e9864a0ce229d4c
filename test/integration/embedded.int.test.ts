import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { resolveDatabase, startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/postgres/embedded.js';
import { describeWithServers, waitFor } from '../support/servers.js';

const EMBEDDED_MODULE = fileURLToPath(new URL('../../src/postgres/embedded.ts', import.meta.url));
const AS_ROOT = process.getuid?.() === 0;

/** Starts the embedded PostgreSQL in a child process that prints `{ pid, url }` and then waits. */
async function startInChild(dataDir: string): Promise<{ child: ChildProcess; pid: number; url: string }> {
  const script = `
    import { startEmbeddedPostgres } from ${JSON.stringify(EMBEDDED_MODULE)};
    const postgres = await startEmbeddedPostgres({ dataDir: process.env.DATA_DIR, durable: false, log: () => {} });
    console.log(JSON.stringify({ pid: postgres.pid, url: postgres.url }));
    setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    env: { ...process.env, DATA_DIR: dataDir }, stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const lines = createInterface({ input: child.stdout });
  const [line] = (await Promise.race([once(lines, 'line'), once(child, 'exit').then(() => { throw new Error('the child exited before starting PostgreSQL'); })])) as [string];
  return { child, ...(JSON.parse(line) as { pid: number; url: string }) };
}

/** `id -u postgres` / `id -g postgres`: the user the server runs as when the tests run as root. */
function idOf(flag: '-u' | '-g'): string {
  return spawnSync('id', [flag, 'postgres'], { encoding: 'utf8' }).stdout.trim();
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie is not running
  return !/^\S+ \(.*\) Z/.test(spawnSync('cat', [`/proc/${pid}/stat`], { encoding: 'utf8' }).stdout ?? '');
}

async function query<R extends object>(url: string, sql: string): Promise<R[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<R>(sql)).rows;
  } finally {
    await client.end();
  }
}

const children: ChildProcess[] = [];
const running: EmbeddedPostgres[] = [];
const quiet = { durable: false, log: () => undefined };

describeWithServers([], 'embedded PostgreSQL', () => {
  let root: string;
  let dataDir: string;

  beforeAll(async () => {
    // Reachable for user postgres, who runs the server when the tests run as root.
    root = await mkdtemp(path.join(tmpdir(), 'datasync-embedded-test-'));
    await chmod(root, 0o755);
    dataDir = path.join(root, 'cluster');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const postgres of running.splice(0)) await postgres.stop();
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  async function start(config: Parameters<typeof startEmbeddedPostgres>[0] = {}): Promise<EmbeddedPostgres> {
    const postgres = await startEmbeddedPostgres({ dataDir, ...quiet, ...config });
    running.push(postgres);
    return postgres;
  }

  it('runs with wal_level=logical on 127.0.0.1 only, as user postgres when root, and keeps its data across a restart', async () => {
    const first = await start();
    expect(first.created).toBe(true);
    const [settings] = await query<{ wal_level: string; listen: string; version: number; directory: string }>(first.url,
      `SELECT current_setting('wal_level') AS wal_level, current_setting('listen_addresses') AS listen,
              current_setting('server_version_num')::int AS version, current_setting('data_directory') AS directory`);
    expect(settings).toEqual({ wal_level: 'logical', listen: '127.0.0.1', version: expect.any(Number) as unknown, directory: dataDir });
    expect(settings!.version).toBeGreaterThanOrEqual(180_000);
    const owner = (await stat(dataDir)).uid;
    expect(owner).toBe(AS_ROOT ? Number(idOf('-u')) : process.getuid?.());
    await query(first.url, `CREATE TABLE kept (note text); INSERT INTO kept VALUES ('written before the restart')`);

    await first.stop();
    await first.stop(); // idempotent
    expect(isRunning(first.pid)).toBe(false);

    const second = await start();
    expect(second.created).toBe(false);
    expect(second.port).toBe(first.port); // the previous port, free again, keeps the URL stable
    expect(second.pid).not.toBe(first.pid);
    expect(await query(second.url, 'SELECT note FROM kept')).toEqual([{ note: 'written before the restart' }]);
  });

  it('stops on SIGTERM; a server left by a run killed with SIGKILL is refused while its owner lives, then stopped and replaced', async () => {
    const graceful = await startInChild(dataDir);
    graceful.child.kill('SIGTERM');
    const [, signal] = (await once(graceful.child, 'exit')) as [number | null, string | null];
    expect(signal).toBe('SIGTERM'); // it stopped PostgreSQL, then ended with the signal as Node would have
    expect(isRunning(graceful.pid)).toBe(false);

    const killed = await startInChild(dataDir);
    await expect(start()).rejects.toMatchObject({
      code: 'CONFIGURATION_INVALID',
      message: expect.stringContaining(`started by process ${killed.child.pid}, which is still running`) as unknown,
    });
    killed.child.kill('SIGKILL');
    await once(killed.child, 'exit');
    expect(isRunning(killed.pid)).toBe(true); // nothing could stop it

    const lines: string[] = [];
    const next = await start({ log: (line) => lines.push(line) });
    expect(lines.join('\n')).toContain(`stopping PostgreSQL (PID ${killed.pid}) left running`);
    expect(isRunning(killed.pid)).toBe(false);
    expect(await query(next.url, 'SELECT note FROM kept')).toEqual([{ note: 'written before the restart' }]);
  });

  it('drops a postmaster.pid whose PID now belongs to another program (PostgreSQL alone would refuse to start)', async () => {
    const postgres = await start();
    await postgres.stop();
    // PostgreSQL refuses a lock file whose PID is a live process of its own user.
    const asServerUser = AS_ROOT ? { uid: Number(idOf('-u')), gid: Number(idOf('-g')) } : {};
    const other = spawn('sleep', ['30'], { stdio: 'ignore', ...asServerUser });
    children.push(other);
    await waitFor('the sleep process', () => other.pid !== undefined);
    await writeFile(path.join(dataDir, 'postmaster.pid'), `${other.pid}\n${dataDir}\n1700000000\n${postgres.port}\n\n127.0.0.1\n  0  0\nready   \n`);
    if (AS_ROOT) spawnSync('chown', ['postgres:postgres', path.join(dataDir, 'postmaster.pid')]);

    const lines: string[] = [];
    const again = await start({ log: (line) => lines.push(line) });
    expect(lines.join('\n')).toContain(`removing a stale postmaster.pid`);
    expect(isRunning(other.pid!)).toBe(true);
    expect((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]).toBe(String(again.pid));
  });

  it('refuses a port that is in use, naming it', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen({ port: 0, host: '127.0.0.1' }, resolve));
    const { port } = blocker.address() as net.AddressInfo;
    try {
      await expect(start({ port })).rejects.toMatchObject({
        code: 'CONFIGURATION_INVALID', field: 'port', message: expect.stringContaining(`another program listens on ${port}`) as unknown,
      });
      await expect(start({ port: 70_000 })).rejects.toMatchObject({ code: 'CONFIGURATION_INVALID', field: 'port' });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('refuses an unusable data folder, naming it and why', async () => {
    const refusal = (folder: string, why: string): Record<string, unknown> => ({
      code: 'CONFIGURATION_INVALID', field: 'dataDir', value: folder, message: expect.stringContaining(why) as unknown,
    });

    const file = path.join(root, 'a-file');
    await writeFile(file, 'not a folder');
    await expect(start({ dataDir: path.join(file, 'cluster') })).rejects.toMatchObject(refusal(path.join(file, 'cluster'), 'not a folder'));

    const cluttered = path.join(root, 'cluttered');
    await mkdir(cluttered);
    await writeFile(path.join(cluttered, 'notes.txt'), 'mine');
    await expect(start({ dataDir: cluttered })).rejects.toMatchObject(refusal(cluttered, 'not empty and holds no PostgreSQL data (it has notes.txt)'));

    const older = path.join(root, 'older');
    await mkdir(older);
    await writeFile(path.join(older, 'PG_VERSION'), '15\n');
    await expect(start({ dataDir: older })).rejects.toMatchObject(refusal(older, 'holds PostgreSQL 15 data and the embedded PostgreSQL is version 18'));

    const closed = path.join(root, 'closed');
    await mkdir(closed, { mode: 0o700 });
    await chmod(closed, AS_ROOT ? 0o700 : 0o500);
    const inside = path.join(closed, 'cluster');
    if (AS_ROOT) {
      // root may enter anything, but the server runs as postgres, who may not enter `closed`
      await expect(start({ dataDir: inside })).rejects.toMatchObject(refusal(inside, `cannot enter ${closed} (drwx------, owner uid 0). Fix: chmod o+x ${closed}`));
    } else {
      await expect(start({ dataDir: inside })).rejects.toMatchObject(refusal(inside, 'cannot be created'));
    }
  });

  it('resolveDatabase uses a given URL as is and starts nothing', async () => {
    const url = 'postgres://someone@db.example:5432/app';
    const resolved = await resolveDatabase({ databaseUrl: url, dataDir: path.join(root, 'never-created') });
    expect(resolved.url).toBe(url);
    expect(resolved.embedded).toBeUndefined();
    await resolved.stop();
    await expect(stat(path.join(root, 'never-created'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
