/**
 * The deadline of a transport factory's start-up check: a signal that aborts after `timeoutMs`
 * with the error `no answer within <timeoutMs> ms`. Race each start-up step against it with
 * `untilAborted` (src/core/abort.ts), wrap what rejects in `ServerUnreachableError`, and close
 * whatever the step opens after the deadline. One signal serves every step of one start-up, so
 * together they take at most `timeoutMs`.
 */
export function connectTimeoutSignal(timeoutMs: number): AbortSignal {
  const controller = new AbortController();
  // Like AbortSignal.timeout: the timer does not keep the process alive.
  setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs).unref();
  return controller.signal;
}
