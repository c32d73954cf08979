/**
 * One pysyncobj connection over a TCP socket, either side: framing (FrameDecoder / encodeFrame*),
 * Fernet and the random-key exchange of docs/protocol.md §4.4, the connector's hello, consumption of our
 * `raftdcs_ping` keepalives, write coalescing (cork until the end of the tick) and the send-buffer
 * bound. It knows nothing about peers, Raft or utility commands: it hands application messages to
 * its owner and reports its close once.
 *
 * Phases: connector `connecting` → (password: `keys`) → `open` (hello sent, onOpen);
 *         acceptor (password: `keys`) → `open` (the owner reads the hello from the first message).
 *
 * Stale reads (pysyncobj's rule, given `staleness`): bytes that arrive on a connection nothing was
 * read from for more than `connectionTimeoutMs` may have waited that long in the socket — our process
 * was stopped or its event loop blocked, or the network held them — and so may carry commands whose
 * senders have given up. Such a connection is closed before those bytes are decoded: none of its
 * frames reach the owner. A peer that pings is never that quiet when all is well; for a peer that
 * does not ping (Python) quiet can be idleness, so its bytes count as stale only when our own event
 * loop also did not poll for that long (else they arrived after our last poll, i.e. recently).
 *
 * This module must never: throw out of a socket event, deliver a key-exchange message or a ping to
 * the owner, deliver a frame read after the connection went stale, call the owner re-entrantly from
 * a method the owner called (close is reported from the socket's 'close' event only), write after
 * close, or buffer more than `maxPendingBytes` unsent.
 */

import type { Socket } from 'node:net';
import type { Logger } from '../../logger.js';
import { WireError } from '../../wire/errors.js';
import type { Fernet, SecondsClock } from '../../wire/fernet.js';
import {
  defaultTokenClock,
  encodeFrame,
  encodeFrameFromPickle,
  FrameDecoder,
  RandKeyExchange,
  type RandomSource,
} from '../../wire/frame.js';
import { dict, type PyValue } from '../../wire/value.js';
import { isPing, PING_TYPE } from './options.js';

export type ConnectionRole = 'connector' | 'acceptor';
export type ConnectionPhase = 'connecting' | 'keys' | 'open' | 'closed';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface ConnectionEvents {
  /** connector only: the handshake is complete and the hello was sent */
  onOpen(conn: Connection): void;
  /** an application message (key-exchange messages and pings are consumed here) */
  onMessage(conn: Connection, message: PyValue): void;
  /** the socket closed, for whatever reason (see closeReason / closeLevel / closeError); once */
  onClose(conn: Connection): void;
  /** the first raftdcs_ping arrived (the ping itself is consumed) */
  onFirstPing?(conn: Connection): void;
}

export interface ConnectionConfig {
  role: ConnectionRole;
  /** connector: the first application message (own address, 'readonly' or a utility command list) */
  hello?: PyValue;
  fernet: Fernet | null;
  tokenClock?: SecondsClock;
  random?: RandomSource;
  maxFrameBytes: number;
  maxInflatedBytes?: number | undefined;
  maxPendingBytes: number;
  rejectDecreasingTokenTimestamps: boolean;
  tcpKeepAliveInitialDelayMs: number;
  nowMs: () => number;
  /** what log lines call the other side until the owner knows better */
  label: string;
  logger: Logger;
  /** drop the connection, unread, when its bytes may be older than this (see the module comment) */
  staleness?: StalenessCheck;
}

export interface StalenessCheck {
  connectionTimeoutMs: number;
  /** when our event loop last finished polling for I/O (bytes read later arrived after it) */
  lastPollMs(): number;
}

const PING = dict({ type: PING_TYPE });
let plainPingFrame: Buffer | undefined;

export class Connection {
  readonly role: ConnectionRole;
  readonly socket: Socket;
  readonly createdMs: number;
  phase: ConnectionPhase;
  /** who the other side is, for log lines (the owner updates it once it knows) */
  label: string;
  lastReadMs: number;
  lastWriteMs: number;
  /** the other side sent us a raftdcs_ping: it pings, so silence means it is dead */
  peerPings = false;
  framesReceived = 0;
  bytesReceived = 0;
  bytesSent = 0;
  closeReason: string | null = null;
  closeLevel: LogLevel = 'info';
  closeError: Error | null = null;
  /** resolves after the socket's 'close' event */
  readonly closed: Promise<void>;

