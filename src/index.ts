/**
 * datasync: transactional outbox, snapshot-safe relay, idempotent ordered consumers.
 * Transports with optional drivers have their own entry points
 * (`datasync/transports/redis-streams`, `datasync/transports/memory`).
 */
export * from './core/index.js';
export * from './runtime/index.js';
export * from './postgres/index.js';
export * from './resilience/index.js';
export type * from './transports/transport.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, encodeEvents } from './transports/payload.js';
