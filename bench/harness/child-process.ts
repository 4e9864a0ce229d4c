import type { ChildMessage, ParentMessage } from './messages.js';

/** Sends a message to the bench parent. */
export function sendToParent(message: ChildMessage): void {
  process.send?.(message);
}

/** Reports `error` to the parent and exits the child. */
export function failChild(error: unknown): void {
  const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
  sendToParent({ type: 'error', message });
  setTimeout(() => process.exit(1), 200).unref();
}

/**
 * The main loop of a bench child: hands each parent message to `handle` in turn,
 * reports any failure to the parent and exits, and exits when the parent goes away
 * (so a killed bench never leaves load generators behind).
 */
export function serveParent(handle: (message: ParentMessage) => Promise<void>): void {
  const fail = failChild;
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  process.on('disconnect', () => process.exit(1));
  let queue = Promise.resolve();
  process.on('message', (raw) => {
    queue = queue.then(() => handle(raw as ParentMessage)).catch(fail);
  });
}

/** The value of `SHOW synchronous_commit` on `db`. */
export async function showSynchronousCommit(db: { query(sql: string): Promise<{ rows: unknown[] }> }): Promise<string> {
  const { rows } = await db.query('SHOW synchronous_commit');
  return String((rows[0] as { synchronous_commit: string }).synchronous_commit);
}
