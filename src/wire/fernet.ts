/**
 * Fernet tokens as pysyncobj uses them (docs/protocol.md §4.1, §4.2): the password is stretched with
 * PBKDF2-HMAC-SHA256 (fixed salt, 100000 iterations, 32 bytes); the first 16 bytes sign
 * (HMAC-SHA256), the last 16 encrypt (AES-128-CBC, PKCS#7). A token is
 * `0x80 | timestamp u64be | IV 16 | ciphertext | HMAC 32`, sent as URL-safe base64 text with `=`
 * padding.
 *
 * Also here: a sender timestamp source that never decreases (pysyncobj 0.3.14 drops a connection
 * whose token timestamps go backwards).
 *
 * This module must never: decrypt before the HMAC has been verified, compare MACs in variable
 * time, judge a token by the absolute value of its timestamp (0.3.11 sends wall-clock seconds,
 * 0.3.14 seconds since boot; neither checks a TTL), throw anything but WireError(BadToken) for a
 * bad token, or do I/O.
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  pbkdf2,
  pbkdf2Sync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { WireError, WireErrorCode } from './errors.js';

/** pysyncobj's fixed PBKDF2 salt (encryptor.py `SALT`). */
export const FERNET_KDF_SALT: Buffer = Buffer.from('152571e6bb02a6f8137190cf362b1eeb', 'hex');
export const FERNET_KDF_ITERATIONS = 100_000;
export const FERNET_KEY_BYTES = 32;

const VERSION = 0x80;
const HEADER_BYTES = 1 + 8 + 16; // version, timestamp, IV
const HMAC_BYTES = 32;
const BLOCK = 16;
/** the smallest binary token: header, one cipher block, HMAC */
const MIN_TOKEN_BYTES = HEADER_BYTES + BLOCK + HMAC_BYTES;
const U64_MAX = (1n << 64n) - 1n;

// ----------------------------------------------------------------------------------------------
// key derivation

function passwordBytes(password: string | Uint8Array): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : Buffer.from(password);
}

/**
 * Memo of the (deliberately slow) PBKDF2 derivation, keyed by the password's hex. A memo of a
 * pure function: it changes no result, only how long the second call takes. Bounded.
 */
const derivedKeyMemo = new Map<string, Buffer>();
const DERIVED_KEY_MEMO_MAX = 16;

function memoKey(pw: Buffer): string {
  return pw.toString('hex');
}

function remember(key: string, derived: Buffer): void {
  if (derivedKeyMemo.size >= DERIVED_KEY_MEMO_MAX) {
    const oldest = derivedKeyMemo.keys().next().value;
    if (oldest !== undefined) derivedKeyMemo.delete(oldest);
  }
  derivedKeyMemo.set(key, derived);
}

/**
 * The 32-byte Fernet key of a password (PBKDF2-HMAC-SHA256, pysyncobj's salt, 100000 iterations).
 * Blocks for ~50–200 ms the first time for a given password; later calls return a copy of the
 * remembered result.
 */
export function deriveFernetKey(password: string | Uint8Array): Buffer {
  const pw = passwordBytes(password);
  const k = memoKey(pw);
  let derived = derivedKeyMemo.get(k);
  if (derived === undefined) {
    derived = pbkdf2Sync(pw, FERNET_KDF_SALT, FERNET_KDF_ITERATIONS, FERNET_KEY_BYTES, 'sha256');
    remember(k, derived);
  }
  return Buffer.from(derived);
}

