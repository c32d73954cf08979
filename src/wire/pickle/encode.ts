/**
 * Encoder from PyValue to the canonical protocol-2 pickle of docs/protocol.md §5.2/§5.3.
 *
 * What it is for: producing the bytes pysyncobj peers load for messages, log commands, journal meta
 * files and dumps — byte-identical to CPython's C pickler (`pickle.dumps(v, 2)`) for every value in
 * which CPython shares no object other than the ones canonical form shares: the `''`/1-char str and
 * `b''`/1-byte bytes singletons, the `'latin1'` string of the bytes encoding, repeated GLOBALs, and in
 * a TCPNode state the address (= `_id` object) and the four interned attribute names. Memo numbering
 * (BINPUT/LONG_BINPUT) follows CPython's creation order exactly.
 *
 * What it must never do: emit SHORT_BINSTRING/BINSTRING (Python loads them as str), emit a global
 * the decoder would refuse, encode a JS value outside the model (→ WireError(Unencodable)), or loop
 * forever / overflow the stack on a cyclic or absurdly deep value (→ Unencodable past `maxDepth`).
 *
 * Why hand-written: no maintained npm library writes pickles with Python's int/float, tuple/list and
 * str/bytes distinctions and CPython-identical memo output; the format facts come from CPython's
 * pickle documentation and `pickletools`, the code is our own.
 *
 * The only module state is a reusable output scratch buffer (an allocation cache: a result up to
 * 256 KiB is copied out of it; a larger one takes the buffer with it, so callers never share memory).
 */
import { WireError, WireErrorCode } from '../errors.js';
import {
  NODE_CLASS,
  type PyDict,
  type PyDictKey,
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
  TCP_NODE_CLASS,
} from '../value.js';
import { PyHasher } from './hash.js';
import { Op } from './opcodes.js';

export interface EncodeOptions {
  /**
   * How bytes are written. `'canonical'` (default): CPython's protocol-2 form,
   * `_codecs.encode(<latin-1 text>, 'latin1')` (and `bytes()` for b''), byte-identical to Python.
   * `'binbytes'`: SHORT_BINBYTES/BINBYTES (not memoized) under the same PROTO 2 header — smaller and
   * faster; Python 3 loads it (docs/protocol.md §5.4; vector `accept_proto2_binbytes`), Python 2 would not.
   */
  bytes?: 'canonical' | 'binbytes';
  /** Maximum container nesting (same measure as DecodeLimits.maxDepth). Default 1000. */
  maxDepth?: number;
  /**
   * One byte (0-255) written before the pickle and returned with it — a log command's type byte —
   * so the caller needs no second buffer (and no second allocation in Node's shared Buffer pool,
   * where a dropped copy next to a kept one leaves the pool's slabs half used).
   */
  prefix?: number;
}

export const DEFAULT_ENCODE_MAX_DEPTH = 1000;

const BATCH = 1000;

// GLOBAL arguments, as CPython's protocol-2 pickler spells them (Python 2 module names)
const GL_CODECS_ENCODE = 0;
const GL_BYTES = 1;
const GL_SET = 2;
const GL_FROZENSET = 3;
const GL_TCPNODE = 4;
const GL_NODE = 5;
/** one of the GL_ constants: an index the tuples below are typed for */
type GlobalId = 0 | 1 | 2 | 3 | 4 | 5;
const latin1 = (s: string) => Buffer.from(s, 'latin1');
const GLOBAL_TEXT: readonly [Buffer, Buffer, Buffer, Buffer, Buffer, Buffer] = [
  latin1('_codecs\nencode\n'),
  latin1('__builtin__\nbytes\n'),
  latin1('__builtin__\nset\n'),
  latin1('__builtin__\nfrozenset\n'),
  latin1('pysyncobj.node\nTCPNode\n'),
  latin1('pysyncobj.node\nNode\n'),
];

