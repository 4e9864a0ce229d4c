export {
  createRabbitMqTransport,
  RABBITMQ_CAPABILITIES,
  type RabbitMqTransport,
} from './rabbitmq-transport.js';
export {
  amqpAddressOf,
  DEFAULT_RABBITMQ_CONFIG,
  RABBITMQ_MAX_MESSAGE_SIZE_LIMIT,
  validate,
  withDefaults,
  type RabbitMqConfig,
  type ResolvedRabbitMqConfig,
} from './config.js';
export { deadLetterExchangeOf, deadLetterQueueOf, queueNameOf } from './topology.js';
export { CLOUDEVENTS_CONTENT_TYPE, METADATA_HEADER_PREFIX } from './wire-format.js';
