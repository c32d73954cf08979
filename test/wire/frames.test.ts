/**
 * Frames, Fernet and the random-key exchange against the golden vectors (kinds kdf, fernet, frame,
 * frame-stream, frame-real, frame-encrypted, frame-encrypted-invalid) plus our own round trips,
 * chunking and error-code tests. Compressed bytes are never compared across implementations.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { deflateSync, inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/errors.js';
import { deriveFernetKey, Fernet, fernetKeyText, MonotonicSecondsClock } from '../../src/wire/fernet.js';
import {
  type DecodedFrame,
  decodeFramePayload,
  encodeFrame,
  encodeFrameFromPickle,
  FrameDecoder,
  type FrameDecoderOptions,
  prefixFrame,
  RandKeyExchange,
  wrapPickleWithRandKey,
} from '../../src/wire/frame.js';
import { decodePickle, encodePickle } from '../../src/wire/pickle/index.js';
import { dict, float, PyTuple, type PyValue, pyEquals, pyRepr, tuple } from '../../src/wire/value.js';
import { fromTypedJson, type TypedJson } from '../helpers/typed-json.js';
import { type Vector, vectorBytes, vectorIndex } from '../helpers/vectors.js';

const index = vectorIndex();
const PASSWORD = index.password;
const byKind = (kind: string): Vector[] => index.vectors.filter((v) => v.kind === kind);
const fernet = Fernet.fromPassword(PASSWORD);

function expectPyEqual(actual: PyValue | undefined, expected: PyValue): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    throw new Error(
      `values differ:\n  actual:   ${actual === undefined ? 'undefined' : pyRepr(actual)}\n  expected: ${pyRepr(expected)}`,
    );
  }
}

function expectWireError(fn: () => unknown, code: WireErrorCode): WireError {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof WireError)) throw new Error(`expected WireError ${code}, got ${String(e)}`);
    expect(e.code, e.message).toBe(code);
    return e;
  }
  throw new Error(`expected WireError ${code}, nothing was thrown`);
}

function drain(dec: FrameDecoder): DecodedFrame[] {
  return [...dec];
}

function decodeAll(bytes: Uint8Array, options: FrameDecoderOptions = {}): PyValue[] {
  const dec = new FrameDecoder(options);
  dec.push(bytes);
  dec.end();
  return drain(dec).map((f) => f.message);
}

/** Split `bytes` at the given cut points, feeding and draining between chunks. */
function decodeChunked(bytes: Uint8Array, cuts: number[], options: FrameDecoderOptions = {}): PyValue[] {
  const dec = new FrameDecoder(options);
  const out: PyValue[] = [];
  let prev = 0;
  for (const c of [...cuts, bytes.length]) {
    dec.push(bytes.subarray(prev, c));
    for (const f of dec) out.push(f.message);
    prev = c;
  }
  dec.end();
  for (const f of dec) out.push(f.message);
  return out;
}

/** Frames of a stream: [payload start, payload length] per frame, from the prefixes. */
function payloadOf(frame: Buffer): Buffer {
  const n = frame.readInt32LE(0);
  expect(frame.length).toBe(4 + n);
  return frame.subarray(4);
}

const hex = (s: unknown): Buffer => Buffer.from(String(s), 'hex');

// ----------------------------------------------------------------------------------------------

describe('kdf vectors', () => {
  for (const v of byKind('kdf')) {
    it(v.name, () => {
      expect(v.salt_hex).toBe('152571e6bb02a6f8137190cf362b1eeb');
      expect(v.iterations).toBe(100000);
      const key = deriveFernetKey(String(v.password));
      expect(key.toString('hex')).toBe(v.derived_hex);
      expect(key.equals(vectorBytes(v.file))).toBe(true);
      expect(fernetKeyText(key)).toBe(v.fernet_key);
      expect(key.subarray(0, 16).toString('hex')).toBe(v.signing_key_hex);
      expect(key.subarray(16).toString('hex')).toBe(v.encryption_key_hex);
      // remembered: the second derivation is immediate and equal
      const t0 = performance.now();
      expect(deriveFernetKey(String(v.password)).equals(key)).toBe(true);
      expect(performance.now() - t0).toBeLessThan(20);
    });
  }
});