/** the interned attribute names of a Node/TCPNode state, shared across nodes in one pickle */
const NODE_KEYS: ReadonlyMap<string, 0 | 1 | 2 | 3> = new Map([
  ['_id', 0],
  ['_TCPNode__address', 1],
  ['_TCPNode__host', 2],
  ['_TCPNode__port', 3],
]);

const SCRATCH_SIZE = 64 * 1024;
/** outputs up to this size are copied out of the scratch buffer; larger ones take the buffer itself */
const COPY_MAX = 256 * 1024;
let scratch: Buffer | undefined;

/**
 * Pickle `value` (protocol 2). Canonical by default (see the module comment); throws
 * WireError(Unencodable) for values outside the model.
 */
export function encodePickle(value: PyValue, opts?: EncodeOptions): Buffer {
  const buf = scratch ?? Buffer.allocUnsafe(SCRATCH_SIZE);
  scratch = undefined; // a re-entrant call (from an exotic Map subclass) gets its own buffer
  const e = new Encoder(buf, opts?.bytes === 'binbytes', opts?.maxDepth ?? DEFAULT_ENCODE_MAX_DEPTH);
  let keep: Buffer | undefined = buf;
  try {
    const prefix = opts?.prefix;
    if (prefix !== undefined) {
      if (!Number.isInteger(prefix) || prefix < 0 || prefix > 255)
        throw new WireError(WireErrorCode.Unencodable, `prefix must be a byte, got ${prefix}`);
      e.byte(prefix);
    }
    e.byte2(Op.PROTO, 2);
    e.value(value, 0);
    e.byte(Op.STOP);
    if (e.pos > COPY_MAX) {
      // big output: hand the grown buffer over instead of copying it
      if (e.buf === buf) keep = undefined;
      return e.buf.subarray(0, e.pos);
    }
    const out = Buffer.allocUnsafe(e.pos);
    e.buf.copy(out, 0, 0, e.pos);
    return out;
  } catch (err) {
    if (err instanceof WireError) throw err;
    const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new WireError(WireErrorCode.Unencodable, `cannot encode value: ${why}`);
  } finally {
    scratch = keep;
  }
}

/** Node's undocumented but long-stable Buffer writer (skips write()'s argument handling). */
interface FastBuffer extends Buffer {
  utf8Write(s: string, offset: number): number;
}

/** UTF-8 of a well-formed string into buf at offset; returns the bytes written */
const writeUtf8: (buf: Buffer, s: string, offset: number) => number =
  typeof (Buffer.prototype as Partial<FastBuffer>).utf8Write === 'function'
    ? (buf, s, offset) => (buf as FastBuffer).utf8Write(s, offset)
    : (buf, s, offset) => buf.write(s, offset, 'utf8');

class Encoder {
  pos = 0;
  private memoNext = 0;
  /** memo index of a shared str singleton ('' → key -1, else the char code) */
  private strSingles: Map<number, number> | undefined;
  /** memo index of a shared bytes singleton (b'' → key -1, else the byte) */
  private bytesSingles: Map<number, number> | undefined;
  private latin1Idx = -1;
  /** memo index of each global once pickled (by GlobalId) */
  private readonly globalIdx: [number, number, number, number, number, number] = [-1, -1, -1, -1, -1, -1];
  /** memo index of each interned node attribute name once pickled (by NODE_KEYS value) */
  private readonly nodeKeyIdx: [number, number, number, number] = [-1, -1, -1, -1];

  constructor(
    public buf: Buffer,
    private readonly binbytes: boolean,
    private readonly maxDepth: number,
  ) {}

  // ---------------------------------------------------------------------------------------------
  // output

