/**
 * Configuration of the TCP transport: the options a caller passes, their defaults (pysyncobj's
 * where pysyncobj has one), the logger interface (pino-compatible) and the resolution of the
 * options into the fully-specified settings the transport works with.
 *
 * This module must never do I/O or hold mutable state.
 */
import { type Logger, silentLogger } from '../../logger.js';
import type { Fernet, SecondsClock } from '../../wire/fernet.js';
import { DEFAULT_MAX_FRAME_BYTES, type RandomSource } from '../../wire/frame.js';
import type { PyValue } from '../../wire/value.js';
import { RAFTDCS_UTILITY_COMMANDS } from '../snapshot/utility-protocol.js';
import type { AddressFamilyPreference, HostResolver } from './dns.js';

/**
 * The utility commands pysyncobj (status, add, remove, set_version) and Patroni (members) register,
 * raftdcs's backup commands (snapshot, snapshot_chunk, compact) and its leadership transfer
 * (transfer, `TRANSFER_COMMAND` in ../utility-commands.ts). A node that does not register a command
 * answers it with `unknown command '…'`.
 */
export const DEFAULT_UTILITY_COMMANDS: readonly string[] = Object.freeze([
  'status',
  'add',
  'remove',
  'set_version',
  'members',
  ...RAFTDCS_UTILITY_COMMANDS,
  'transfer',
]);

export interface TcpTransportOptions {
  /** own `host:port` (Patroni `self_addr`); null for a read-only transport (connects to all, never listens) */
  selfAddress: string | null;
  /** Patroni `bind_addr`: `host:port` to listen on; default `<defaultBindHost>:<self port>` */
  bindAddress?: string | null;
  /**
   * The host to listen on when bindAddress is not set. Default: pysyncobj's choice, `0.0.0.0`, or `::`
   * when the self host contains `:`. Pass e.g. `127.0.0.1` to avoid listening on every interface.
   */
  defaultBindHost?: string | null;
  /** Patroni `raft.password`: Fernet on every frame plus the random-key exchange (docs/protocol.md §4) */
  password?: string | null;
  /** an already derived cipher (instead of `password`, e.g. shared between transport and utility) */
  fernet?: Fernet | null;

  /** a connection silent for this long is dead (TS peers) / a handshake must finish within it; default 3500 */
  connectionTimeoutMs?: number;
  /** at most one outgoing connect attempt per peer per this period; default 5000 */
  connectionRetryTimeMs?: number;
  /** send `{'type': 'raftdcs_ping'}` when nothing was sent for this long; 0 disables; default connectionTimeoutMs / 3 */
  keepalivePingIntervalMs?: number;
  /** TCP keepalive initial delay (the OS's interval/probe count apply); default 16000 (as pysyncobj 0.3.14) */
  tcpKeepAliveInitialDelayMs?: number;
  /** a read-only link to a node that did not know us is retried with our address after this long; default 20000 */
  readonlyProbeMs?: number;
  /** an outgoing TCP connect must complete within this; default connectionTimeoutMs */
  connectTimeoutMs?: number;

  /** wait between bind attempts; default 1000 (pysyncobj `bindRetryTime`) */
  bindRetryTimeMs?: number;
  /** bind attempts before start() rejects; 0 = retry forever (pysyncobj `maxBindRetries`, default 0) */
  maxBindRetries?: number;

  /** largest accepted (and sent) frame payload; default 64 MiB */
  maxFrameBytes?: number;
  /** largest accepted inflated pickle; default the wire layer's (128 MiB) */
  maxInflatedBytes?: number;
  /** a peer whose socket buffers more than this is too slow: its connection is closed; default 64 MiB */
  maxPendingBytesPerPeer?: number;
  /** drop a connection whose Fernet timestamps go backwards (pysyncobj 0.3.14 does); default false */
  rejectDecreasingTokenTimestamps?: boolean;

  /** commands accepted on utility connections; default DEFAULT_UTILITY_COMMANDS */
  utilityCommands?: readonly string[];

  /** host name resolution; default a CachingDnsResolver built from the dns* options below */
  resolver?: HostResolver;
  /** default 600000 (pysyncobj `dnsCacheTime`; Patroni passes `ttl`) */
  dnsCacheTimeMs?: number;
  /** default 30000 (pysyncobj `dnsFailCacheTime`; Patroni passes `loop_wait`) */
  dnsFailCacheTimeMs?: number;
  /** default 'ipv4' (pysyncobj `preferredAddrType`) */
  preferredAddrFamily?: AddressFamilyPreference;

