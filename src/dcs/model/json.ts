/**
 * JSON the way Patroni's Python reads and writes it.
 *
 * - `parsePyJson` accepts exactly what Python's `json.loads` accepts (NaN, Infinity, -Infinity,
 *   duplicate keys with the last value winning at the first key's position, lone surrogates, the
 *   4300-digit limit on integers, no BOM, no control characters in strings) and never loses an
 *   integer: integers within ±(2^53 − 1) become `number`, larger ones `bigint`.
 * - `pyJsonDumps` prints Python's `json.dumps(value, separators=(',', ':'))` bytes: ASCII only with
 *   lowercase `\uXXXX` escapes, key order as given, floats in Python `repr` form.
 * - `pyRepr` / `pyStr` give Python's `repr()` / `str()` of such values; `deepCompare` is Patroni's
 *   `deep_compare` built on them.
 *
 * Why our own parser: `JSON.parse` turns 2^64 − 1 into 18446744073709552000, and on Node 20 a
 * reviver cannot see a number's source text (the `context.source` proposal ships in later V8s).
 * Libraries evaluated: `json-bigint` (1.0.0, unmaintained since 2020, no NaN/Infinity, its own
 * prototype handling), `lossless-json` (4.x, maintained, custom number parser with the source text,
 * but strict JSON: rejects NaN/Infinity and throws on duplicate keys, both of which Python accepts —
 * and "is this valid JSON?" decides how Patroni reads member, failover and sync values). Matching
 * Python's acceptance exactly is the point, so a ~200-line parser of our own is the smaller risk.
 *
 * Value model (default mode): null, boolean, number (safe integers and every float), bigint
 * (integers beyond the safe range), string, frozen arrays, frozen null-prototype objects (so a key
 * named `__proto__` is an ordinary key). A JS `number` that is a safe integer (and not −0) stands
 * for a Python int, any other `number` for a Python float; `JsonFloat` marks a Python float whose
 * value happens to be integral (`1.0`). `{ exact: true }` keeps every float as `JsonFloat` and every
 * object as a `Map` (JS objects list integer-like keys such as "1" first), so that
 * `pyJsonDumps(parsePyJson(t, { exact: true }))` is byte-identical to Python's
 * `json.dumps(json.loads(t), separators=(',', ':'))`.
 *
 * This module is pure: no I/O, no network, no global state.
 */
import { RaftdcsError } from '../../errors.js';

import { PY_INT_MAX_STR_DIGITS } from '../../py/numbers.js';
import { type PyScalar, pyFloatRepr, pyStrRepr } from '../../py/repr.js';

export { PY_INT_MAX_STR_DIGITS } from '../../py/numbers.js';
export { pyFloatRepr, pyStrRepr } from '../../py/repr.js';

/** A Python float whose int/float distinction must survive (`1.0` is not `1`). */
export class JsonFloat {
  constructor(readonly value: number) {}
  toString(): string {
    return pyFloatRepr(this.value);
  }
}

/** A parsed JSON value (default mode). Objects are null-prototype and frozen; arrays are frozen. */
export type JsonValue = null | boolean | number | bigint | string | JsonArray | JsonObject;
export type JsonArray = readonly JsonValue[];
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/** A parsed JSON value in exact mode: floats are `JsonFloat`, objects are `Map`s (insertion order). */
export type ExactJsonValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | ExactJsonValue[]
  | Map<string, ExactJsonValue>;

/** Anything `pyJsonDumps`, `pyRepr` and `deepCompare` accept. `undefined` object members are skipped. */
export type PyJson =
  | null
  | boolean
  | number
  | bigint
  | string
  | JsonFloat
  | readonly PyJson[]
  | ReadonlyMap<string, PyJson>
  | PyJsonObject;
export interface PyJsonObject {
  readonly [key: string]: PyJson | undefined;
}
/** A Python dict: a `Map` or a plain object. */
export type PyJsonDict = ReadonlyMap<string, PyJson> | PyJsonObject;

