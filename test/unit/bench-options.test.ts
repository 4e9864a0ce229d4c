import { describe, expect, it } from 'vitest';
import { BENCH_TRANSPORTS, parseBenchArgs, parseTransports, USAGE, type BenchConfig } from '../../bench/harness/options.js';
import { measuredSystems, transportSpecOf } from '../../bench/harness/system.js';
import { transportTable, type TableInput, type TableRun } from '../../bench/harness/transport-table.js';
import { parseTransportSpec, TRANSPORT_NAMES } from '../../src/transports/connect.js';

/** `npm run bench` arguments and the per-transport table; nothing here reaches a server. */

function config(args: string): BenchConfig {
  const parsed = parseBenchArgs(args.split(' ').filter(Boolean));
  if (parsed === 'help') throw new Error('unexpected help');
  return parsed;
}

describe('bench options: --transport', () => {
  it('defaults to redis-streams alone, as the bench ran before the option existed', () => {
    const c = config('');
    expect(c.transports).toEqual(['redis-streams']);
    expect(c.systems).toEqual(['datasync', 'baseline']);
    expect(measuredSystems(c.systems, c.transports).map((s) => s.label)).toEqual(['datasync/redis-streams', 'baseline']);
  });

  it('takes a comma-separated list in the order given, trimmed, repeats dropped', () => {
    expect(config('--transport rabbitmq,nats-jetstream').transports).toEqual(['rabbitmq', 'nats-jetstream']);
    expect(parseTransports(' postgres , redis-streams,postgres')).toEqual(['postgres', 'redis-streams']);
  });

  it('all runs every transport connectTransport knows, redis-streams first', () => {
    expect(config('--transport all').transports).toEqual(['redis-streams', 'nats-jetstream', 'rabbitmq', 'postgres']);
    expect([...BENCH_TRANSPORTS].sort()).toEqual([...TRANSPORT_NAMES].sort());
  });

  it('refuses an unknown name, an empty list and all mixed with names, naming the option and the value', () => {
    expect(() => config('--transport kafka')).toThrow(/--transport must be .*redis-streams, nats-jetstream, rabbitmq, postgres, or all; got "kafka"/);
    expect(() => config('--transport redis-streams,,postgres')).toThrow(/--transport .*got ""/);
    expect(() => parseTransports('')).toThrow(/--transport/);
    expect(() => parseTransports('all,postgres')).toThrow(/got "all"/);
    expect(() => parseTransports('Redis-Streams')).toThrow(/got "Redis-Streams"/);
  });

  it('runs datasync once per transport, each under its own label, and the baseline once', () => {
    const c = config('--transport all');
    expect(measuredSystems(c.systems, c.transports)).toEqual([
      { label: 'datasync/redis-streams', system: 'datasync', transport: 'redis-streams' },
      { label: 'datasync/nats-jetstream', system: 'datasync', transport: 'nats-jetstream' },
      { label: 'datasync/rabbitmq', system: 'datasync', transport: 'rabbitmq' },
      { label: 'datasync/postgres', system: 'datasync', transport: 'postgres' },
      { label: 'baseline', system: 'baseline', transport: 'redis-streams' },
    ]);
    const baselineOnly = config('--system baseline --transport nats-jetstream');
    expect(measuredSystems(baselineOnly.systems, baselineOnly.transports).map((s) => s.label)).toEqual(['baseline']);
    const datasyncOnly = config('--system datasync --transport postgres,rabbitmq');
    expect(measuredSystems(datasyncOnly.systems, datasyncOnly.transports).map((s) => s.label)).toEqual(['datasync/postgres', 'datasync/rabbitmq']);
  });
});

describe('bench options: broker URLs', () => {
  it('defaults to the machine’s NATS and RabbitMQ on 127.0.0.1', () => {
    const c = config('');
    expect(c.natsUrl).toBe('nats://127.0.0.1:4222');
    expect(c.amqpUrl).toBe('amqp://guest:guest@127.0.0.1:5672');
    expect(config('--nats-url nats://localhost:14222 --amqp-url amqp://u:p@127.0.0.1:15672').natsUrl).toBe('nats://localhost:14222');
  });

  it('refuses a broker that is not on the loopback interface', () => {
    expect(() => config('--nats-url nats://10.0.0.5:4222')).toThrow(/--nats-url: the bench only talks to 127.0.0.1, got 10.0.0.5/);
    expect(() => config('--amqp-url amqp://guest:guest@example.com:5672')).toThrow(/--amqp-url: the bench only talks to 127.0.0.1/);
  });

  it('refuses a URL of another transport or no URL at all, naming the option', () => {
    expect(() => config('--nats-url amqp://127.0.0.1:5672')).toThrow(/--nats-url must be a URL of the nats-jetstream transport/);
    expect(() => config('--amqp-url nats://127.0.0.1:4222')).toThrow(/--amqp-url must be a URL of the rabbitmq transport/);
    expect(() => config('--redis-url nats://127.0.0.1:4222')).toThrow(/--redis-url must be a URL of the redis-streams transport/);
    expect(() => config('--nats-url 127.0.0.1:4222')).toThrow(/--nats-url must be a URL, got "127.0.0.1:4222"/);
  });

  it('gives each run the connectTransport spec of its transport; postgres means the bench database', () => {
    const c = config('--transport all');
    const urls = { redisUrl: c.redisUrl, natsUrl: c.natsUrl, amqpUrl: c.amqpUrl };
    for (const transport of c.transports) {
      const spec = transportSpecOf({ ...urls, transport });
      expect(parseTransportSpec(spec, c.postgresUrl)).toEqual({ name: transport, url: transport === 'postgres' ? c.postgresUrl : spec });
    }
  });

  it('documents the options in the usage text', () => {
    expect(USAGE).toContain('--transport redis-streams');
    expect(USAGE).toContain('redis-streams,nats-jetstream,rabbitmq,postgres');
    expect(USAGE).toContain('--nats-url nats://127.0.0.1:4222');
    expect(USAGE).toContain('--amqp-url amqp://guest:guest@127.0.0.1:5672');
    expect(parseBenchArgs(['--help'])).toBe('help');
  });
});

