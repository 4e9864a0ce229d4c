export {
  createMemoryTransport,
  DEFAULT_MEMORY_TRANSPORT_CONFIG,
  MEMORY_TRANSPORT_CAPABILITIES,
  type MemoryEntry,
  type MemoryTransport,
  type MemoryTransportConfig,
} from './memory-transport.js';