  private ensure(k: number): void {
    if (this.pos + k <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + k) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  byte2(a: number, b: number): void {
    this.ensure(2);
    this.buf[this.pos++] = a;
    this.buf[this.pos++] = b;
  }

  private u32At(at: number, v: number): void {
    const buf = this.buf;
    buf[at] = v & 0xff;
    buf[at + 1] = (v >>> 8) & 0xff;
    buf[at + 2] = (v >>> 16) & 0xff;
    buf[at + 3] = (v >>> 24) & 0xff;
  }

  private put(): number {
    const idx = this.memoNext++;
    if (idx < 256) {
      this.byte2(Op.BINPUT, idx);
    } else {
      this.ensure(5);
      this.buf[this.pos] = Op.LONG_BINPUT;
      this.u32At(this.pos + 1, idx);
      this.pos += 5;
    }
    return idx;
  }

  private get(idx: number): void {
    if (idx < 256) {
      this.byte2(Op.BINGET, idx);
    } else {
      this.ensure(5);
      this.buf[this.pos] = Op.LONG_BINGET;
      this.u32At(this.pos + 1, idx);
      this.pos += 5;
    }
  }

  private global(which: GlobalId): void {
    const idx = this.globalIdx[which];
    if (idx >= 0) {
      this.get(idx);
      return;
    }
    const text = GLOBAL_TEXT[which];
    this.ensure(1 + text.length);
    this.buf[this.pos++] = Op.GLOBAL;
    text.copy(this.buf, this.pos);
    this.pos += text.length;
    this.globalIdx[which] = this.put();
  }

  // ---------------------------------------------------------------------------------------------
  // values

  value(v: PyValue, level: number): void {
    switch (typeof v) {
      case 'string':
        this.str(v);
        return;
      case 'number':
        this.int(v);
        return;
      case 'boolean':
        this.byte(v ? Op.NEWTRUE : Op.NEWFALSE);
        return;
      case 'bigint':
        this.bigint(v);
        return;
      case 'object':
        break;
      default:
        throw unencodable(`a JavaScript ${typeof v}`);
    }
    if (v === null) {
      this.byte(Op.NONE);
      return;
    }
    if (v instanceof PyFloat) {
      this.ensure(9);
      this.buf[this.pos] = Op.BINFLOAT;
      this.buf.writeDoubleBE(v.value, this.pos + 1);
      this.pos += 9;
      return;
    }
    if (v instanceof Uint8Array) {
      this.bytes(v);
      return;
    }
    if (level >= this.maxDepth) throw unencodable(`nesting deeper than ${this.maxDepth} (or a cycle)`);
    if (Array.isArray(v)) this.list(v, level + 1);
    else if (v instanceof Map) this.dict(v, level + 1);
    else if (v instanceof PyTuple) this.tuple(v.items, level + 1);
    else if (v instanceof PySet) this.set(GL_SET, v.items, level + 1);
    else if (v instanceof PyFrozenSet) this.set(GL_FROZENSET, v.items, level + 1);
    else if (v instanceof PyObject) this.object(v, level + 1);
    else throw unencodable(`an object of class ${(v as object).constructor?.name ?? 'null'}`);
  }

  private int(v: number): void {
    if (v >= 0 && v <= 0xff && Number.isInteger(v)) {
      this.byte2(Op.BININT1, v);
    } else if (v >= 0 && v <= 0xffff && Number.isInteger(v)) {
      this.ensure(3);
      const buf = this.buf;
      buf[this.pos] = Op.BININT2;
      buf[this.pos + 1] = v & 0xff;
      buf[this.pos + 2] = v >>> 8;
      this.pos += 3;
    } else if (v >= -0x8000_0000 && v <= 0x7fff_ffff && Number.isInteger(v)) {
      this.ensure(5);
      this.buf[this.pos] = Op.BININT;
      this.u32At(this.pos + 1, v);
      this.pos += 5;
    } else if (Number.isInteger(v)) {
      if (v >= -(2 ** 47) && v < 2 ** 47) this.smallLong(v);
      else this.bigint(BigInt(v));
    } else {
      throw unencodable(`the number ${v} (floats must be PyFloat, ints must be integers)`);
    }
  }

  /** LONG1 of an integer outside int32 but within ±2^47 (exact in float arithmetic) */
  private smallLong(v: number): void {
    let n = 5;
    while (v < -(2 ** (8 * n - 1)) || v >= 2 ** (8 * n - 1)) n++;
    let x = v < 0 ? v + 2 ** (8 * n) : v;
    this.ensure(2 + n);
    const buf = this.buf;
    buf[this.pos++] = Op.LONG1;
    buf[this.pos++] = n;
    for (let i = 0; i < n; i++) {
      buf[this.pos++] = x % 256;
      x = Math.floor(x / 256);
    }
  }

  private bigint(v: bigint): void {
    if (v >= -0x8000_0000n && v <= 0x7fff_ffffn) {
      this.int(Number(v));
      return;
    }
    // minimal two's complement length: n bytes hold -2^(8n-1) .. 2^(8n-1)-1
    const mag = v < 0n ? -v - 1n : v;
    const hexMag = mag.toString(16);
    const bits = (hexMag.length - 1) * 4 + (32 - Math.clz32(Number.parseInt(hexMag.charAt(0), 16)));
    const n = Math.floor(bits / 8) + 1;
    const u = v < 0n ? (1n << BigInt(8 * n)) + v : v;
    const hex = u.toString(16).padStart(2 * n, '0');
    const le = Buffer.from(hex, 'hex').reverse();
    if (n < 256) {
      this.ensure(2 + n);
      this.buf[this.pos++] = Op.LONG1;
      this.buf[this.pos++] = n;
    } else {
      this.ensure(5 + n);
      this.buf[this.pos] = Op.LONG4;
      this.u32At(this.pos + 1, n);
      this.pos += 5;
    }
    le.copy(this.buf, this.pos);
    this.pos += n;
  }

  /** a str: shared if it is a CPython singleton ('' or one char < U+0100), else BINUNICODE + memo */
  private str(s: string): number {
    if (s.length <= 1) {
      const key = s.length === 0 ? -1 : s.charCodeAt(0);
      if (key < 0x100) {
        this.strSingles ??= new Map();
        const idx = this.strSingles.get(key);
        if (idx !== undefined) {
          this.get(idx);
          return idx;
        }
        this.binUnicode(s);
        const put = this.put();
        this.strSingles.set(key, put);
        return put;
      }
    }
    this.binUnicode(s);
    return this.put();
  }

  private binUnicode(s: string): void {
    const len = s.length;
    this.ensure(5 + 3 * len);
    const buf = this.buf;
    const start = this.pos + 5;
    let p = start;
    if (len > 24 && isWellFormed(s)) {
      // long text: V8 writes UTF-8 natively (well-formed, so no lone surrogate gets replaced)
      p += writeUtf8(buf, s, p);
    } else {
      let i = 0;
      // short text (dict keys, addresses): ASCII in JS beats the native call
      for (; i < len; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) break;
        buf[p++] = c;
      }
      if (i < len) {
        if (isWellFormed(s)) p += writeUtf8(buf, i === 0 ? s : s.slice(i), p);
        else p = writeSurrogatePass(buf, p, s, i);
      }
    }
    buf[this.pos] = Op.BINUNICODE;
    this.u32At(this.pos + 1, p - start);
    this.pos = p;
  }