export const JsonParseErrorCode = {
  /** the text is not JSON as Python's `json.loads` understands it */
  Syntax: 'JSON_SYNTAX',
  /** an integer literal has more than 4300 digits (Python's int max str digits limit) */
  IntegerTooLong: 'JSON_INTEGER_TOO_LONG',
  /** containers nested deeper than the parser allows (Python would raise RecursionError) */
  TooDeep: 'JSON_TOO_DEEP',
} as const;
export type JsonParseErrorCode = (typeof JsonParseErrorCode)[keyof typeof JsonParseErrorCode];

export class JsonParseError extends RaftdcsError<JsonParseErrorCode> {
  override readonly name = 'JsonParseError';
  constructor(
    code: JsonParseErrorCode,
    message: string,
    /** offset in the text (UTF-16 code units; Python counts code points) */
    readonly position: number,
  ) {
    super(code, message);
  }
}

export interface ParseOptions {
  /** keep floats as `JsonFloat` and objects as `Map`s; result is not frozen */
  readonly exact?: boolean;
  /** deepest container nesting accepted (default 1000, near Python's recursion limit) */
  readonly maxDepth?: number;
}

const WS = new Set([0x20, 0x09, 0x0a, 0x0d]);

class Parser {
  private pos = 0;
  private depth = 0;
  constructor(
    private readonly text: string,
    private readonly exact: boolean,
    private readonly maxDepth: number,
  ) {}

  parseDocument(): ExactJsonValue | JsonValue {
    if (this.text.charCodeAt(0) === 0xfeff) {
      throw this.error('Unexpected UTF-8 BOM (decode using utf-8-sig)', 0);
    }
    this.skipWs();
    const v = this.parseValue();
    this.skipWs();
    if (this.pos !== this.text.length) throw this.error('Extra data', this.pos);
    return v;
  }

  private error(
    msg: string,
    at: number,
    code: JsonParseErrorCode = JsonParseErrorCode.Syntax,
  ): JsonParseError {
    const before = this.text.slice(0, at);
    const line = before.split('\n').length;
    const col = at - before.lastIndexOf('\n');
    return new JsonParseError(code, `${msg}: line ${line} column ${col} (char ${at})`, at);
  }

  private skipWs(): void {
    const t = this.text;
    while (this.pos < t.length && WS.has(t.charCodeAt(this.pos))) this.pos++;
  }

  private startsWith(word: string): boolean {
    return this.text.startsWith(word, this.pos);
  }

  private parseValue(): ExactJsonValue | JsonValue {
    const t = this.text;
    const c = t[this.pos];
    switch (c) {
      case '"':
        return this.parseString();
      case '{':
        return this.parseObject();
      case '[':
        return this.parseArray();
      case 'n':
        if (this.startsWith('null')) {
          this.pos += 4;
          return null;
        }
        break;
      case 't':
        if (this.startsWith('true')) {
          this.pos += 4;
          return true;
        }
        break;
      case 'f':
        if (this.startsWith('false')) {
          this.pos += 5;
          return false;
        }
        break;
      case 'N':
        if (this.startsWith('NaN')) {
          this.pos += 3;
          return this.float(Number.NaN);
        }
        break;
      case 'I':
        if (this.startsWith('Infinity')) {
          this.pos += 8;
          return this.float(Number.POSITIVE_INFINITY);
        }
        break;
      case '-':
        if (this.startsWith('-Infinity')) {
          this.pos += 9;
          return this.float(Number.NEGATIVE_INFINITY);
        }
        break;
    }
    return this.parseNumber();
  }

  private float(x: number): number | JsonFloat {
    return this.exact ? new JsonFloat(x) : x;
  }

