import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/program.js';
import { checkContracts, extendLock, lockKey, type CheckedTopic } from '../../src/core/contract-check.js';

const topic = (name: string, extra: Partial<CheckedTopic> = {}): CheckedTopic => ({
  name, version: 1, publishers: [name.split('.')[0]!], subscribers: ['search'], schema: { type: 'object', properties: { id: { type: 'string' } } }, ...extra,
});

describe('checkContracts', () => {
  const created = topic('catalog.product.created');

  it('passes aligned contracts', () => {
    expect(checkContracts({ topics: [created], services: [{ name: 'catalog', publishes: [created], subscribes: [] }, { name: 'search', publishes: [], subscribes: [created] }] })).toEqual([]);
  });

  it('finds the seed\'s misaligned topic, a subscription without a producer, and suggests the declared name', () => {
    const problems = checkContracts({
      topics: [created, topic('pricing.price.updated')],
      services: [
        { name: 'catalog', publishes: [created], subscribes: [] },
        { name: 'search', publishes: [], subscribes: [topic('product.created'), topic('pricing.price.updated')] },
      ],
    });
    expect(problems.map((p) => [p.code, p.topic, p.service])).toEqual([
      ['UNDECLARED_TOPIC_SUBSCRIBED', 'product.created', 'search'],
      ['SUBSCRIPTION_WITHOUT_PRODUCER', 'pricing.price.updated', 'search'],
    ]);
    expect(problems[0]!.message).toContain('did you mean catalog.product.created?');
  });

  it('finds undeclared and forbidden publishers, unlisted subscribers and topics without a version', () => {
    const problems = checkContracts({
      topics: [created, topic('warehouse.stock.changed', { version: 0 })],
      services: [
        { name: 'catalog', publishes: [created, topic('catalog.product.archived')], subscribes: [] },
        { name: 'pricing', publishes: [created], subscribes: [] },
        { name: 'gateway', publishes: [], subscribes: [created] },
      ],
    });
    expect(problems.map((p) => p.code).sort()).toEqual(['PUBLISHER_NOT_ALLOWED', 'SCHEMA_WITHOUT_VERSION', 'SUBSCRIBER_NOT_LISTED', 'UNDECLARED_TOPIC_PUBLISHED']);
  });

  it('refuses a change to a published schema version, naming where it differs, and accepts a new version', () => {
    const lock = extendLock({}, [created]);
    expect(Object.keys(lock)).toEqual([lockKey(created)]);
    const changed = topic('catalog.product.created', { schema: { type: 'object', properties: { id: { type: 'integer' } } } });
    const [problem] = checkContracts({ topics: [changed], services: [], lock });
    expect(problem).toMatchObject({ code: 'PUBLISHED_SCHEMA_CHANGED', topic: 'catalog.product.created' });
    expect(problem!.message).toContain('/properties/id/type');
    expect(problem!.message).toContain('declare version 2');
    expect(checkContracts({ topics: [{ ...changed, version: 2 }], services: [], lock })).toEqual([]);
    // extending never rewrites a recorded version
    expect(extendLock(lock, [changed])[lockKey(created)]).toEqual(created.schema);
  });
});

describe('datasync check', () => {
  async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    let stdout = '';
    let stderr = '';
    const code = await run(args, { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: (t: string) => (stderr += t) }, env: {} });
    return { code, stdout, stderr };
  }

  it('passes aligned contracts (exit 0) and records their versions with --update-lock', async () => {
    const lock = path.join(mkdtempSync(path.join(tmpdir(), 'datasync-check-')), 'schemas.lock.json');
    const first = await cli(['check', '--contracts', 'test/fixtures/contracts/aligned.ts', '--lock', lock, '--update-lock']);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('1 topics, 2 services');
    expect(Object.keys(JSON.parse(readFileSync(lock, 'utf8')) as object)).toEqual(['catalog.product.created.v1']);
    // a planted change of the published v1 schema fails the next check
    writeFileSync(lock, JSON.stringify({ 'catalog.product.created.v1': { type: 'object' } }));
    const changed = await cli(['check', '--contracts', 'test/fixtures/contracts/aligned.ts', '--lock', lock, '--json']);
    expect(changed.code).toBe(1);
    expect(JSON.parse(changed.stdout)).toMatchObject({ ok: false, problems: [{ code: 'PUBLISHED_SCHEMA_CHANGED' }] });
  });

  it('passes on the reference platform\'s contracts and their committed lock', async () => {
    const { code, stdout } = await cli(['check', '--json']);
    expect(code).toBe(0);
    const report = JSON.parse(stdout) as { ok: boolean; topics: number; services: number; recorded: string[] };
    expect(report).toMatchObject({ ok: true, recorded: [] });
    expect(report.topics).toBeGreaterThanOrEqual(40);
    expect(report.services).toBeGreaterThanOrEqual(20);
  });

  it('fails on the planted misaligned topic (exit 1), naming each problem and the fix', async () => {
    const { code, stdout, stderr } = await cli(['check', '--contracts', 'test/fixtures/contracts/misaligned.ts']);
    expect(code).toBe(1);
    expect(stdout).toContain('UNDECLARED_TOPIC_SUBSCRIBED: search subscribes to product.created, which no contract declares (did you mean catalog.product.created?)');
    expect(stdout).toContain('SUBSCRIPTION_WITHOUT_PRODUCER: analytics subscribes to storefront.page.viewed, but no service publishes it');
    expect(stderr).toContain('check found 2 problems');
  });

  it('has --help with its options and exit codes, and needs no server option', async () => {
    const { code, stdout } = await cli(['check', '--help']);
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: datasync check');
    expect(stdout).toContain('--update-lock');
    expect(stdout).not.toContain('--database');
  });

  it('names a missing module: exit 2', async () => {
    const { code, stderr } = await cli(['check', '--contracts', 'nowhere/contracts.ts']);
    expect(code).toBe(2);
    expect(stderr).toContain('--contracts: "nowhere/contracts.ts" is not valid');
  });
});
