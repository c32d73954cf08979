/**
 * The two integer conversions Patroni applies to values read from the DCS, kept apart because they
 * disagree on many inputs:
 *
 * - `pyInt` is Python's built-in `int(x)` (used for `status.optime`, `sync.quorum`, the history
 *   timeline and the parts of a member's `version`): ints as they are, floats truncated toward zero,
 *   `True` → 1, decimal text with optional sign, surrounding whitespace and single `_` between
 *   digits (Unicode decimal digits count as digits). `"7.0"`, `"0x10"`, `"1e3"` are not convertible.
 * - `patroniParseInt` is Patroni's `parse_int(value)` without a base unit (used for member LSNs and
 *   `Cluster.slots`): C `strtol` with base 0 on `str(value).strip()` — hex `0x…`, octal with a
 *   leading `0`, decimal — re-read as a float when `.`/`e`/`E` follows, any other trailing text
 *   makes it null, and the result is rounded half to even.
 *
 * Both return `bigint` (never lossy) or `null` where Python raises or Patroni returns None. The text
 * rules live in `src/py/numbers.ts` (`int()`, `str.strip()`) and `src/py/strtol.ts` (Patroni's
 * strtol/strtod/parse_int); this module applies them to JSON values (`str(value)` first).
 * Pure functions: no I/O, no network.
 */
import { pyIntFromFloat, pyIntFromString } from '../../py/numbers.js';
import { parseIntNoUnit, strtod, strtol } from '../../py/strtol.js';
import { isPyDict, JsonFloat, type PyJson, pyStr } from './json.js';

export {
  pyIntFromFloat,
  pyIntFromString,
  pyRoundHalfEven,
  pyStrip,
} from '../../py/numbers.js';

/**
 * Python's `int(value)` for a JSON value. Null where Python raises (None, lists, dicts,
 * unconvertible text, NaN, ±inf).
 */
export function pyInt(value: PyJson | undefined): bigint | null {
  if (value === true) return 1n;
  if (value === false) return 0n;
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number') return pyIntFromFloat(value);
  if (value instanceof JsonFloat) return pyIntFromFloat(value.value);
  if (typeof value === 'string') return pyIntFromString(value);
  return null;
}

/** Python's `str(value)`; a missing key (`undefined`) reads as `None`. */
function strOf(value: PyJson | undefined): string {
  return value === undefined ? 'None' : pyStr(value);
}

/** Patroni's `strtol(value)` (strict): the integer read from the start and the rest of the text. */
export function patroniStrtol(value: PyJson | undefined): { value: bigint | null; rest: string } {
  return strtol(strOf(value));
}

/** Patroni's `strtod(value)`: the float read from the start and the rest of the text. */
export function patroniStrtod(value: PyJson | undefined): { value: number | null; rest: string } {
  return strtod(strOf(value));
}

/**
 * Patroni's `parse_int(value)` with no base unit. `undefined` (a missing key) reads as Python's
 * `None` and gives null. Where Python would raise (a float overflowing to infinity, e.g. `"1e999"`)
 * this returns null.
 */
export function patroniParseInt(value: PyJson | undefined): bigint | null {
  if (isPyDict(value) || Array.isArray(value)) return null; // their str() never starts with a number
  return parseIntNoUnit(strOf(value));
}
