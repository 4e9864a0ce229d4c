import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithServers, POSTGRES_URL, uniqueName, waitFor } from '../support/servers.js';

/**
 * `datasync start --service <name>`: the platform as separate processes on one database and
 * one transport. Each service below runs in its own process with its own HTTP port; the
 * Gateway reaches Search's API and Warehouse reaches Catalog's through `platform.instances`.
 */

const SERVICES = ['catalog', 'pricing', 'warehouse', 'search', 'gateway'] as const;
type Service = (typeof SERVICES)[number];

interface Running { readonly child: ChildProcess; readonly output: string[]; readonly exited: Promise<unknown[]>; url: string }

describeWithServers(['postgres'], 'datasync start --service: one service per process', () => {
  const database = uniqueName('e2e_multi');
  const admin = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  const processes = new Map<Service, Running>();
  let databaseUrl = '';

  async function call<T = any>(service: Service, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> { // eslint-disable-line @typescript-eslint/no-explicit-any
    const response = await fetch(`${processes.get(service)!.url}${path}`, {
      method, headers: body === undefined ? undefined : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  beforeAll(async () => {
    await admin.query(`CREATE DATABASE ${database}`);
    const url = new URL(POSTGRES_URL);
    url.pathname = `/${database}`;
    databaseUrl = url.toString();
    const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', DATASYNC_PROGRESS_SECONDS: '2' };
    delete env.DATABASE_URL;
    delete env.DATASYNC_TRANSPORT;
    delete env.REDIS_URL;
    delete env.DATASYNC_HTTP_PORT;
    for (const service of SERVICES) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'start', '--service', service, '--port', '0', '--no-workload',
        '--database', databaseUrl, '--transport', 'postgres'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      const output: string[] = [];
      createInterface({ input: child.stdout }).on('line', (line) => output.push(line));
      createInterface({ input: child.stderr }).on('line', (line) => output.push(line));
      processes.set(service, { child, output, exited: once(child, 'exit'), url: '' });
    }
    const listening = /^\s+http api\s+(http:\/\/127\.0\.0\.1:\d+)/;
    for (const [service, running] of processes) {
      await waitFor(`${service}'s http api line`, () => {
        if (running.child.exitCode !== null) throw new Error(`${service} exited (${running.child.exitCode}):\n${running.output.join('\n')}`);
        return running.output.some((line) => listening.test(line));
      }, 120_000);
      running.url = running.output.map((line) => listening.exec(line)).find(Boolean)![1]!;
    }
  }, 180_000);

  afterAll(async () => {
    for (const running of processes.values()) if (running.child.exitCode === null) running.child.kill('SIGINT');
    await Promise.all([...processes.values()].map(async (running) => {
      const timer = setTimeout(() => running.child.kill('SIGKILL'), 30_000);
      await running.exited;
      clearTimeout(timer);
    }));
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }, 60_000);

  it('each process serves only its own service and registers it in platform.instances', async () => {
    const registered = new pg.Client({ connectionString: databaseUrl });
    await registered.connect();
    try {
      const { rows } = await registered.query<{ service: string; url: string }>('SELECT service, url FROM platform.instances ORDER BY service');
      expect(rows.map((row) => row.service).sort()).toEqual([...SERVICES].sort());
      for (const row of rows) expect(row.url).toBe(processes.get(row.service as Service)!.url);
    } finally {
      await registered.end();
    }
    expect((await call('search', 'POST', '/catalog/products', { sku: 'MULTI-0', name: 'Elsewhere' })).status).toBe(404); // Catalog is not in Search's process
  });

  it('a product, its price and stock reach the Gateway across five processes; a price change replaces the cached view', async () => {
    const created = await call<{ id: string }>('catalog', 'POST', '/catalog/products', { sku: `MULTI-${Date.now() % 100_000}`, name: 'Distributed Kettle' });
    expect(created.status).toBe(201);
    const id = created.body.id;
    expect((await call('pricing', 'PUT', `/pricing/prices/${id}`, { amount: '24.00', currency: 'EUR' })).status).toBe(200);
    // Warehouse may not have its copy of the product yet: it asks Catalog's process, found in platform.instances
    expect((await call('warehouse', 'POST', `/warehouse/stock/${id}/adjust`, { delta: 3, reason: 'received' })).status).toBe(200);

    await waitFor('the Gateway (asking Search in another process) to show price and stock', async () => {
      const view = await call<{ price?: { amount: string }; stock?: { available: number } }>('gateway', 'GET', `/products/${id}`);
      return view.status === 200 && view.body.price?.amount === '24.00' && view.body.stock?.available === 3;
    }, 30_000);
    expect((await call('pricing', 'PUT', `/pricing/prices/${id}`, { amount: '21.00', currency: 'EUR' })).status).toBe(200);
    await waitFor('the new price at the Gateway', async () => (await call<{ price?: { amount: string } }>('gateway', 'GET', `/products/${id}`)).body.price?.amount === '21.00', 30_000);
  });

  it('every process stops on SIGINT with exit 0 and leaves platform.instances', async () => {
    for (const running of processes.values()) running.child.kill('SIGINT');
    for (const [service, running] of processes) {
      const [code] = await running.exited as [number | null];
      expect(code, `${service}:\n${running.output.join('\n')}`).toBe(0);
      expect(running.output.at(-1)).toBe('datasync: stopped');
    }
    const check = new pg.Client({ connectionString: databaseUrl });
    await check.connect();
    try {
      expect((await check.query('SELECT * FROM platform.instances')).rows).toEqual([]);
    } finally {
      await check.end();
    }
  });
});
