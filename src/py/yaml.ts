/**
 * YAML as PyYAML 6's `yaml.safe_load` reads it (YAML 1.1 with PyYAML's own implicit resolvers), the
 * one loader behind Patroni's configuration files (`src/config/yaml.ts`) and patronictl's
 * `edit-config` (`src/cli/ctl/pyyaml.ts`); also the resolver table patronictl's dumper consults.
 *
 * The `yaml` package parses; its YAML 1.1 schema is close to PyYAML but not equal, so the scalar
 * resolvers are replaced by PyYAML's (this is why a hand-written piece exists here):
 * - floats need a dot: `1e3` and `1.0e3` are strings, `1.0e+3` is 1000.0 (the exponent sign is
 *   required too); `.5`, `1.`, `1:30.5` (base 60), `.inf`, `.nan` are floats;
 * - ints: `0x10`, `0b101`, `0777` (octal), `1_000`, `1:30` (base 60 = 90); `08`, `0o7` are strings;
 * - booleans are yes/no, true/false, on/off in three casings; `y`/`n` stay strings;
 * - null is `~`, `null`, `Null`, `NULL` or nothing.
 *
 * The result keeps Python's types: int → `bigint`, float → `number`, str, bool, None → `null`,
 * list → array, dict → `Map` in document order whose keys are the scalar keys as Python holds
 * them (`True`, `None`, `1.0`), merged by Python's key equality (`True`, `1` and `1.0` are one key:
 * the first spelling stays, the last value wins).
 *
 * Deliberate differences from PyYAML: a timestamp stays its source text (PyYAML makes a `date` or
 * `datetime`, which nothing downstream can store as JSON); `!!binary` becomes a Latin-1 string;
 * `!!set` becomes a list; `=` and `<<` as plain values are strings (PyYAML raises). Known
 * differences left to the `yaml` package: a block scalar (`|`) ending the text without a final
 * line break keeps one; `<<: [*a, *b]` lists merged keys in document order (PyYAML: the last
 * mapping's first); keys equal in Python but spelled both alike and differently (`{0: a, false: b,
 * 0x0: c}`) take the value of the last distinct spelling rather than the last pair. Errors where
 * PyYAML raises: syntax errors, unknown tags, a list or mapping used as a key, an int text with more
 * than 4300 decimal digits, documents nested deeper than 500.
 *
 * Pure: parses the text it is given, no I/O.
 */
import { parseDocument, Scalar, type ScalarTag, type Tags } from 'yaml';
import { PY_INT_MAX_STR_DIGITS } from './numbers.js';
import { type PyScalar, pyFloatRepr } from './repr.js';

export type PyYamlValue = PyScalar | PyYamlValue[] | PyYamlMap;
export type PyYamlMap = Map<PyScalar, PyYamlValue>;

export class PyYamlError extends Error {
  override readonly name = 'PyYamlError';
}

// ---------------------------------------------------------------------------------------------
// PyYAML's implicit resolvers (YAML 1.1), each with the first characters it is tried for.

export interface PyYamlResolver {
  readonly tag: 'bool' | 'float' | 'int' | 'merge' | 'null' | 'timestamp' | 'value' | 'yaml';
  readonly first: string;
  readonly re: RegExp;
}

export const PYYAML_RESOLVERS: readonly PyYamlResolver[] = [
  {
    tag: 'bool',
    first: 'yYnNtTfFoO',
    re: /^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/,
  },
  {
    tag: 'float',
    first: '-+0123456789.',
    re: /^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$/,
  },
  {
    tag: 'int',
    first: '-+0123456789',
    re: /^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$/,
  },
  { tag: 'merge', first: '<', re: /^(?:<<)$/ },
  { tag: 'null', first: '~nN', re: /^(?:~|null|Null|NULL|)$/ },
  {
    tag: 'timestamp',
    first: '0123456789',
    re: /^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$/,
  },
  { tag: 'value', first: '=', re: /^(?:=)$/ },
  { tag: 'yaml', first: '!&*', re: /^(?:!|&|\*)$/ },
];

function resolver(tag: PyYamlResolver['tag']): RegExp {
  return (PYYAML_RESOLVERS.find((r) => r.tag === tag) as PyYamlResolver).re;
}