describe('fernet vectors', () => {
  for (const v of byKind('fernet')) {
    it(`${v.name}: byte-exact encryption with the fixed IV and timestamp`, () => {
      const f = Fernet.fromPassword(String(v.password));
      const token = f.encrypt(hex(v.plaintext_hex), { timestampSec: Number(v.timestamp), iv: hex(v.iv_hex) });
      expect(token.toString('latin1')).toBe(v.token);
      expect(token.equals(vectorBytes(v.file))).toBe(true);
    });
    it(`${v.name}: decrypts to the plaintext, the timestamp and the value`, () => {
      const f = Fernet.fromPassword(String(v.password));
      const d = f.decrypt(vectorBytes(v.file));
      expect(d.plaintext.toString('hex')).toBe(v.plaintext_hex);
      expect(d.timestampSec).toBe(BigInt(Number(v.timestamp)));
      expectPyEqual(decodePickle(inflateSync(d.plaintext)), fromTypedJson(v.value as TypedJson));
    });
  }
});

describe('frame vectors (plain)', () => {
  for (const v of byKind('frame')) {
    it(v.name, () => {
      const bytes = vectorBytes(v.file);
      expect(bytes.readInt32LE(0)).toBe(v.length_prefix);
      const payload = payloadOf(bytes);
      expect(payload.subarray(0, 2).toString('hex')).toBe('785e');
      expect(inflateSync(payload).equals(vectorBytes(String(v.pickle_file)))).toBe(true);
      const msgs = decodeAll(bytes);
      expect(msgs).toHaveLength(1);
      expectPyEqual(msgs[0], fromTypedJson(v.value as TypedJson));
    });
  }
  for (const v of byKind('frame-stream')) {
    it(v.name, () => {
      const expected = fromTypedJson(v.value as TypedJson) as PyValue[];
      const msgs = decodeAll(vectorBytes(v.file));
      expect(msgs).toHaveLength(expected.length);
      msgs.forEach((m, i) => {
        expectPyEqual(m, expected[i] as PyValue);
      });
    });
  }
});

describe('frame-real vectors', () => {
  for (const v of byKind('frame-real')) {
    it(`${v.name} (${v.capture} seq ${v.seq}${v.encrypted ? ', encrypted' : ''})`, () => {
      const bytes = vectorBytes(v.file);
      const payload = payloadOf(bytes);
      let compressed: Buffer = payload;
      if (v.encrypted) {
        expect(v.password).toBe(PASSWORD);
        compressed = fernet.decrypt(payload).plaintext;
      }
      // decompressed bytes equal Python's pickle (never compare zlib output)
      const pickle = inflateSync(compressed);
      expect(pickle.equals(vectorBytes(String(v.pickle_file)))).toBe(true);
      const expected = fromTypedJson(v.value as TypedJson);
      const wrapKey = v.wrapper_randkey_hex ? hex(v.wrapper_randkey_hex) : null;
      const msgs = decodeAll(bytes, { fernet: v.encrypted ? fernet : null, keys: { recvRandKey: wrapKey } });
      expect(msgs).toHaveLength(1);
      expectPyEqual(msgs[0], expected);
      if (wrapKey) {
        // the whole plaintext is the (key, message) tuple
        expectPyEqual(decodePickle(pickle), tuple(wrapKey, expected));
      }
    });
  }
});

describe('frame-encrypted vectors', () => {
  for (const v of byKind('frame-encrypted')) {
    it(v.name, () => {
      expect(v.password).toBe(PASSWORD);
      const bytes = vectorBytes(v.file);
      const payload = payloadOf(bytes);
      if (v.token !== undefined) expect(payload.toString('latin1')).toBe(v.token);
      const d = fernet.decrypt(payload);
      expect(d.plaintext.toString('hex')).toBe(v.plaintext_hex);
      if (v.fernet_timestamp !== undefined) expect(d.timestampSec).toBe(BigInt(Number(v.fernet_timestamp)));
      const whole = fromTypedJson(v.value as TypedJson);
      // no key: the pickled value as is
      const plain = decodeAll(bytes, { fernet });
      expectPyEqual(plain[0], whole);
      if (v.rand_key_hex !== undefined && whole instanceof PyTuple) {
        const dec = new FrameDecoder({ fernet, keys: { recvRandKey: hex(v.rand_key_hex) } });
        dec.push(bytes);
        const f = dec.next();
        expectPyEqual(f?.message, whole.items[1] as PyValue);
        expect(f?.tokenTimestampSec).toBe(d.timestampSec);
      }
    });
  }
});

