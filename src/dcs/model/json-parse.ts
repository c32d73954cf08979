/**
 * Python's `json.loads` for Patroni's values (see json.ts for what it accepts and why it is our own):
 * a parser that keeps every integer exact, NaN/Infinity, duplicate keys and lone surrogates as
 * Python has them, and V8's native JSON.parse taken only when it provably yields the same value.
 *
 * It must never accept a text Python rejects or reject one Python accepts, never lose an integer,
 * and never throw anything but `JsonParseError` for a bad text.
 */
import { RaftdcsError } from '../../errors.js';
import { PY_INT_MAX_STR_DIGITS } from '../../py/numbers.js';
import {
  type ExactJsonValue,
  intFromBigInt,
  type JsonArray,
  JsonFloat,
  type JsonObject,
  type JsonValue,
} from './json-value.js';

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
