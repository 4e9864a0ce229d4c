/**
 * The one clock every bench process reads, so that a time stamped in the producer
 * and one stamped in the consumer can be subtracted.
 *
 * `performance.timeOrigin` is taken per process and two Node processes on the same
 * machine disagree by up to ~1 ms, which is a fifth of a 5 ms latency. So the parent
 * fixes an anchor once (its `performance.timeOrigin + performance.now()` minus the
 * monotonic clock) and hands it to every child in `DATASYNC_BENCH_CLOCK_ANCHOR`; each
 * process then reads `anchor + CLOCK_MONOTONIC`, which the kernel keeps common to all
 * processes. Values are epoch milliseconds with fractions.
 */
export const CLOCK_ANCHOR_ENV = 'DATASYNC_BENCH_CLOCK_ANCHOR';

function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

function readAnchor(): number {
  const fromParent = Number(process.env[CLOCK_ANCHOR_ENV]);
  if (Number.isFinite(fromParent) && fromParent > 0) return fromParent;
  return performance.timeOrigin + performance.now() - monotonicMs();
}

const anchor = readAnchor();

/** Epoch milliseconds (with fractions) on the clock shared by every bench process. */
export function benchNowMs(): number {
  return anchor + monotonicMs();
}

/** The anchor to pass to child processes in {@link CLOCK_ANCHOR_ENV}. */
export function clockAnchor(): string {
  return String(anchor);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Rejects with a message naming `what` if `promise` has not settled within `ms`. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${Math.round(ms / 1000)} s`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