describe('frame-encrypted-invalid vectors', () => {
  for (const v of byKind('frame-encrypted-invalid')) {
    it(`${v.name} is rejected`, () => {
      expect(v.expect).toBe('reject');
      const bytes = vectorBytes(v.file);
      const keys = { recvRandKey: v.rand_key_hex !== undefined ? hex(v.rand_key_hex) : null };
      const code = v.name.includes('randkey') ? WireErrorCode.BadRandKey : WireErrorCode.BadToken;
      expectWireError(() => decodeAll(bytes, { fernet, keys }), code);
      if (v.value !== undefined) {
        // the token itself is valid: without the key check the wrapped value decodes
        expectPyEqual(decodeAll(bytes, { fernet })[0], fromTypedJson(v.value as TypedJson));
      }
    });
  }
});

// ----------------------------------------------------------------------------------------------

const sampleMessages: PyValue[] = [
  '127.0.0.1:21002',
  'readonly',
  dict({ type: 'request_vote', term: 7, last_log_index: 40, last_log_term: 6 }),
  dict({
    type: 'append_entries',
    term: 3,
    commit_index: 9,
    entries: [tuple(Buffer.from([1]), 10, 3), tuple(Buffer.from('0080024b002e', 'hex'), 11, 3)],
    prevLogIdx: 9,
    prevLogTerm: 2,
  }),
  [dict({ addr: '127.0.0.1:1', leader: false, status: 2 })],
  dict({ x: float(1.5), big: 2n ** 70n, none: null, b: Buffer.alloc(0) }),
  Buffer.alloc(32, 7),
];

describe('encode → decode round trips', () => {
  it('plain frames: a zlib stream at level 3 (window sized to the payload), value preserved', () => {
    for (const m of sampleMessages) {
      const frame = encodeFrame(m);
      const [cmf, flg] = [frame[4] as number, frame[5] as number];
      expect(cmf & 0x0f, 'deflate').toBe(8);
      expect(cmf >> 4, 'window ≤ 32 KiB').toBeLessThanOrEqual(7);
      expect(flg >> 6, 'FLEVEL of levels 2–5 (Python level 3: 78 5E)').toBe(1);
      expect(((cmf << 8) | flg) % 31).toBe(0);
      expect(inflateSync(payloadOf(frame)).equals(encodePickle(m))).toBe(true);
      expectPyEqual(decodeAll(frame)[0], m);
    }
  });

  it('encrypted frames, wrapped and not, fixed IV deterministic', () => {
    const key = Buffer.alloc(32, 0x5a);
    const clock = { nowSec: () => 1234 };
    for (const m of sampleMessages) {
      const f1 = encodeFrame(m, { fernet, sendRandKey: key, clock });
      const dec = new FrameDecoder({ fernet, keys: { recvRandKey: key } });
      dec.push(f1);
      const got = dec.next();
      expectPyEqual(got?.message, m);
      expect(got?.tokenTimestampSec).toBe(1234n);
      // without the key the wrapper is visible
      expectPyEqual(decodeAll(f1, { fernet })[0], tuple(key, m));
      const iv = Buffer.alloc(16, 1);
      expect(encodeFrame(m, { fernet, clock, iv }).equals(encodeFrame(m, { fernet, clock, iv }))).toBe(true);
    }
  });

  it('encodeFrameFromPickle splices the rand-key wrapper around existing pickle bytes', () => {
    const key = Buffer.alloc(32, 0xa5);
    for (const m of sampleMessages) {
      const pickle = encodePickle(m);
      const wrapped = wrapPickleWithRandKey(key, pickle);
      expectPyEqual(decodePickle(wrapped), tuple(key, m));
      for (const ctx of [{}, { fernet }]) {
        const frame = encodeFrameFromPickle(pickle, { ...ctx, sendRandKey: key });
        const dec = new FrameDecoder({ ...ctx, keys: { recvRandKey: key } });
        dec.push(frame);
        expectPyEqual(dec.next()?.message, m);
        expectPyEqual(decodeAll(encodeFrameFromPickle(pickle, ctx), ctx)[0], m);
      }
    }
    // a long key uses BINBYTES
    const longKey = Buffer.alloc(300, 3);
    expectPyEqual(decodePickle(wrapPickleWithRandKey(longKey, encodePickle('x'))), tuple(longKey, 'x'));
    expectWireError(
      () => wrapPickleWithRandKey(key, Buffer.from([0x80, 0x02, 0x4e])),
      WireErrorCode.Unencodable,
    );
  });

  it('prefixFrame refuses payloads above the given limit', () => {
    expectWireError(() => prefixFrame(Buffer.alloc(11), 10), WireErrorCode.FrameTooLarge);
    expectWireError(() => encodeFrame('x'.repeat(1000), { maxFrameBytes: 5 }), WireErrorCode.FrameTooLarge);
  });
});