  private parseNumber(): number | bigint | JsonFloat {
    const t = this.text;
    const start = this.pos;
    let i = start;
    if (t[i] === '-') i++;
    const d0 = t.charCodeAt(i);
    if (d0 >= 0x31 && d0 <= 0x39) {
      i++;
      while (isDigit(t.charCodeAt(i))) i++;
    } else if (d0 === 0x30) {
      i++;
    } else {
      throw this.error('Expecting value', start);
    }
    const intEnd = i;
    let isFloat = false;
    if (t[i] === '.' && isDigit(t.charCodeAt(i + 1))) {
      i += 2;
      while (isDigit(t.charCodeAt(i))) i++;
      isFloat = true;
    }
    if (t[i] === 'e' || t[i] === 'E') {
      let j = i + 1;
      if (t[j] === '+' || t[j] === '-') j++;
      if (isDigit(t.charCodeAt(j))) {
        while (isDigit(t.charCodeAt(j))) j++;
        i = j;
        isFloat = true;
      }
    }
    this.pos = i;
    const lit = t.slice(start, i);
    if (isFloat) return this.float(Number(lit));
    const digits = intEnd - start - (t[start] === '-' ? 1 : 0);
    if (digits > PY_INT_MAX_STR_DIGITS) {
      throw this.error(
        `Exceeds the limit (${PY_INT_MAX_STR_DIGITS} digits) for integer string conversion`,
        start,
        JsonParseErrorCode.IntegerTooLong,
      );
    }
    if (digits <= 15) {
      const n = Number(lit);
      return n === 0 ? 0 : n; // Python's int has no −0
    }
    return intFromBigInt(BigInt(lit));
  }

