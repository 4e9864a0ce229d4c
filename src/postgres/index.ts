export * from './sql.js';
export * from './pool.js';
export * from './migrations.js';
export * from './outbox-writer.js';
export * from './processed-events.js';
export * from './dead-letter-store.js';
export * from './relay.js';
export * from './outbox-admin.js';
