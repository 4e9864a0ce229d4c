export {
  createPostgresTransport,
  POSTGRES_TRANSPORT_CAPABILITIES,
  type PostgresTransport,
} from './postgres-transport.js';
export {
  DEFAULT_POSTGRES_TRANSPORT_CONFIG,
  validate,
  withDefaults,
  type PostgresTransportConfig,
  type ResolvedPostgresTransportConfig,
} from './config.js';
export { assertTransportMigrated, migrateTransport, TRANSPORT_MIGRATIONS, TRANSPORT_TABLES } from './migrations.js';
export { transportChannel } from './statements.js';