  private parseString(): string {
    const t = this.text;
    const begin = this.pos;
    let i = this.pos + 1;
    let out = '';
    let chunk = i;
    for (;;) {
      if (i >= t.length) throw this.error('Unterminated string starting at', begin);
      const c = t.charCodeAt(i);
      if (c === 0x22) {
        out += t.slice(chunk, i);
        this.pos = i + 1;
        return out;
      }
      if (c < 0x20) throw this.error('Invalid control character at', i);
      if (c === 0x5c) {
        out += t.slice(chunk, i);
        const e = t[i + 1];
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            const hex = t.slice(i + 2, i + 6);
            if (!/^[0-9a-fA-F]{4}$/.test(hex)) throw this.error('Invalid \\uXXXX escape', i + 1);
            out += String.fromCharCode(Number.parseInt(hex, 16));
            i += 4;
            break;
          }
          default:
            if (e === undefined) throw this.error('Unterminated string starting at', begin);
            throw this.error('Invalid \\escape', i);
        }
        i += 2;
        chunk = i;
        continue;
      }
      i++;
    }
  }

  private enter(): void {
    if (++this.depth > this.maxDepth) {
      throw this.error('Nesting too deep', this.pos, JsonParseErrorCode.TooDeep);
    }
  }

  private parseArray(): ExactJsonValue[] | JsonArray {
    this.enter();
    this.pos++;
    const items: (ExactJsonValue | JsonValue)[] = [];
    this.skipWs();
    if (this.text[this.pos] === ']') {
      this.pos++;
    } else {
      for (;;) {
        items.push(this.parseValue());
        this.skipWs();
        const c = this.text[this.pos];
        if (c === ']') {
          this.pos++;
          break;
        }
        if (c !== ',') throw this.error("Expecting ',' delimiter", this.pos);
        this.pos++;
        this.skipWs();
      }
    }
    this.depth--;
    return this.exact ? (items as ExactJsonValue[]) : Object.freeze(items as JsonValue[]);
  }

  private parseObject(): Map<string, ExactJsonValue> | JsonObject {
    this.enter();
    this.pos++;
    const map = this.exact ? new Map<string, ExactJsonValue>() : null;
    const obj: Record<string, JsonValue> = Object.create(null);
    this.skipWs();
    if (this.text[this.pos] === '}') {
      this.pos++;
    } else {
      for (;;) {
        if (this.text[this.pos] !== '"') {
          throw this.error('Expecting property name enclosed in double quotes', this.pos);
        }
        const key = this.parseString();
        this.skipWs();
        if (this.text[this.pos] !== ':') throw this.error("Expecting ':' delimiter", this.pos);
        this.pos++;
        this.skipWs();
        const value = this.parseValue();
        if (map) map.set(key, value as ExactJsonValue);
        else obj[key] = value as JsonValue;
        this.skipWs();
        const c = this.text[this.pos];
        if (c === '}') {
          this.pos++;
          break;
        }
        if (c !== ',') throw this.error("Expecting ',' delimiter", this.pos);
        this.pos++;
        this.skipWs();
      }
    }
    this.depth--;
    return map ?? Object.freeze(obj);
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** A Python int as our value model has it: `number` when safe, else `bigint`. */
export function intFromBigInt(b: bigint): number | bigint {
  return b >= -9007199254740991n && b <= 9007199254740991n ? Number(b) : b;
}

/** Python's `json.loads`. Throws `JsonParseError` where Python raises. */
export function parsePyJson(text: string): JsonValue;
export function parsePyJson(text: string, options: ParseOptions & { readonly exact: true }): ExactJsonValue;
export function parsePyJson(text: string, options?: ParseOptions): JsonValue | ExactJsonValue;
export function parsePyJson(text: string, options: ParseOptions = {}): JsonValue | ExactJsonValue {
  const maxDepth = options.maxDepth ?? 1000;
  if (options.exact !== true && nativeParseGivesSameValue(text, maxDepth)) {
    try {
      return freezeNative(JSON.parse(text) as unknown);
    } catch {
      // invalid JSON: the parser below reports it the way Python does
    }
  }
  return new Parser(text, options.exact === true, maxDepth).parseDocument();
}

/** `parsePyJson` without the native fast path (for tests that prove the two agree). */
export function parsePyJsonReference(text: string, options: ParseOptions = {}): JsonValue | ExactJsonValue {
  return new Parser(text, options.exact === true, options.maxDepth ?? 1000).parseDocument();
}

/**
 * True when V8's native JSON.parse yields exactly our default-mode value for `text` (it is much
 * faster than the parser above): no NaN/Infinity, no integer that may exceed 2^53, no integral float
 * (`1.0`, `1e3`, `-0.0`: those must stay JsonFloat) and no `-0` integer, nesting within maxDepth.
 * A cheap scan that only tracks whether it is inside a string.
 */
function nativeParseGivesSameValue(text: string, maxDepth: number): boolean {
  const n = text.length;
  let depth = 0;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      // skip the string
      for (i++; i < n; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (++depth > maxDepth) return false;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      depth--;
      continue;
    }
    if (c === 0x4e || c === 0x49) return false; // NaN, Infinity
    if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      let isFloat = false;
      for (; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d >= 0x30 && d <= 0x39) continue;
        if (d === 0x2e || d === 0x65 || d === 0x45 || d === 0x2b || d === 0x2d) {
          isFloat = isFloat || d === 0x2e || d === 0x65 || d === 0x45;
          continue;
        }
        if (d === 0x49 || d === 0x4e) return false; // -Infinity
        break;
      }
      const token = text.slice(i, j);
      if (isFloat) {
        const v = Number(token);
        if (Number.isInteger(v) || Object.is(v, -0)) return false;
      } else if (token.length >= 16 || token === '-0') {
        return false;
      }
      i = j - 1;
    }
  }
  return true;
}

/** Native JSON.parse output → our value model: frozen arrays, frozen null-prototype objects. */
function freezeNative(v: unknown): JsonValue {
  if (v === null || typeof v !== 'object') return v as JsonValue;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) freezeNative(v[i]);
    return Object.freeze(v) as JsonValue;
  }
  const obj = v as Record<string, unknown>;
  for (const k of Object.keys(obj)) freezeNative(obj[k]);
  Object.setPrototypeOf(obj, null);
  return Object.freeze(obj) as JsonValue;
}

