import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { AnyTopic, Topic } from 'datasync/core';
import type { Publisher } from 'datasync';
import { createAdminApp, startAdminServer, type AdminServer } from '../../src/admin/index.js';
import { priceUpdated, type PriceUpdated } from '../../platform/contracts/pricing.js';
import { productCreated, type Product } from '../../platform/contracts/catalog.js';
import { probeEnvelope, publishProbe } from '../../platform/audit/publish.js';
import { platformTopology } from '../../platform/host/dashboard.js';
import { findModule } from '../../platform/services/index.js';
import { runCli } from '../support/cli.js';
import { useInProcessPlatform } from '../support/platform-harness.js';
import { describeWithServers, waitFor } from '../support/servers.js';

const PROMTOOL = '/usr/bin/promtool';

/** A GET or POST on the admin API: status and parsed body. */
async function api<T = ApiErrorBody>(base: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${base}${path}`, {
    method, body: body === undefined ? undefined : JSON.stringify(body),
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
  });
  const text = await response.text();
  return { status: response.status, body: (text === '' ? undefined : JSON.parse(text)) as T };
}

/** Runs `promtool check metrics` on `text`: its exit code and everything it printed. */
function promtoolCheck(text: string): Promise<{ code: number | null; printed: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PROMTOOL, ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let printed = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (printed += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (printed += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, printed }));
    child.stdin.end(text);
  });
}

/** Publishes `data` on `topic` as its owner would. */
async function publishAsOwner<T>(publisher: Publisher, topic: Topic<T>, data: T): Promise<void> {
  await publishProbe(publisher, topic as AnyTopic, probeEnvelope(topic, data));
}

function product(id: string): Product {
  return { id, sku: `ADM-${randomBytes(4).toString('hex').toUpperCase()}`, name: 'Admin test kettle', category: 'kitchen', status: 'active', version: 1, updatedAt: new Date().toISOString() };
}

function price(productId: string): PriceUpdated {
  const now = new Date().toISOString();
  return { productId, currency: 'EUR', listAmount: '9.99', amount: '9.99', version: 1, effectiveFrom: now, updatedAt: now };
}

interface Overview {
  slaSeconds: number;
  topology: { services: { name: string; running: boolean }[]; topics: { name: string; owner: string; subscribers: string[] }[] };
  latency: { overall: { p50: number | null; p95: number | null; count: number }; byConsumer: { topic: string; consumer: string }[] };
  throughput: { topic: string; publishedPerSecond: number; consumedPerSecond: Record<string, number> }[];
  outbox: { service: string; pending: number }[];
  freshness: { consumer: string; topic: string; seconds: number }[];
}
interface ApiErrorBody { error: { code: string; field?: string } }
interface Action { action: string; detail: Record<string, unknown> }

interface DlqEntry { id: string; consumer: string; topic: string; eventId: string; status: string; replayable: boolean; data: { productId?: string }; reason: string }

describeWithServers(['postgres'], 'the admin API and datasync status against Search and the Gateway running in process', () => {
  const harness = useInProcessPlatform('admin_api', () => [findModule('search')!, findModule('gateway')!]);
  let admin: AdminServer;
  let base = '';

  beforeAll(async () => {
    admin = await startAdminServer({
      port: 0, pool: harness.db(), publisher: harness.transport().publisher,
      topology: () => platformTopology((service) => harness.platform().services.has(service)),
      schemas: ['search', 'gateway'],
    });
    base = admin.url;
  });
  afterAll(async () => {
    await admin?.close();
  });

  /** The harness's own database (created for this file). */
  const databaseUrl = (): string => (harness.db() as unknown as { options: { connectionString: string } }).options.connectionString;

  it('serves the page, its assets and the overview with throughput and latency once events flow', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
    for (const asset of ['app.js', 'app.css', 'uPlot.iife.min.js', 'uPlot.min.css']) {
      const response = await fetch(`${base}/assets/${asset}`);
      expect(response.status, asset).toBe(200);
      expect((await response.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    expect((await api(base, 'GET', '/assets/../package.json')).status).toBe(404);

    await api(base, 'GET', '/api/overview'); // someone watches: a reading every second from now on
    for (let i = 0; i < 10; i += 1) await publishAsOwner(harness.transport().publisher, productCreated, product(randomUUID()));
    await waitFor('the overview to show products applied by Search and its invalidations published, with latency', async () => {
      const { body } = await api<Overview>(base, 'GET', '/api/overview');
      const created = body.throughput.find((t) => t.topic === productCreated.name);
      const invalidated = body.throughput.find((t) => t.topic === 'search.product.invalidated');
      return (created?.consumedPerSecond.applied ?? 0) > 0 && (invalidated?.publishedPerSecond ?? 0) > 0 && body.latency.overall.count > 0;
    });
    const { status, body } = await api<Overview>(base, 'GET', '/api/overview');
    expect(status).toBe(200);
    expect(body.slaSeconds).toBe(0.5);
    expect(body.latency.overall.p95).toEqual(expect.any(Number));
    expect(body.latency.byConsumer.map((l) => l.consumer)).toContain('search');
    expect(body.topology.services).toContainEqual(expect.objectContaining({ name: 'search', running: true }));
    expect(body.topology.services).toContainEqual(expect.objectContaining({ name: 'catalog', running: false }));
    const topic = body.topology.topics.find((t) => t.name === productCreated.name);
    expect(topic).toMatchObject({ owner: 'catalog' });
    expect(topic!.subscribers).toContain('search');
    expect(topic).not.toHaveProperty('schema');
    expect(typeof body.outbox.find((o) => o.service === 'search')?.pending).toBe('number');
    expect(typeof body.freshness.find((f) => f.consumer === 'search' && f.topic === productCreated.name)?.seconds).toBe('number');

    const history = await api<{ points: { consumedPerSecond: number }[] }>(base, 'GET', '/api/history?seconds=60');
    expect(history.body.points.length).toBeGreaterThan(0);
    expect(history.body.points.some((p) => p.consumedPerSecond > 0)).toBe(true);
    expect((await api(base, 'GET', '/api/history?seconds=0')).body.error).toMatchObject({ code: 'INVALID_FIELD', field: 'seconds' });

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('datasync_sync_latency_seconds_bucket');
    expect(metrics).toContain(`datasync_events_consumed_total{topic="${productCreated.name}",consumer="search",outcome="applied"}`);
    if (existsSync(PROMTOOL)) {
      const check = await promtoolCheck(metrics);
      expect(check.printed).toBe('');
      expect(check.code).toBe(0);
    } else if (process.env.DATASYNC_REQUIRE_SERVERS === '1') {
      throw new Error(`${PROMTOOL} is missing: install Debian's prometheus package (apt-get install prometheus) to check the exposition`);
    } else {
      console.warn(`skipped promtool check metrics: ${PROMTOOL} is missing (Debian package prometheus)`);
    }
  });

  it('lists dead letters with their failure context, replays one (confirmed, audited) and Search applies it; discards another; datasync status follows', async () => {
    // two prices of products Search does not have: held, retried, then dead-lettered
    const [replayMe, discardMe] = [randomUUID(), randomUUID()];
    for (const id of [replayMe, discardMe]) await publishAsOwner(harness.transport().publisher, priceUpdated, price(id));
    let entries: DlqEntry[] = [];
    await waitFor('both prices dead-lettered by Search', async () => {
      entries = (await api<{ entries: DlqEntry[] }>(base, 'GET', '/api/dlq?consumer=search')).body.entries;
      return [replayMe, discardMe].every((id) => entries.some((e) => e.data.productId === id));
    });
    const toReplay = entries.find((e) => e.data.productId === replayMe)!;
    const toDiscard = entries.find((e) => e.data.productId === discardMe)!;
    expect(toReplay).toMatchObject({ consumer: 'search', topic: priceUpdated.name, status: 'pending', replayable: true, reason: 'retries_exhausted' });
    expect(toReplay).toHaveProperty('errorMessage', expect.stringContaining(replayMe));

    // with a dead letter waiting, status says so and exits 1 (no colour: stdout is not a terminal)
    const unhealthy = await runCli(['status', '--database', databaseUrl(), '--window', '1', '--sla', '1000']);
    expect(unhealthy.code, unhealthy.stderr).toBe(1);
    expect(unhealthy.stdout).toMatch(/^search\s+dead letters\s/m);
    expect(unhealthy.stdout).toMatch(/^gateway\s+ok\s/m);
    expect(unhealthy.stdout).toContain('dead letter');
    expect(unhealthy.stdout).not.toContain('\u001b[');

    const actionPath = (verb: string, entry: DlqEntry) => `/api/dlq/${entry.consumer}/${entry.id}/${verb}`;
    expect((await api(base, 'POST', actionPath('replay', toReplay), {})).body.error).toMatchObject({ code: 'CONFIRMATION_REQUIRED', field: 'confirm' });
    expect((await api(base, 'POST', actionPath('replay', toReplay), { confirm: false })).status).toBe(400);
    expect((await api(base, 'POST', actionPath('replay', toReplay), { confirm: true }, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await api(base, 'POST', '/api/dlq/search/999999999/replay', { confirm: true })).status).toBe(404);

    // the product arrives, then the replay: Search applies the price this time
    await publishAsOwner(harness.transport().publisher, productCreated, product(replayMe));
    const replayed = await api<unknown>(base, 'POST', actionPath('replay', toReplay), { confirm: true });
    expect(replayed).toEqual({ status: 200, body: { replayed: true, id: toReplay.id } });
    await waitFor('Search to apply the replayed price', async () => {
      const { body } = await harness.call<{ outcomes: string[] }>('GET', `/platform/consumers/search/events/${toReplay.eventId}`);
      return body.outcomes.includes('applied');
    });
    expect((await api(base, 'POST', actionPath('replay', toReplay), { confirm: true })).status).toBe(404); // no longer pending

    expect((await api(base, 'POST', actionPath('discard', toDiscard), {})).status).toBe(400);
    expect((await api<unknown>(base, 'POST', actionPath('discard', toDiscard), { confirm: true })).body).toEqual({ discarded: true, id: toDiscard.id });

    const { rows } = await harness.db().query<{ actor: string; action: string; target: string }>('SELECT actor, action, target FROM search.audit_log ORDER BY id');
    expect(rows.map((row) => [row.action, row.target])).toEqual([
      ['dlq.replay', `search.dead_letters/${toReplay.id}`],
      ['dlq.discard', `search.dead_letters/${toDiscard.id}`],
    ]);
    for (const row of rows) expect(row.actor).toMatch(/^dashboard@(::ffff:)?127\.0\.0\.1$/);
    const actions = (await api<{ entries: Action[] }>(base, 'GET', '/api/actions?limit=5')).body.entries;
    expect(actions.map((a) => a.action)).toEqual(['dlq.discard', 'dlq.replay']);
    expect(actions[0]!.detail).toMatchObject({ consumer: 'search', topic: priceUpdated.name });

    // the CLI's discard is audited too, as cli:<user>
    await publishAsOwner(harness.transport().publisher, priceUpdated, price(randomUUID()));
    let cliEntry: DlqEntry | undefined;
    await waitFor('a third dead letter', async () => {
      cliEntry = (await api<{ entries: DlqEntry[] }>(base, 'GET', '/api/dlq?consumer=search')).body.entries[0];
      return cliEntry !== undefined;
    });
    const discarded = await runCli(['dlq', 'discard', cliEntry!.id, '--schema', 'search', '--database', databaseUrl()]);
    expect(discarded.code, discarded.stderr).toBe(0);
    const { rows: [cliRow] } = await harness.db().query<{ actor: string }>(`SELECT actor FROM search.audit_log WHERE action = 'dlq.discard' ORDER BY id DESC LIMIT 1`);
    expect(cliRow!.actor).toMatch(/^cli:.+/);

    // nothing waits any more: healthy, exit 0, each service listed; an older instance of Search
    // that crashed (its row still fresh, listed after the live one) does not make Search down
    await waitFor('no pending dead letter left', async () => (await api<{ entries: DlqEntry[] }>(base, 'GET', '/api/dlq')).body.entries.length === 0);
    const crashed = 'search@crashed-before';
    /** (Re)registers the crashed instance with a heartbeat just before the live one's: fresh, and listed after it. */
    const plantCrashed = () => harness.db().query(
      `INSERT INTO platform.instances (id, service, url, transport, host, pid, heartbeat_at)
       SELECT $1, 'search', 'http://127.0.0.1:9', 'postgres', 'test', 1, min(heartbeat_at) - interval '1 second' FROM platform.instances WHERE service = 'search' AND id <> $1
       ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`,
      [crashed],
    );
    try {
      await plantCrashed();
      const healthy = await runCli(['status', '--database', databaseUrl(), '--window', '2', '--sla', '1000']);
      expect(healthy.code, `${healthy.stdout}\n${healthy.stderr}`).toBe(0);
      expect(healthy.stdout).toMatch(/^search\s+ok\s/m);
      expect(healthy.stdout).toMatch(/^gateway\s+ok\s/m);
      expect(healthy.stdout).toContain('healthy');
      await plantCrashed();
      const json = await runCli(['status', '--database', databaseUrl(), '--window', '1', '--sla', '1000', '--json']);
      expect(json.code, json.stderr).toBe(0);
      const document = JSON.parse(json.stdout) as { healthy: boolean; services: { service: string; dlqDepth: number | null; answering: boolean }[] };
      expect(document.healthy).toBe(true);
      expect(document.services.map((s) => s.service)).toEqual(['gateway', 'search']);
      expect(document.services.every((s) => s.answering && s.dlqDepth === 0)).toBe(true);
    } finally {
      await harness.db().query('DELETE FROM platform.instances WHERE id = $1', [crashed]);
    }
  });

  it('refuses requests for another host name, and a second participation run while one runs', async () => {
    // fetch cannot set Host; the app itself can be asked (a page on a DNS-rebinding name would send it)
    expect((await admin.admin.app.request('/api/overview', { headers: { host: 'evil.example:4400' } })).status).toBe(403);
    expect((await admin.admin.app.request('/api/overview', { headers: { host: 'localhost:4400' } })).status).toBe(200);
    let finish!: () => void;
    const local = createAdminApp({ participation: { run: () => new Promise((resolve) => { finish = () => resolve({ columns: ['DLQ'], rows: [{ service: 'Search', cells: { DLQ: '✅' } }] }); }) } });
    const started = await local.app.request('/api/participation/run', { method: 'POST' });
    expect(started.status).toBe(202);
    expect((await local.app.request('/api/participation/run', { method: 'POST' })).status).toBe(409);
    finish();
    await waitFor('the participation table', async () => {
      const body = await (await local.app.request('/api/participation')).json() as { running: boolean; rows: unknown[]; ranAt: string | null };
      return !body.running && body.rows.length === 1 && body.ranAt !== null;
    });
    local.close();
  });
});
