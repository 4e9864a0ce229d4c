import type { Middleware } from '../pipeline.js';
import type { GroupCommitter } from '../group-commit.js';

/** Runs the rest of the pipeline inside a consumer transaction (shared with other events by group commit). */
export function inConsumerTransaction(committer: GroupCommitter): Middleware {
  return (next) => (message) => committer.run((tx) => next({ ...message, tx }));
}
