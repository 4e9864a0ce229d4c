import type { Redis } from 'ioredis';

/**
 * Most entries the fallback count walks (see {@link readGroupLag}); a larger backlog reads as this
 * many. It bounds the work one metrics scrape can cause in Redis.
 */
export const LAG_COUNT_LIMIT = 10_000;

/** One group of an `XINFO GROUPS` reply, the fields the lag needs. */
interface GroupInfo {
  readonly pending: number;
  readonly lastDeliveredId: string;
  /** Redis's own count of entries not yet delivered; null when it cannot tell, absent before Redis 7. */
  readonly lag: number | null;
}

/**
 * Counts the entries after `ARGV[1]` (exclusive), at most `ARGV[2]`, in pages of 100 so that
 * Redis never holds more than one page of entries in the script.
 */
const COUNT_AFTER_SCRIPT = `
local count, from, limit = 0, '(' .. ARGV[1], tonumber(ARGV[2])
while count < limit do
  local page = redis.call('XRANGE', KEYS[1], from, '+', 'COUNT', math.min(100, limit - count))
  if #page == 0 then break end
  count = count + #page
  from = '(' .. page[#page][1]
end
return count`;

/**
 * The group's lag as `Transport.lag` defines it: entries not yet delivered to the group plus its
 * pending entries (delivered, not acked). One `XINFO GROUPS <topic>`: Redis 7's `lag` field plus
 * `pending`. When Redis cannot compute `lag` (entries deleted with `XDEL` after the group's
 * last-delivered id, a group moved with `XGROUP SETID`, or Redis before 7), a second command
 * counts the entries after the last-delivered id, up to {@link LAG_COUNT_LIMIT}. Undefined when
 * the stream or the group does not exist.
 */
export async function readGroupLag(redis: Redis, topic: string, group: string): Promise<number | undefined> {
  let reply: unknown;
  try {
    reply = await redis.call('XINFO', ['GROUPS', topic]);
  } catch (error) {
    if (error instanceof Error && /no such key/i.test(error.message)) return undefined;
    throw error;
  }
  const info = groupInfoOf(reply, group);
  if (!info) return undefined;
  const undelivered = info.lag ?? Number(await redis.call('EVAL', [COUNT_AFTER_SCRIPT, 1, topic, info.lastDeliveredId, LAG_COUNT_LIMIT]));
  return undelivered + info.pending;
}

/** The entry of `group` in an `XINFO GROUPS` reply (a list of flat field/value lists). */
function groupInfoOf(reply: unknown, group: string): GroupInfo | undefined {
  if (!Array.isArray(reply)) return undefined;
  for (const item of reply) {
    if (!Array.isArray(item)) continue;
    const fields = new Map<string, unknown>();
    for (let i = 0; i + 1 < item.length; i += 2) fields.set(String(item[i]), item[i + 1]);
    if (fields.get('name') !== group) continue;
    const lag = fields.get('lag');
    const lastDeliveredId = fields.get('last-delivered-id');
    return {
      pending: Number(fields.get('pending') ?? 0),
      lastDeliveredId: typeof lastDeliveredId === 'string' ? lastDeliveredId : '0-0',
      lag: typeof lag === 'number' ? lag : null,
    };
  }
  return undefined;
}