  logger?: Logger;
  /** monotonic milliseconds; default performance.now */
  nowMs?: () => number;
  /** Fernet token timestamps; default the wire layer's never-decreasing process clock */
  tokenClock?: SecondsClock;
  /** random bytes for the rand keys; default crypto.randomBytes */
  random?: RandomSource;
  /**
   * Called when a handler callback throws. The transport catches it (its own state stays consistent),
   * logs it, then calls this; the default rethrows it on the next tick so that it stops the process
   * like any uncaught exception (an assertion in the runtime must not be swallowed).
   */
  onHandlerError?: (error: unknown) => void;
}

/** Everything the transport works with, defaults applied. */
export interface ResolvedTransportSettings {
  selfAddress: string | null;
  bindAddress: string | null;
  defaultBindHost: string | null;
  connectionTimeoutMs: number;
  connectionRetryTimeMs: number;
  keepalivePingIntervalMs: number;
  tcpKeepAliveInitialDelayMs: number;
  readonlyProbeMs: number;
  connectTimeoutMs: number;
  bindRetryTimeMs: number;
  maxBindRetries: number;
  maxFrameBytes: number;
  maxInflatedBytes: number | undefined;
  maxPendingBytesPerPeer: number;
  rejectDecreasingTokenTimestamps: boolean;
  utilityCommands: ReadonlySet<string>;
  logger: Logger;
  nowMs: () => number;
}

export const TRANSPORT_DEFAULTS = Object.freeze({
  connectionTimeoutMs: 3500,
  connectionRetryTimeMs: 5000,
  tcpKeepAliveInitialDelayMs: 16_000,
  bindRetryTimeMs: 1000,
  maxBindRetries: 0,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxPendingBytesPerPeer: 64 * 1024 * 1024,
  dnsCacheTimeMs: 600_000,
  dnsFailCacheTimeMs: 30_000,
});

function positive(name: string, value: number, allowZero = false): number {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) {
    throw new RangeError(`${name} must be a ${allowZero ? 'non-negative' : 'positive'} number, got ${value}`);
  }
  return value;
}

export function resolveTransportSettings(o: TcpTransportOptions): ResolvedTransportSettings {
  const connectionTimeoutMs = positive(
    'connectionTimeoutMs',
    o.connectionTimeoutMs ?? TRANSPORT_DEFAULTS.connectionTimeoutMs,
  );
  return {
    selfAddress: o.selfAddress,
    bindAddress: o.bindAddress ?? null,
    defaultBindHost: o.defaultBindHost ?? null,
    connectionTimeoutMs,
    connectionRetryTimeMs: positive(
      'connectionRetryTimeMs',
      o.connectionRetryTimeMs ?? TRANSPORT_DEFAULTS.connectionRetryTimeMs,
      true,
    ),
    keepalivePingIntervalMs: positive(
      'keepalivePingIntervalMs',
      o.keepalivePingIntervalMs ?? connectionTimeoutMs / 3,
      true,
    ),
    readonlyProbeMs: positive('readonlyProbeMs', o.readonlyProbeMs ?? 20_000, false),
    tcpKeepAliveInitialDelayMs: positive(
      'tcpKeepAliveInitialDelayMs',
      o.tcpKeepAliveInitialDelayMs ?? TRANSPORT_DEFAULTS.tcpKeepAliveInitialDelayMs,
      true,
    ),
    connectTimeoutMs: positive('connectTimeoutMs', o.connectTimeoutMs ?? connectionTimeoutMs),
    bindRetryTimeMs: positive('bindRetryTimeMs', o.bindRetryTimeMs ?? TRANSPORT_DEFAULTS.bindRetryTimeMs),
    maxBindRetries: positive('maxBindRetries', o.maxBindRetries ?? TRANSPORT_DEFAULTS.maxBindRetries, true),
    maxFrameBytes: positive('maxFrameBytes', o.maxFrameBytes ?? TRANSPORT_DEFAULTS.maxFrameBytes),
    maxInflatedBytes: o.maxInflatedBytes,
    maxPendingBytesPerPeer: positive(
      'maxPendingBytesPerPeer',
      o.maxPendingBytesPerPeer ?? TRANSPORT_DEFAULTS.maxPendingBytesPerPeer,
    ),
    rejectDecreasingTokenTimestamps: o.rejectDecreasingTokenTimestamps ?? false,
    utilityCommands: new Set(o.utilityCommands ?? DEFAULT_UTILITY_COMMANDS),
    logger: o.logger ?? silentLogger,
    nowMs: o.nowMs ?? (() => performance.now()),
  };
}

/** The keepalive frame's message: pysyncobj ignores dicts whose `type` it does not know. */
export const PING_TYPE = 'raftdcs_ping';

/** Is this received value our keepalive? */
export function isPing(message: PyValue): boolean {
  return message instanceof Map && message.get('type') === PING_TYPE;
}
