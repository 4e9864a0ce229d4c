import type { Middleware } from '../pipeline.js';

/** Validates the event data against its topic's JSON Schema; a mismatch is permanent (dead letter, no retry). */
export const validateSchema: Middleware = (next) => async (message) => {
  message.subscription.topic.validate(message.event!.data);
  return next(message);
};
