import { parseArgs } from 'node:util';
import { parseTransportSpec, type TransportName } from '../../src/transports/connect.js';
import { SYSTEM_NAMES, type DatasyncNotify, type SystemName } from './system.js';

/** Every transport the bench can run datasync over, in the order `--transport all` runs them. */
export const BENCH_TRANSPORTS = ['redis-streams', 'nats-jetstream', 'rabbitmq', 'postgres'] as const satisfies readonly TransportName[];

/** Everything a bench run is configured with; echoed into the output JSON. */
export interface BenchConfig {
  readonly systems: readonly SystemName[];
  /** The transports datasync runs over, one measured system each (`datasync/<transport>`). */
  readonly transports: readonly TransportName[];
  /** Fixed offered rates, events/s, each measured for `durationS`. */
  readonly rates: readonly number[];
  readonly durationS: number;
  /** Seconds at the same rate before every measured window (not measured). */
  readonly warmupS: number;
  /** Search for the highest sustained rate. */
  readonly search: boolean;
  readonly searchStartRate: number;
  readonly searchGrowth: number;
  readonly searchStepS: number;
  readonly searchBisectSteps: number;
  readonly searchMaxRate: number;
  /** Instead of searching, take this as the sustained rate (for `--overload` alone). */
  readonly sustainedRate: number | undefined;
  /** Offer `overloadFactor` × the sustained rate for `overloadS`. */
  readonly overload: boolean;
  readonly overloadFactor: number;
  readonly overloadS: number;
  /** A rate is sustained when delivered ≥ this share of offered … */
  readonly minDeliveredRatio: number;
  /** … and p95 latency is below this, and nothing was lost. */
  readonly p95LimitMs: number;
  readonly products: number;
  /** Connections of all producer processes together. */
  readonly producerConnections: number;
  /** Producer processes sharing the schedule. */
  readonly producerProcesses: number;
  /** How long to wait, after the offered-load window, for every sent event to be applied. */
  readonly drainTimeoutS: number;
  /** datasync consumer lanes; default: the runtime's own default. */
  readonly datasyncConcurrency: number | undefined;
  /** Whether datasync's OutboxWriter sends NOTIFY in each owner transaction (its default: yes). */
  readonly datasyncNotify: DatasyncNotify;
  /** datasync relay's fallback poll interval, ms; default: the relay's own default. */
  readonly datasyncRelayPollMs: number | undefined;
  readonly postgresUrl: string;
  readonly redisUrl: string;
  readonly natsUrl: string;
  readonly amqpUrl: string;
  readonly out: string;
  readonly quick: boolean;
  /** Before each run, wait (at most 5 min) until the machine is below this % of one core; undefined: don't wait. */
  readonly waitIdlePct: number | undefined;
}

