import type { CloudEvent, Publisher } from 'datasync';
import { createEnvelope, type Topic } from 'datasync/core';

/**
 * Events the audit puts on the transport itself, as the topic's owner would: the consumer
 * probes (platform/host/module.ts, ConsumeProbe) and their duplicates and broken copies.
 */

/** An envelope for `data` on `topic`, from the topic's owner, keyed and versioned as the owner's would be. */
export function probeEnvelope<T>(topic: Topic<T>, data: T): CloudEvent<T> {
  return createEnvelope({
    topic: topic.name, version: topic.version, source: topic.owner, data,
    partitionKey: topic.partitionKey?.(data), entityVersion: topic.entityVersion?.(data),
  });
}

/**
 * Publishes `event` on its topic. `deduplicate: false`: the duplicate probe sends the same
 * event id again on purpose, which a broker that drops repeats (NATS) must still deliver.
 */
export async function publishProbe(publisher: Publisher, topic: Topic<unknown>, event: CloudEvent): Promise<void> {
  await publisher.publish(topic.name, [event], { deduplicate: false });
}
