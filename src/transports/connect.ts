import { ConfigurationError, SyncError } from '../core/errors.js';
import type { Transport } from './transport.js';

/** The transport names a {@link TransportSpec} can select. */
export const TRANSPORT_NAMES = ['postgres', 'redis-streams', 'nats-jetstream', 'rabbitmq'] as const;
export type TransportName = (typeof TRANSPORT_NAMES)[number];

/**
 * `DATASYNC_TRANSPORT` (DESIGN.md section 4): `redis://…` or `rediss://…` (Redis Streams),
 * `nats://…` or `tls://…` (NATS JetStream), `amqp://…` or `amqps://…` (RabbitMQ), `postgres` (the PostgreSQL
 * transport on the service's own database) or a `postgres://…` URL of another database.
 */
export type TransportSpec = string;

/** Options every transport understands, passed on by {@link connectTransport}. */
export interface ConnectTransportOptions {
  /** The database for the spec `postgres`; default `DATABASE_URL`. */
  readonly databaseUrl?: string;
  /** Unacked deliveries of a member that stopped go to another after this long; default the transport's. */
  readonly processingTimeoutMs?: number;
}

/** Which transport a spec selects, and the address it names; throws naming the value when it selects none. */
export function parseTransportSpec(spec: TransportSpec, databaseUrl?: string): { name: TransportName; url: string | undefined } {
  const value = spec.trim();
  if (value === 'postgres') return { name: 'postgres', url: databaseUrl };
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    protocol = '';
  }
  switch (protocol) {
    case 'redis:':
    case 'rediss:':
      return { name: 'redis-streams', url: value };
    case 'nats:':
    case 'tls:': // NATS over TLS, as the NATS client spells it
      return { name: 'nats-jetstream', url: value };
    case 'amqp:':
    case 'amqps:':
      return { name: 'rabbitmq', url: value };
    case 'postgres:':
    case 'postgresql:':
      return { name: 'postgres', url: value };
    default:
      throw new ConfigurationError('DATASYNC_TRANSPORT', spec, 'postgres, or a redis://, nats:// (tls://), amqp:// or postgres:// URL');
  }
}

/** The optional peer packages each transport's driver needs. */
const DRIVERS: Record<TransportName, readonly string[]> = {
  postgres: [],
  'redis-streams': ['ioredis'],
  'nats-jetstream': ['@nats-io/transport-node', '@nats-io/jetstream'],
  rabbitmq: ['amqplib'],
};

/**
 * Connects the transport a spec selects (default `DATASYNC_TRANSPORT`, else `postgres`). The
 * transport's module is imported only now, so only the chosen broker's driver must be
 * installed; a missing one is reported with the `npm install` line that adds it.
 */
export async function connectTransport(spec: TransportSpec = process.env.DATASYNC_TRANSPORT ?? 'postgres', options: ConnectTransportOptions = {}): Promise<Transport> {
  const { name, url } = parseTransportSpec(spec, options.databaseUrl ?? process.env.DATABASE_URL);
  const { processingTimeoutMs } = options;
  try {
    switch (name) {
      case 'postgres': {
        const { createPostgresTransport } = await import('./postgres/index.js');
        return await createPostgresTransport({ connectionString: url, processingTimeoutMs });
      }
      case 'redis-streams': {
        const { createRedisStreamsTransport } = await import('./redis-streams/index.js');
        return await createRedisStreamsTransport({ url, processingTimeoutMs });
      }
      case 'nats-jetstream': {
        const { createNatsJetStreamTransport } = await import('./nats-jetstream/index.js');
        return await createNatsJetStreamTransport({ url, processingTimeoutMs });
      }
      case 'rabbitmq': {
        const { createRabbitMqTransport } = await import('./rabbitmq/index.js');
        return await createRabbitMqTransport({ url });
      }
    }
  } catch (error) {
    const missing = DRIVERS[name].find((pkg) => isMissingModule(error, pkg));
    if (missing === undefined) throw error;
    throw new SyncError(
      'CONFIGURATION_INVALID',
      `the ${name} transport needs the optional package ${missing}: npm install ${DRIVERS[name].join(' ')}`,
      { cause: error, permanent: true },
    );
  }
}

function isMissingModule(error: unknown, pkg: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && error instanceof Error && error.message.includes(`'${pkg}'`);
}
