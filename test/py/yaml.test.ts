/**
 * src/py/yaml.ts (the one PyYAML-compatible loader) and its two adapters (the configuration tree
 * of src/config/yaml.ts, the JSON model of patronictl's src/cli/ctl/pyyaml.ts) against Debian's
 * PyYAML: scalar resolution (`1e3` is a str, `1.0e+3` a float, `08` a str, `0777` octal, `1:30`
 * base 60), booleans and nulls, key equality, merges, explicit tags, errors.
 */
import { describe, expect, it } from 'vitest';
import { pyYamlLoad } from '../../src/cli/ctl/pyyaml.js';
import { type ConfigMap, parseYaml } from '../../src/config/yaml.js';
import { JsonFloat, pyJsonDumpsWith } from '../../src/dcs/model/json.js';
import { pyFloatRepr } from '../../src/py/repr.js';
import { type PyYamlValue, pyYamlSafeLoad } from '../../src/py/yaml.js';
import { describeDebianPython } from '../helpers/python.js';
import { askPython } from './oracle.js';

/** A typed form both sides can print: the int/float split and key types survive JSON. */
type Enc = readonly unknown[];

function enc(v: PyYamlValue): Enc {
  if (v === null) return ['none'];
  if (typeof v === 'boolean') return ['bool', v];
  if (typeof v === 'bigint') return ['int', v.toString()];
  if (typeof v === 'number') return ['float', pyFloatRepr(v)];
  if (typeof v === 'string') return ['str', v];
  if (Array.isArray(v)) return ['list', v.map(enc)];
  return ['dict', [...v].map(([k, x]) => [enc(k), enc(x)])];
}

function load(doc: string): Enc {
  try {
    return enc(pyYamlSafeLoad(doc));
  } catch {
    return ['error'];
  }
}

const PY_ENC = `
import yaml
def enc(v):
    if v is None: return ['none']
    if isinstance(v, bool): return ['bool', v]
    if isinstance(v, int): return ['int', str(v)]
    if isinstance(v, float): return ['float', repr(v)]
    if isinstance(v, str): return ['str', v]
    if isinstance(v, list): return ['list', [enc(x) for x in v]]
    if isinstance(v, dict): return ['dict', [[enc(k), enc(x)] for k, x in v.items()]]
    return ['other', type(v).__name__]
def load(d):
    sys.set_int_max_str_digits(4300)  # the default limit while loading, none while printing
    try:
        v = yaml.safe_load(d)
    except Exception:  # YAMLError, ValueError (int digits), KeyError (!!bool maybe)
        return ['error']
    finally:
        sys.set_int_max_str_digits(0)
    return enc(v)
`;

const SCALARS = [
  ...['1e3', '1.0e3', '1.0e+3', '1.0E+3', '1e-3', '1.0e-3', '1E+3', '6.8523015e+5', '685.230_15e+03'],
  ...['0x10', '-0x1F', '0x_1', '0o7', '0b101', '+0b1', '0b_', '1_000', '1__0', '_1', '1_', '0_1', '00'],
  ...['08', '0777', '-0', '+12', '1,000', '12 ', '1:30', '-1:30', '1:60', '190:20:30', '1:30.5'],
  ...['190:20:30.15', '.5', '-.5', '+.5', '0.', '1.e+3', '._1', '1._5', '685_230.15'],
  ...['.inf', '+.inf', '-.INF', '.NaN', '1.5', '1e999', '1.0e+999'],
  ...['y', 'n', 'Y', 'yes', 'No', 'ON', 'oN', 'off', 'TRUE', 'tRUE', 'True', 'false'],
  ...['~', 'null', 'Null', 'NULL', 'nULL', ''],
  ...["'5'", '"1e3"', '"\\x85\\u2028\\U0001F600"', "'it''s'", '!!str 5', '!!int "7"', '!!float 3'],
  ...['!!bool no', '!!bool "off"', '!!int "08"', '!!int "0x1F"', '!!float "1e3"', '!!bool maybe'],
  ...['[1, 2.0, x, ~]', '{a: 1}', '|\n  text\n  more\n', '>-\n  folded\n  text', '!!python/name:os.system x'],
  ...['"unterminated', `${'1'.repeat(4301)}`, `0x${'f'.repeat(100)}`, '-0.0', '0.1'],
];

const DOCUMENTS = [
  ...SCALARS.map((s) => `k: ${s}`),
  '{True: 1, ~: 2, 1.5: 3, 1.0: 4, 1e20: 5, 2: 6, 1.0e+20: 7}',
  '{0: a, false: b, -0.0: c}',
  'a: 1\na: 2\nb: 3',
  'a: &x {p: 1, q: 1}\nb:\n  <<: *x\n  q: 2',
  'base: &b {x: 1}\nc: {<<: [*b], z: 3}',
  '[1, 2]: x',
  '{a: 1}: x',
  '- &a [1, 2]\n- *a',
  '',
  '~',
  '# only a comment',
  'scope: batman\nraft:\n  data_dir: /var/lib/raft\n  self_addr: 127.0.0.1:2222\n  partner_addrs: [127.0.0.1:2223, "127.0.0.1:2224"]\n  ttl: 30\n  retry_timeout: 1e1\nloop_wait: 10.0\n',
  'tags:\n  nofailover: on\n  clonefrom: no\n  1: one\n  nosync: Off\n',
  '---\na: 1\n---\nb: 2\n',
];

