/**
 * pysyncobj frames (docs/protocol.md §3, §4.4): `i32le length | payload`, where the payload is
 * zlib(level 3) of a protocol-2 pickle, Fernet-encrypted when a password is set, and the pickled
 * value is `(sendRandKey, message)` once the connection's random-key exchange is done.
 *
 * - encodeFrame / encodeFrameFromPickle: message (or pickle bytes) → one frame;
 * - FrameDecoder: an incremental decoder fed arbitrary TCP chunks that hands out ONE message per
 *   `next()` call, reading the connection's receive key at that moment, so that a handler can
 *   change the keys before the next frame is parsed (the key exchange relies on it);
 * - RandKeyExchange: the pure per-connection random-key state machine of docs/protocol.md §4.4.
 *
 * This module must never: throw anything but WireError for any input bytes; buffer a frame whose
 * length prefix exceeds the limit; inflate past the inflate limit; copy the whole receive buffer
 * per chunk; compare compressed bytes across implementations (zlib builds differ); do I/O.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { assert } from '../assert.js';
import { WireError, WireErrorCode } from './errors.js';
import { type Fernet, MonotonicSecondsClock, type SecondsClock } from './fernet.js';
import { decodePickle, encodePickle } from './pickle/index.js';
import { PyTuple, type PyValue, pyRepr } from './value.js';

/** Default upper bound of a frame's payload (the length prefix), checked before buffering. */
export const DEFAULT_MAX_FRAME_BYTES = 64 * 1024 * 1024;
/** Default upper bound of a payload's inflated (pickle) size: a zlib bomb stops here. */
export const DEFAULT_MAX_INFLATED_BYTES = 128 * 1024 * 1024;
/** pysyncobj compresses with `zlib.compress(data, 3)`. */
export const FRAME_ZLIB_LEVEL = 3;
/** pysyncobj's per-connection random keys are `os.urandom(32)`. */
export const RAND_KEY_BYTES = 32;
/** The length prefix is a signed 32-bit integer. */
const I32_MAX = 0x7fffffff;
const PREFIX_BYTES = 4;

// ----------------------------------------------------------------------------------------------
// encoding

/** What a sender needs to turn a message into a frame on one connection. */
export interface FrameCrypto {
  /** the password's cipher: payloads are Fernet tokens when set */
  fernet?: Fernet | null;
  /** the connection's `sendRandKey`: messages are sent as `(sendRandKey, message)` when set */
  sendRandKey?: Uint8Array | null;
  /** token timestamps (must never decrease per connection); default: defaultTokenClock() */
  clock?: SecondsClock;
  /** fixed Fernet IV — tests only; random when omitted */
  iv?: Uint8Array;
  /** refuse to produce a payload larger than this (e.g. the receiver's limit); default 2^31−1 */
  maxFrameBytes?: number;
}

let sharedClock: MonotonicSecondsClock | undefined;
/** The process-wide never-decreasing token clock used when FrameCrypto.clock is omitted. */
export function defaultTokenClock(): SecondsClock {
  sharedClock ??= new MonotonicSecondsClock();
  return sharedClock;
}

/**
 * Encode one message as a complete frame (length prefix + payload). With a sendRandKey the value
 * pickled is the tuple `(sendRandKey, message)` in the canonical encoding (byte-identical to
 * Python's pickle of the same tuple).
 */
export function encodeFrame(message: PyValue, ctx: FrameCrypto = {}): Buffer {
  const value = ctx.sendRandKey ? new PyTuple([ctx.sendRandKey, message]) : message;
  return prefixFrame(encodeFramePayload(encodePickle(value), ctx), ctx.maxFrameBytes);
}

/**
 * Encode a frame from the message's pickle bytes (e.g. one pickle broadcast to many connections).
 * With a sendRandKey the wrapper is spliced around the bytes (wrapPickleWithRandKey) instead of
 * pickling the message again.
 */
export function encodeFrameFromPickle(messagePickle: Uint8Array, ctx: FrameCrypto = {}): Buffer {
  const pickle = ctx.sendRandKey ? wrapPickleWithRandKey(ctx.sendRandKey, messagePickle) : messagePickle;
  return prefixFrame(encodeFramePayload(pickle, ctx), ctx.maxFrameBytes);
}