  private bytes(b: Uint8Array): void {
    const len = b.length;
    if (this.binbytes) {
      if (len < 256) {
        this.ensure(2 + len);
        this.buf[this.pos++] = Op.SHORT_BINBYTES;
        this.buf[this.pos++] = len;
      } else {
        this.ensure(5 + len);
        this.buf[this.pos] = Op.BINBYTES;
        this.u32At(this.pos + 1, len);
        this.pos += 5;
      }
      this.buf.set(b, this.pos);
      this.pos += len;
      return;
    }
    if (len <= 1) {
      // b'' and 1-byte bytes are CPython singletons: pickled once, then BINGET
      const key = b[0] ?? -1;
      this.bytesSingles ??= new Map();
      const idx = this.bytesSingles.get(key);
      if (idx !== undefined) {
        this.get(idx);
        return;
      }
      if (len === 0) {
        this.global(GL_BYTES);
        this.byte2(Op.EMPTY_TUPLE, Op.REDUCE);
      } else {
        this.global(GL_CODECS_ENCODE);
        this.str(String.fromCharCode(key)); // the 1-char Latin-1 text is itself a str singleton
        this.latin1AndReduce();
      }
      this.bytesSingles.set(key, this.put());
      return;
    }
    this.global(GL_CODECS_ENCODE);
    // BINUNICODE of the bytes read as Latin-1: bytes ≥ 0x80 become two UTF-8 bytes
    this.ensure(5 + 2 * len);
    const buf = this.buf;
    const start = this.pos + 5;
    let p = start;
    for (let i = 0; i < len; i++) {
      const c = b[i];
      if (c === undefined) throw unencodable('bytes shorter than their length');
      if (c < 0x80) {
        buf[p++] = c;
      } else {
        buf[p++] = 0xc0 | (c >> 6);
        buf[p++] = 0x80 | (c & 0x3f);
      }
    }
    buf[this.pos] = Op.BINUNICODE;
    this.u32At(this.pos + 1, p - start);
    this.pos = p;
    this.put();
    this.latin1AndReduce();
    this.put();
  }

