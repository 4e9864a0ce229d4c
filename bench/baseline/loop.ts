import type { Stoppable } from '../harness/system.js';

/**
 * Runs `step` over and over until closed. A failing step ends the loop and is raised as an
 * uncaught error, so the child process reports it to the bench. `close()` stops the loop,
 * waits for the step in progress, then runs `release`.
 */
export function runUntilClosed(step: () => Promise<void>, release: () => Promise<void>): Stoppable {
  let stopped = false;
  const loop = (async () => {
    while (!stopped) await step();
  })();
  loop.catch((error: unknown) => {
    if (!stopped) queueMicrotask(() => { throw error; });
  });
  let closing: Promise<void> | undefined;
  return {
    close: () =>
      (closing ??= (async () => {
        stopped = true;
        await loop.catch(() => undefined);
        await release();
      })()),
  };
}
