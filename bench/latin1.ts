/**
 * Latin-1 text from a Buffer: is the pickle decoder's hand-unrolled `latin1` (String.fromCharCode
 * with one argument per byte up to 16 bytes) or its call of Node's internal `Buffer.latin1Slice`
 * worth keeping over the plain `buf.toString('latin1', a, e)`?
 *
 *   npx tsx bench/latin1.ts            # ~1 s per case and candidate, best of 3 rounds
 *   npx tsx bench/latin1.ts --quick    # shorter
 *   npx tsx bench/latin1.ts --part micro|decoder
 *
 * Candidates (each first checked on all 256 byte values against a per-byte reference):
 *   unrolled      the decoder's former `latin1`: a switch on the length, fromCharCode(b[a], ...)
 *                 up to 16 bytes, latin1Slice above (cases 9–15 omitted here: no case has them)
 *   latin1Slice   Node's undocumented `Buffer.prototype.latin1Slice(a, e)` (what toString calls)
 *   toString      `buf.toString('latin1', a, e)` — the documented API
 *   loop          `s += fromCharCode(b[i])` up to 16 bytes, toString above
 *   fromCharCode  `String.fromCharCode.apply(null, buf.subarray(...))`, in 8 KiB chunks
 *   TextDecoder   `new TextDecoder('latin1')` — WHATWG maps 'latin1' to windows-1252, which differs
 *                 for 0x80–0x9F: NOT a correct replacement (reported, never chosen)
 *
 * Cases: short strings as a pickled Patroni record holds them (dict keys, addresses: 5, 8, 16, 28
 * and 50 bytes, each call at another offset of a 64 KiB buffer) and one 1 MiB string. Then the
 * decoder as built: decodePickle of a 100-entry append_entries (bench/codec.ts), decodeMethodCall of
 * 100 Patroni `_set` commands, decodePickle of a 10,000-record dump dict.
 *
 * Figures: Node 20.20, this 2-core machine while two long test campaigns ran on it, `nice -n 10`,
 * so noisy (±50 % between runs). ns per call, best of 3 rounds of 1 s (1 MiB in µs):
 *
 *   case        unrolled  latin1Slice  toString   loop  fromCharCode  TextDecoder
 *   5 B             32.8      112        133      68.2      173          291
 *   8 B             33.1      109        156      85.1      170          243
 *   16 B            54.9       81.0      117       235      206          358
 *   28 B            95.8       88.7      114       128      246          292
 *   50 B            84.0       86.7      127       126      401          388
 *   1 MiB (µs)       477      492        527       326     7106         4415
 *
 * The decoder with unrolled + latin1Slice (A) against plain toString (B), three alternating runs
 * each (best | other two):
 *
 *                                      A                          B
 *   append_entries, 100 entries     135.6 | 162.6, 147.1 µs    148.5 | 259.6, 182.3 µs
 *   100 `_set` commands             254.9 | 374.3, 296.3 µs    247.5 | 279.2, 283.8 µs
 *   dump dict, 10,000 records       57.8 | 95.6, 104.2 ms      43.9 | 55.9, 62.6 ms
 *
 * TextDecoder('latin1') gave Latin-1 here (Node 20 decodes it as ISO-8859-1), but the WHATWG
 * standard makes 'latin1' windows-1252 (0x80–0x9F become '€', '‚', ...), which a Node that follows
 * it returns: never a correct replacement, whatever this machine says.
 *
 * Decision: the unrolled form is 2–4× faster per string of ≤ 16 bytes, but that is tens of ns a
 * string, and in the decoder the difference is inside the noise (the best runs differ by 8 % one
 * way on a message, 3 % and 24 % the other way on commands and dumps). So the decoder uses the plain
 * `buf.toString('latin1', a, e)` (src/wire/pickle/text.ts); the 180-line switch and the call of the
 * internal latin1Slice are gone. Rerun this file before bringing either back.
 */
import { parseArgs } from 'node:util';
import { decodeMethodCall, encodeMethodCall } from '../src/raft/commands.js';
import { decodePickle, encodePickle } from '../src/wire/pickle/index.js';
import { PyFloat, type PyValue } from '../src/wire/value.js';
import { sampleAppendEntries } from './codec.js';

/** Node's undocumented but long-stable Buffer slice method. */
interface FastBuffer extends Buffer {
  latin1Slice(start: number, end: number): string;
}

const fromCharCode = String.fromCharCode;