describe('py/yaml: fixed expectations (PyYAML 6)', () => {
  it('resolves scalars as PyYAML does', () => {
    const one = (s: string) => (pyYamlSafeLoad(`k: ${s}`) as Map<unknown, PyYamlValue>).get('k');
    expect(one('1e3')).toBe('1e3'); // the config copy read the float 1000
    expect(one('1.0e3')).toBe('1.0e3'); // PyYAML needs the exponent's sign
    expect(one('1.0e+3')).toBe(1000);
    expect(one('08')).toBe('08'); // the config copy read the int 8
    expect(one('0x10')).toBe(16n);
    expect(one('0o7')).toBe('0o7');
    expect(one('1_000')).toBe(1000n);
    expect(one(' 12 ')).toBe(12n);
    expect(one('0777')).toBe(511n);
    expect(one('1:30')).toBe(90n);
    expect(one('y')).toBe('y');
    expect(one('ON')).toBe(true);
    expect(one('!!bool no')).toBe(false);
    expect(one('~')).toBeNull();
    expect(one('2024-01-01')).toBe('2024-01-01'); // deliberate: text, not a date (the config copy: ISO)
  });

  it('merges keys Python finds equal (True == 1 == 1.0), first spelling, last value', () => {
    const m = pyYamlSafeLoad('{True: 1, 1.0: 2, 1: 3, ~: 4, 1.5: 5}') as Map<unknown, PyYamlValue>;
    expect([...m]).toEqual([
      [true, 3n],
      [null, 4n],
      [1.5, 5n],
    ]);
  });

  it('the configuration tree prints keys as str(), the patronictl model as json.dumps', () => {
    const doc = '{True: 1, ~: 2, 1.5: 3, 1.0e+20: 4, x: 1e3}';
    const config = parseYaml(doc, 't') as ConfigMap;
    expect(Object.keys(config)).toEqual(['True', 'None', '1.5', '1e+20', 'x']); // was 'true', '', …
    expect(config['x']).toBe('1e3');
    const json = pyYamlLoad(doc) as Map<string, unknown>;
    expect([...json.keys()]).toEqual(['true', 'null', '1.5', '1e+20', 'x']); // 1e+20 was '100000000000000000000'
    expect(pyYamlLoad('k: 1.0')).toEqual(new Map([['k', new JsonFloat(1)]]));
  });

  it('refuses what PyYAML refuses', () => {
    expect(() => pyYamlSafeLoad('[1, 2]: x')).toThrow(/unhashable/);
    expect(() => pyYamlSafeLoad('k: !!python/name:os.system x')).toThrow();
    expect(() => pyYamlSafeLoad(`k: ${'1'.repeat(4301)}`)).toThrow(/4300/);
    expect(() => parseYaml('a: [', 'f.yml')).toThrow(/f\.yml: invalid YAML/);
  });
});

describeDebianPython('py/yaml against Debian PyYAML', () => {
  it('safe_load of a table of documents gives the same Python values', () => {
    const py = askPython<Enc[]>(`${PY_ENC}\nresult = [load(d) for d in data]`, DOCUMENTS);
    const ours = DOCUMENTS.map(load);
    const diff = DOCUMENTS.flatMap((d, i) =>
      JSON.stringify(ours[i]) === JSON.stringify(py[i])
        ? []
        : [`${JSON.stringify(d)}: ours ${JSON.stringify(ours[i])}, PyYAML ${JSON.stringify(py[i])}`],
    );
    expect(diff).toEqual([]);
  });

  it('patronictl model: json.dumps of the loaded value is byte-identical', () => {
    const docs = DOCUMENTS.filter((d) => load(d)[0] !== 'error');
    const py = askPython<(string | null)[]>(
      `${PY_ENC}
import json
def dumps(d):
    try:
        # through json.loads once, as the DCS stores it: keys that print alike become one
        return json.dumps(json.loads(json.dumps(yaml.safe_load(d))))
    except (TypeError, ValueError):
        return None
result = [dumps(d) for d in data]`,
      docs,
    );
    const ours = docs.map((d) => pyJsonDumpsWith(pyYamlLoad(d), [', ', ': ']));
    expect(ours).toEqual(py);
  });

  it('configuration tree: the keys are str() of the Python keys', () => {
    const docs = DOCUMENTS.filter((d) => {
      const v = load(d);
      return v[0] === 'dict';
    });
    const py = askPython<string[][]>(
      `${PY_ENC}\nresult = [sorted(str(k) for k in yaml.safe_load(d)) for d in data]`,
      docs,
    );
    const ours = docs.map((d) => Object.keys(parseYaml(d, 't') as ConfigMap).sort());
    expect(ours).toEqual(py.map((keys) => [...keys].sort()));
  });
});
