import type { Middleware } from '../pipeline.js';
import { MalformedEnvelopeError } from '../../core/errors.js';
import { topicOf } from '../../core/envelope.js';

/**
 * Rejects a delivery whose body is not a CloudEvents envelope of the subscribed topic
 * (bad JSON, no `data`, missing attributes). The error is permanent: dead-lettered at once.
 */
export const envelopeCheck: Middleware = (next) => async (message) => {
  if (message.parseError) throw message.parseError;
  const event = message.event;
  if (!event) throw new MalformedEnvelopeError('the message carried no envelope');
  const topic = topicOf(event);
  if (topic !== message.subscription.topic.name) {
    throw new MalformedEnvelopeError(`the envelope says topic ${JSON.stringify(topic)} but arrived on ${message.subscription.topic.name}`);
  }
  return next(message);
};
