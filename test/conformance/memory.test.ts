import { createMemoryTransport, MEMORY_TRANSPORT_CAPABILITIES } from '../../src/transports/memory/index.js';
import { describeTransport } from './transport.js';

// The memory broker has no processing timeout: an unacked delivery goes to another member as
// soon as its subscription ends, so the factory ignores `processingTimeoutMs`. Each `create`
// is its own broker; the suite uses one transport per case, so that is what it needs.
describeTransport({
  name: 'memory',
  create: () => createMemoryTransport(),
  capabilities: { ...MEMORY_TRANSPORT_CAPABILITIES, replaysForNewGroups: true },
  timeoutMs: 3_000,
});