describe('random-key exchange', () => {
  function counterRandom(start: number): (n: number) => Buffer {
    let next = start;
    return (n) => Buffer.alloc(n, next++);
  }

  it('connector and acceptor run the random-key sequence (docs/protocol.md §4.4) over frames', () => {
    const c = new RandKeyExchange('connector', counterRandom(0x11));
    const a = new RandKeyExchange('acceptor', counterRandom(0x22));
    const toA = new FrameDecoder({ fernet, keys: a });
    const toC = new FrameDecoder({ fernet, keys: c });
    const send = (from: RandKeyExchange, msg: PyValue, to: FrameDecoder): void =>
      to.push(encodeFrame(msg, { fernet, sendRandKey: from.sendRandKey }));

    expect(c.awaitingPeerKey && a.awaitingPeerKey).toBe(true);
    // 1. C sends Kc bare
    const kc = c.start();
    expect(kc).toEqual(Buffer.alloc(32, 0x11));
    send(c, kc, toA);
    // 2. A: first message is Kc; replies Ka, wrapped as (Kc, Ka)
    const m1 = toA.next();
    expect(m1?.message).toEqual(kc);
    const step = a.receiveKey(m1?.message as PyValue);
    expect(step.reply).toEqual(Buffer.alloc(32, 0x22));
    expect(a.established).toBe(true);
    send(a, step.reply as Buffer, toC);
    // on the wire that frame is the tuple (Kc, Ka)
    // 3. C unwraps with Kc, stores Ka, sends its hello wrapped as (Ka, hello)
    const m2 = toC.next();
    expect(m2?.message).toEqual(step.reply);
    expect(c.receiveKey(m2?.message as PyValue)).toEqual({ reply: null, established: true });
    send(c, '127.0.0.1:21002', toA);
    expect(toA.next()?.message).toBe('127.0.0.1:21002');
    // 4. both directions wrapped with the peer's key
    send(a, dict({ type: 'response_vote', term: 1 }), toC);
    expectPyEqual(toC.next()?.message, dict({ type: 'response_vote', term: 1 }));
    expect(c.sendRandKey).toEqual(a.recvRandKey);
    expect(a.sendRandKey).toEqual(c.recvRandKey);
    expectPyEqual(a.wrap('m'), tuple(kc, 'm'));
    expect(c.unwrap(tuple(kc, 'm'))).toBe('m');
    expectWireError(() => c.unwrap(tuple(Buffer.alloc(32), 'm')), WireErrorCode.BadRandKey);
    c.reset();
    expect(c.sendRandKey).toBeNull();
    expect(c.recvRandKey).toBeNull();
  });

  it('keys changed by a handler apply from the very next frame, even within one chunk', () => {
    const a = new RandKeyExchange('acceptor', counterRandom(1));
    const kc = Buffer.alloc(32, 9);
    // connector key, then a hello already wrapped with the key the acceptor will draw (0x01…)
    const stream = Buffer.concat([
      encodeFrame(kc, { fernet }),
      encodeFrame('127.0.0.1:1', { fernet, sendRandKey: Buffer.alloc(32, 1) }),
    ]);
    const dec = new FrameDecoder({ fernet, keys: a });
    dec.push(stream);
    const out: PyValue[] = [];
    for (const f of dec) {
      if (a.awaitingPeerKey) a.receiveKey(f.message);
      else out.push(f.message);
    }
    expect(out).toEqual(['127.0.0.1:1']);
  });

  it('rejects a peer key that is not non-empty bytes, and misuse', () => {
    expectWireError(
      () => new RandKeyExchange('acceptor').receiveKey('127.0.0.1:1'),
      WireErrorCode.BadRandKey,
    );
    expectWireError(
      () => new RandKeyExchange('acceptor').receiveKey(Buffer.alloc(0)),
      WireErrorCode.BadRandKey,
    );
    expectWireError(
      () => new RandKeyExchange('connector').receiveKey(Buffer.alloc(32)),
      WireErrorCode.BadRandKey,
    );
    const a = new RandKeyExchange('acceptor');
    a.receiveKey(Buffer.alloc(32));
    expectWireError(() => a.receiveKey(Buffer.alloc(32)), WireErrorCode.BadRandKey);
    expect(() => a.start()).toThrow();
    expect(new RandKeyExchange('connector').start()).toHaveLength(32); // crypto.randomBytes by default
  });
});