/** The decoder's former hand-unrolled form (the lengths measured here; one argument per byte). */
function unrolled(b: Buffer, a: number, e: number): string {
  switch (e - a) {
    case 0:
      return '';
    case 1:
      return fromCharCode(b[a] as number);
    case 2:
      return fromCharCode(b[a] as number, b[a + 1] as number);
    case 3:
      return fromCharCode(b[a] as number, b[a + 1] as number, b[a + 2] as number);
    case 4:
      return fromCharCode(b[a] as number, b[a + 1] as number, b[a + 2] as number, b[a + 3] as number);
    case 5:
      return fromCharCode(
        b[a] as number,
        b[a + 1] as number,
        b[a + 2] as number,
        b[a + 3] as number,
        b[a + 4] as number,
      );
    case 6:
      return fromCharCode(
        b[a] as number,
        b[a + 1] as number,
        b[a + 2] as number,
        b[a + 3] as number,
        b[a + 4] as number,
        b[a + 5] as number,
      );
    case 7:
      return fromCharCode(
        b[a] as number,
        b[a + 1] as number,
        b[a + 2] as number,
        b[a + 3] as number,
        b[a + 4] as number,
        b[a + 5] as number,
        b[a + 6] as number,
      );
    case 8:
      return fromCharCode(
        b[a] as number,
        b[a + 1] as number,
        b[a + 2] as number,
        b[a + 3] as number,
        b[a + 4] as number,
        b[a + 5] as number,
        b[a + 6] as number,
        b[a + 7] as number,
      );
    case 16:
      return fromCharCode(
        b[a] as number,
        b[a + 1] as number,
        b[a + 2] as number,
        b[a + 3] as number,
        b[a + 4] as number,
        b[a + 5] as number,
        b[a + 6] as number,
        b[a + 7] as number,
        b[a + 8] as number,
        b[a + 9] as number,
        b[a + 10] as number,
        b[a + 11] as number,
        b[a + 12] as number,
        b[a + 13] as number,
        b[a + 14] as number,
        b[a + 15] as number,
      );
    default:
      return (b as FastBuffer).latin1Slice(a, e);
  }
}

const CHUNK = 8192;

function fromCharCodeChunks(b: Buffer, a: number, e: number): string {
  if (e - a <= CHUNK) return fromCharCode.apply(null, b.subarray(a, e) as unknown as number[]);
  let out = '';
  for (let i = a; i < e; i += CHUNK) {
    out += fromCharCode.apply(null, b.subarray(i, Math.min(e, i + CHUNK)) as unknown as number[]);
  }
  return out;
}

/** a loop of one-character strings up to 16 bytes, toString above */
function loop(b: Buffer, a: number, e: number): string {
  if (e - a > 16) return b.toString('latin1', a, e);
  let s = '';
  for (let i = a; i < e; i++) s += fromCharCode(b[i] as number);
  return s;
}

const windows1252 = new TextDecoder('latin1');

type Candidate = (b: Buffer, a: number, e: number) => string;

const CANDIDATES: readonly (readonly [string, Candidate])[] = [
  ['unrolled', unrolled],
  ['latin1Slice', (b, a, e) => (b as FastBuffer).latin1Slice(a, e)],
  ['toString', (b, a, e) => b.toString('latin1', a, e)],
  ['loop', loop],
  ['fromCharCode', fromCharCodeChunks],
  ['TextDecoder', (b, a, e) => windows1252.decode(b.subarray(a, e))],
];

/** whether `fn` decodes every byte value (alone and in runs of each tested length) as Latin-1 */
function correct(fn: Candidate): boolean {
  const all = Buffer.alloc(256);
  for (let i = 0; i < 256; i++) all[i] = i;
  for (const len of [1, 5, 8, 16, 28, 50, 256]) {
    for (let a = 0; a + len <= 256; a += len) {
      let want = '';
      for (let i = a; i < a + len; i++) want += fromCharCode(i);
      if (fn(all, a, a + len) !== want) return false;
    }
  }
  return true;
}

/** ns per call of `fn` over `starts` (each a `len`-byte string of `buf`), for about `ms` */
function measure(fn: Candidate, buf: Buffer, starts: Uint32Array, len: number, ms: number): number {
  let calls = 0;
  let sink = 0;
  const t0 = performance.now();
  let t = t0;
  while (t - t0 < ms) {
    for (let i = 0; i < starts.length; i++) {
      const a = starts[i] as number;
      sink += fn(buf, a, a + len).length;
    }
    calls += starts.length;
    t = performance.now();
  }
  if (sink === -1) console.log('unreachable');
  return ((t - t0) * 1e6) / calls;
}

/** printable ASCII with some Latin-1 letters, as keys and addresses hold */
function sampleBuffer(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1_103_515_245 + 12_345) >>> 0;
    const r = x >>> 16;
    b[i] = r % 50 === 0 ? 0xc0 + (r % 64) : 0x20 + (r % 95);
  }
  return b;
}