  /** 'latin1' (shared), TUPLE2, memo, REDUCE — the tail of the bytes form */
  private latin1AndReduce(): void {
    if (this.latin1Idx >= 0) {
      this.get(this.latin1Idx);
    } else {
      this.binUnicode('latin1');
      this.latin1Idx = this.put();
    }
    this.byte(Op.TUPLE2);
    this.put();
    this.byte(Op.REDUCE);
  }

  private tuple(items: readonly PyValue[], level: number): void {
    const n = items.length;
    if (n === 0) {
      this.byte(Op.EMPTY_TUPLE);
      return;
    }
    if (n <= 3) {
      for (const v of items) this.value(v, level);
      this.byte(Op.TUPLE1 + n - 1);
    } else {
      this.byte(Op.MARK);
      for (const v of items) this.value(v, level);
      this.byte(Op.TUPLE);
    }
    this.put();
  }

  private list(items: readonly PyValue[], level: number): void {
    this.byte(Op.EMPTY_LIST);
    this.put();
    this.listItems(items, level);
  }

  private listItems(items: readonly PyValue[], level: number): void {
    const n = items.length;
    let inBatch = 0;
    for (const v of items) {
      if (n > 1 && inBatch === 0) this.byte(Op.MARK);
      this.value(v, level);
      if (++inBatch === BATCH) {
        this.byte(Op.APPENDS);
        inBatch = 0;
      }
    }
    if (n === 1) this.byte(Op.APPEND);
    else if (inBatch > 0) this.byte(Op.APPENDS);
  }

  private dict(d: PyDict, level: number): void {
    this.byte(Op.EMPTY_DICT);
    this.put();
    const n = d.size;
    if (n === 0) return;
    if (n === 1) {
      for (const [k, v] of d) {
        this.key(k);
        this.value(v, level);
      }
      this.byte(Op.SETITEM);
      return;
    }
    let inBatch = 0;
    for (const [k, v] of d) {
      if (inBatch === 0) this.byte(Op.MARK);
      this.key(k);
      this.value(v, level);
      if (++inBatch === BATCH) {
        this.byte(Op.SETITEMS);
        inBatch = 0;
      }
    }
    // CPython's C pickler follows a full batch with another one, even an empty one
    if (inBatch === 0) this.byte(Op.MARK);
    this.byte(Op.SETITEMS);
  }

  private key(k: PyDictKey): void {
    if (k === null || typeof k === 'string' || typeof k === 'boolean' || typeof k === 'bigint') {
      this.value(k, 0);
    } else if (typeof k === 'number' && Number.isInteger(k)) {
      this.int(k);
    } else {
      throw unencodable(`a dict key that is not str/int/bool/None (${String(k)})`);
    }
  }

  private hasher: PyHasher | undefined;

