import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { MEMORY_TRANSPORT_CAPABILITIES } from '../../src/transports/memory/index.js';
import { NATS_JETSTREAM_CAPABILITIES } from '../../src/transports/nats-jetstream/index.js';
import { POSTGRES_TRANSPORT_CAPABILITIES } from '../../src/transports/postgres/index.js';
import { RABBITMQ_CAPABILITIES } from '../../src/transports/rabbitmq/index.js';
import { REDIS_STREAMS_CAPABILITIES } from '../../src/transports/redis-streams/index.js';
import type { TransportCapabilities } from '../../src/transports/transport.js';

/** Every transport folder's README has a capability table; it must state exactly the exported flags. */
const TRANSPORTS: Record<string, TransportCapabilities> = {
  memory: MEMORY_TRANSPORT_CAPABILITIES,
  'redis-streams': REDIS_STREAMS_CAPABILITIES,
  'nats-jetstream': NATS_JETSTREAM_CAPABILITIES,
  postgres: POSTGRES_TRANSPORT_CAPABILITIES,
  rabbitmq: RABBITMQ_CAPABILITIES,
};

const FLAGS = ['consumerGroups', 'orderedPerKey', 'persistent', 'redeliversOnNack', 'delayedRedelivery', 'maxPayloadBytes'] as const;

/** The `## Capabilities` table's `| capability | \`flag\` | value | notes |` rows → flag → value. */
function documentedCapabilities(readme: string): Record<string, boolean | number> {
  const section = /^## Capabilities\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(readme)?.[1] ?? '';
  const table: Record<string, boolean | number> = {};
  for (const match of section.matchAll(/^\| [^|]+ \| `(\w+)` \| ([^|]+?) \|/gm)) {
    const [, flag, value] = match as unknown as [string, string, string];
    table[flag] = value === 'yes' ? true : value === 'no' ? false : Number(value);
  }
  return table;
}

describe('transport READMEs', () => {
  for (const [name, capabilities] of Object.entries(TRANSPORTS)) {
    it(`src/transports/${name}/README.md states the flags of the ${name} transport`, () => {
      const readme = readFileSync(new URL(`../../src/transports/${name}/README.md`, import.meta.url), 'utf8');
      const documented = documentedCapabilities(readme);
      expect(Object.keys(documented).sort()).toEqual([...FLAGS].sort());
      expect(documented).toEqual(Object.fromEntries(FLAGS.map((flag) => [flag, capabilities[flag]])));
    });
  }
});