  // ---- owned by the transport (bookkeeping that travels with the connection)
  /** the node address or read-only id this connection is bound to */
  peer: string | null = null;
  readonlyPeer = false;
  /** onPeerConnected was reported for it and onPeerDisconnected is still owed */
  reported = false;
  /** utility replies still owed on this (unbound) connection */
  utilityPending = 0;

  readonly #events: ConnectionEvents;
  readonly #config: ConnectionConfig;
  readonly #keys: RandKeyExchange | null;
  readonly #decoder: FrameDecoder;
  readonly #clock: SecondsClock;
  #corked = false;
  #closeReported = false;
  #resolveClosed!: () => void;

  constructor(socket: Socket, config: ConnectionConfig, events: ConnectionEvents) {
    this.socket = socket;
    this.role = config.role;
    this.label = config.label;
    this.#config = config;
    this.#events = events;
    this.#clock = config.tokenClock ?? defaultTokenClock();
    this.#keys = config.fernet ? new RandKeyExchange(config.role, config.random) : null;
    const decoderOptions: ConstructorParameters<typeof FrameDecoder>[0] = {
      maxFrameBytes: config.maxFrameBytes,
      fernet: config.fernet,
      requireNonDecreasingTimestamps: config.rejectDecreasingTokenTimestamps,
    };
    if (this.#keys) decoderOptions.keys = this.#keys;
    if (config.maxInflatedBytes !== undefined) decoderOptions.maxInflatedBytes = config.maxInflatedBytes;
    this.#decoder = new FrameDecoder(decoderOptions);
    this.createdMs = config.nowMs();
    this.lastReadMs = this.createdMs;
    this.lastWriteMs = this.createdMs;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err: Error) => {
      this.closeError ??= err;
    });
    socket.on('close', () => this.#onSocketClose());
    if (config.role === 'connector') {
      this.phase = 'connecting';
      socket.once('connect', () => this.#onConnect());
    } else {
      this.#tuneSocket();
      this.phase = this.#keys ? 'keys' : 'open';
    }
  }

  /** Bytes handed to the socket and not yet sent. */
  get pendingBytes(): number {
    return this.socket.writableLength;
  }

  /** Frames can be shared between connections (no encryption, so no per-connection wrapping). */
  get plain(): boolean {
    return this.#keys === null;
  }

  /** Send an application message (phase `open` only); false when closed or closed by this send. */
  sendValue(message: PyValue): boolean {
    if (this.phase !== 'open') return false;
    return this.#write(encodeFrame(message, this.#frameContext()));
  }

  /** Send a message given as its protocol-2 pickle bytes. */
  sendPickle(pickle: Uint8Array): boolean {
    if (this.phase !== 'open') return false;
    return this.#write(encodeFrameFromPickle(pickle, this.#frameContext()));
  }

  /** Send a complete frame built for a plain connection (see `plain`). */
  sendPlainFrame(frame: Buffer): boolean {
    if (this.phase !== 'open' || !this.plain) return false;
    return this.#write(frame);
  }

  /** Send our keepalive. */
  sendPing(): boolean {
    if (this.phase !== 'open') return false;
    if (this.plain) {
      plainPingFrame ??= encodeFrame(PING);
      return this.#write(plainPingFrame);
    }
    return this.sendValue(PING);
  }

  /** Close (idempotent). The owner hears about it from onClose, asynchronously. */
  close(reason: string, level: LogLevel = 'info', error?: Error): void {
    if (this.phase === 'closed') return;
    this.phase = 'closed';
    this.closeReason = reason;
    this.closeLevel = level;
    if (error) this.closeError = error;
    this.socket.destroy();
  }

  #tuneSocket(): void {
    this.socket.setNoDelay(true);
    this.socket.setKeepAlive(true, this.#config.tcpKeepAliveInitialDelayMs);
  }

  #onConnect(): void {
    if (this.phase !== 'connecting') return;
    this.#tuneSocket();
    const now = this.#config.nowMs();
    this.lastReadMs = now;
    if (this.#keys) {
      this.phase = 'keys';
      // the bare key, unwrapped: we have no sendRandKey yet
      this.#write(encodeFrame(this.#keys.start(), this.#frameContext()));
      return;
    }
    this.phase = 'open';
    if (this.#sendHello()) this.#events.onOpen(this);
  }

  #sendHello(): boolean {
    const hello = this.#config.hello;
    if (hello === undefined) return true;
    return this.#write(encodeFrame(hello, this.#frameContext()));
  }

