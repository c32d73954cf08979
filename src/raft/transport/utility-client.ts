/**
 * A utility client, like pysyncobj's `TcpUtility` (used by `syncobj_admin`, Patroni's
 * `SyncObjUtility` and `DynMemberSyncObj` join logic): connect to a node, complete the handshake
 * (with the random-key exchange when a password is set), send one command list as the hello, wait
 * for one reply, close. Works against raftdcs and pysyncobj nodes alike.
 *
 * This module must never: leave a socket or timer behind once execute() settled, wait without a
 * deadline, or report a failure as anything but a UtilityError.
 */

import { connect as netConnect } from 'node:net';
import { RaftdcsError } from '../../errors.js';
import { type Logger, silentLogger } from '../../logger.js';
import { Fernet } from '../../wire/fernet.js';
import { DEFAULT_MAX_FRAME_BYTES } from '../../wire/frame.js';
import type { PyValue } from '../../wire/value.js';
import { splitHostPort } from './address.js';
import { Connection } from './connection.js';
import { CachingDnsResolver, type HostResolver } from './dns.js';

export const UtilityErrorCode = {
  /** the address is not `host:port` */
  InvalidAddress: 'INVALID_ADDRESS',
  /** the host does not resolve, or the TCP connect failed */
  ConnectFailed: 'CONNECT_FAILED',
  /** no reply within the timeout */
  Timeout: 'TIMEOUT',
  /** the node closed the connection without replying (e.g. a wrong password on the node's side) */
  Closed: 'CLOSED',
  /** the reply could not be decoded (bad frame, bad token: e.g. a wrong password on our side) */
  BadReply: 'BAD_REPLY',
} as const;
export type UtilityErrorCode = (typeof UtilityErrorCode)[keyof typeof UtilityErrorCode];

export class UtilityError extends RaftdcsError<UtilityErrorCode> {
  override readonly name = 'UtilityError';
  constructor(
    code: UtilityErrorCode,
    readonly address: string,
    message: string,
    cause?: unknown,
  ) {
    super(code, `${code}: ${address}: ${message}`, cause === undefined ? undefined : { cause });
  }
}

export interface TcpUtilityOptions {
  password?: string | null;
  fernet?: Fernet | null;
  /**
   * Deadline for the whole exchange (resolve, connect, handshake, reply). Default 10000. pysyncobj's
   * TcpUtility waits 900 s; Patroni uses `retry_timeout / max(1, partners)`.
   */
  timeoutMs?: number;
  resolver?: HostResolver;
  maxFrameBytes?: number;
  logger?: Logger;
}

export class TcpUtility {
  readonly #timeoutMs: number;
  readonly #password: string | null;
  #fernet: Fernet | null;
  readonly #resolver: HostResolver;
  readonly #maxFrameBytes: number;
  readonly #log: Logger;

  constructor(options: TcpUtilityOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    if (!(this.#timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${this.#timeoutMs}`);
    this.#password = options.password ?? null;
    this.#fernet = options.fernet ?? null;
    this.#log = options.logger ?? silentLogger;
    this.#resolver = options.resolver ?? new CachingDnsResolver({ logger: this.#log });
    this.#maxFrameBytes = options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  /** Send `command` (e.g. `['status']`, `['add', 'host:port']`) to the node at `address`; its reply. */
  async execute(address: string, command: readonly PyValue[]): Promise<PyValue> {
    let target: { host: string; port: number };
    try {
      target = splitHostPort(address);
    } catch (e) {
      throw new UtilityError(UtilityErrorCode.InvalidAddress, address, (e as Error).message, e);
    }
    if (this.#fernet === null && this.#password !== null) {
      this.#fernet = await Fernet.fromPasswordAsync(this.#password);
    }
    const deadline = performance.now() + this.#timeoutMs;
    const ip = await this.#resolveWithin(target.host, this.#timeoutMs);
    if (ip === undefined) {
      throw new UtilityError(UtilityErrorCode.Timeout, address, `no DNS answer within ${this.#timeoutMs} ms`);
    }
    if (ip === null) {
      throw new UtilityError(
        UtilityErrorCode.ConnectFailed,
        address,
        `cannot resolve ${JSON.stringify(target.host)}`,
      );
    }
    return this.#exchange(address, ip, target.port, [...command], Math.max(1, deadline - performance.now()));
  }

  /** Alias with pysyncobj's name. */
  executeCommand(address: string, command: readonly PyValue[]): Promise<PyValue> {
    return this.execute(address, command);
  }

  async #resolveWithin(host: string, ms: number): Promise<string | null | undefined> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        this.#resolver.resolve(host),
        new Promise<undefined>((resolve) => {
          timer = setTimeout(() => resolve(undefined), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  #exchange(
    address: string,
    ip: string,
    port: number,
    command: PyValue[],
    timeoutMs: number,
  ): Promise<PyValue> {
    return new Promise<PyValue>((resolve, reject) => {
      let reply: { value: PyValue } | null = null;
      let timedOut = false;
      const socket = netConnect({ host: ip, port });
      const conn = new Connection(
        socket,
        {
          role: 'connector',
          hello: command,
          fernet: this.#fernet,
          maxFrameBytes: this.#maxFrameBytes,
          maxPendingBytes: this.#maxFrameBytes * 2,
          rejectDecreasingTokenTimestamps: false,
          tcpKeepAliveInitialDelayMs: 16_000,
          nowMs: () => performance.now(),
          label: address,
          logger: this.#log,
        },
        {
          onOpen: () => {},
          onMessage: (c, message) => {
            if (reply !== null) return;
            reply = { value: message };
            c.close('reply received', 'debug');
          },
          onClose: (c) => {
            clearTimeout(timer);
            if (reply !== null) {
              resolve(reply.value);
              return;
            }
            const reason = c.closeReason ?? 'closed';
            if (timedOut) {
              reject(new UtilityError(UtilityErrorCode.Timeout, address, `no reply within ${timeoutMs} ms`));
            } else if (c.framesReceived === 0 && c.bytesSent === 0) {
              reject(
                new UtilityError(
                  UtilityErrorCode.ConnectFailed,
                  address,
                  `cannot connect to ${ip}:${port}: ${c.closeError?.message ?? reason}`,
                  c.closeError ?? undefined,
                ),
              );
            } else if (reason.startsWith('malformed frame')) {
              reject(new UtilityError(UtilityErrorCode.BadReply, address, reason, c.closeError ?? undefined));
            } else {
              reject(
                new UtilityError(
                  UtilityErrorCode.Closed,
                  address,
                  `connection closed without a reply (${reason})`,
                  c.closeError ?? undefined,
                ),
              );
            }
          },
        },
      );
      const timer = setTimeout(() => {
        timedOut = true;
        conn.close(`no reply within ${timeoutMs} ms`, 'info');
      }, timeoutMs);
    });
  }
}
