import { headers, Match, type MsgHdrs } from '@nats-io/transport-node';
import { metadataFromJson } from '../metadata-map.js';

/** The NATS header that carries the publish call's metadata map, as one JSON object. */
export const METADATA_HEADER = 'datasync-metadata';
/** JetStream's de-duplication header; datasync sets it to the CloudEvent `id`. */
export const MSG_ID_HEADER = 'Nats-Msg-Id';

/**
 * The metadata map as a header value: JSON with every non-ASCII character escaped (`\uXXXX`),
 * so the value is plain ASCII and cannot hold a line break. `undefined` for no metadata.
 */
export function metadataHeaderValue(metadata: Readonly<Record<string, string>> | undefined): string | undefined {
  if (metadata === undefined) return undefined;
  return JSON.stringify(metadata).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The headers of one message: `Nats-Msg-Id` is added by the client from the publish option `msgID`. */
export function messageHeaders(metadataValue: string | undefined): MsgHdrs | undefined {
  if (metadataValue === undefined) return undefined;
  const hdrs = headers();
  hdrs.set(METADATA_HEADER, metadataValue);
  return hdrs;
}

/**
 * Bytes of the header block the server counts against `max_payload`
 * (`NATS/1.0\r\n` + `Key: value\r\n` per header + `\r\n`), for the message id and metadata.
 */
export function headerBytes(eventId: string, metadataValue: string | undefined): number {
  const line = (key: string, value: string): number => key.length + 2 + Buffer.byteLength(value) + 2;
  return 'NATS/1.0\r\n'.length + line(MSG_ID_HEADER, eventId) + (metadataValue === undefined ? 0 : line(METADATA_HEADER, metadataValue)) + 2;
}

/** The metadata map of a received message: absent or not a JSON object gives `{}`; non-string values as JSON. */
export function metadataOf(hdrs: MsgHdrs | undefined): Readonly<Record<string, string>> {
  return metadataFromJson(hdrs?.get(METADATA_HEADER, Match.IgnoreCase));
}
