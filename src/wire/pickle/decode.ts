/**
 * Safe decoder for the pickle subset pysyncobj peers send (protocols 0–5, see docs/protocol.md §5.5).
 *
 * What it is for: turning the bytes of a pysyncobj message, log command, journal meta file or full
 * dump into a PyValue, accepting everything CPython 2/3 picklers emit for the value model.
 *
 * What it must never do:
 *   - resolve a global outside the allow-list (`_codecs.encode`, `bytes`, `set`, `frozenset`,
 *     `pysyncobj.node.TCPNode`/`Node`, `copyreg._reconstructor` and the `object` it names). Python's
 *     unpickler imports and calls anything, which is pysyncobj's remote-code-execution hole
 *     (docs/protocol.md §5); here every other global is a WireError(ForbiddenGlobal);
 *   - throw anything but a WireError (no RangeError from buffer reads, no TypeError, no stack
 *     overflow): the loop is iterative and every length is checked against the input first;
 *   - return a value that is cyclic, nested deeper than `maxDepth`, or that expands (memo sharing
 *     walked as a tree) to more than `maxExpandedSize` values; or allocate a string/bytes larger than
 *     the input that describes it.
 *
 * The opcode interpreter is here; the allow-list of globals is in globals.ts, string decoding in
 * text.ts, int and float parsing in numbers.ts.
 *
 * Why hand-written: no maintained npm library implements a safe, allow-listed pickle subset that keeps
 * Python's int/float, tuple/list and str/bytes distinctions, unbounded ints, and pysyncobj's
 * SHORT_BINSTRING fallback. The format facts come from CPython's pickle documentation and
 * `pickletools`; the code is our own.
 *
 * Departures from CPython's loaders (all stricter; none is hit by what a Python pickler writes for
 * the model; test/wire/pickle-python.test.ts checks them against CPython):
 *   - STOP must leave exactly one value and no open MARK, and nothing may follow STOP;
 *   - a list/dict/set/object may not be modified after it was stored in another container (that is
 *     how cycles form; a cyclic value is refused);
 *   - dict keys must be str/int/bool/None, set items hashable model values;
 *   - FRAME must fit in the input (the C unpickler's rule) and may not be mixed with a non-ASCII
 *     SHORT_BINSTRING/BINSTRING (only pysyncobj's pure-Python fallback loads those, with other frame
 *     rules); INT/LONG/FLOAT text and PUT/GET indexes are plain decimal (the C loader also reads
 *     octal/hex ints and stops at a NUL), and a 2-character INT other than 00/01 that reads as 0 or 1
 *     (" 1", "+0": a bool for the C loader, an int for the Python one) is refused;
 *   - BUILD only on a node object, REDUCE only with a tuple of arguments (CPython's Python loader is
 *     laxer: BUILD with a false state is a no-op on anything, REDUCE spreads a list);
 *   - the allow-listed callables only take the arguments pickles use: `_codecs.encode(str, 'latin1'
 *     | 'latin-1')`, `bytes()` / `bytes(list of ints)`, `set`/`frozenset` of a list/tuple/set, the
 *     node classes through NEWOBJ/NEWOBJ_EX with no arguments or `_reconstructor(cls, object, _)`,
 *     BUILD with a dict (or `(dict, None)`).
 * Python's own rules kept: Python 2 module names (`__builtin__`, `copy_reg`) resolve only in pickles
 * of protocol < 3; a non-ASCII STRING (protocol 0) is refused (pysyncobj's fallback covers only the
 * binary forms); set items dedup by Python equality (True == 1 == 1.0, a NaN only equals itself);
 * dict keys True/1 merge. BYTEARRAY8 decodes to bytes (the model has no bytearray) but stays
 * unhashable, as in Python.
 */
import { WireError, WireErrorCode } from '../errors.js';
import {
  type PyDict,
  type PyDictKey,
  PyFloat,
  PyFrozenSet,
  PyObject,
  PySet,
  PyTuple,
  type PyValue,
} from '../value.js';
import {
  allowedGlobal,
  CODECS_ENCODE,
  G_BYTES,
  G_CODECS_ENCODE,
  G_FROZENSET,
  G_NODE,
  G_OBJECT,
  G_RECONSTRUCTOR,
  G_SET,
  G_TCPNODE,
  GlobalRef,
  isPy2Spelling,
} from './globals.js';
import { PyHasher } from './hash.js';
import { parseFloatText, parseIntText, readLong } from './numbers.js';
import { Op, opcodeLabel } from './opcodes.js';
import {
  clip,
  compactLatin1,
  type Fail,
  latin1,
  NON_LATIN1,
  quotedString,
  rawUnicodeEscape,
  utf8Slice,
  utf8Strict,
} from './text.js';

export { ALLOWED_GLOBALS } from './globals.js';

/** Bounds on what one pickle may describe. */
export interface DecodeLimits {
  /**
   * Maximum nesting depth of containers in the result (a list in a list is depth 2; a TCPNode's
   * state counts as two levels: object, dict). Default 1000 — CPython's own recursion limit means a
   * Python peer cannot pickle anything deeper.
   */
  maxDepth?: number;
  /**
   * Maximum number of values in the result counted as a tree: every container, dict key and leaf,
   * with a memo-shared value counted once per place it appears. Bounds the "billion laughs" DAG a
   * small pickle can describe with memo GETs. Default 10 000 000.
   */
  maxExpandedSize?: number;
}

export const DEFAULT_DECODE_LIMITS: Readonly<Required<DecodeLimits>> = Object.freeze({
  maxDepth: 1000,
  maxExpandedSize: 10_000_000,
});

// ----------------------------------------------------------------------------------------------
// per-container bookkeeping

/**
 * Size/depth record of a container (or a global reference) on the stack or in the memo. Shared by
 * every alias of the container, so a later APPEND through one alias is seen through all.
 * Leaves (ints, strs, bytes, floats, None, bools) have no record: size 1, depth 0.
 */
