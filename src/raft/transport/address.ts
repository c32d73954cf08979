/**
 * Node addresses as pysyncobj treats them: the identity is the configured `host:port` string, split
 * at its last `:` (Python's `rsplit(':', 1)`), compared by code points (Python `str` order), never
 * normalised. Also the listen address pysyncobj derives when no bind address is configured.
 *
 * This module must never do I/O (no DNS here) nor rewrite an address used as an identity.
 */
import { isIP } from 'node:net';
import { RaftdcsError } from '../../errors.js';
import { pyStrCompare } from '../../py/compare.js';

export interface HostPort {
  /** the host as written, IPv6 brackets removed (`[::1]` → `::1`) */
  host: string;
  port: number;
}

/** An address that is not `host:port` (code `INVALID_ADDRESS`; the message says what is wrong). */
export class AddressError extends RaftdcsError<'INVALID_ADDRESS'> {
  override readonly name = 'AddressError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('INVALID_ADDRESS', message, options);
  }
}

/** `host:port` → parts, as pysyncobj's `rsplit(':', 1)` + `int(port)` (port must be 0…65535 digits). */
export function splitHostPort(address: string): HostPort {
  const cut = address.lastIndexOf(':');
  if (cut < 0) throw new AddressError(`expected 'host:port', got ${JSON.stringify(address)} (no ':')`);
  let host = address.slice(0, cut);
  const portText = address.slice(cut + 1);
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) > 65535) {
    throw new AddressError(`expected a port number 0…65535 after the last ':' in ${JSON.stringify(address)}`);
  }
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host === '') throw new AddressError(`empty host in ${JSON.stringify(address)}`);
  return { host, port: Number(portText) };
}

/** Python's `str` comparison of two addresses: by Unicode code points (see src/py/compare.ts). */
export const compareAddresses: (a: string, b: string) => number = pyStrCompare;

/** pysyncobj's connection rule: a full node connects to a peer iff its own address is greater. */
export function shouldConnect(selfAddress: string | null, peerAddress: string): boolean {
  return selfAddress === null || compareAddresses(selfAddress, peerAddress) > 0;
}

/**
 * Where to listen: `bindAddress` if given, else `<default host>:<self port>` where the default host
 * is `defaultBindHost` or pysyncobj's `0.0.0.0` (`::` when the self host contains ':').
 */
export function listenAddress(
  selfAddress: string,
  bindAddress: string | null,
  defaultBindHost: string | null,
): HostPort {
  if (bindAddress !== null) return splitHostPort(bindAddress);
  const self = splitHostPort(selfAddress);
  const host = defaultBindHost ?? (self.host.includes(':') ? '::' : '0.0.0.0');
  return { host: host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host, port: self.port };
}

/** Is this host an IP literal (no DNS needed)? */
export function isIpLiteral(host: string): boolean {
  return isIP(host) !== 0;
}