/**
 * Would `text`, written as a plain scalar, read back as a str? (PyYAML's `resolve(ScalarNode, text,
 * (True, False))` is the str tag.) The dumper quotes strings for which this is false.
 */
export function plainScalarIsStr(text: string): boolean {
  // Python's `$` also matches before one trailing newline
  const candidates = text.endsWith('\n') ? [text, text.slice(0, -1)] : [text];
  const first = text.charAt(0);
  for (const r of PYYAML_RESOLVERS) {
    const applies = first === '' ? r.first.includes('~') && r.re.test('') : r.first.includes(first);
    if (applies && candidates.some((c) => r.re.test(c))) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------
// PyYAML's constructors for the implicit scalar types

const BOOL_VALUES: Readonly<Record<string, boolean>> = {
  yes: true,
  no: false,
  true: true,
  false: false,
  on: true,
  off: false,
};

/** PyYAML's `construct_yaml_bool`. */
function constructBool(text: string): boolean {
  const v = BOOL_VALUES[text.toLowerCase()];
  if (v === undefined) throw new PyYamlError(`cannot read ${JSON.stringify(text)} as a bool`);
  return v;
}

function bigintOf(text: string, radix: 2 | 8 | 10 | 16): bigint {
  const digits = /^[0-9a-fA-F]+$/.test(text) ? text : '';
  if (digits === '' || (radix === 10 && !/^[0-9]+$/.test(digits))) {
    throw new PyYamlError(`invalid literal for int() with base ${radix}: ${JSON.stringify(text)}`);
  }
  if (radix === 10) {
    if (digits.length > PY_INT_MAX_STR_DIGITS) {
      throw new PyYamlError(
        `exceeds the limit (${PY_INT_MAX_STR_DIGITS} digits) for integer string conversion`,
      );
    }
    return BigInt(digits);
  }
  const prefix = radix === 2 ? '0b' : radix === 8 ? '0o' : '0x';
  try {
    return BigInt(`${prefix}${digits}`);
  } catch {
    throw new PyYamlError(`invalid literal for int() with base ${radix}: ${JSON.stringify(text)}`);
  }
}

/** PyYAML's `construct_yaml_int`. */
function constructInt(source: string): bigint {
  let text = source.replaceAll('_', '');
  const sign = text[0] === '-' ? -1n : 1n;
  if (text[0] === '-' || text[0] === '+') text = text.slice(1);
  if (text === '0') return 0n;
  if (text.startsWith('0b')) return sign * bigintOf(text.slice(2), 2);
  if (text.startsWith('0x')) return sign * bigintOf(text.slice(2), 16);
  if (text.startsWith('0')) return sign * bigintOf(text, 8);
  if (text.includes(':')) {
    let value = 0n;
    let base = 1n;
    for (const part of text.split(':').reverse()) {
      value += bigintOf(part, 10) * base;
      base *= 60n;
    }
    return sign * value;
  }
  return sign * bigintOf(text, 10);
}

/** Python's `float(text)` for the texts PyYAML's float resolver lets through. */
function floatOf(text: string): number {
  const v = Number(text);
  if (text === '' || Number.isNaN(v)) throw new PyYamlError(`could not convert string to float: '${text}'`);
  return v;
}

/** PyYAML's `construct_yaml_float`. */
function constructFloat(source: string): number {
  let text = source.replaceAll('_', '').toLowerCase();
  const sign = text[0] === '-' ? -1 : 1;
  if (text[0] === '-' || text[0] === '+') text = text.slice(1);
  if (text === '.inf') return sign * Number.POSITIVE_INFINITY;
  if (text === '.nan') return Number.NaN;
  if (text.includes(':')) {
    let value = 0;
    let base = 1;
    for (const part of text.split(':').reverse()) {
      value += floatOf(part) * base;
      base *= 60;
    }
    return sign * value;
  }
  return sign * floatOf(text);
}

const BOOL_TAG = 'tag:yaml.org,2002:bool';
const INT_TAG = 'tag:yaml.org,2002:int';
const FLOAT_TAG = 'tag:yaml.org,2002:float';
const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';

/** The `yaml` package's YAML 1.1 tags with PyYAML's bool/int/float resolvers and no timestamps. */
function pyyamlTags(tags: Tags): Tags {
  const scalar = (tag: string, test: RegExp, construct: (s: string) => PyScalar): ScalarTag => ({
    identify: () => false,
    default: true,
    tag,
    test,
    resolve: (s: string) => new Scalar(construct(s)),
  });
  // for an explicit tag (`!!float 3`) the yaml package only takes a tag with a test if the test
  // matches; PyYAML constructs whatever the text is, so each type also has a tag without a test
  const explicit = (tag: string, construct: (s: string) => PyScalar): ScalarTag => ({
    identify: () => false,
    tag,
    resolve: (s: string) => new Scalar(construct(s)),
  });
  const dropped = new Set([BOOL_TAG, INT_TAG, FLOAT_TAG, TIMESTAMP_TAG]);
  return [
    ...tags.filter((t) => !dropped.has((t as { tag?: string }).tag ?? '')),
    scalar(BOOL_TAG, resolver('bool'), constructBool),
    scalar(INT_TAG, resolver('int'), constructInt),
    scalar(FLOAT_TAG, resolver('float'), constructFloat),
    explicit(BOOL_TAG, constructBool),
    explicit(INT_TAG, constructInt),
    explicit(FLOAT_TAG, constructFloat),
  ];
}

// ---------------------------------------------------------------------------------------------
// the loader

/** Nesting deeper than this is refused (PyYAML's recursive constructor fails much earlier). */
const MAX_DEPTH = 500;

/**
 * A string that is equal for keys Python's dict treats as one key (`True == 1 == 1.0`,
 * `False == 0 == -0.0`); null for NaN, which equals nothing (each `.nan` is a new key).
 */
function keyIdentity(k: PyScalar): string | null {
  if (k === null) return 'N';
  if (typeof k === 'string') return `s${k}`;
  if (typeof k === 'boolean') return k ? 'n1' : 'n0';
  if (typeof k === 'bigint') return `n${k}`;
  if (Number.isNaN(k)) return null;
  if (Number.isInteger(k)) return `n${BigInt(k)}`;
  return `f${pyFloatRepr(k)}`;
}

function isScalar(v: unknown): v is PyScalar {
  return (
    v === null ||
    typeof v === 'boolean' ||
    typeof v === 'bigint' ||
    typeof v === 'number' ||
    typeof v === 'string'
  );
}

/** JS values from the `yaml` package (mapAsMap, intAsBigInt) → PyYamlValue. */
function convert(v: unknown, depth: number): PyYamlValue {
  if (depth > MAX_DEPTH) throw new PyYamlError('the document is nested too deeply');
  if (v === undefined) return null;
  if (isScalar(v)) return v;
  if (Array.isArray(v)) return v.map((x) => convert(x, depth + 1));
  if (v instanceof Set) return [...v].map((x) => convert(x, depth + 1));
  if (v instanceof Uint8Array) return Buffer.from(v).toString('latin1');
  if (v instanceof Map) {
    const out: PyYamlMap = new Map();
    const firstKey = new Map<string, PyScalar>();
    for (const [k, x] of v) {
      const key = k === undefined ? null : k;
      if (!isScalar(key)) throw new PyYamlError('found unhashable key (a list or mapping used as a key)');
      const id = keyIdentity(key);
      const stored = id === null ? key : (firstKey.get(id) ?? key);
      if (id !== null && !firstKey.has(id)) firstKey.set(id, key);
      out.set(stored, convert(x, depth + 1));
    }
    return out;
  }
  throw new PyYamlError(`unsupported YAML value ${String(v)}`);
}

/** `yaml.safe_load(text)`; an empty document is null. Throws `PyYamlError` where PyYAML raises. */
export function pyYamlSafeLoad(text: string): PyYamlValue {
  let js: unknown;
  try {
    const doc = parseDocument(text, {
      version: '1.1',
      intAsBigInt: true,
      uniqueKeys: false,
      prettyErrors: true,
      customTags: pyyamlTags,
    });
    const problem = doc.errors[0] ?? doc.warnings.find((w) => w.code === 'TAG_RESOLVE_FAILED');
    if (problem !== undefined) throw new PyYamlError(problem.message.trim());
    js = doc.toJS({ mapAsMap: true, maxAliasCount: 1000 });
  } catch (e) {
    if (e instanceof PyYamlError) throw e;
    throw new PyYamlError(e instanceof Error ? e.message : String(e));
  }
  return convert(js, 0);
}