class Info {
  /** the container sits inside another container: it may no longer be modified */
  sealed = false;
  /** dedup keys of a set under construction (EMPTY_SET + ADDITEMS) */
  keys: Set<string> | undefined = undefined;
  /** a Latin1Text, or a tuple holding one: resolve before storing it anywhere but a tuple */
  lazy = false;
  constructor(
    /** values in the expanded tree rooted here (this one included) */
    public size: number,
    /** container levels (empty container = 1) */
    public depth: number,
    /** a GlobalRef, or a tuple holding one (REDUCE/NEWOBJ arguments only) */
    readonly ref: boolean,
  ) {}
}

/**
 * The Latin-1 text argument of `_codecs.encode` (how protocol 2 carries bytes), kept as the bytes it
 * stands for: REDUCE uses them without building the str and converting it back. Wherever else it goes
 * (a list, a dict, STOP, ...) it becomes the str it is (`resolveAt`); it never reaches a result.
 */
class Latin1Text {
  private str: string | undefined;
  private taken = false;
  constructor(private readonly bytes: Buffer) {}
  text(): string {
    this.str ??= latin1(this.bytes, 0, this.bytes.length);
    return this.str;
  }
  /** the bytes, for REDUCE: the first taker gets the buffer, later ones (memo reuse) a copy */
  take(): Buffer {
    if (this.taken) return Buffer.from(this.bytes);
    this.taken = true;
    return this.bytes;
  }
}

type Slot = PyValue | GlobalRef | Latin1Text;

const REF_INFO = new Info(1, 0, true);
const LAZY_INFO = new Info(1, 0, false);
LAZY_INFO.lazy = true;

// ----------------------------------------------------------------------------------------------

/**
 * Decode one pickle. Throws WireError (BadPickle, ForbiddenGlobal, PickleLimit) naming the opcode and
 * byte offset on any problem with the input; never any other exception for any input. (Invalid
 * `opts` — a negative or non-numeric limit — are a caller's bug: RangeError.)
 */
export function decodePickle(bytes: Uint8Array, opts?: DecodeLimits): PyValue {
  if (!(bytes instanceof Uint8Array)) {
    throw new WireError(WireErrorCode.BadPickle, 'input is not a byte array');
  }
  const d = new Decoder(
    Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    limit(opts?.maxDepth, DEFAULT_DECODE_LIMITS.maxDepth, 'maxDepth'),
    limit(opts?.maxExpandedSize, DEFAULT_DECODE_LIMITS.maxExpandedSize, 'maxExpandedSize'),
  );
  try {
    return d.run();
  } catch (e) {
    if (e instanceof WireError) throw e;
    // defensive: an engine limit (string too long, out of memory for a huge but legal length, ...)
    const why = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    throw new WireError(WireErrorCode.BadPickle, `${opcodeLabel(d.op)}: ${why}`, d.opPos);
  }
}

/** a limit from the options: a number ≥ 0 (Infinity turns it off); anything else is a caller's bug */
function limit(v: number | undefined, fallback: number, name: string): number {
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || Number.isNaN(v) || v < 0)
    throw new RangeError(`DecodeLimits.${name} must be a number ≥ 0`);
  return v;
}

class Decoder {
  pos = 0;
  op = 0;
  opPos = 0;
  /** the protocol of the last PROTO opcode (0 without one): decides whether Python 2 names map */
  private proto = 0;
  private readonly n: number;
  /** the stack is stack[0..sp); infos[i] is the record of stack[i] (undefined for leaves) */
  private sp = 0;
  private readonly stack: Slot[] = [];
  private readonly infos: (Info | undefined)[] = [];
  private readonly marks: number[] = [];
  /** stack index below which nothing may be popped: the innermost MARK */
  private fence = 0;
  private readonly memo: Slot[] = [];
  private readonly memoInfo: (Info | undefined)[] = [];
  private memoCount = 0;

  constructor(
    private readonly b: Buffer,
    private readonly maxDepth: number,
    private readonly maxSize: number,
  ) {
    this.n = b.length;
  }

  private push(v: Slot, info: Info | undefined): void {
    const sp = this.sp;
    this.stack[sp] = v;
    this.infos[sp] = info;
    this.sp = sp + 1;
  }

