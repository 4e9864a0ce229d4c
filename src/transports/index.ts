/**
 * Choosing a transport at run time, and what every transport shares. Each transport has its own
 * entry point too (`datasync/transports/<name>`), so only the chosen broker's driver is loaded.
 */
export { connectTransport, parseTransportSpec, TRANSPORT_NAMES, type ConnectTransportOptions, type TransportName, type TransportSpec } from './connect.js';
export { DEFAULT_MAX_PAYLOAD_BYTES, encodeEvents } from './payload.js';
export type * from './transport.js';