function values(): { quick: boolean; part: string } {
  const { values } = parseArgs({
    options: { quick: { type: 'boolean', default: false }, part: { type: 'string', default: 'all' } },
  });
  return { quick: values.quick === true, part: values.part ?? 'all' };
}

function main(): void {
  const ms = values().quick ? 200 : 1000;
  const rounds = 3;
  const ok = new Map(CANDIDATES.map(([name, fn]) => [name, correct(fn)]));
  for (const [name, good] of ok) if (!good) console.log(`${name}: NOT Latin-1 (wrong on some bytes)`);
  if (ok.get('TextDecoder'))
    console.log("TextDecoder('latin1') is Latin-1 on this Node, windows-1252 by the standard");

  const small = sampleBuffer(64 * 1024, 7);
  const big = sampleBuffer(1024 * 1024, 11);
  const cases: { label: string; buf: Buffer; len: number; starts: Uint32Array; unit: number }[] = [];
  for (const len of [5, 8, 16, 28, 50]) {
    const starts = new Uint32Array(1024);
    for (let i = 0; i < starts.length; i++) starts[i] = (i * 61) % (small.length - len);
    cases.push({ label: `${len} B`, buf: small, len, starts, unit: 1 });
  }
  cases.push({ label: '1 MiB (µs)', buf: big, len: big.length, starts: new Uint32Array(1), unit: 1000 });

  console.log(['case', ...CANDIDATES.map(([n]) => n)].map((s) => s.padStart(13)).join(''));
  for (const c of cases) {
    const best = CANDIDATES.map(() => Number.POSITIVE_INFINITY);
    for (let r = 0; r < rounds; r++) {
      for (const [i, [, fn]] of CANDIDATES.entries()) {
        const ns = measure(fn, c.buf, c.starts, c.len, ms) / c.unit;
        if (ns < (best[i] as number)) best[i] = ns;
      }
    }
    console.log(
      [c.label, ...best.map((v) => (v < 100 ? v.toFixed(1) : v.toFixed(0)))]
        .map((s) => s.padStart(13))
        .join(''),
    );
  }
}

/** a dump-like dict: Patroni keys → records, as a full dump of a 1,000-member cluster holds */
function sampleDump(keys: number): PyValue {
  const m = new Map<string, PyValue>();
  for (let i = 0; i < keys; i++) {
    m.set(
      `/service/batman/members/pg${i}`,
      new Map<string, PyValue>([
        ['value', `{"conn_url":"postgres://10.0.${i >> 8}.${i & 255}:5432/postgres","state":"running"}`],
        ['index', 1000 + i],
        ['created', new PyFloat(1_795_682_935.99 + i)],
        ['updated', new PyFloat(1_795_682_935.99 + i)],
        ['expire', new PyFloat(1_795_682_965.99 + i)],
      ]),
    );
  }
  return m;
}

/** µs per call of `fn`, best of `rounds` runs of about `ms` */
function perCall(fn: () => void, ms: number, rounds: number): number {
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    let calls = 0;
    const t0 = performance.now();
    let t = t0;
    while (t - t0 < ms) {
      fn();
      calls++;
      t = performance.now();
    }
    best = Math.min(best, ((t - t0) * 1000) / calls);
  }
  return best;
}

/** the decoder as it is built now: one message and its commands, and a dump */
function decoderFigures(ms: number): void {
  const message = encodePickle(sampleAppendEntries(100));
  const commands: Uint8Array[] = [];
  for (let i = 0; i < 100; i++) {
    commands.push(
      encodeMethodCall({
        funcId: 2,
        args: [
          `/service/batman/members/pg${i}`,
          new Map<string, PyValue>([
            ['value', '{"state":"running","role":"replica"}'],
            ['updated', new PyFloat(1_795_682_935.99 + i)],
          ]),
        ],
        kwargs: undefined,
      }),
    );
  }
  const dump = encodePickle(sampleDump(10_000));
  const msg = perCall(() => decodePickle(message), ms, 3);
  const cmds = perCall(
    () => {
      for (const c of commands) decodeMethodCall(c);
    },
    ms,
    3,
  );
  const dmp = perCall(() => decodePickle(dump), ms, 3);
  console.log(`decodePickle, 100-entry append_entries (${message.length} B): ${msg.toFixed(1)} µs`);
  console.log(`decodeMethodCall of 100 _set commands: ${cmds.toFixed(1)} µs`);
  console.log(`decodePickle, dump dict of 10,000 records (${dump.length} B): ${(dmp / 1000).toFixed(2)} ms`);
}

const { quick, part } = values();
if (part !== 'decoder') main();
if (part !== 'micro') decoderFigures(quick ? 300 : 2000);