  run(): PyValue {
    const b = this.b;
    for (;;) {
      const at = this.pos;
      const op = b[at];
      if (op === undefined) {
        this.opPos = at;
        throw new WireError(WireErrorCode.BadPickle, 'input ended before STOP (truncated pickle)', at);
      }
      this.op = op;
      this.opPos = at;
      this.pos = at + 1;
      switch (op) {
        // ---------------------------------------------------------------- framing / control
        case Op.PROTO: {
          const p = this.u8();
          if (p > 5) this.fail(`unsupported protocol ${p}`);
          this.proto = p;
          break;
        }
        case Op.FRAME: {
          // a read-ahead hint: boundaries are not enforced, but like CPython's C unpickler the frame must
          // fit in the input (its pure-Python fallback tolerates more, with other frame rules of its own)
          const len = this.u32() + this.u32() * 0x1_0000_0000;
          if (len > this.n - this.pos)
            this.fail(`frame of ${len} bytes is longer than the ${this.n - this.pos} left`);
          this.framed = true;
          this.py2Fallback();
          break;
        }
        case Op.STOP:
          return this.stop();
        case Op.MARK:
          this.marks.push(this.sp);
          this.fence = this.sp;
          break;
        case Op.POP:
          if (this.marks.length > 0 && this.marks[this.marks.length - 1] === this.sp) {
            this.popMark();
          } else {
            this.underflow(1);
            this.sp--;
          }
          break;
        case Op.POP_MARK:
          this.sp = this.popMark();
          break;
        case Op.DUP:
          this.underflow(1);
          this.push(this.slotAt(this.sp - 1), this.infos[this.sp - 1]);
          break;

        // ---------------------------------------------------------------- memo
        case Op.BINPUT:
          this.put(this.u8());
          break;
        case Op.LONG_BINPUT:
          this.put(this.u32());
          break;
        case Op.PUT:
          this.put(this.lineIndex());
          break;
        case Op.MEMOIZE:
          this.put(this.memoCount);
          break;
        case Op.BINGET:
          this.get(this.u8());
          break;
        case Op.LONG_BINGET:
          this.get(this.u32());
          break;
        case Op.GET:
          this.get(this.lineIndex());
          break;

        // ---------------------------------------------------------------- atoms
        case Op.NONE:
          this.push(null, undefined);
          break;
        case Op.NEWTRUE:
          this.push(true, undefined);
          break;
        case Op.NEWFALSE:
          this.push(false, undefined);
          break;
        case Op.BININT1:
          this.push(this.u8(), undefined);
          break;
        case Op.BININT2: {
          const p = this.pos;
          const lo = b[p];
          const hi = b[p + 1];
          if (lo === undefined || hi === undefined) this.truncated(2);
          this.pos = p + 2;
          this.push(lo | (hi << 8), undefined);
          break;
        }
        case Op.BININT:
          this.push(this.i32(), undefined);
          break;
        case Op.LONG1: {
          const len = this.u8();
          this.need(len);
          this.push(readLong(b, this.pos, len), undefined);
          this.pos += len;
          break;
        }
        case Op.LONG4: {
          const len = this.i32();
          if (len < 0) this.fail(`negative byte count ${len}`);
          this.need(len);
          this.push(readLong(b, this.pos, len), undefined);
          this.pos += len;
          break;
        }
        case Op.INT: {
          const e = this.line();
          const a = this.lineStart;
          if (e - a === 2 && b[a] === 0x30 && (b[a + 1] === 0x30 || b[a + 1] === 0x31)) {
            this.push(b[a + 1] === 0x31, undefined); // "01"/"00": protocol 0 spelling of True/False
            break;
          }
          const v = parseIntText(latin1(b, a, e), this.failHere);
          if (e - a === 2 && (v === 0 || v === 1)) {
            // CPython's C loader makes any 2-character 0/1 a bool (" 1", "+0"), its Python one an int
            this.fail(`ambiguous int literal ${JSON.stringify(latin1(b, a, e))} (bool or int)`);
          }
          this.push(v, undefined);
          break;
        }
        case Op.LONG: {
          const e0 = this.line();
          const a = this.lineStart;
          const e = e0 > a && b[e0 - 1] === 0x4c ? e0 - 1 : e0; // trailing 'L' (Python 2)
          this.push(parseIntText(latin1(b, a, e), this.failHere), undefined);
          break;
        }
        case Op.BINFLOAT: {
          this.need(8);
          const p = this.pos;
          this.pos = p + 8;
          this.push(new PyFloat(b.readDoubleBE(p)), undefined);
          break;
        }
        case Op.FLOAT: {
          const e = this.line();
          this.push(new PyFloat(parseFloatText(latin1(b, this.lineStart, e), this.failHere)), undefined);
          break;
        }

        // ---------------------------------------------------------------- text and bytes
        case Op.BINUNICODE:
          this.text(this.u32());
          break;
        case Op.SHORT_BINUNICODE:
          this.text(this.u8());
          break;
        case Op.BINUNICODE8:
          this.text(this.u64());
          break;
        case Op.UNICODE: {
          const e = this.line();
          this.push(rawUnicodeEscape(b, this.lineStart, e, this.failHere), undefined);
          break;
        }
        case Op.SHORT_BINBYTES:
          this.push(this.bytesCopy(this.u8()), undefined);
          break;
        case Op.BINBYTES:
          this.push(this.bytesCopy(this.u32()), undefined);
          break;
        case Op.BINBYTES8:
          this.push(this.bytesCopy(this.u64()), undefined);
          break;
        case Op.BYTEARRAY8: {
          // decoded as bytes, but remembered as unhashable (a Python bytearray cannot be a set item)
          const v = this.bytesCopy(this.u64());
          this.bytearrays ??= new Set();
          this.bytearrays.add(v);
          this.push(v, undefined);
          break;
        }
        case Op.SHORT_BINSTRING:
          this.push(this.py2String(this.u8()), undefined);
          break;
        case Op.BINSTRING: {
          const len = this.i32();
          if (len < 0) this.fail(`negative byte count ${len}`);
          this.push(this.py2String(len), undefined);
          break;
        }
        case Op.STRING: {
          const e = this.line();
          this.push(quotedString(b, this.lineStart, e, this.failHere), undefined);
          break;
        }

        // ---------------------------------------------------------------- tuples
        case Op.EMPTY_TUPLE:
          this.push(new PyTuple([]), new Info(1, 1, false));
          break;
        case Op.TUPLE1:
          this.underflow(1);
          this.tupleFrom(this.sp - 1);
          break;
        case Op.TUPLE2:
          this.underflow(2);
          this.tupleFrom(this.sp - 2);
          break;
        case Op.TUPLE3:
          this.underflow(3);
          this.tupleFrom(this.sp - 3);
          break;
        case Op.TUPLE:
          this.tupleFrom(this.popMark());
          break;

        // ---------------------------------------------------------------- lists
        case Op.EMPTY_LIST:
          this.push([], new Info(1, 1, false));
          break;
        case Op.LIST: {
          const k = this.popMark();
          const list: PyValue[] = [];
          const info = new Info(1, 1, false);
          this.addItems(list, info, k);
          this.push(list, info);
          break;
        }
        case Op.APPEND: {
          this.underflow(2);
          const t = this.sp - 2;
          const info = this.target(t, 'list');
          const list = this.stack[t];
          if (!Array.isArray(list)) this.fail('APPEND target is not a list');
          this.addItems(list, info, t + 1);
          break;
        }
        case Op.APPENDS: {
          const k = this.popMark();
          if (k - 1 < this.fence) this.underflowFail();
          if (k === this.sp) break; // nothing to add: a no-op, as in CPython
          const info = this.target(k - 1, 'list');
          const list = this.stack[k - 1];
          if (!Array.isArray(list)) this.fail('APPENDS target is not a list');
          this.addItems(list, info, k);
          break;
        }

        // ---------------------------------------------------------------- dicts
        case Op.EMPTY_DICT:
          this.push(new Map(), new Info(1, 1, false));
          break;
        case Op.DICT: {
          const k = this.popMark();
          const dict: PyDict = new Map();
          const info = new Info(1, 1, false);
          this.setItems(dict, info, k);
          this.push(dict, info);
          break;
        }
        case Op.SETITEM: {
          this.underflow(3);
          const t = this.sp - 3;
          const info = this.target(t, 'dict');
          const dict = this.stack[t];
          if (!(dict instanceof Map)) this.fail('SETITEM target is not a dict');
          this.setItems(dict, info, t + 1);
          break;
        }
        case Op.SETITEMS: {
          const k = this.popMark();
          if (k - 1 < this.fence) this.underflowFail();
          if (k === this.sp) break; // nothing to add: a no-op, as in CPython
          const info = this.target(k - 1, 'dict');
          const dict = this.stack[k - 1];
          if (!(dict instanceof Map)) this.fail('SETITEMS target is not a dict');
          this.setItems(dict, info, k);
          break;
        }

        // ---------------------------------------------------------------- sets
        case Op.EMPTY_SET: {
          const info = new Info(1, 1, false);
          info.keys = new Set();
          this.push(new PySet([]), info);
          break;
        }
        case Op.ADDITEMS: {
          const k = this.popMark();
          if (k - 1 < this.fence) this.underflowFail();
          if (k === this.sp) break; // nothing to add: a no-op, as in CPython
          const info = this.target(k - 1, 'set');
          const set = this.stack[k - 1];
          if (!(set instanceof PySet)) this.fail('ADDITEMS target is not a set');
          info.keys ??= this.keysOf(set.items);
          this.addSetItems(set.items, info, info.keys, k);
          break;
        }
        case Op.FROZENSET: {
          const k = this.popMark();
          const items: PyValue[] = [];
          const info = new Info(1, 1, false);
          this.addSetItems(items, info, new Set(), k);
          this.push(new PyFrozenSet(items), info);
          break;
        }

        // ---------------------------------------------------------------- globals and objects
        case Op.GLOBAL:
          this.push(this.globalLines(), REF_INFO);
          break;
        case Op.STACK_GLOBAL: {
          this.underflow(2);
          if (this.infos[this.sp - 2]?.lazy) this.resolveAt(this.sp - 2);
          if (this.infos[this.sp - 1]?.lazy) this.resolveAt(this.sp - 1);
          const module = this.stack[this.sp - 2];
          const name = this.stack[this.sp - 1];
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail('STACK_GLOBAL needs two str (module, name)');
          }
          this.sp -= 2;
          this.push(this.resolve(module, name), REF_INFO);
          break;
        }
        case Op.INST:
          this.globalLines();
          this.fail('INST (Python 2 old-style instance) is not supported');
          break;
        case Op.REDUCE:
          this.reduce();
          break;
        case Op.NEWOBJ:
          this.newObj(false);
          break;
        case Op.NEWOBJ_EX:
          this.newObj(true);
          break;
        case Op.BUILD:
          this.build();
          break;

        case Op.OBJ:
        case Op.PERSID:
        case Op.BINPERSID:
        case Op.EXT1:
        case Op.EXT2:
        case Op.EXT4:
        case Op.NEXT_BUFFER:
        case Op.READONLY_BUFFER:
          this.fail('opcode not supported by this decoder');
          break;
        default:
          this.fail('unknown opcode');
      }
    }
  }

  // ---------------------------------------------------------------------------------------------
  // errors

  private fail(message: string, code: WireErrorCode = WireErrorCode.BadPickle): never {
    throw new WireError(code, `${opcodeLabel(this.op)}: ${message}`, this.opPos);
  }

  /** `fail` for the text and number helpers */
  private readonly failHere: Fail = (message) => this.fail(message);

  private limit(what: string): never {
    this.fail(what, WireErrorCode.PickleLimit);
  }

  private underflowFail(): never {
    this.fail(
      this.marks.length > 0 && this.fence === this.sp
        ? 'stack underflow (nothing above the MARK)'
        : 'stack underflow',
    );
  }

  /** at least `k` items above the innermost MARK */
  private underflow(k: number): void {
    if (this.sp - this.fence < k) this.underflowFail();
  }

  // ---------------------------------------------------------------------------------------------
  // reading arguments

  private need(k: number): void {
    if (k > this.n - this.pos) this.truncated(k);
  }

  private truncated(k: number): never {
    this.fail(`needs ${k} bytes of argument, only ${this.n - this.pos} left (truncated or absurd length)`);
  }

  private u8(): number {
    const v = this.b[this.pos];
    if (v === undefined) this.truncated(1);
    this.pos++;
    return v;
  }

  private u32(): number {
    return this.i32() >>> 0;
  }

  /** four bytes, little-endian, signed */
  private i32(): number {
    const b = this.b;
    const p = this.pos;
    const b0 = b[p];
    const b1 = b[p + 1];
    const b2 = b[p + 2];
    const b3 = b[p + 3];
    if (b0 === undefined || b1 === undefined || b2 === undefined || b3 === undefined) this.truncated(4);
    this.pos = p + 4;
    return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
  }

  /** a u64 length, checked against the bytes left */
  private u64(): number {
    const v = this.u64len();
    if (v > this.n - this.pos) this.fail(`length ${v} exceeds the ${this.n - this.pos} bytes left`);
    return v;
  }

  /** a u64 length (≥ 2^53 is refused: no input is that long) */
  private u64len(): number {
    const lo = this.u32();
    const hi = this.u32();
    if (hi >= 0x20_0000) this.fail('length ≥ 2^53');
    return hi * 0x1_0000_0000 + lo;
  }

  /** start of the last line() */
  private lineStart = 0;

  /** a newline-terminated argument: returns its end (exclusive), start in lineStart; pos moves past the newline */
  private line(): number {
    const a = this.pos;
    const e = this.b.indexOf(0x0a, a);
    if (e < 0) this.fail('text argument is not terminated by a newline (truncated)');
    this.lineStart = a;
    this.pos = e + 1;
    return e;
  }

  private lineIndex(): number {
    const e = this.line();
    const a = this.lineStart;
    const b = this.b;
    if (e === a || e - a > 10) this.fail('memo index must be a decimal number');
    let v = 0;
    for (let i = a; i < e; i++) {
      const c = b[i];
      if (c === undefined || c < 0x30 || c > 0x39) this.fail('memo index must be a decimal number');
      v = v * 10 + c - 0x30;
    }
    if (v > 0xffff_ffff) this.fail('memo index out of range');
    return v;
  }

  // ---------------------------------------------------------------------------------------------
  // memo

  private put(i: number): void {
    if (this.sp <= this.fence) this.underflowFail();
    if (this.memo[i] === undefined) this.memoCount++;
    this.memo[i] = this.slotAt(this.sp - 1);
    this.memoInfo[i] = this.infos[this.sp - 1];
  }

  private get(i: number): void {
    const v = this.memo[i];
    if (v === undefined) this.fail(`memo key ${i} not found`);
    this.push(v, this.memoInfo[i]);
  }

  private popMark(): number {
    const marks = this.marks;
    const k = marks.pop();
    if (k === undefined) this.fail('no MARK to pop');
    this.fence = marks.at(-1) ?? 0;
    return k;
  }

  private stop(): PyValue {
    if (this.marks.length > 0) this.fail('MARK still open at STOP');
    if (this.sp !== 1) {
      this.fail(this.sp === 0 ? 'empty stack at STOP' : `${this.sp} values on the stack at STOP`);
    }
    if (this.pos !== this.n) this.fail(`${this.n - this.pos} bytes after STOP`);
    if (this.infos[0]?.ref) this.fail('a class or function reference is not a value');
    if (this.infos[0]?.lazy) this.resolveAt(0);
    return this.valueAt(0);
  }

  // ---------------------------------------------------------------------------------------------
  // text and bytes

  /**
   * Push `len` bytes of UTF-8 text. Right after a `_codecs.encode` reference it is (in every pickle a
   * Python pickler writes) the Latin-1 text of a bytes value: then push a Latin1Text holding the bytes,
   * which REDUCE takes as they are and anything else turns into the str (see Latin1Text).
   */
  private text(len: number): void {
    this.need(len);
    const a = this.pos;
    const e = a + len;
    this.pos = e;
    if (this.sp > 0 && this.stack[this.sp - 1] === CODECS_ENCODE) {
      // convert in the buffer that becomes the value (no copy unless much of it would be wasted)
      const out = Buffer.allocUnsafe(len);
      this.b.copy(out, 0, a, e);
      const p = compactLatin1(out, len);
      if (p >= 0) {
        const bytes =
          p === len ? out : len - p <= len >> 3 ? out.subarray(0, p) : Buffer.from(out.subarray(0, p));
        this.push(new Latin1Text(bytes), LAZY_INFO);
        return;
      }
    }
    this.push(this.utf8(a, e), undefined);
  }

  /** UTF-8 [a, e) as a str (Python decodes with surrogatepass) */
  private utf8(a: number, e: number): string {
    const b = this.b;
    let i = a;
    for (; i < e; i++) {
      const c = b[i];
      if (c === undefined) this.truncated(e - a);
      if (c >= 0x80) break;
    }
    if (i === e) return latin1(b, a, e); // ASCII
    // Latin-1 text is decoded in JS: faster than V8's general path for non-ASCII
    const p = this.latin1Bytes(a, e);
    if (p >= 0) return latin1(this.scratch as Buffer, 0, p);
    const t = utf8Slice(this.b, a, e);
    // U+FFFD in the output: either a real U+FFFD or a replacement for invalid input / a surrogate
    if (t.indexOf('\ufffd') !== -1) return utf8Strict(this.b, a, e, this.failHere);
    return t;
  }

  private scratch: Buffer | undefined;

  /**
   * Decode UTF-8 [a, e) into the scratch buffer as Latin-1 bytes; returns their count, or -1 when a
   * code point is ≥ U+0100 or the UTF-8 is invalid.
   */
  private latin1Bytes(a: number, e: number): number {
    const n = e - a;
    let out = this.scratch;
    if (out === undefined || out.length < n) {
      out = Buffer.allocUnsafe(Math.max(n, 1024));
      this.scratch = out;
    }
    this.b.copy(out, 0, a, e);
    return compactLatin1(out, n);
  }

  private bytesCopy(len: number): Buffer {
    this.need(len);
    const out = Buffer.allocUnsafe(len);
    this.b.copy(out, 0, this.pos, this.pos + len);
    this.pos += len;
    return out;
  }

  /** Python 2 str (SHORT_BINSTRING/BINSTRING): ASCII → str, else bytes (pysyncobj's fallback) */
  private py2String(len: number): string | Buffer {
    this.need(len);
    const a = this.pos;
    const e = a + len;
    const b = this.b;
    for (let i = a; i < e; i++) {
      const c = b[i];
      if (c === undefined) this.truncated(len);
      if (c >= 0x80) {
        this.py2Bytes = true;
        this.py2Fallback();
        return this.bytesCopy(len);
      }
    }
    this.pos = e;
    return latin1(b, a, e);
  }

  /** a FRAME was seen */
  private framed = false;
  /** a non-ASCII SHORT_BINSTRING/BINSTRING was seen */
  private py2Bytes = false;

  /**
   * Python loads a non-ASCII Python 2 str only with pysyncobj's pure-Python fallback, whose FRAME
   * rules differ from the C unpickler's; no real pickler writes both, so refuse the mix.
   */
  private py2Fallback(): void {
    if (this.framed && this.py2Bytes) this.fail('FRAME together with a non-ASCII Python 2 str');
  }

  // ---------------------------------------------------------------------------------------------
  // containers

  /**
   * Make stack[i] fit to be stored: a Latin1Text becomes its str, a tuple holding one gets the strs in
   * place (every alias shares the tuple and its record). Returns the slot's record afterwards.
   */
  private resolveAt(i: number): Info | undefined {
    const v = this.slotAt(i);
    if (v instanceof Latin1Text) {
      this.stack[i] = v.text();
      this.infos[i] = undefined;
      return undefined;
    }
    const info = this.infos[i];
    if (info === undefined || !(v instanceof PyTuple))
      this.fail('a lazy slot that is not a tuple (a decoder bug)');
    const items = v.items as Slot[];
    for (let k = 0; k < items.length; k++) {
      const x = items[k];
      if (x instanceof Latin1Text) items[k] = x.text();
    }
    info.lazy = false;
    return info;
  }

  /** the record of the mutable container at stack index `at`, checked for sealing */
  private target(at: number, what: string): Info {
    const info = this.infos[at];
    if (info === undefined || info.ref) this.fail(`target is not a ${what}`);
    if (info.sealed) {
      this.fail(
        `${what} modified after it was stored in another container (cyclic or self-modifying pickle)`,
      );
    }
    return info;
  }

  /** stack[i], below sp */
  private slotAt(i: number): Slot {
    const v = this.stack[i];
    if (v === undefined) this.underflowFail();
    return v;
  }

  /**
   * The value at stack index `i`: the caller has checked its record (no class reference, no
   * Latin1Text left), so the slot holds a PyValue.
   */
  private valueAt(i: number): PyValue {
    return this.slotAt(i) as PyValue;
  }

  /** the record of the container at stack index `i` (a tuple, list, dict, set or object has one) */
  private recordAt(i: number): Info {
    const info = this.infos[i];
    if (info === undefined) this.fail('a container on the stack without a record (a decoder bug)');
    return info;
  }

  private checkLimits(info: Info): void {
    if (info.size > this.maxSize) this.limit(`expands to more than ${this.maxSize} values (maxExpandedSize)`);
    if (info.depth > this.maxDepth) this.limit(`nested deeper than ${this.maxDepth} (maxDepth)`);
  }

  /** replace stack[k..sp) by the tuple of them */
  private tupleFrom(k: number): void {
    const infos = this.infos;
    const sp = this.sp;
    let size = 1;
    let depth = 0;
    let ref = false;
    let lazy = false;
    for (let i = k; i < sp; i++) {
      let ci = infos[i];
      if (ci?.lazy) {
        // a Latin1Text may wait in a tuple (REDUCE's arguments); a tuple holding one is resolved
        if (ci === LAZY_INFO) lazy = true;
        else ci = this.resolveAt(i);
      }
      if (ci !== undefined) {
        if (ci.ref) {
          if (ci !== REF_INFO) this.fail('nested tuple of class references');
          ref = true;
        } else if (ci !== LAZY_INFO) {
          ci.sealed = true;
        }
        size += ci.size;
        if (ci.depth > depth) depth = ci.depth;
      } else {
        size += 1;
      }
    }
    const stack = this.stack;
    const n = sp - k;
    const items =
      n === 1
        ? [this.valueAt(k)]
        : n === 2
          ? [this.valueAt(k), this.valueAt(k + 1)]
          : n === 3
            ? [this.valueAt(k), this.valueAt(k + 1), this.valueAt(k + 2)]
            : (stack.slice(k, sp) as PyValue[]);
    this.sp = k;
    const info = new Info(size, depth + 1, ref);
    info.lazy = lazy;
    this.checkLimits(info);
    this.push(new PyTuple(items), info);
  }

  /** append stack[k..sp) to `list` (its record `info`) and pop them */
  private addItems(list: PyValue[], info: Info, k: number): void {
    const infos = this.infos;
    const sp = this.sp;
    let size = info.size;
    let depth = info.depth - 1;
    for (let i = k; i < sp; i++) {
      let ci = infos[i];
      if (ci?.lazy) ci = this.resolveAt(i);
      if (ci !== undefined) {
        if (ci.ref) this.fail('a class or function reference cannot be stored in a list');
        ci.sealed = true;
        size += ci.size;
        if (ci.depth > depth) depth = ci.depth;
      } else {
        size += 1;
      }
      list.push(this.valueAt(i));
    }
    this.sp = k;
    if (info.sealed) this.fail('container stored inside itself (cyclic pickle)');
    info.size = size;
    info.depth = depth + 1;
    this.checkLimits(info);
  }

  /** set the key/value pairs stack[k..sp) into `dict` and pop them */
  private setItems(dict: PyDict, info: Info, k: number): void {
    const infos = this.infos;
    const sp = this.sp;
    if ((sp - k) % 2 !== 0) this.fail('odd number of items for a dict');
    let size = info.size;
    let depth = info.depth - 1;
    for (let i = k; i < sp; i += 2) {
      if (infos[i]?.lazy) this.resolveAt(i);
      const key = this.slotAt(i);
      if (infos[i] !== undefined || !isDictKey(key)) {
        this.fail(`unsupported dict key type (${describe(key)})`);
      }
      let ci = infos[i + 1];
      if (ci?.lazy) ci = this.resolveAt(i + 1);
      if (ci !== undefined) {
        if (ci.ref) this.fail('a class or function reference cannot be stored in a dict');
        ci.sealed = true;
        size += 1 + ci.size;
        if (ci.depth > depth) depth = ci.depth;
      } else {
        size += 2;
      }
      dictSet(dict, key, this.valueAt(i + 1));
    }
    this.sp = k;
    if (info.sealed) this.fail('container stored inside itself (cyclic pickle)');
    info.size = size;
    info.depth = depth + 1;
    this.checkLimits(info);
  }

  private hasher: PyHasher | undefined;
  private bytearrays: Set<object> | undefined;

  /** Python equality key of a set item (see hash.ts); interned, so DAG-shared items cost nothing */
  private hashKey(v: PyValue): string | null | undefined {
    this.bytearrays ??= new Set();
    this.hasher ??= new PyHasher(true, this.bytearrays);
    return this.hasher.key(v);
  }

  private keysOf(items: readonly PyValue[]): Set<string> {
    const keys = new Set<string>();
    for (const item of items) {
      const key = this.hashKey(item);
      if (typeof key === 'string') keys.add(key);
    }
    return keys;
  }

  /** add stack[k..sp) to a set's items (skipping items Python finds equal to one already there), pop them */
  private addSetItems(items: PyValue[], info: Info, keys: Set<string>, k: number): void {
    const infos = this.infos;
    const sp = this.sp;
    let size = info.size;
    let depth = info.depth - 1;
    for (let i = k; i < sp; i++) {
      let ci = infos[i];
      if (ci?.lazy) ci = this.resolveAt(i);
      const v = this.slotAt(i);
      if (ci?.ref) this.fail('a class or function reference cannot be stored in a set');
      const key = this.hashKey(v as PyValue);
      if (key === undefined) this.fail(`unhashable set item (${describe(v)})`);
      if (key !== null) {
        if (keys.has(key)) continue;
        keys.add(key);
      }
      if (ci !== undefined) {
        ci.sealed = true;
        size += ci.size;
        if (ci.depth > depth) depth = ci.depth;
      } else {
        size += 1;
      }
      items.push(v as PyValue);
    }
    this.sp = k;
    if (info.sealed) this.fail('container stored inside itself (cyclic pickle)');
    info.size = size;
    info.depth = depth + 1;
    this.checkLimits(info);
  }

  // ---------------------------------------------------------------------------------------------
  // globals, REDUCE, NEWOBJ, BUILD

  /** GLOBAL/INST arguments: two lines, module and name */
  private globalLines(): GlobalRef {
    const e1 = this.line();
    const a = this.lineStart;
    const e2 = this.line();
    const key = latin1(this.b, a, e2);
    const ref = allowedGlobal(key);
    if (ref !== undefined && (this.proto < 3 || !isPy2Spelling(key))) return ref;
    return this.resolve(this.b.toString('utf8', a, e1), this.b.toString('utf8', e1 + 1, e2));
  }

  private resolve(module: string, name: string): GlobalRef {
    const key = `${module}\n${name}`;
    const ref = allowedGlobal(key);
    if (ref !== undefined && this.proto >= 3 && isPy2Spelling(key)) {
      // Python 3 maps the Python 2 module names only in pickles of protocol < 3
      this.fail(
        `global ${module}.${name} does not exist in Python 3 (protocol ${this.proto} pickles are not name-mapped)`,
      );
    }
    if (ref === undefined) {
      this.fail(
        `global ${JSON.stringify(clip(`${module}.${name}`))} is not allowed`,
        WireErrorCode.ForbiddenGlobal,
      );
    }
    return ref;
  }

  private reduce(): void {
    this.underflow(2);
    const sp = this.sp;
    const args = this.slotAt(sp - 1);
    const fn = this.slotAt(sp - 2);
    if (!(fn instanceof GlobalRef)) this.fail(`REDUCE callable is not a global (${describe(fn)})`);
    if (!(args instanceof PyTuple)) this.fail(`REDUCE arguments are not a tuple (${describe(args)})`);
    if (fn.id !== G_CODECS_ENCODE && this.infos[sp - 1]?.lazy) this.resolveAt(sp - 1);
    const a = args.items;
    let result: PyValue;
    let info: Info | undefined;
    switch (fn.id) {
      case G_CODECS_ENCODE:
        result = this.codecsEncodeCall(a);
        break;
      case G_BYTES:
        result = this.bytesCall(a);
        break;
      case G_SET:
      case G_FROZENSET:
        // the items were measured inside the argument tuple
        [result, info] = this.setCall(fn, a, this.recordAt(sp - 1));
        break;
      case G_RECONSTRUCTOR:
        result = this.reconstructorCall(a);
        info = new Info(2, 2, false);
        break;
      default:
        this.fail(`${fn.qualname} cannot be called by REDUCE`);
    }
    this.sp = sp - 2;
    this.push(result, info);
  }

  /** `_codecs.encode(str, 'latin1')`: the bytes of a protocol-2 pickle */
  private codecsEncodeCall(a: readonly Slot[]): Buffer {
    const text = a[0];
    const e = a[1];
    const enc = e instanceof Latin1Text ? e.text() : e;
    if (a.length !== 2 || (enc !== 'latin1' && enc !== 'latin-1')) {
      this.fail("_codecs.encode needs (str, 'latin1')");
    }
    if (text instanceof Latin1Text) return text.take();
    if (typeof text !== 'string') this.fail("_codecs.encode needs (str, 'latin1')");
    if (NON_LATIN1.test(text)) this.fail('_codecs.encode: str has a code point ≥ 256 (not Latin-1)');
    return Buffer.from(text, 'latin1');
  }

  /** `set(items)` / `frozenset(items)`, deduplicated as Python does; `argInfo` measures the argument tuple */
  private setCall(fn: GlobalRef, a: readonly PyValue[], argInfo: Info): [PySet | PyFrozenSet, Info] {
    if (a.length > 1) this.fail(`${fn.qualname} takes at most one argument`);
    const items: PyValue[] = [];
    const keys = new Set<string>();
    const src = a[0];
    if (src !== undefined) {
      let list: readonly PyValue[];
      if (Array.isArray(src)) list = src;
      else if (src instanceof PyTuple || src instanceof PySet || src instanceof PyFrozenSet) list = src.items;
      else this.fail(`${fn.qualname} argument must be a list or tuple (${describe(src)})`);
      for (const v of list) {
        const key = this.hashKey(v);
        if (key === undefined) this.fail(`unhashable set item (${describe(v)})`);
        if (key !== null) {
          if (keys.has(key)) continue;
          keys.add(key);
        }
        items.push(v);
      }
    }
    // size(args) = 1 + size(list)
    const info = new Info(Math.max(1, argInfo.size - 1), Math.max(1, argInfo.depth - 1), false);
    if (fn.id !== G_SET) return [new PyFrozenSet(items), info];
    info.keys = keys;
    return [new PySet(items), info];
  }

  /** `copyreg._reconstructor(TCPNode|Node, object, state)`: an empty node object (BUILD fills it) */
  private reconstructorCall(a: readonly Slot[]): PyObject {
    const cls = a[0];
    const base = a[1];
    if (
      a.length !== 3 ||
      !(cls instanceof GlobalRef) ||
      (cls.id !== G_TCPNODE && cls.id !== G_NODE) ||
      !(base instanceof GlobalRef) ||
      base.id !== G_OBJECT
    ) {
      // with base `object` Python ignores the third argument (the state; None in real pickles)
      this.fail('copyreg._reconstructor needs (pysyncobj.node.TCPNode|Node, object, state)');
    }
    return new PyObject(cls.qualname, new Map());
  }

  private bytesCall(a: readonly PyValue[]): Buffer {
    if (a.length > 1) this.fail('bytes() takes at most one argument here');
    const src = a[0];
    if (src === undefined) return Buffer.alloc(0);
    if (src instanceof Uint8Array) return Buffer.from(src);
    let list: readonly PyValue[];
    if (Array.isArray(src)) list = src;
    else if (src instanceof PyTuple) list = src.items;
    else this.fail(`bytes() argument must be a list of ints (${describe(src)})`);
    const out = Buffer.allocUnsafe(list.length);
    for (let i = 0; i < list.length; i++) {
      const v = list[i];
      const x = v === true ? 1 : v === false ? 0 : v;
      if (typeof x !== 'number' || x < 0 || x > 255) this.fail('bytes() items must be ints in range(0, 256)');
      out[i] = x;
    }
    return out;
  }

  private newObj(ex: boolean): void {
    const argc = ex ? 3 : 2;
    this.underflow(argc);
    const base = this.sp - argc;
    const cls = this.slotAt(base);
    const args = this.slotAt(base + 1);
    if (!(cls instanceof GlobalRef) || (cls.id !== G_TCPNODE && cls.id !== G_NODE)) {
      this.fail(`only pysyncobj.node.TCPNode/Node can be created (${describe(cls)})`);
    }
    if (!(args instanceof PyTuple) || args.items.length !== 0) this.fail('arguments must be ()');
    if (ex) {
      const kwargs = this.slotAt(base + 2);
      if (!(kwargs instanceof Map) || kwargs.size !== 0) this.fail('keyword arguments must be {}');
    }
    this.sp = base;
    this.push(new PyObject(cls.qualname, new Map()), new Info(2, 2, false));
  }

  private build(): void {
    this.underflow(2);
    const at = this.sp - 2;
    const obj = this.slotAt(at);
    if (!(obj instanceof PyObject)) this.fail(`BUILD target is not an object (${describe(obj)})`);
    const info = this.target(at, 'object');
    const stateInfo = this.infos[at + 1];
    if (stateInfo?.ref) this.fail('BUILD state is a class reference');
    let state = this.slotAt(at + 1);
    if (state instanceof PyTuple && state.items.length === 2) {
      // (state, slotstate): the node classes have no __slots__, so slotstate must be None
      const [inner, slotState] = state.items;
      if (inner === undefined || slotState !== null) this.fail('BUILD slot state is not supported');
      state = inner;
    }
    if (state !== null) {
      if (!(state instanceof Map)) this.fail(`BUILD state is not a dict (${describe(state)})`);
      for (const [k, v] of state) dictSet(obj.state, k, v);
    }
    // the state's values were measured (and sealed) when the state dict/tuple was built
    if (stateInfo !== undefined) {
      info.size += stateInfo.size;
      if (stateInfo.depth + 1 > info.depth) info.depth = stateInfo.depth + 1;
      this.checkLimits(info);
    }
    this.sp = at + 1;
  }
}

