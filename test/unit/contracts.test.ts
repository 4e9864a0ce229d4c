import { describe, expect, it } from 'vitest';
import { ContractRegistry, defineTopic } from '../../src/core/contracts.js';
import { ConfigurationError, PublisherForbiddenError, SchemaValidationError, UnknownTopicError } from '../../src/core/errors.js';

interface Product { id: string; name: string; price: number }
const productUpdated = defineTopic<Product>({
  name: 'catalog.product.updated', version: 1, owner: 'catalog', subscribers: ['search'],
  schema: { type: 'object', required: ['id', 'name', 'price'], properties: { id: { type: 'string' }, name: { type: 'string', 'x-pii': false }, price: { type: 'number', minimum: 0 } }, additionalProperties: false },
  partitionKey: (p) => p.id,
});

describe('contracts', () => {
  it('validates data and names every failing field', () => {
    expect(() => productUpdated.validate({ id: 'p', name: 'Kettle', price: 3 })).not.toThrow();
    let caught: unknown;
    try { productUpdated.validate({ id: 1, price: -1 }); } catch (error) { caught = error; }
    expect(caught).toBeInstanceOf(SchemaValidationError);
    const violations = (caught as SchemaValidationError).violations.map((v) => v.path).sort();
    expect(violations).toEqual(['/id', '/name', '/price']);
    expect((caught as SchemaValidationError).permanent).toBe(true);
  });

  it('derives the envelope type and default publishers', () => {
    expect(productUpdated.type).toBe('catalog.product.updated.v1');
    expect(productUpdated.publishers).toEqual(['catalog']);
  });

  it('rejects bad declarations with the field named', () => {
    expect(() => defineTopic({ name: 'Product.Updated', version: 1, owner: 'c', subscribers: [], schema: {} })).toThrow(ConfigurationError);
    expect(() => defineTopic({ name: 'a.b.c', version: 0, owner: 'c', subscribers: [], schema: {} })).toThrow(/version/);
    expect(() => defineTopic({ name: 'a.b.c', version: 1, owner: 'c', subscribers: [], schema: { type: 'nope' } })).toThrow(/schema/);
  });

  it('looks topics up and checks publishers', () => {
    const registry = new ContractRegistry([productUpdated]);
    expect(registry.get('catalog.product.updated')).toBe(productUpdated);
    expect(() => registry.get('product.updated')).toThrow(UnknownTopicError);
    expect(() => registry.assertPublisher(productUpdated, 'pricing')).toThrow(PublisherForbiddenError);
    expect(() => registry.add(productUpdated)).toThrow(/declared twice/);
  });
});