/**
 * zlib settings for a payload of `n` bytes: level 3 as pysyncobj, with a window no larger than the
 * payload needs (a smaller deflate state is much cheaper to set up for the many small frames;
 * any valid zlib stream inflates the same on the Python side).
 */
function zlibOptionsFor(n: number): { level: number; windowBits: number; memLevel: number } {
  const windowBits = Math.max(9, Math.min(15, Math.ceil(Math.log2(n + 262))));
  return { level: FRAME_ZLIB_LEVEL, windowBits, memLevel: n > 16_384 ? 8 : 7 };
}

/** The payload of a frame: zlib level 3 of the pickle (already wrapped), Fernet token text if a cipher is set. */
export function encodeFramePayload(pickle: Uint8Array, ctx: FrameCrypto = {}): Buffer {
  const compressed = deflateSync(pickle, zlibOptionsFor(pickle.length));
  if (!ctx.fernet) return compressed;
  const clock = ctx.clock ?? defaultTokenClock();
  return ctx.fernet.encrypt(
    compressed,
    ctx.iv ? { timestampSec: clock.nowSec(), iv: ctx.iv } : { timestampSec: clock.nowSec() },
  );
}

/** `i32le length | payload` in one buffer. */
export function prefixFrame(payload: Uint8Array, maxFrameBytes: number = I32_MAX): Buffer {
  if (payload.length > Math.min(maxFrameBytes, I32_MAX)) {
    throw new WireError(
      WireErrorCode.FrameTooLarge,
      `refusing to send a ${payload.length}-byte payload (limit ${Math.min(maxFrameBytes, I32_MAX)})`,
    );
  }
  const frame = Buffer.allocUnsafe(PREFIX_BYTES + payload.length);
  frame.writeInt32LE(payload.length, 0);
  frame.set(payload, PREFIX_BYTES);
  return frame;
}

/**
 * `(key, message)` as pickle bytes, built around an existing protocol-2 pickle of the message
 * without decoding it: `PROTO 2 | SHORT_BINBYTES key | <message body> | TUPLE2 | STOP`. The key
 * uses the bytes opcode (Python loads it as bytes, docs/protocol.md §5.4) so that it puts nothing
 * in the memo and cannot collide with the message's own memo indexes.
 */
export function wrapPickleWithRandKey(key: Uint8Array, messagePickle: Uint8Array): Buffer {
  const n = messagePickle.length;
  if (n < 1 || messagePickle[n - 1] !== 0x2e) {
    throw new WireError(WireErrorCode.Unencodable, 'message pickle does not end with STOP');
  }
  const start = messagePickle[0] === 0x80 && n >= 3 ? 2 : 0; // drop PROTO, the wrapper has one
  if (start === 2 && (messagePickle[1] ?? 0) > 3) {
    throw new WireError(
      WireErrorCode.Unencodable,
      `message pickle has protocol ${messagePickle[1]}, not ≤ 3`,
    );
  }
  const keyOp =
    key.length <= 0xff
      ? Buffer.from([0x43, key.length]) // SHORT_BINBYTES
      : Buffer.from([0x42, key.length & 0xff, (key.length >>> 8) & 0xff, (key.length >>> 16) & 0xff, 0]); // BINBYTES
  if (key.length > 0xffffff) throw new WireError(WireErrorCode.Unencodable, 'rand key too long');
  return Buffer.concat([
    Buffer.from([0x80, 0x02]),
    keyOp,
    key,
    messagePickle.subarray(start, n - 1),
    Buffer.from([0x86, 0x2e]), // TUPLE2, STOP
  ]);
}

// ----------------------------------------------------------------------------------------------
// decoding one payload

/** The receive key a decoder consults before each frame (a RandKeyExchange qualifies). */
export interface RecvKeySource {
  readonly recvRandKey: Uint8Array | null;
}

