import type { CloudEvent } from '../core/envelope.js';
import { PayloadTooLargeError } from '../core/errors.js';

/**
 * The largest event datasync's own transports accept where the broker sets no lower limit
 * (memory, Redis Streams, PostgreSQL): 16 MiB. Events that big already slow every broker;
 * send an id or a link instead.
 */
export const DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024;

/**
 * The JSON text of each event, checked against `maxPayloadBytes` before any is sent, so a
 * publish call either goes out whole or is refused with {@link PayloadTooLargeError}.
 * `encode` lets a transport add fields it stamps on the wire (Redis: `topic`, `pubsubname`).
 */
export function encodeEvents(
  transport: string,
  topic: string,
  events: readonly CloudEvent[],
  maxPayloadBytes: number,
  encode: (event: CloudEvent) => string = (event) => JSON.stringify(event),
): string[] {
  return events.map((event) => {
    const body = encode(event);
    // A UTF-8 byte count needs a scan; a string whose length times 3 fits cannot be too large.
    if (body.length * 3 > maxPayloadBytes) {
      const bytes = Buffer.byteLength(body);
      if (bytes > maxPayloadBytes) throw new PayloadTooLargeError(transport, topic, event.id, bytes, maxPayloadBytes);
    }
    return body;
  });
}