// ----------------------------------------------------------------------------------------------

const plainStreamVectors = [...byKind('frame'), ...byKind('frame-stream')];

function expectedMessages(v: Vector): PyValue[] {
  const val = fromTypedJson(v.value as TypedJson);
  return v.kind === 'frame-stream' ? (val as PyValue[]) : [val];
}

describe('incremental decoding', () => {
  const all = Buffer.concat(plainStreamVectors.map((v) => vectorBytes(v.file)));
  const allExpected = plainStreamVectors.flatMap(expectedMessages);

  it('every vector stream split at every byte boundary (one cut) gives the same messages', () => {
    for (const v of [...plainStreamVectors, ...byKind('frame-real').filter((x) => !x.encrypted)]) {
      const bytes = vectorBytes(v.file);
      const expected = v.kind === 'frame-real' ? [fromTypedJson(v.value as TypedJson)] : expectedMessages(v);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const got = decodeChunked(bytes, [cut]);
        expect(got.length, `${v.name} cut ${cut}`).toBe(expected.length);
        got.forEach((m, i) => {
          expectPyEqual(m, expected[i] as PyValue);
        });
      }
    }
  });

  it('the concatenation of all plain vector frames, fed one byte at a time', () => {
    const cuts = Array.from({ length: all.length - 1 }, (_, i) => i + 1);
    const got = decodeChunked(all, cuts);
    expect(got).toHaveLength(allExpected.length);
    got.forEach((m, i) => {
      expectPyEqual(m, allExpected[i] as PyValue);
    });
  });

  it('random chunkings (seeded) of plain and encrypted streams', () => {
    let seed = Number(process.env.RAFTDCS_FC_SEED ?? 20240611) >>> 0;
    const rnd = (): number => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed / 2 ** 32;
    };
    const key = Buffer.alloc(32, 0x42);
    const encStream = Buffer.concat(sampleMessages.map((m) => encodeFrame(m, { fernet, sendRandKey: key })));
    for (let round = 0; round < 200; round++) {
      const [bytes, expected, opts] =
        round % 2 === 0
          ? [all, allExpected, {}]
          : [encStream, sampleMessages, { fernet, keys: { recvRandKey: key } }];
      const cuts: number[] = [];
      for (let at = 0; ; ) {
        at += 1 + Math.floor(rnd() * (rnd() < 0.5 ? 8 : 400));
        if (at >= bytes.length) break;
        cuts.push(at);
      }
      const got = decodeChunked(bytes, cuts, opts);
      expect(got.length, `round ${round} seed ${process.env.RAFTDCS_FC_SEED ?? 20240611}`).toBe(
        expected.length,
      );
      got.forEach((m, i) => {
        expectPyEqual(m, expected[i] as PyValue);
      });
    }
  });

  it('keeps received chunks without concatenating them (views for single-chunk frames)', () => {
    const frame = encodeFrame('x'.repeat(10_000));
    const dec = new FrameDecoder();
    dec.push(frame);
    expect(dec.bufferedBytes).toBe(frame.length - 4); // prefix already validated
    expect(dec.next()?.frameBytes).toBe(frame.length);
    expect(dec.bufferedBytes).toBe(0);
    expect(dec.next()).toBeUndefined();
  });

  it('many small chunks stay linear (100k one-byte pushes)', () => {
    const frames = Buffer.concat(Array.from({ length: 200 }, (_, i) => encodeFrame(`m${i}`.repeat(20))));
    const dec = new FrameDecoder();
    const t0 = performance.now();
    let n = 0;
    for (let r = 0; r < Math.ceil(100_000 / frames.length); r++) {
      for (let i = 0; i < frames.length; i++) {
        dec.push(frames.subarray(i, i + 1));
        for (const _ of dec) n++;
      }
    }
    expect(n % 200).toBe(0);
    expect(performance.now() - t0).toBeLessThan(10_000);
  });
});

