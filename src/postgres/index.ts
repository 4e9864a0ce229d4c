export * from './sql.js';
export * from './pool.js';
export * from './migrations.js';
export * from './outbox-writer.js';
