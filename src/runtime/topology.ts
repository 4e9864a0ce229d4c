import type { Transport } from '../transports/transport.js';

/**
 * Makes every subscriber group of every topic exist on the broker, for transports whose groups
 * get only what is published after they exist (those with `declareGroup`: RabbitMQ). Run it at
 * deploy or start-up time, before any producer or relay publishes; on other transports it does
 * nothing. Accepts the topics of a contract registry (`registry.list()`) or any list of
 * `{ name, subscribers }`.
 */
export async function declareSubscriberGroups(
  transport: Pick<Transport, 'declareGroup'>,
  topics: Iterable<{ readonly name: string; readonly subscribers: readonly string[] }>,
): Promise<void> {
  if (!transport.declareGroup) return;
  for (const topic of topics) {
    for (const group of topic.subscribers) await transport.declareGroup(topic.name, group);
  }
}
