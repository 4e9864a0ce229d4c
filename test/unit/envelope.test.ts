import { describe, expect, it } from 'vitest';
import { createEnvelope, parseEnvelope, orderingKeyOf, topicOf, versionOf, deadLetterTopic } from '../../src/core/envelope.js';
import { MalformedEnvelopeError } from '../../src/core/errors.js';

describe('envelope', () => {
  it('creates a CloudEvents 1.0 envelope with the Dapr fields', () => {
    const event = createEnvelope({ topic: 'catalog.product.updated', version: 1, source: 'catalog', data: { id: 'p1' }, partitionKey: 'p1', entityVersion: 3, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    expect(event).toMatchObject({
      specversion: '1.0', type: 'catalog.product.updated.v1', source: 'catalog', datacontenttype: 'application/json',
      topic: 'catalog.product.updated', pubsubname: 'datasync', partitionkey: 'p1', entityversion: 3,
      traceid: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    });
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.correlationid).toBe(event.id);
    expect(event.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(JSON.stringify(event)).not.toContain('undefined');
  });

  it('round-trips through JSON', () => {
    const event = createEnvelope({ topic: 'a.b.c', version: 2, source: 's', data: { n: 1 } });
    expect(parseEnvelope(JSON.stringify(event))).toEqual(event);
    expect(topicOf(event)).toBe('a.b.c');
    expect(versionOf(event)).toBe(2);
  });

  it('accepts what a Dapr sidecar writes: data_base64, data as a JSON string, empty trace fields', () => {
    const dapr = { id: 'd1', source: 'go-svc', type: 'com.dapr.event.sent', specversion: '1.0', datacontenttype: 'application/json', topic: 'x.y.z', pubsubname: 'pubsub', traceid: '', traceparent: '', tracestate: '' };
    const b64 = parseEnvelope(JSON.stringify({ ...dapr, data_base64: Buffer.from('{"a":1}').toString('base64') }));
    expect(b64.data).toEqual({ a: 1 });
    expect(b64).not.toHaveProperty('traceparent');
    expect(parseEnvelope(JSON.stringify({ ...dapr, data: '{"a":2}' })).data).toEqual({ a: 2 });
    expect(topicOf(parseEnvelope(JSON.stringify({ ...dapr, data: {} })))).toBe('x.y.z');
  });

  it.each([
    ['no data field at all', undefined, /no data field/],
    ['not JSON', '{nope', /not JSON/],
    ['an array', '[]', /not a JSON object/],
    ['no id', JSON.stringify({ source: 's', type: 't', specversion: '1.0', data: {} }), /no id attribute/],
    ['no data', JSON.stringify({ id: '1', source: 's', type: 't', specversion: '1.0' }), /has no data/],
    ['wrong specversion', JSON.stringify({ id: '1', source: 's', type: 't', specversion: '0.3', data: {} }), /specversion/],
    ['non-integer entityversion', JSON.stringify({ id: '1', source: 's', type: 't', specversion: '1.0', data: {}, entityversion: 'x' }), /entityversion/],
  ])('rejects %s as malformed (permanent)', (_name, body, message) => {
    let caught: unknown;
    try { parseEnvelope(body); } catch (error) { caught = error; }
    expect(caught).toBeInstanceOf(MalformedEnvelopeError);
    expect((caught as MalformedEnvelopeError).permanent).toBe(true);
    expect((caught as Error).message).toMatch(message);
  });

  it('orders by partition key, then subject, then not at all', () => {
    const base = createEnvelope({ topic: 'a.b.c', version: 1, source: 's', data: {} });
    expect(orderingKeyOf({ ...base, partitionkey: 'k', subject: 's' })).toBe('k');
    expect(orderingKeyOf({ ...base, subject: 's' })).toBe('s');
    expect(orderingKeyOf(base)).toBe(base.id);
    expect(deadLetterTopic('a.b.c')).toBe('a.b.c.dlq');
  });
});