// ----------------------------------------------------------------------------------------------

describe('errors: distinct WireError codes, sticky', () => {
  const prefix = (n: number): Buffer => {
    const b = Buffer.alloc(4);
    b.writeInt32LE(n);
    return b;
  };

  it('over-size length prefix is rejected before the payload is buffered', () => {
    const dec = new FrameDecoder({ maxFrameBytes: 1000 });
    dec.push(prefix(1001));
    expect(dec.bufferedBytes).toBe(0);
    expectWireError(() => dec.next(), WireErrorCode.FrameTooLarge);
    dec.push(Buffer.alloc(2000)); // ignored after the failure
    expect(dec.bufferedBytes).toBe(0);
    expectWireError(() => dec.next(), WireErrorCode.FrameTooLarge); // sticky
    // default limit 64 MiB
    const d2 = new FrameDecoder();
    expect(d2.maxFrameBytes).toBe(64 * 1024 * 1024);
    d2.push(prefix(64 * 1024 * 1024 + 1));
    expectWireError(() => d2.next(), WireErrorCode.FrameTooLarge);
    // exactly the limit is fine (waits for the payload)
    const d3 = new FrameDecoder({ maxFrameBytes: 1000 });
    d3.push(prefix(1000));
    expect(d3.next()).toBeUndefined();
  });

  it('an over-size frame after a valid one: the valid one is delivered first', () => {
    const dec = new FrameDecoder({ maxFrameBytes: 1000 });
    dec.push(Buffer.concat([encodeFrame('ok'), prefix(5000)]));
    expect(dec.next()?.message).toBe('ok');
    expectWireError(() => dec.next(), WireErrorCode.FrameTooLarge);
  });

  it('negative length', () => {
    for (const n of [-1, -(2 ** 31)]) {
      const dec = new FrameDecoder();
      dec.push(prefix(n));
      expectWireError(() => dec.next(), WireErrorCode.FrameNegativeLength);
    }
  });

  it('truncated at end of stream (inside the prefix and inside the payload), not before end()', () => {
    const frame = encodeFrame('hello');
    for (const cut of [1, 3, 4, 5, frame.length - 1]) {
      const dec = new FrameDecoder();
      dec.push(frame.subarray(0, cut));
      expect(dec.next()).toBeUndefined();
      dec.end();
      expectWireError(() => dec.next(), WireErrorCode.FrameTruncated);
    }
    const ok = new FrameDecoder();
    ok.push(frame);
    ok.end();
    expect(ok.next()?.message).toBe('hello');
    expect(ok.next()).toBeUndefined();
  });

  it('bad zlib: garbage, truncated stream, empty payload, wrong checksum', () => {
    const good = payloadOf(encodeFrame('hello world'));
    const bad = Buffer.from(good);
    bad[bad.length - 1] = (bad[bad.length - 1] ?? 0) ^ 0xff;
    for (const payload of [
      Buffer.from('not zlib'),
      good.subarray(0, good.length - 3),
      Buffer.alloc(0),
      bad,
    ]) {
      expectWireError(() => decodeAll(prefixFrame(payload)), WireErrorCode.BadZlib);
    }
  });

  it('zlib bomb: inflation stops at maxInflatedBytes', () => {
    const bomb = deflateSync(Buffer.alloc(50 * 1024 * 1024), { level: 9 }); // ~50 KiB
    expect(bomb.length).toBeLessThan(100_000);
    const e = expectWireError(
      () => decodeAll(prefixFrame(bomb), { maxInflatedBytes: 1024 * 1024 }),
      WireErrorCode.BadZlib,
    );
    expect(e.message).toMatch(/limit/);
    expect(new FrameDecoder().maxInflatedBytes).toBe(128 * 1024 * 1024);
  });

  it('bad pickle is propagated from the pickle decoder', () => {
    for (const p of ['80', '8002', '80025d', '800263', 'ff2e', '']) {
      const frame = prefixFrame(deflateSync(Buffer.from(p, 'hex')));
      try {
        decodeAll(frame);
        throw new Error(`pickle ${p} was accepted`);
      } catch (e) {
        expect(e).toBeInstanceOf(WireError);
        expect([WireErrorCode.BadPickle, WireErrorCode.PickleLimit, WireErrorCode.ForbiddenGlobal]).toContain(
          (e as WireError).code,
        );
      }
    }
    // a forbidden global: os.system
    const evil = prefixFrame(deflateSync(Buffer.from("cos\nsystem\n(S'true'\ntR.", 'latin1')));
    expectWireError(() => decodeAll(evil), WireErrorCode.ForbiddenGlobal);
  });

  it('bad token: not base64, wrong version, too short, misaligned, wrong password, plain frame to an encrypted decoder', () => {
    const tok = payloadOf(encodeFrame('x', { fernet }));
    const bin = Buffer.from(tok.toString('latin1'), 'base64url');
    const b64 = (b: Buffer): Buffer => {
      const t = b.toString('base64url');
      return Buffer.from(t + '='.repeat((4 - (t.length % 4)) % 4));
    };
    const v81 = Buffer.from(bin);
    v81[0] = 0x81;
    const cases: [string, Buffer][] = [
      ['bad alphabet', Buffer.from(tok.toString('latin1').replace(/^g/, '+'))],
      ['missing padding', Buffer.from(tok.toString('latin1').replace(/=+$/, ''))],
      ['empty', Buffer.alloc(0)],
      ['version', b64(v81)],
      ['too short', b64(bin.subarray(0, 60))],
      [
        'misaligned',
        b64(Buffer.concat([bin.subarray(0, bin.length - 32), Buffer.alloc(1), bin.subarray(-32)])),
      ],
      ['other password', payloadOf(encodeFrame('x', { fernet: Fernet.fromPassword('other') }))],
      ['plain frame', payloadOf(encodeFrame('x'))],
    ];
    for (const [name, payload] of cases) {
      const e = expectWireError(() => decodeAll(prefixFrame(payload), { fernet }), WireErrorCode.BadToken);
      expect(e.message.length, name).toBeGreaterThan(10);
    }
  });

  it('tampered HMAC, IV, ciphertext or timestamp → BadToken (HMAC checked first)', () => {
    const tok = payloadOf(encodeFrame(dict({ type: 'x' }), { fernet }));
    const bin = Buffer.from(tok.toString('latin1'), 'base64url');
    for (const at of [0 + 3, 9 + 2, 30, bin.length - 1]) {
      const t = Buffer.from(bin);
      t[at] = (t[at] ?? 0) ^ 1;
      const s = t.toString('base64url');
      const text = Buffer.from(s + '='.repeat((4 - (s.length % 4)) % 4));
      const e = expectWireError(() => fernet.decrypt(text), WireErrorCode.BadToken);
      expect(e.message).toMatch(/HMAC/);
    }
  });

  it('bad PKCS#7 padding under a valid HMAC (only a key holder can make one) → BadToken', () => {
    const key = deriveFernetKey(PASSWORD);
    const iv = Buffer.alloc(16);
    const sealed = (block: Buffer): Buffer => {
      const c = createCipheriv('aes-128-cbc', key.subarray(16), iv);
      c.setAutoPadding(false);
      const head = Buffer.concat([Buffer.from([0x80]), Buffer.alloc(8), iv, c.update(block), c.final()]);
      const bin = Buffer.concat([head, createHmac('sha256', key.subarray(0, 16)).update(head).digest()]);
      const t = bin.toString('base64url');
      return Buffer.from(t + '='.repeat((4 - (t.length % 4)) % 4));
    };
    const lastByte = (b: number, prev = 0x41): Buffer =>
      Buffer.concat([Buffer.alloc(15, prev), Buffer.from([b])]);
    expect(fernet.decrypt(sealed(lastByte(0x01))).plaintext).toEqual(Buffer.alloc(15, 0x41)); // control
    for (const block of [lastByte(0x11), lastByte(0x00), lastByte(0x02), lastByte(0x10, 0x0f)]) {
      const e = expectWireError(() => fernet.decrypt(sealed(block)), WireErrorCode.BadToken);
      expect(e.message).toMatch(/padding/);
    }
  });

  it('wrong or missing rand key → BadRandKey', () => {
    const key = Buffer.alloc(32, 1);
    const cases: [PyValue, FrameDecoderOptions][] = [
      [tuple(Buffer.alloc(32, 2), 'm'), { keys: { recvRandKey: key } }],
      ['m', { keys: { recvRandKey: key } }],
      [tuple(key), { keys: { recvRandKey: key } }],
      [tuple(key, 'm', 'n'), { keys: { recvRandKey: key } }],
      [[key, 'm'], { keys: { recvRandKey: key } }],
      [tuple('k', 'm'), { keys: { recvRandKey: key } }],
    ];
    for (const [value, opts] of cases) {
      expectWireError(() => decodeAll(encodeFrame(value), opts), WireErrorCode.BadRandKey);
      expectWireError(
        () => decodeAll(encodeFrame(value, { fernet }), { ...opts, fernet }),
        WireErrorCode.BadRandKey,
      );
    }
  });

  it('decreasing token timestamps are rejected only when asked (0.3.14 behaviour)', () => {
    const at = (s: number): Buffer => encodeFrame('m', { fernet, clock: { nowSec: () => s } });
    const stream = Buffer.concat([at(100), at(100), at(99)]);
    expect(decodeAll(stream, { fernet })).toHaveLength(3);
    const dec = new FrameDecoder({ fernet, requireNonDecreasingTimestamps: true });
    dec.push(stream);
    expect(dec.next()?.tokenTimestampSec).toBe(100n);
    expect(dec.next()?.tokenTimestampSec).toBe(100n);
    expectWireError(() => dec.next(), WireErrorCode.BadToken);
    expect(dec.lastTokenTimestampSec).toBe(100n);
  });

  it('neither very old nor far-future timestamps are rejected (no TTL)', () => {
    for (const s of [0, 1, 1340, 1795683771, 2 ** 53]) {
      const frame = encodeFrame('m', { fernet, clock: { nowSec: () => s } });
      expect(decodeAll(frame, { fernet })).toEqual(['m']);
    }
    const big = fernet.encrypt(Buffer.from('x'), { timestampSec: 2n ** 64n - 1n });
    expect(fernet.decrypt(big).timestampSec).toBe(2n ** 64n - 1n);
    expect(() => fernet.encrypt(Buffer.from('x'), { timestampSec: -1 })).toThrow(RangeError);
  });

  it('decodeFramePayload is the same pipeline without the stream', () => {
    const key = Buffer.alloc(32, 4);
    const f = encodeFrame('m', { fernet, sendRandKey: key, clock: { nowSec: () => 5 } });
    const d = decodeFramePayload(payloadOf(f), { fernet, recvRandKey: key });
    expect(d).toEqual({ message: 'm', tokenTimestampSec: 5n, frameBytes: f.length });
  });
});

describe('MonotonicSecondsClock', () => {
  it('starts at the wall clock and follows the monotonic clock only', () => {
    let mono = 5_000_000_000n;
    let wall = 1_700_000_000_500;
    const clock = new MonotonicSecondsClock(
      () => wall,
      () => mono,
    );
    expect(clock.nowSec()).toBe(1_700_000_000);
    wall -= 3_600_000; // the wall clock steps back an hour: no effect
    mono += 2_500_000_000n;
    expect(clock.nowSec()).toBe(1_700_000_002);
    mono -= 10_000_000_000n; // a broken injected source never makes it decrease
    expect(clock.nowSec()).toBe(1_700_000_002);
    const real = new MonotonicSecondsClock();
    const a = real.nowSec();
    expect(Math.abs(a - Date.now() / 1000)).toBeLessThan(2);
    expect(real.nowSec()).toBeGreaterThanOrEqual(a);
  });
});