export interface PayloadDecodeOptions {
  fernet?: Fernet | null;
  /** when set, the value must be `(recvRandKey, message)` and the message is returned */
  recvRandKey?: Uint8Array | null;
  maxInflatedBytes?: number;
}

export interface DecodedFrame {
  /** the message (unwrapped when a receive key was set) */
  message: PyValue;
  /** the Fernet token's timestamp when the payload was encrypted */
  tokenTimestampSec?: bigint;
  /** bytes this frame took in the stream (prefix included) */
  frameBytes: number;
}

/** Decrypt (if a cipher is set) → inflate (bounded) → unpickle → unwrap (if a key is set). */
export function decodeFramePayload(payload: Uint8Array, options: PayloadDecodeOptions = {}): DecodedFrame {
  let compressed: Uint8Array = payload;
  let tokenTimestampSec: bigint | undefined;
  if (options.fernet) {
    const d = options.fernet.decrypt(payload);
    compressed = d.plaintext;
    tokenTimestampSec = d.timestampSec;
  }
  const pickle = inflateBounded(compressed, options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES);
  let value: PyValue;
  try {
    value = decodePickle(pickle);
  } catch (e) {
    if (e instanceof WireError) throw e;
    throw new WireError(WireErrorCode.BadPickle, `pickle decoder failed: ${(e as Error)?.message ?? e}`);
  }
  const message = options.recvRandKey ? unwrapRandKey(value, options.recvRandKey) : value;
  const frame: DecodedFrame = { message, frameBytes: PREFIX_BYTES + payload.length };
  if (tokenTimestampSec !== undefined) frame.tokenTimestampSec = tokenTimestampSec;
  return frame;
}

/** zlib inflate that stops at `maxBytes` of output. Every failure is WireError(BadZlib). */
export function inflateBounded(compressed: Uint8Array, maxBytes: number): Buffer {
  try {
    return inflateSync(compressed, { maxOutputLength: maxBytes });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err?.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new WireError(WireErrorCode.BadZlib, `payload inflates past the ${maxBytes}-byte limit`);
    }
    throw new WireError(WireErrorCode.BadZlib, `not a valid zlib stream: ${err?.message ?? String(e)}`);
  }
}