  #frameContext(): Parameters<typeof encodeFrame>[1] {
    return {
      fernet: this.#config.fernet,
      sendRandKey: this.#keys?.sendRandKey ?? null,
      clock: this.#clock,
      maxFrameBytes: this.#config.maxFrameBytes,
    };
  }

  #write(frame: Buffer): boolean {
    const s = this.socket;
    if (!this.#corked) {
      // coalesce every frame of this tick into one writev
      s.cork();
      this.#corked = true;
      process.nextTick(this.#uncork);
    }
    s.write(frame);
    this.bytesSent += frame.length;
    this.lastWriteMs = this.#config.nowMs();
    if (s.writableLength > this.#config.maxPendingBytes) {
      this.close(
        `peer too slow: ${s.writableLength} bytes waiting to be sent (limit ${this.#config.maxPendingBytes})`,
        'warn',
      );
      return false;
    }
    return true;
  }

  readonly #uncork = (): void => {
    this.#corked = false;
    if (!this.socket.destroyed) this.socket.uncork();
  };

  #onData(chunk: Buffer): void {
    if (this.phase === 'closed') return;
    const now = this.#config.nowMs();
    const stale = this.#staleReason(now, chunk.length);
    if (stale !== null) {
      this.close(stale, 'warn');
      return;
    }
    this.lastReadMs = now;
    this.bytesReceived += chunk.length;
    this.#decoder.push(chunk);
    // (a handler may close the connection between two frames)
    while (!this.#isClosed()) {
      let message: PyValue;
      try {
        const frame = this.#decoder.next();
        if (frame === undefined) return;
        this.framesReceived++;
        message = frame.message;
        if (this.phase === 'keys') {
          this.#onPeerKey(message);
          continue;
        }
      } catch (e) {
        if (!(e instanceof WireError)) throw e;
        this.close(`malformed frame (${e.code}): ${e.message}`, 'warn', e);
        return;
      }
      if (isPing(message)) {
        if (!this.peerPings) {
          this.peerPings = true;
          this.#events.onFirstPing?.(this);
        }
        continue;
      }
      this.#events.onMessage(this, message);
    }
  }

  #isClosed(): boolean {
    return this.phase === 'closed';
  }

  /** Why the bytes arriving now must not be read (pysyncobj's connectionTimeout check), or null. */
  #staleReason(now: number, bytes: number): string | null {
    const check = this.#config.staleness;
    if (check === undefined) return null;
    const limit = check.connectionTimeoutMs;
    const quietMs = now - this.lastReadMs;
    if (quietMs <= limit) return null;
    const quiet = `nothing read for ${Math.round(quietMs)} ms (connectionTimeoutMs ${limit})`;
    const dropped = `${bytes} buffered bytes and what follows discarded unread`;
    if (this.peerPings) return `stale: ${quiet} from a pinging peer; ${dropped}`;
    const unpolledMs = now - check.lastPollMs();
    if (unpolledMs <= limit) return null; // the peer was idle; these bytes came after our last poll
    return `stale: ${quiet} and our event loop did not poll for ${Math.round(unpolledMs)} ms (stopped or blocked); ${dropped}`;
  }

  /** The first message of an encrypted connection: the other side's random key. */
  #onPeerKey(message: PyValue): void {
    const keys = this.#keys as RandKeyExchange;
    const step = keys.receiveKey(message); // WireError(BadRandKey) when it is not a key
    this.phase = 'open';
    if (this.role === 'acceptor') {
      // our key goes out wrapped with theirs: (Kc, Ka)
      this.#write(encodeFrame(step.reply as Uint8Array, this.#frameContext()));
      return;
    }
    if (this.#sendHello()) this.#events.onOpen(this);
  }

  #onSocketClose(): void {
    if (this.phase !== 'closed') {
      this.phase = 'closed';
      const err = this.closeError;
      this.closeReason = err ? `socket error: ${err.message}` : 'closed by the other side';
      this.closeLevel = 'info';
    }
    this.#keys?.reset();
    if (!this.#closeReported) {
      this.#closeReported = true;
      this.#events.onClose(this);
    }
    this.#resolveClosed();
  }
}