/** `parsePyJson` that returns `undefined` instead of throwing (`undefined` is never a JSON value). */
export function tryParsePyJson(text: string): JsonValue | undefined {
  try {
    return parsePyJson(text);
  } catch (e) {
    if (e instanceof JsonParseError) return undefined;
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// Type guards

/** Python `isinstance(v, dict)` for our value model. */
export function isPyDict(v: unknown): v is PyJsonDict {
  if (v instanceof Map) return true;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof JsonFloat) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || proto === Object.prototype;
}

/** A parsed (default-mode) JSON object. */
export function isJsonObject(v: JsonValue | undefined): v is JsonObject {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** A parsed (default-mode) JSON array. */
export function isJsonArray(v: JsonValue | undefined): v is JsonArray {
  return Array.isArray(v);
}

/** The entries of a dict, skipping `undefined` members of plain objects. */
export function pyDictEntries(d: PyJsonDict): [string, PyJson][] {
  if (d instanceof Map) return [...(d as ReadonlyMap<string, PyJson>)];
  const out: [string, PyJson][] = [];
  for (const k of Object.keys(d)) {
    const v = (d as PyJsonObject)[k];
    if (v !== undefined) out.push([k, v]);
  }
  return out;
}

function pyDictGet(d: PyJsonDict, key: string): PyJson | undefined {
  if (d instanceof Map) return (d as ReadonlyMap<string, PyJson>).get(key);
  return Object.hasOwn(d, key) ? (d as PyJsonObject)[key] : undefined;
}

/** Python truthiness of a JSON value. */
export function pyTruthy(v: PyJson | undefined): boolean {
  if (v === null || v === undefined || v === false || v === '' || v === 0 || v === 0n) return false;
  if (typeof v === 'number') return true; // NaN is truthy in Python; 0 and −0 were caught above
  if (v instanceof JsonFloat) return v.value !== 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Map) return v.size > 0;
  if (isPyDict(v)) return pyDictEntries(v).length > 0;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Numbers

/** True when a JS number stands for a Python int (a safe integer that is not −0). */
function numberIsPyInt(x: number): boolean {
  return Number.isSafeInteger(x) && !Object.is(x, -0);
}

function jsonFloatText(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (x === Number.POSITIVE_INFINITY) return 'Infinity';
  if (x === Number.NEGATIVE_INFINITY) return '-Infinity';
  return pyFloatRepr(x);
}

/**
 * A dict key as Python's `json.dumps` writes it: `true`, `false`, `null`, an int's digits, a float's
 * repr (`NaN`, `Infinity`, `-Infinity` for the non-finite ones), a str as it is.
 */
export function pyJsonDictKey(k: PyScalar): string {
  if (k === null) return 'null';
  if (typeof k === 'boolean') return k ? 'true' : 'false';
  if (typeof k === 'bigint') return k.toString();
  if (typeof k === 'number') return jsonFloatText(k);
  return k;
}

// ---------------------------------------------------------------------------------------------
// json.dumps

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  '\\': '\\\\',
  '\n': '\\n',
  '\r': '\\r',
  '\t': '\\t',
  '\b': '\\b',
  '\f': '\\f',
};

function jsonQuote(s: string): string {
  return `"${s.replace(/[\\"]|[^ -~]/g, (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)}"`;
}

/**
 * Python's `json.dumps(value, separators=(',', ':'))` (ensure_ascii, allow_nan): compact, key order
 * as given, non-ASCII as lowercase `\uXXXX` (astral characters as surrogate pairs).
 * Throws `TypeError` for values JSON cannot hold and for circular structures.
 */
export function pyJsonDumps(value: PyJson): string {
  return pyJsonDumpsWith(value, [',', ':']);
}

/**
 * Python's `json.dumps(value, separators=(item, key))`; `[', ', ': ']` is Python's default (what
 * `json.dumps(value)` prints, e.g. patronictl's `-f json` and `edit-config` writes).
 */
export function pyJsonDumpsWith(value: PyJson, separators: readonly [item: string, key: string]): string {
  const [itemSep, keySep] = separators;
  const parts: string[] = [];
  const active = new Set<object>();
  const walk = (v: PyJson | undefined): void => {
    if (v === null) parts.push('null');
    else if (v === true) parts.push('true');
    else if (v === false) parts.push('false');
    else if (typeof v === 'string') parts.push(jsonQuote(v));
    else if (typeof v === 'bigint') parts.push(v.toString());
    else if (typeof v === 'number') parts.push(numberIsPyInt(v) ? String(v) : jsonFloatText(v));
    else if (v instanceof JsonFloat) parts.push(jsonFloatText(v.value));
    else if (typeof v === 'object') {
      if (active.has(v)) throw new TypeError('Circular reference detected');
      active.add(v);
      if (Array.isArray(v)) {
        parts.push('[');
        (v as readonly (PyJson | undefined)[]).forEach((item, i) => {
          if (i > 0) parts.push(itemSep);
          if (item === undefined) throw new TypeError('undefined is not JSON serializable (in a list)');
          walk(item);
        });
        parts.push(']');
      } else if (isPyDict(v)) {
        parts.push('{');
        let first = true;
        for (const [k, item] of pyDictEntries(v)) {
          if (typeof k !== 'string') throw new TypeError(`dict key ${String(k)} is not a string`);
          if (!first) parts.push(itemSep);
          first = false;
          parts.push(jsonQuote(k), keySep);
          walk(item);
        }
        parts.push('}');
      } else {
        throw new TypeError(`Object of type ${v.constructor?.name ?? 'unknown'} is not JSON serializable`);
      }
      active.delete(v);
    } else {
      throw new TypeError(`${typeof v} is not JSON serializable`);
    }
  };
  walk(value);
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// repr / str

/** Python's `repr()` of a JSON value (None, True, 1, 1.0, 'a', [1, 2], {'a': 1}). */
export function pyRepr(v: PyJson): string {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'string') return pyStrRepr(v);
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'number') return numberIsPyInt(v) ? String(v) : pyFloatRepr(v);
  if (v instanceof JsonFloat) return pyFloatRepr(v.value);
  if (Array.isArray(v)) return `[${(v as readonly PyJson[]).map(pyRepr).join(', ')}]`;
  if (isPyDict(v)) {
    return `{${pyDictEntries(v)
      .map(([k, x]) => `${pyStrRepr(k)}: ${pyRepr(x)}`)
      .join(', ')}}`;
  }
  throw new TypeError('not a JSON value');
}