/** `(key, message)` → message, checking the key. WireError(BadRandKey) otherwise. */
export function unwrapRandKey(value: PyValue, recvRandKey: Uint8Array): PyValue {
  const [key, message] = value instanceof PyTuple && value.items.length === 2 ? value.items : [];
  if (message === undefined) {
    throw new WireError(
      WireErrorCode.BadRandKey,
      `expected the tuple (rand_key, message), got ${describe(value)}`,
    );
  }
  if (!(key instanceof Uint8Array) || !sameBytes(key, recvRandKey)) {
    throw new WireError(
      WireErrorCode.BadRandKey,
      'the message carries a different rand key than this connection',
    );
  }
  return message;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

function describe(v: PyValue): string {
  const r = pyRepr(v);
  return r.length > 80 ? `${r.slice(0, 77)}...` : r;
}

// ----------------------------------------------------------------------------------------------
// incremental stream decoder

export interface FrameDecoderOptions {
  /** largest accepted length prefix; default 64 MiB */
  maxFrameBytes?: number;
  /** largest accepted inflated pickle; default 128 MiB */
  maxInflatedBytes?: number;
  /** the password's cipher: every payload must be a valid token */
  fernet?: Fernet | null;
  /** read before each frame: when its recvRandKey is set, messages must be wrapped with it */
  keys?: RecvKeySource;
  /** reject a token whose timestamp is lower than the previous one (what 0.3.14 does); default false */
  requireNonDecreasingTimestamps?: boolean;
}

/**
 * Incremental frame decoder for one connection. Feed it TCP chunks with `push`; take messages one at
 * a time with `next()` (or iterate) — each frame is parsed only when asked for, with the keys in
 * force at that moment. Call `end()` at end of stream so that a partial frame is reported.
 *
 * Errors are sticky: after the first WireError the buffered bytes are discarded and every later
 * `next()` throws the same error (the caller drops the connection, as pysyncobj does).
 *
 * Memory: received chunks are kept in a queue, never re-concatenated; a frame is copied once only
 * when it spans several chunks. A length prefix is validated as soon as its 4 bytes are present,
 * before the payload is buffered (push checks it).
 */
export class FrameDecoder implements Iterable<DecodedFrame> {
  readonly maxFrameBytes: number;
  readonly maxInflatedBytes: number;
  readonly #fernet: Fernet | null;
  readonly #keys: RecvKeySource | undefined;
  readonly #requireNonDecreasing: boolean;

  #chunks: Buffer[] = [];
  #first = 0; // index of the first live chunk
  #firstOffset = 0; // bytes already consumed from it
  #buffered = 0;
  /** payload length of the frame at the read position, once its prefix was read */
  #pending: number | undefined;
  #streamOffset = 0; // stream offset of the read position
  #ended = false;
  #error: WireError | undefined;
  #lastTimestamp: bigint | undefined;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFrameBytes = checkLimit(
      'maxFrameBytes',
      options.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES,
      I32_MAX,
    );
    this.maxInflatedBytes = checkLimit(
      'maxInflatedBytes',
      options.maxInflatedBytes ?? DEFAULT_MAX_INFLATED_BYTES,
      2 ** 32,
    );
    this.#fernet = options.fernet ?? null;
    this.#keys = options.keys;
    this.#requireNonDecreasing = options.requireNonDecreasingTimestamps ?? false;
  }

  /** Bytes received and not yet consumed. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  /** The error that stopped this decoder, if any. */
  get error(): WireError | undefined {
    return this.#error;
  }

  /** Timestamp of the last valid token seen (encrypted connections). */
  get lastTokenTimestampSec(): bigint | undefined {
    return this.#lastTimestamp;
  }

  /** Append received bytes. The chunk is kept by reference: do not reuse its memory afterwards. */
  push(chunk: Uint8Array): void {
    if (this.#error) return;
    if (this.#ended) {
      this.#fail(new WireError(WireErrorCode.FrameTruncated, 'data pushed after end()', this.#streamOffset));
      return;
    }
    if (chunk.length === 0) return;
    this.#chunks.push(
      Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length),
    );
    this.#buffered += chunk.length;
    // validate the next frame's length prefix now, so an oversize frame is never buffered
    if (this.#pending === undefined && this.#buffered >= PREFIX_BYTES) {
      try {
        this.#readPrefix();
      } catch (e) {
        this.#fail(e as WireError);
      }
    }
  }

  /** Declare the end of the stream: a partial frame still buffered becomes FrameTruncated. */
  end(): void {
    this.#ended = true;
  }

  /**
   * The next message, or undefined when no complete frame is buffered. Throws WireError on bad
   * input (and keeps throwing it).
   */
  next(): DecodedFrame | undefined {
    if (this.#error) throw this.#error;
    try {
      if (this.#pending === undefined) {
        if (this.#buffered < PREFIX_BYTES) return this.#atEnd();
        this.#readPrefix();
      }
      const length = this.#pending as number;
      if (this.#buffered < length) return this.#atEnd();
      const frameStart = this.#streamOffset - PREFIX_BYTES;
      const payload = this.#take(length);
      this.#pending = undefined;
      const frame = this.#decode(payload, frameStart);
      // check the following prefix already; a bad one fails the decoder after this frame is delivered
      if (this.#buffered >= PREFIX_BYTES) {
        try {
          this.#readPrefix();
        } catch (e) {
          this.#fail(e as WireError);
        }
      }
      return frame;
    } catch (e) {
      const err =
        e instanceof WireError
          ? e
          : new WireError(
              WireErrorCode.BadPickle,
              `unexpected decoder failure: ${(e as Error)?.message ?? e}`,
            );
      this.#fail(err);
      throw err;
    }
  }

  *[Symbol.iterator](): Iterator<DecodedFrame> {
    for (;;) {
      const f = this.next();
      if (f === undefined) return;
      yield f;
    }
  }

  #atEnd(): undefined {
    if (this.#ended && (this.#buffered > 0 || this.#pending !== undefined)) {
      const need = this.#pending === undefined ? PREFIX_BYTES : this.#pending;
      throw new WireError(
        WireErrorCode.FrameTruncated,
        `stream ended inside a frame: ${this.#buffered} of ${need} ${this.#pending === undefined ? 'prefix' : 'payload'} bytes`,
        this.#streamOffset,
      );
    }
    return undefined;
  }

  #decode(payload: Buffer, frameStart: number): DecodedFrame {
    let frame: DecodedFrame;
    try {
      frame = decodeFramePayload(payload, {
        fernet: this.#fernet,
        recvRandKey: this.#keys?.recvRandKey ?? null,
        maxInflatedBytes: this.maxInflatedBytes,
      });
    } catch (e) {
      if (e instanceof WireError && e.offset === undefined) {
        throw new WireError(e.code, `${e.message} (frame at stream offset ${frameStart})`);
      }
      throw e;
    }
    const ts = frame.tokenTimestampSec;
    if (ts !== undefined) {
      if (this.#requireNonDecreasing && this.#lastTimestamp !== undefined && ts < this.#lastTimestamp) {
        throw new WireError(
          WireErrorCode.BadToken,
          `token timestamp ${ts} is lower than the previous ${this.#lastTimestamp}`,
          frameStart,
        );
      }
      this.#lastTimestamp = ts;
    }
    return frame;
  }

  #readPrefix(): void {
    const p = this.#take(PREFIX_BYTES);
    const length = p.readInt32LE(0);
    const at = this.#streamOffset - PREFIX_BYTES;
    if (length < 0) {
      throw new WireError(WireErrorCode.FrameNegativeLength, `length prefix is ${length}`, at);
    }
    if (length > this.maxFrameBytes) {
      throw new WireError(
        WireErrorCode.FrameTooLarge,
        `length prefix ${length} exceeds the limit of ${this.maxFrameBytes} bytes`,
        at,
      );
    }
    this.#pending = length;
  }

  /** Remove and return the next n buffered bytes (n ≤ buffered); a view when within one chunk. */
  #take(n: number): Buffer {
    this.#buffered -= n;
    this.#streamOffset += n;
    const head = this.#chunks[this.#first];
    if (n === 0) return Buffer.alloc(0);
    if (head !== undefined && head.length - this.#firstOffset >= n) {
      const out = head.subarray(this.#firstOffset, this.#firstOffset + n);
      this.#firstOffset += n;
      if (this.#firstOffset === head.length) this.#dropHead();
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.#chunks[this.#first];
      assert(c !== undefined, 'FrameReader: took more bytes than it holds');
      const k = Math.min(c.length - this.#firstOffset, n - filled);
      c.copy(out, filled, this.#firstOffset, this.#firstOffset + k);
      filled += k;
      this.#firstOffset += k;
      if (this.#firstOffset === c.length) this.#dropHead();
    }
    return out;
  }

  #dropHead(): void {
    this.#chunks[this.#first] = EMPTY;
    this.#first++;
    this.#firstOffset = 0;
    if (this.#first === this.#chunks.length) {
      this.#chunks = [];
      this.#first = 0;
    } else if (this.#first >= 1024 && this.#first * 2 >= this.#chunks.length) {
      this.#chunks = this.#chunks.slice(this.#first); // amortised O(1) per chunk
      this.#first = 0;
    }
  }

  #fail(err: WireError): void {
    this.#error = err;
    this.#chunks = [];
    this.#first = 0;
    this.#firstOffset = 0;
    this.#buffered = 0;
    this.#pending = undefined;
  }
}

const EMPTY = Buffer.alloc(0);

function checkLimit(name: string, value: number, max: number): number {
  if (!Number.isSafeInteger(value) || value < 1 || value > max) {
    throw new RangeError(`${name} must be an integer in 1…${max}, got ${value}`);
  }
  return value;
}

// ----------------------------------------------------------------------------------------------
// the random-key exchange (docs/protocol.md §4.4)

export type RandKeyRole = 'connector' | 'acceptor';
/** n random bytes; injectable for deterministic tests */
export type RandomSource = (n: number) => Uint8Array;

export interface RandKeyStep {
  /** a value to send now (through encodeFrame with this exchange's sendRandKey), or null */
  reply: Uint8Array | null;
  /** true once both keys are set: the connector now sends its hello */
  established: boolean;
}

/**
 * The per-connection random-key state of an encrypted connection (pure; no I/O).
 *
 * Connector: `start()` on TCP connect → send its result (a bare 32-byte bytes value). The first
 * message received (already unwrapped by a FrameDecoder whose `keys` is this object) is the
 * acceptor's key: `receiveKey(msg)` stores it; then send the hello — wrapped from now on.
 *
 * Acceptor: the first message received (not wrapped) is the connector's key: `receiveKey(msg)`
 * stores it, draws its own key and returns it as `reply` — send it; it goes out wrapped as
 * `(connectorKey, acceptorKey)`. Every later incoming message must carry the acceptor's key.
 *
 * `reset()` on disconnect. The peer's key must be non-empty bytes (Python would accept any value
 * here; every real peer sends `os.urandom(32)`, and an empty key would disable wrapping there).
 */
export class RandKeyExchange implements RecvKeySource {
  readonly role: RandKeyRole;
  readonly #random: RandomSource;
  #sendRandKey: Uint8Array | null = null;
  #recvRandKey: Uint8Array | null = null;

  constructor(role: RandKeyRole, random: RandomSource = randomBytes) {
    this.role = role;
    this.#random = random;
  }

  /** the peer's key, carried by every message we send */
  get sendRandKey(): Uint8Array | null {
    return this.#sendRandKey;
  }

  /** our key, which every message we receive must carry */
  get recvRandKey(): Uint8Array | null {
    return this.#recvRandKey;
  }

  get established(): boolean {
    return this.#sendRandKey !== null && this.#recvRandKey !== null;
  }

  /** Has the next received message to go to receiveKey() rather than to the application? */
  get awaitingPeerKey(): boolean {
    return this.#sendRandKey === null;
  }

  /** Connector, on TCP connect: draws our key; returns the first message to send (unwrapped). */
  start(): Uint8Array {
    if (this.role !== 'connector') throw new Error('RandKeyExchange.start() is for the connector');
    if (this.#recvRandKey !== null) throw new Error('RandKeyExchange already started');
    this.#recvRandKey = this.#draw();
    return this.#recvRandKey;
  }

  /** Feed the first received message (the peer's key). WireError(BadRandKey) if it is not one. */
  receiveKey(message: PyValue): RandKeyStep {
    if (this.#sendRandKey !== null) {
      throw new WireError(WireErrorCode.BadRandKey, 'the peer key was already received');
    }
    if (this.role === 'connector' && this.#recvRandKey === null) {
      throw new WireError(WireErrorCode.BadRandKey, 'connector received a message before start()');
    }
    if (!(message instanceof Uint8Array) || message.length === 0) {
      throw new WireError(
        WireErrorCode.BadRandKey,
        `expected the peer's random key (non-empty bytes), got ${describe(message)}`,
      );
    }
    this.#sendRandKey = Buffer.from(message);
    if (this.role === 'connector') return { reply: null, established: true };
    this.#recvRandKey = this.#draw();
    return { reply: this.#recvRandKey, established: true };
  }

  /** The value to pickle for `message`: `(sendRandKey, message)` once the peer key is known. */
  wrap(message: PyValue): PyValue {
    return this.#sendRandKey ? new PyTuple([this.#sendRandKey, message]) : message;
  }

  /** The inverse check on a received value (FrameDecoder does this itself when given `keys`). */
  unwrap(value: PyValue): PyValue {
    return this.#recvRandKey ? unwrapRandKey(value, this.#recvRandKey) : value;
  }

  /** On disconnect: forget both keys. */
  reset(): void {
    this.#sendRandKey = null;
    this.#recvRandKey = null;
  }

  #draw(): Buffer {
    const k = this.#random(RAND_KEY_BYTES);
    if (k.length !== RAND_KEY_BYTES) throw new Error(`random source returned ${k.length} bytes`);
    return Buffer.from(k);
  }
}
