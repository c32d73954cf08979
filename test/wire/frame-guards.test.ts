/**
 * The guards of the frame layer that the mutation run of `src/wire/frame.ts` found unpinned: a
 * message carrying another connection's random key (same length or not) is refused, the random-key
 * exchange refuses to be driven out of order and says when it is established, a frame decoder
 * refuses limits it cannot honour, and a bad frame is reported at its own stream offset.
 */
import { describe, expect, it } from 'vitest';
import { WireError, WireErrorCode } from '../../src/wire/errors.js';
import {
  encodeFrame,
  FrameDecoder,
  RAND_KEY_BYTES,
  RandKeyExchange,
  unwrapRandKey,
} from '../../src/wire/frame.js';
import { tuple } from '../../src/wire/value.js';

function wireError(fn: () => unknown): WireError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(WireError);
    return e as WireError;
  }
  throw new Error('expected a WireError');
}

const key = (byte: number, n = RAND_KEY_BYTES) => Buffer.alloc(n, byte);

describe('the random key a message carries', () => {
  it("is this connection's key exactly: other bytes of the same length, or another length, are refused", () => {
    expect(unwrapRandKey(tuple(key(1), 'm'), key(1))).toBe('m');
    for (const other of [key(2), key(1, RAND_KEY_BYTES - 1), key(1, RAND_KEY_BYTES + 1)]) {
      const e = wireError(() => unwrapRandKey(tuple(other, 'm'), key(1)));
      expect(e.code).toBe(WireErrorCode.BadRandKey);
      expect(e.message).toMatch(/different rand key/);
    }
    const notPair = wireError(() => unwrapRandKey('m', key(1)));
    expect(notPair.message).toMatch(/expected the tuple \(rand_key, message\), got 'm'/);
  });
});

describe('the random-key exchange', () => {
  it('connector: start, then the peer key; established only with both', () => {
    const c = new RandKeyExchange('connector', (n) => key(7, n));
    expect(c.established).toBe(false);
    expect(() => c.receiveKey(key(9))).toThrow(/before start\(\)/);
    expect(c.start()).toEqual(key(7));
    expect(c.established).toBe(false);
    expect(c.awaitingPeerKey).toBe(true);
    expect(() => c.start()).toThrow(/already started/);
    expect(c.receiveKey(key(9))).toEqual({ reply: null, established: true });
    expect(c.established).toBe(true);
    expect(() => c.receiveKey(key(9))).toThrow(/already received/);
    expect(c.wrap('m')).toEqual(tuple(key(9), 'm'));
    expect(c.unwrap(tuple(key(7), 'm'))).toBe('m');
    expect(() => c.unwrap(tuple(key(9), 'm'))).toThrow(WireError);
    c.reset();
    expect(c.established).toBe(false);
    expect(c.wrap('m')).toBe('m');
  });

  it('acceptor: answers the peer key with its own; never starts; refuses a key that is not bytes', () => {
    const a = new RandKeyExchange('acceptor', (n) => key(5, n));
    expect(() => a.start()).toThrow(/for the connector/);
    for (const bad of ['text', Buffer.alloc(0), 3]) {
      expect(wireError(() => a.receiveKey(bad)).message).toMatch(/expected the peer's random key/);
    }
    expect(a.established).toBe(false);
    expect(a.receiveKey(key(6))).toEqual({ reply: key(5), established: true });
    expect(a.established).toBe(true);
    expect(a.sendRandKey).toEqual(key(6));
    expect(a.recvRandKey).toEqual(key(5));
  });

  it('a random source that returns the wrong number of bytes is an error, not a short key', () => {
    const c = new RandKeyExchange('connector', () => key(1, 8));
    expect(() => c.start()).toThrow(/random source returned 8 bytes/);
  });
});

describe('frame decoder limits and offsets', () => {
  it('refuses limits that are not whole numbers within what it can honour, naming the option', () => {
    for (const v of [0, -1, 1.5, Number.NaN, 2 ** 31]) {
      expect(() => new FrameDecoder({ maxFrameBytes: v })).toThrow(/maxFrameBytes must be an integer/);
    }
    for (const v of [0, 2 ** 32 + 1]) {
      expect(() => new FrameDecoder({ maxInflatedBytes: v })).toThrow(/maxInflatedBytes must be an integer/);
    }
    expect(new FrameDecoder({ maxFrameBytes: 1, maxInflatedBytes: 2 ** 32 }).maxFrameBytes).toBe(1);
    expect(new FrameDecoder({ maxFrameBytes: 2 ** 31 - 1 }).maxFrameBytes).toBe(2 ** 31 - 1);
  });

  it('reports a bad frame at its own offset in the stream, after good ones', () => {
    const good = encodeFrame('first');
    const negative = Buffer.from([0xff, 0xff, 0xff, 0xff]);
    const dec = new FrameDecoder();
    dec.push(Buffer.concat([good, good, negative]));
    expect(dec.next()?.message).toBe('first');
    expect(dec.next()?.message).toBe('first');
    const e = wireError(() => dec.next());
    expect(e.code).toBe(WireErrorCode.FrameNegativeLength);
    expect(e.offset).toBe(2 * good.length);

    const small = new FrameDecoder({ maxFrameBytes: good.length - 5 }); // one byte short of its payload
    small.push(Buffer.concat([encodeFrame(''), good]));
    expect(small.next()?.message).toBe('');
    const tooBig = wireError(() => small.next());
    expect(tooBig.message).toMatch(/exceeds the limit/);
    expect(tooBig.offset).toBe(encodeFrame('').length);
  });
});
