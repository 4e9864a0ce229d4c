export {
  createNatsJetStreamTransport,
  NATS_JETSTREAM_CAPABILITIES,
  type NatsJetStreamTransport,
} from './nats-jetstream-transport.js';
export {
  DEFAULT_NATS_JETSTREAM_CONFIG,
  natsAddressOf,
  validate,
  withDefaults,
  type NatsJetStreamConfig,
  type ResolvedNatsJetStreamConfig,
} from './config.js';
export { consumerNameFor, streamNameFor, streamSubjectFor } from './naming.js';
export { METADATA_HEADER } from './message-headers.js';