/** As deriveFernetKey, without blocking the event loop (libuv thread pool). */
export async function deriveFernetKeyAsync(password: string | Uint8Array): Promise<Buffer> {
  const pw = passwordBytes(password);
  const k = memoKey(pw);
  const known = derivedKeyMemo.get(k);
  if (known !== undefined) return Buffer.from(known);
  const derived = await new Promise<Buffer>((resolve, reject) => {
    pbkdf2(pw, FERNET_KDF_SALT, FERNET_KDF_ITERATIONS, FERNET_KEY_BYTES, 'sha256', (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
  remember(k, derived);
  return Buffer.from(derived);
}

/** The Fernet key text `urlsafe_b64encode(key)` (what Python passes to `Fernet(...)`). */
export function fernetKeyText(key: Uint8Array): string {
  return Buffer.from(key).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

// ----------------------------------------------------------------------------------------------
// tokens

export interface FernetEncryptOptions {
  /** the token's timestamp, integer seconds in 0…2^64−1 (see MonotonicSecondsClock) */
  timestampSec: number | bigint;
  /** 16 bytes; random when omitted (only tests pass a fixed IV) */
  iv?: Uint8Array;
}

export interface FernetDecrypted {
  plaintext: Buffer;
  /** the token's timestamp as sent (seconds; wall clock from 0.3.11, uptime from 0.3.14) */
  timestampSec: bigint;
}

function badToken(reason: string): WireError {
  return new WireError(WireErrorCode.BadToken, reason);
}

/** A Fernet cipher bound to one key. Stateless apart from the key; safe to share. */
export class Fernet {
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  /** @param key the 32-byte derived key (signing key = first 16, AES-128 key = last 16) */
  constructor(key: Uint8Array) {
    if (key.length !== FERNET_KEY_BYTES) {
      throw new RangeError(`a Fernet key has ${FERNET_KEY_BYTES} bytes, got ${key.length}`);
    }
    this.#signingKey = Buffer.from(key.subarray(0, 16));
    this.#encryptionKey = Buffer.from(key.subarray(16, 32));
  }

  /** The cipher pysyncobj's `getEncryptor(password)` builds (KDF result remembered per password). */
  static fromPassword(password: string | Uint8Array): Fernet {
    return new Fernet(deriveFernetKey(password));
  }

  static async fromPasswordAsync(password: string | Uint8Array): Promise<Fernet> {
    return new Fernet(await deriveFernetKeyAsync(password));
  }

  /** Encrypt: the token's URL-safe base64 text (with `=` padding) as ASCII bytes. */
  encrypt(plaintext: Uint8Array, options: FernetEncryptOptions): Buffer {
    const ts = BigInt(options.timestampSec);
    if (ts < 0n || ts > U64_MAX) throw new RangeError(`Fernet timestamp out of range: ${ts}`);
    const iv = options.iv ?? randomBytes(BLOCK);
    if (iv.length !== BLOCK) throw new RangeError(`a Fernet IV has ${BLOCK} bytes, got ${iv.length}`);
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]); // PKCS#7
    const token = Buffer.allocUnsafe(HEADER_BYTES + ciphertext.length + HMAC_BYTES);
    token[0] = VERSION;
    token.writeBigUInt64BE(ts, 1);
    token.set(iv, 9);
    ciphertext.copy(token, HEADER_BYTES);
    const macAt = HEADER_BYTES + ciphertext.length;
    createHmac('sha256', this.#signingKey).update(token.subarray(0, macAt)).digest().copy(token, macAt);
    const text = token.toString('base64url');
    return Buffer.from(text + '='.repeat((4 - (text.length % 4)) % 4), 'latin1');
  }

  /**
   * Decrypt a token (its base64 text bytes). Verifies format and HMAC (constant time) before
   * decrypting; never checks the timestamp's value. Every failure is WireError(BadToken).
   */
  decrypt(token: Uint8Array): FernetDecrypted {
    const bin = decodeTokenText(token);
    if (bin[0] !== VERSION) {
      throw badToken(`version byte is 0x${(bin[0] ?? 0).toString(16).padStart(2, '0')}, expected 0x80`);
    }
    if (bin.length < MIN_TOKEN_BYTES) {
      throw badToken(`token has ${bin.length} bytes, a valid one has at least ${MIN_TOKEN_BYTES}`);
    }
    const cipherBytes = bin.length - HEADER_BYTES - HMAC_BYTES;
    if (cipherBytes % BLOCK !== 0) {
      throw badToken(`ciphertext length ${cipherBytes} is not a multiple of ${BLOCK}`);
    }
    const macAt = bin.length - HMAC_BYTES;
    const expected = createHmac('sha256', this.#signingKey).update(bin.subarray(0, macAt)).digest();
    if (!timingSafeEqual(expected, bin.subarray(macAt))) {
      throw badToken('HMAC does not verify (wrong password or tampered token)');
    }
    const timestampSec = bin.readBigUInt64BE(1);
    const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, bin.subarray(9, HEADER_BYTES));
    decipher.setAutoPadding(false);
    let padded: Buffer;
    try {
      padded = Buffer.concat([decipher.update(bin.subarray(HEADER_BYTES, macAt)), decipher.final()]);
    } catch (e) {
      throw badToken(`AES-CBC decryption failed: ${(e as Error).message}`);
    }
    const pad = padded[padded.length - 1] ?? 0;
    if (pad < 1 || pad > BLOCK) throw badToken(`bad PKCS#7 padding byte ${pad}`);
    for (let i = padded.length - pad; i < padded.length; i++) {
      if (padded[i] !== pad) throw badToken('bad PKCS#7 padding');
    }
    return { plaintext: padded.subarray(0, padded.length - pad), timestampSec };
  }
}

const BASE64URL_ALPHABET = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_') {
  BASE64URL_ALPHABET[c.charCodeAt(0)] = 1;
}

/** Strict URL-safe base64 (alphabet `-` `_`, `=` padding required) → binary token. */
function decodeTokenText(token: Uint8Array): Buffer {
  const n = token.length;
  if (n === 0) throw badToken('empty token');
  if (n % 4 !== 0) throw badToken(`token text length ${n} is not a multiple of 4 (base64 with padding)`);
  let pad = 0;
  if (token[n - 1] === 0x3d) pad = token[n - 2] === 0x3d ? 2 : 1;
  for (let i = 0; i < n - pad; i++) {
    const c = token[i] ?? -1;
    if (BASE64URL_ALPHABET[c] !== 1) {
      throw badToken(`byte 0x${c.toString(16).padStart(2, '0')} at ${i} is not URL-safe base64`);
    }
  }
  return Buffer.from(Buffer.from(token.buffer, token.byteOffset, n - pad).toString('latin1'), 'base64url');
}

// ----------------------------------------------------------------------------------------------
// timestamps for senders

/** A source of integer seconds for token timestamps. */
export interface SecondsClock {
  nowSec(): number;
}

/**
 * Token timestamps that never decrease: wall-clock seconds read once at construction, then
 * advanced by the monotonic clock (`process.hrtime`). Chosen because
 * - 0.3.14 receivers drop a connection whose timestamps decrease: this never does, even when the
 *   wall clock is stepped back (NTP, admin);
 * - the values still look like 0.3.11's `int(time.time())` (close to the wall clock), so captures
 *   stay readable; receivers never check the absolute value either way.
 * `wallMs` and `monoNs` are injectable for tests.
 */
export class MonotonicSecondsClock implements SecondsClock {
  readonly #anchorSec: number;
  readonly #anchorNs: bigint;
  readonly #monoNs: () => bigint;
  #lastSec = 0;

  constructor(wallMs: () => number = Date.now, monoNs: () => bigint = process.hrtime.bigint) {
    this.#monoNs = monoNs;
    this.#anchorNs = monoNs();
    this.#anchorSec = Math.max(0, Math.floor(wallMs() / 1000));
  }

  nowSec(): number {
    const elapsed = this.#monoNs() - this.#anchorNs;
    const sec = this.#anchorSec + Number(elapsed > 0n ? elapsed / 1_000_000_000n : 0n);
    // hrtime is monotonic already; the clamp only guards an injected source
    if (sec > this.#lastSec) this.#lastSec = sec;
    return this.#lastSec;
  }
}
