/**
 * The transport room's public surface: the seam types, the TCP transport, the utility client and
 * helpers. A barrel only: it must never hold code of its own.
 */
export * from './address.js';
export { Connection, type ConnectionPhase, type ConnectionRole } from './connection.js';
export * from './dns.js';
export * from './options.js';
export * from './tcp-transport.js';
export * from './types.js';
export * from './utility.js';
export * from './utility-client.js';
