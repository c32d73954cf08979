/**
 * Python's `json.dumps`, `repr()` and `str()` of Patroni's JSON values (see json.ts): the bytes
 * Patroni writes to the DCS and prints, floats in Python's repr form, ASCII with lowercase `\uXXXX`.
 *
 * It must never print a value differently from Python (a float as an int, a key out of order, a
 * non-ASCII character unescaped), and never loop on a circular value (TypeError, as Python).
 */
import { type PyScalar, pyFloatRepr, pyStrRepr } from '../../py/repr.js';
import { isPyDict, JsonFloat, numberIsPyInt, type PyJson, pyDictEntries } from './json-value.js';

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