/** Python's `str()` of a JSON value: strings as they are, everything else as `repr`. */
export function pyStr(v: PyJson): string {
  return typeof v === 'string' ? v : pyRepr(v);
}

/**
 * Patroni's `deep_compare(obj1, obj2)`: the same key sets; where `obj1` holds a dict, `obj2` must
 * hold a dict that compares equal recursively; every other value is compared by its Python `str()`
 * form (`100` equals `'100'`; `true` and `'true'` differ because `str(True)` is `'True'`).
 */
export function deepCompare(a: PyJsonDict, b: PyJsonDict): boolean {
  const ea = pyDictEntries(a);
  const eb = pyDictEntries(b);
  const kb = new Set(eb.map(([k]) => k));
  const ka = new Set(ea.map(([k]) => k));
  if (ka.size !== kb.size) return false;
  for (const k of ka) if (!kb.has(k)) return false;
  for (const [k, va] of ea) {
    const vb = pyDictGet(b, k) as PyJson;
    if (isPyDict(va)) {
      if (!(isPyDict(vb) && deepCompare(va, vb))) return false;
    } else if (pyStr(va) !== pyStr(vb)) {
      return false;
    }
  }
  return true;
}

/** Freeze a JSON value deeply (arrays and plain objects). Returns the same value. */
export function deepFreeze<T extends JsonValue>(v: T): T {
  if (v !== null && typeof v === 'object' && !Object.isFrozen(v)) {
    for (const x of Object.values(v)) deepFreeze(x as JsonValue);
    Object.freeze(v);
  }
  return v;
}