export const USAGE = `npm run bench -- [options]
  --system datasync|baseline|both   systems to measure (default both)
  --transport redis-streams         transports datasync runs over, comma-separated, or all
                                    (redis-streams,nats-jetstream,rabbitmq,postgres); each is measured
                                    as its own system, datasync/<transport> (default redis-streams)
  --rates 1000,5000                 fixed offered rates, events/s
  --duration 20                     seconds per fixed rate
  --warmup 2                        seconds at the same rate before each measured window
  --search / --no-search            find the highest rate with p95 < 50 ms (default on)
  --search-start 2000               first rate of the search; grows ×1.5 until a rate fails
  --search-step-duration 8          seconds per search step
  --search-bisect 3                 bisection steps between the last pass and the first failure
  --search-max 60000                stop growing at this rate
  --sustained <rate>                skip the search and use this as the sustained rate
  --overload / --no-overload        offer 2× the sustained rate (default on)
  --overload-factor 2  --overload-duration 10
  --products 5000                   distinct product ids
  --producer-connections 24         connections of all producer processes together
  --producer-processes 2            producer processes sharing the schedule (one event loop caps near 4-5k tx/s)
  --drain-timeout 60                seconds to wait for the consumer to catch up after each window
  --datasync-concurrency <n>        datasync consumer concurrency (default: the runtime's)
  --datasync-notify after-commit|in-transaction|off
                                    how the owner wakes the relay (default after-commit, as createProducer does)
  --datasync-relay-poll <ms>        datasync relay fallback poll interval (default: the relay's)
  --pg-url postgres://postgres@127.0.0.1:5432/postgres
  --redis-url redis://127.0.0.1:6379
  --nats-url nats://127.0.0.1:4222  (for --transport nats-jetstream)
  --amqp-url amqp://guest:guest@127.0.0.1:5672
                                    (for --transport rabbitmq; postgres uses --pg-url)
  --quick                           short durations, for a smoke run
  --wait-idle <pct>                 before each run, wait (at most 5 min) until the machine is below pct % of one core
  --out bench/out/<timestamp>.json  where to write the JSON (also printed on stdout)`;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${JSON.stringify(value)}`);
  return n;
}

function notifyMode(value: string | undefined): DatasyncNotify {
  if (value === undefined) return 'after-commit';
  if (value === 'after-commit' || value === 'in-transaction' || value === 'off') return value;
  throw new Error(`--datasync-notify must be after-commit, in-transaction or off, got ${JSON.stringify(value)}`);
}

function loopbackOnly(name: string, url: string): string {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    throw new Error(`--${name} must be a URL, got ${JSON.stringify(url)}`);
  }
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) throw new Error(`--${name}: the bench only talks to 127.0.0.1, got ${host}`);
  return url;
}

/** A loopback URL that `connectTransport` maps to `transport` (so a nats:// URL cannot end up in --amqp-url). */
function brokerUrl(name: string, url: string, transport: TransportName): string {
  loopbackOnly(name, url);
  let selected: TransportName | undefined;
  try {
    selected = parseTransportSpec(url).name;
  } catch {
    selected = undefined;
  }
  if (selected !== transport) throw new Error(`--${name} must be a URL of the ${transport} transport, got ${JSON.stringify(url)}`);
  return url;
}

/**
 * `--transport`: a comma-separated list of {@link BENCH_TRANSPORTS} names, or `all`; repeats
 * are dropped, the order given is the run order. Throws naming the option on anything else.
 */
export function parseTransports(value: string | undefined): TransportName[] {
  if (value === undefined) return ['redis-streams'];
  const names = value.split(',').map((name) => name.trim());
  const expected = `a comma-separated list of ${BENCH_TRANSPORTS.join(', ')}, or all`;
  if (names.length === 1 && names[0] === 'all') return [...BENCH_TRANSPORTS];
  const transports: TransportName[] = [];
  for (const name of names) {
    if (!(BENCH_TRANSPORTS as readonly string[]).includes(name)) throw new Error(`--transport must be ${expected}; got ${JSON.stringify(name)} in ${JSON.stringify(value)}`);
    if (!transports.includes(name as TransportName)) transports.push(name as TransportName);
  }
  return transports;
}

/** Parses the command line; throws with a message naming the option on a bad value. */
export function parseBenchArgs(argv: readonly string[]): BenchConfig | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      system: { type: 'string' },
      rates: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      search: { type: 'boolean' },
      'no-search': { type: 'boolean' },
      'search-start': { type: 'string' },
      'search-step-duration': { type: 'string' },
      'search-bisect': { type: 'string' },
      'search-max': { type: 'string' },
      sustained: { type: 'string' },
      overload: { type: 'boolean' },
      'no-overload': { type: 'boolean' },
      'overload-factor': { type: 'string' },
      'overload-duration': { type: 'string' },
      products: { type: 'string' },
      'producer-connections': { type: 'string' },
      'producer-processes': { type: 'string' },
      'drain-timeout': { type: 'string' },
      'datasync-concurrency': { type: 'string' },
      'datasync-notify': { type: 'string' },
      'datasync-relay-poll': { type: 'string' },
      'pg-url': { type: 'string' },
      'redis-url': { type: 'string' },
      transport: { type: 'string' },
      'nats-url': { type: 'string' },
      'amqp-url': { type: 'string' },
      quick: { type: 'boolean' },
      'wait-idle': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const quick = values.quick ?? false;
  const system = values.system ?? 'both';
  if (system !== 'both' && !SYSTEM_NAMES.includes(system as SystemName)) throw new Error(`--system must be datasync, baseline or both, got ${system}`);
  const systems = system === 'both' ? [...SYSTEM_NAMES] : [system as SystemName];
  const rates = (values.rates ?? '1000,5000').split(',').map((r) => positive('rates', r.trim(), 0));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  return {
    systems,
    transports: parseTransports(values.transport),
    rates,
    durationS: positive('duration', values.duration, quick ? 3 : 20),
    warmupS: values.warmup === '0' ? 0 : positive('warmup', values.warmup, quick ? 1 : 2),
    search: values['no-search'] ? false : (values.search ?? values.sustained === undefined),
    searchStartRate: positive('search-start', values['search-start'], 2_000),
    searchGrowth: 1.5,
    searchStepS: positive('search-step-duration', values['search-step-duration'], quick ? 3 : 8),
    searchBisectSteps: Math.floor(positive('search-bisect', values['search-bisect'], quick ? 1 : 3)),
    searchMaxRate: positive('search-max', values['search-max'], 60_000),
    sustainedRate: values.sustained === undefined ? undefined : positive('sustained', values.sustained, 0),
    overload: values['no-overload'] ? false : (values.overload ?? true),
    overloadFactor: positive('overload-factor', values['overload-factor'], 2),
    overloadS: positive('overload-duration', values['overload-duration'], quick ? 3 : 10),
    minDeliveredRatio: 0.95,
    p95LimitMs: 50,
    products: Math.floor(positive('products', values.products, 5_000)),
    producerConnections: Math.floor(positive('producer-connections', values['producer-connections'], 24)),
    producerProcesses: Math.floor(positive('producer-processes', values['producer-processes'], 2)),
    drainTimeoutS: positive('drain-timeout', values['drain-timeout'], 60),
    datasyncConcurrency: values['datasync-concurrency'] === undefined ? undefined : Math.floor(positive('datasync-concurrency', values['datasync-concurrency'], 1)),
    datasyncNotify: notifyMode(values['datasync-notify']),
    datasyncRelayPollMs: values['datasync-relay-poll'] === undefined ? undefined : Math.floor(positive('datasync-relay-poll', values['datasync-relay-poll'], 1)),
    postgresUrl: loopbackOnly('pg-url', values['pg-url'] ?? 'postgres://postgres@127.0.0.1:5432/postgres'),
    redisUrl: brokerUrl('redis-url', values['redis-url'] ?? 'redis://127.0.0.1:6379', 'redis-streams'),
    natsUrl: brokerUrl('nats-url', values['nats-url'] ?? 'nats://127.0.0.1:4222', 'nats-jetstream'),
    amqpUrl: brokerUrl('amqp-url', values['amqp-url'] ?? 'amqp://guest:guest@127.0.0.1:5672', 'rabbitmq'),
    out: values.out ?? `bench/out/${stamp}.json`,
    quick,
    waitIdlePct: values['wait-idle'] === undefined ? undefined : positive('wait-idle', values['wait-idle'], 30),
  };
}