function runAt(offeredRate: number, figures: Partial<TableRun> = {}): TableRun {
  return {
    offeredRate,
    delivered: { ratePerS: offeredRate },
    latencyMs: { p50: 11.83, p95: 30.71, p99: 147.4 },
    lost: 0,
    sustained: true,
    cpu: { others: 3 },
    ...figures,
  };
}

describe('bench table: one row per measured system', () => {
  const input: TableInput = {
    startedAt: '2026-11-25T10:00:00.000Z',
    command: 'npm run bench -- --transport all',
    machine: { cpus: 2, cpuModel: 'Test CPU', node: 'v20.20.2', postgres: '15.20', redis: '7.0.15', nats: '2.10.0' },
    config: { rates: [1000, 5000], durationS: 20, search: true, searchStepS: 8 },
    results: {
      'datasync/redis-streams': {
        transport: 'redis-streams',
        fixed: [runAt(1000), runAt(5000, { delivered: { ratePerS: 1827 }, latencyMs: { p50: 21348.2, p95: 36783, p99: 38279 }, sustained: false, cpu: { others: 35 } })],
        search: { steps: [runAt(2000, { sustained: false }), runAt(1000)], sustainedRate: 1300 },
      },
      'datasync/rabbitmq': {
        transport: 'rabbitmq',
        fixed: [runAt(1000, { error: 'consumer: ServerUnreachableError: RabbitMQ at 127.0.0.1:5672 | refused\n  at stack' }), runAt(5000, { lost: 3, sustained: false })],
        search: { steps: [runAt(2000, { error: 'setup failed' })], sustainedRate: null },
      },
      'datasync/postgres': { transport: 'postgres', fixed: [runAt(1000)], search: { steps: [runAt(2000, { sustained: false }), runAt(1000, { sustained: false })], sustainedRate: null } },
      baseline: { fixed: [runAt(1000), runAt(5000)], search: null },
    },
  };
  const table = transportTable(input);
  const rows = table.split('\n').filter((line) => line.startsWith('| '));
  const cells = (label: string): string[] => rows.find((row) => row.startsWith(`| ${label} |`))!.slice(2, -2).split(' | ');

  it('has a header of p50/p95/p99 and delivered per fixed rate, then the highest sustained rate', () => {
    expect(rows[0]).toBe(
      '| system | transport | p50 at 1,000/s | p95 at 1,000/s | p99 at 1,000/s | delivered/s at 1,000/s | p50 at 5,000/s | p95 at 5,000/s | p99 at 5,000/s | delivered/s at 5,000/s | highest sustained |',
    );
    expect(rows[1]).toBe('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    expect(rows.map((row) => row.split(' | ')[0])).toEqual(['| system', '| ---', '| datasync/redis-streams', '| datasync/rabbitmq', '| datasync/postgres', '| baseline']);
    expect(table).toContain('Measured 2026-11-25 10:00 UTC with `npm run bench -- --transport all` on 2 × Test CPU, Node v20.20.2, PostgreSQL 15.20, Redis 7.0.15, NATS 2.10.0');
  });

  it('formats latencies as bench/RESULTS.md does and marks a rate that was not sustained', () => {
    expect(cells('datasync/redis-streams')).toEqual(['datasync/redis-streams', 'redis-streams', '11.8', '30.7', '147', '1,000', '21,348', '36,783', '38,279', '1,827 (**not sustained**)', '1,300/s']);
    expect(cells('datasync/rabbitmq')[9]).toBe('5,000 (**not sustained**, 3 lost)');
  });

  it('shows a failed run with the first line of its error, escaped for the table', () => {
    const rabbit = cells('datasync/rabbitmq');
    expect(rabbit.slice(2, 6)).toEqual(['–', '–', '–', 'failed: consumer: ServerUnreachableError: RabbitMQ at 127.0.0.1:5672 \\| refused']);
    expect(rabbit[10]).toBe('failed: setup failed');
  });

  it('says when no rate was sustained, a rate was not run, or there was no search; old files count as redis-streams', () => {
    const postgres = cells('datasync/postgres');
    expect(postgres.slice(6, 10)).toEqual(['–', '–', '–', '–']);
    expect(postgres[10]).toBe('**none found** (from 2,000/s)');
    expect(cells('baseline').slice(1)).toEqual(['redis-streams', '11.8', '30.7', '147', '1,000', '11.8', '30.7', '147', '5,000', 'not searched']);
  });

  it('lists windows another process disturbed', () => {
    expect(table).toContain('Disturbed windows (processes outside the bench took > 20% of a core): datasync/redis-streams at 5,000/s (others 35% of a core).');
  });
});
