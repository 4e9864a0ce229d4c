import { describe, expect, it } from 'vitest';
import { SyncError } from '../../src/core/errors.js';
import { connectTransport, parseTransportSpec } from '../../src/transports/connect.js';

describe('DATASYNC_TRANSPORT specs', () => {
  it('selects each transport by its scheme, and postgres by name on the database URL', () => {
    expect(parseTransportSpec('redis://127.0.0.1:6379')).toEqual({ name: 'redis-streams', url: 'redis://127.0.0.1:6379' });
    expect(parseTransportSpec('rediss://cache.example:6380')).toEqual({ name: 'redis-streams', url: 'rediss://cache.example:6380' });
    expect(parseTransportSpec('nats://127.0.0.1:4222')).toEqual({ name: 'nats-jetstream', url: 'nats://127.0.0.1:4222' });
    expect(parseTransportSpec('tls://nats.example:4222')).toEqual({ name: 'nats-jetstream', url: 'tls://nats.example:4222' });
    expect(parseTransportSpec('amqp://guest:guest@127.0.0.1:5672')).toMatchObject({ name: 'rabbitmq' });
    expect(parseTransportSpec('amqps://broker.example')).toMatchObject({ name: 'rabbitmq' });
    expect(parseTransportSpec('postgres', 'postgres://postgres@127.0.0.1:5432/app')).toEqual({ name: 'postgres', url: 'postgres://postgres@127.0.0.1:5432/app' });
    expect(parseTransportSpec(' postgres ')).toEqual({ name: 'postgres', url: undefined });
    expect(parseTransportSpec('postgresql://db.example/app')).toEqual({ name: 'postgres', url: 'postgresql://db.example/app' });
  });

  it('refuses anything else, naming DATASYNC_TRANSPORT, the value and what it accepts, before connecting', async () => {
    for (const spec of ['kafka://127.0.0.1:9092', 'memory', '', 'redis']) {
      expect(() => parseTransportSpec(spec), spec).toThrow(/DATASYNC_TRANSPORT: .* is not valid; expected postgres, or a redis:\/\/, nats:\/\/ \(tls:\/\/\), amqp:\/\/ or postgres:\/\/ URL/);
    }
    const refused = await connectTransport('mqtt://127.0.0.1:1883').catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(SyncError);
    expect(refused).toMatchObject({ code: 'CONFIGURATION_INVALID', field: 'DATASYNC_TRANSPORT' });
  });
});