  private set(which: GlobalId, items: readonly PyValue[], level: number): void {
    // Python could not load a set holding a list, dict or set
    this.hasher ??= new PyHasher(true);
    for (const item of items) {
      if (this.hasher.key(item) === undefined) throw unencodable('a set item that Python cannot hash');
    }
    // set(list) via REDUCE, as protocol 2 pickles it
    this.global(which);
    this.byte(Op.EMPTY_LIST);
    this.put();
    if (items.length > 0) this.listItems(items, level);
    this.byte(Op.TUPLE1);
    this.put();
    this.byte(Op.REDUCE);
    this.put();
  }

  private object(o: PyObject, level: number): void {
    let which: GlobalId;
    if (o.className === TCP_NODE_CLASS) which = GL_TCPNODE;
    else if (o.className === NODE_CLASS) which = GL_NODE;
    else throw unencodable(`an object of class ${o.className} (only pysyncobj.node.TCPNode/Node)`);
    if (!(o.state instanceof Map)) throw unencodable('an object whose state is not a dict');
    if (level + 1 > this.maxDepth) throw unencodable(`nesting deeper than ${this.maxDepth} (or a cycle)`);
    this.global(which);
    this.byte2(Op.EMPTY_TUPLE, Op.NEWOBJ);
    this.put();
    // the state dict: attribute names are interned (shared across nodes); the address is the _id object
    const state = o.state;
    this.byte(Op.EMPTY_DICT);
    this.put();
    const n = state.size;
    let idText: string | undefined;
    let idIdx = -1;
    let inBatch = 0;
    for (const [k, v] of state) {
      if (n > 1 && inBatch === 0) this.byte(Op.MARK);
      const nk = typeof k === 'string' ? NODE_KEYS.get(k) : undefined;
      if (nk === undefined) {
        this.key(k);
        this.value(v, level + 1);
      } else {
        const kIdx = this.nodeKeyIdx[nk];
        if (kIdx >= 0) this.get(kIdx);
        else this.nodeKeyIdx[nk] = this.str(k as string);
        if ((nk === 0 || nk === 1) && typeof v === 'string') {
          if (idText === undefined) {
            idText = v;
            idIdx = this.str(v);
          } else if (v === idText) {
            this.get(idIdx);
          } else {
            this.str(v);
          }
        } else {
          this.value(v, level + 1);
        }
      }
      if (n > 1 && ++inBatch === BATCH) {
        this.byte(Op.SETITEMS);
        inBatch = 0;
      }
    }
    if (n === 1) {
      this.byte(Op.SETITEM);
    } else if (n > 1) {
      if (inBatch === 0) this.byte(Op.MARK); // an empty batch after a full one, as CPython writes
      this.byte(Op.SETITEMS);
    }
    this.byte(Op.BUILD);
  }
}

function unencodable(what: string): WireError {
  return new WireError(WireErrorCode.Unencodable, `cannot pickle ${what}`);
}

const hasIsWellFormed = typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function';
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function isWellFormed(s: string): boolean {
  return hasIsWellFormed
    ? (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : !LONE_SURROGATE.test(s);
}

/** UTF-8 with lone surrogates encoded as 3-byte sequences (Python's 'surrogatepass') */
function writeSurrogatePass(buf: Buffer, p: number, s: string, from: number): number {
  const len = s.length;
  for (let i = from; i < len; i++) {
    let c = s.charCodeAt(i);
    if (c < 0x80) {
      buf[p++] = c;
    } else if (c < 0x800) {
      buf[p++] = 0xc0 | (c >> 6);
      buf[p++] = 0x80 | (c & 0x3f);
    } else {
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < len) {
        const d = s.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
          buf[p++] = 0xf0 | (c >> 18);
          buf[p++] = 0x80 | ((c >> 12) & 0x3f);
          buf[p++] = 0x80 | ((c >> 6) & 0x3f);
          buf[p++] = 0x80 | (c & 0x3f);
          continue;
        }
      }
      buf[p++] = 0xe0 | (c >> 12);
      buf[p++] = 0x80 | ((c >> 6) & 0x3f);
      buf[p++] = 0x80 | (c & 0x3f);
    }
  }
  return p;
}
