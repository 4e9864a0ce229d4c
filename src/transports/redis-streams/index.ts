export {
  createRedisStreamsTransport,
  REDIS_STREAMS_CAPABILITIES,
  type RedisStreamsTransport,
} from './redis-streams-transport.js';
export {
  DEFAULT_REDIS_STREAMS_CONFIG,
  redisAddressOf,
  validate,
  withDefaults,
  type RedisStreamsConfig,
  type ResolvedRedisStreamsConfig,
} from './config.js';
