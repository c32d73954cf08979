/**
 * The real captured conversations (vector kind `capture`): every frame of `frames.bin` decoded
 * through per-connection, per-direction FrameDecoders — replaying the random-key exchange of
 * encrypted scenarios from the frames themselves — must equal the `message` of its `frames.jsonl`
 * line; Fernet fields, wrapper keys, sizes and decoded log commands are checked too.
 */
import { inflateSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { Fernet } from '../../src/wire/fernet.js';
import { FrameDecoder } from '../../src/wire/frame.js';
import { decodePickle } from '../../src/wire/pickle/index.js';
import { isDict, isTuple, type PyValue, pyEquals, pyRepr } from '../../src/wire/value.js';
import { fromTypedJson, type TypedJson } from '../helpers/typed-json.js';
import { vectorBytes, vectorIndex } from '../helpers/vectors.js';

interface JsonlCommand {
  type_byte: number;
  type: string;
  payload?: TypedJson;
  func_name?: string;
  idx?: number;
  term?: number;
}

interface JsonlLine {
  seq: number;
  conn: number;
  dir: 'c2s' | 's2c';
  frame_in_dir: number;
  length_prefix: number;
  offset: number;
  length: number;
  kind: string;
  message: TypedJson;
  pickle_len: number;
  zlib_len?: number;
  fernet?: { version: number; timestamp: number; iv: string; ciphertext_len: number; hmac: string };
  wrapper_randkey?: string;
  commands?: JsonlCommand[];
}

interface Summary {
  password?: string;
  library: string;
  func_ids?: Record<string, string>;
  connections: { conn: number; frames: { c2s: number; s2c: number } }[];
}

const index = vectorIndex();
const captures = index.vectors.filter((v) => v.kind === 'capture');
const fernet = Fernet.fromPassword(index.password);

function fail(msg: string): never {
  throw new Error(msg);
}

function expectPyEqual(actual: PyValue | undefined, expected: PyValue, where: string): void {
  if (actual === undefined || !pyEquals(actual, expected)) {
    fail(
      `${where}: values differ\n  actual:   ${actual === undefined ? 'undefined' : pyRepr(actual)}\n  expected: ${pyRepr(expected)}`,
    );
  }
}

/** The key a side must use: a mutable RecvKeySource per direction. */
interface ConnState {
  connectorKey: Buffer | null; // Kc: what the acceptor's messages carry
  acceptorKey: Buffer | null; // Ka: what the connector's messages carry
  c2sKeys: { recvRandKey: Buffer | null }; // the acceptor's receive key
  s2cKeys: { recvRandKey: Buffer | null }; // the connector's receive key
  c2s: FrameDecoder;
  s2c: FrameDecoder;
  counts: { c2s: number; s2c: number };
}

function checkCommands(line: JsonlLine, message: PyValue, summary: Summary, where: string): number {
  if (!line.commands) return 0;
  if (!isDict(message)) fail(`${where}: commands on a non-dict message`);
  let commands: { bytes: Uint8Array; idx?: PyValue; term?: PyValue }[];
  if (message.get('type') === 'apply_command') {
    commands = [{ bytes: message.get('command') as Uint8Array }];
  } else {
    const entries = message.get('entries');
    if (!Array.isArray(entries)) fail(`${where}: commands without entries`);
    commands = entries.map((e) => {
      if (!isTuple(e) || e.length !== 3) fail(`${where}: entry is not a 3-tuple`);
      return { bytes: e.items[0] as Uint8Array, idx: e.items[1] as PyValue, term: e.items[2] as PyValue };
    });
  }
  expect(commands.length, where).toBe(line.commands.length);
  line.commands.forEach((expected, i) => {
    const c = commands[i];
    if (!c || !(c.bytes instanceof Uint8Array)) fail(`${where}: command ${i} is not bytes`);
    expect(c.bytes[0], `${where} command ${i} type`).toBe(expected.type_byte);
    if (expected.payload !== undefined) {
      const payload = decodePickle(c.bytes.subarray(1));
      expectPyEqual(payload, fromTypedJson(expected.payload), `${where} command ${i}`);
      if (expected.func_name !== undefined && summary.func_ids) {
        const id = isTuple(payload) ? payload.items[0] : payload;
        expect(summary.func_ids[String(id)], `${where} command ${i} func`).toBe(expected.func_name);
      }
    } else {
      expect(c.bytes.length, `${where} command ${i} (${expected.type}) has no payload`).toBe(1);
    }
    if (expected.idx !== undefined) expect(c.idx, `${where} idx`).toBe(expected.idx);
    if (expected.term !== undefined) expect(c.term, `${where} term`).toBe(expected.term);
  });
  return commands.length;
}

describe('capture vectors', () => {
  expect(captures.length).toBeGreaterThan(0);
  for (const v of captures) {
    it(`${v.name}: every frame decodes to its jsonl message`, () => {
      const bin = vectorBytes(String(v.frames_bin));
      const lines = vectorBytes(v.file)
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as JsonlLine);
      const summary = JSON.parse(vectorBytes(String(v.summary)).toString('utf8')) as Summary;
      const encrypted = lines.some((l) => l.fernet !== undefined);
      if (encrypted) expect(summary.password).toBe(index.password);

      const conns = new Map<number, ConnState>();
      let covered = 0;
      let commandsChecked = 0;
      let prevEnd = 0;
      for (const line of lines) {
        const where = `${v.name} seq ${line.seq} (conn ${line.conn} ${line.dir} #${line.frame_in_dir}, ${line.kind})`;
        // layout: frames are back to back in capture order
        expect(line.offset, where).toBe(prevEnd);
        prevEnd = line.offset + line.length;
        const frame = bin.subarray(line.offset, line.offset + line.length);
        expect(frame.length, where).toBe(line.length);
        expect(frame.readInt32LE(0), where).toBe(line.length_prefix);
        expect(line.length, where).toBe(line.length_prefix + 4);
        covered += frame.length;

        let st = conns.get(line.conn);
        if (!st) {
          const c2sKeys = { recvRandKey: null as Buffer | null };
          const s2cKeys = { recvRandKey: null as Buffer | null };
          const opts = encrypted ? { fernet } : {};
          st = {
            connectorKey: null,
            acceptorKey: null,
            c2sKeys,
            s2cKeys,
            c2s: new FrameDecoder({ ...opts, keys: c2sKeys, requireNonDecreasingTimestamps: true }),
            s2c: new FrameDecoder({ ...opts, keys: s2cKeys, requireNonDecreasingTimestamps: true }),
            counts: { c2s: 0, s2c: 0 },
          };
          conns.set(line.conn, st);
        }
        expect(line.frame_in_dir, where).toBe(st.counts[line.dir]);
        st.counts[line.dir]++;

        // the key this frame must carry, derived from the exchange replayed so far
        const usedKey = line.dir === 'c2s' ? st.c2sKeys.recvRandKey : st.s2cKeys.recvRandKey;
        if (line.wrapper_randkey !== undefined) {
          expect(usedKey?.toString('hex'), `${where} wrapper key`).toBe(line.wrapper_randkey);
        } else {
          expect(usedKey, `${where}: unwrapped frame while a key was in force`).toBeNull();
        }

        const dec = line.dir === 'c2s' ? st.c2s : st.s2c;
        dec.push(frame);
        const got = dec.next();
        expect(dec.next(), where).toBeUndefined();
        expect(dec.bufferedBytes, where).toBe(0);
        if (!got) fail(`${where}: no message decoded`);
        expect(got.frameBytes, where).toBe(line.length);
        expectPyEqual(got.message, fromTypedJson(line.message), where);

        // sizes and Fernet fields
        const payload = frame.subarray(4);
        let compressed: Buffer = payload;
        if (line.fernet) {
          const tokenBin = Buffer.from(payload.toString('latin1'), 'base64url');
          expect(tokenBin[0], where).toBe(line.fernet.version);
          expect(tokenBin.subarray(9, 25).toString('hex'), where).toBe(line.fernet.iv);
          expect(tokenBin.subarray(-32).toString('hex'), where).toBe(line.fernet.hmac);
          expect(tokenBin.length - 57, where).toBe(line.fernet.ciphertext_len);
          expect(got.tokenTimestampSec, where).toBe(BigInt(line.fernet.timestamp));
          compressed = fernet.decrypt(payload).plaintext;
          expect(compressed.length, where).toBe(line.zlib_len);
        } else {
          expect(got.tokenTimestampSec, where).toBeUndefined();
        }
        expect(inflateSync(compressed).length, where).toBe(line.pickle_len);

        // replay the random-key exchange (`docs/protocol.md` §4.4) from the decoded frames
        if (encrypted) {
          if (line.dir === 'c2s' && line.frame_in_dir === 0) {
            expect(line.kind, where).toBe('randkey');
            st.connectorKey = Buffer.from(got.message as Uint8Array);
            expect(st.connectorKey.length, where).toBe(32);
            st.s2cKeys.recvRandKey = st.connectorKey; // the connector expects its own key back
          } else if (line.dir === 's2c' && line.frame_in_dir === 0) {
            expect(line.kind, where).toBe('randkey-reply');
            st.acceptorKey = Buffer.from(got.message as Uint8Array);
            expect(st.acceptorKey.length, where).toBe(32);
            st.c2sKeys.recvRandKey = st.acceptorKey;
          }
        }
        commandsChecked += checkCommands(line, got.message, summary, where);
      }
      expect(covered, `${v.name}: frames.jsonl covers frames.bin`).toBe(bin.length);
      for (const c of summary.connections) {
        const st = conns.get(c.conn);
        expect(st?.counts ?? { c2s: 0, s2c: 0 }, `${v.name} conn ${c.conn} frame counts`).toEqual(c.frames);
      }
      expect(lines.some((l) => l.commands) ? commandsChecked : 1).toBeGreaterThan(0);
    });
  }
});