// ------------------------------------------------------------------------------------------------
// helpers

function isDictKey(k: Slot): k is PyDictKey {
  const t = typeof k;
  return t === 'string' || t === 'number' || t === 'boolean' || t === 'bigint' || k === null;
}

/** dict[key] = value with Python's key equality for the model's key types (True == 1, False == 0) */
function dictSet(dict: PyDict, key: PyDictKey, value: PyValue): void {
  if (typeof key === 'string') {
    dict.set(key, value);
    return;
  }
  if (typeof key === 'boolean') {
    const alt = key ? 1 : 0;
    if (dict.has(alt)) {
      dict.set(alt, value);
      return;
    }
  } else if (key === 0 || key === 1) {
    const alt = key === 1;
    if (dict.has(alt)) {
      dict.set(alt, value);
      return;
    }
  }
  dict.set(key, value);
}

function describe(v: Slot | undefined): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'None';
  if (v instanceof GlobalRef) return `global ${v.qualname}`;
  if (v instanceof Latin1Text) return 'str';
  switch (typeof v) {
    case 'string':
      return 'str';
    case 'number':
    case 'bigint':
      return 'int';
    case 'boolean':
      return 'bool';
  }
  if (v instanceof PyFloat) return 'float';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyTuple) return 'tuple';
  if (Array.isArray(v)) return 'list';
  if (v instanceof Map) return 'dict';
  if (v instanceof PySet) return 'set';
  if (v instanceof PyFrozenSet) return 'frozenset';
  return v.className;
}
