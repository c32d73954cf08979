/**
 * YAML the way patronictl prints and reads it.
 *
 * - `pyYamlDump(value, { flow })` prints exactly what PyYAML's
 *   `yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True, width=200)` prints
 *   (patronictl's `format_config_for_editing`): keys sorted by code point, block or flow style,
 *   PyYAML's choice between plain, single- and double-quoted scalars (a string that would read
 *   back as another type — `'true'`, `'123'`, `''`, `'2024-01-01'` — is quoted), its folding of long
 *   scalars at 200 columns, its indentation (a list under a key is not indented).
 * - `pyYamlLoad(text)` is `yaml.safe_load` (the loader of `src/py/yaml.ts`, with its documented
 *   differences) into the value model of `src/dcs/model/json.ts`: mappings are `Map`s in document
 *   order with keys as `json.dumps` writes them (`true`, `null`, `1.0`), ints are `number` (or
 *   `bigint` beyond 2^53), floats `JsonFloat` (so `1.0` stays a float when written back as JSON).
 *
 * Why our own emitter: the `yaml` package prints valid YAML but not PyYAML's bytes (quoting
 * choices, indentation of nested lists, line folding), and `show-config` / `edit-config` diffs are
 * compared with patronictl's. The emitter follows PyYAML's scalar analysis and writer rules for
 * the node kinds JSON values produce (no anchors, tags, or block scalars, which `safe_dump` never
 * picks on its own). Pure: no I/O.
 */
import {
  intFromBigInt,
  isPyDict,
  JsonFloat,
  type PyJson,
  pyDictEntries,
  pyJsonDictKey,
} from '../../dcs/model/json.js';
import { pyStrCompare } from '../../py/compare.js';
import { pyFloatRepr } from '../../py/repr.js';
import { PyYamlError, type PyYamlValue, plainScalarIsStr, pyYamlSafeLoad } from '../../py/yaml.js';

// ---------------------------------------------------------------------------------------------
// representation: values → nodes

type YamlNode =
  | { readonly kind: 'scalar'; readonly text: string; readonly isString: boolean }
  | { readonly kind: 'seq'; readonly items: readonly YamlNode[]; readonly flow: boolean }
  | {
      readonly kind: 'map';
      readonly pairs: readonly (readonly [YamlNode, YamlNode])[];
      readonly flow: boolean;
    };

function floatText(x: number): string {
  if (Number.isNaN(x)) return '.nan';
  if (x === Number.POSITIVE_INFINITY) return '.inf';
  if (x === Number.NEGATIVE_INFINITY) return '-.inf';
  const r = pyFloatRepr(x).toLowerCase();
  return !r.includes('.') && r.includes('e') ? r.replace('e', '.0e') : r;
}

function represent(v: PyJson, flow: boolean): YamlNode {
  if (v === null) return { kind: 'scalar', text: 'null', isString: false };
  if (v === true || v === false) return { kind: 'scalar', text: String(v), isString: false };
  if (typeof v === 'bigint') return { kind: 'scalar', text: v.toString(), isString: false };
  if (typeof v === 'number') {
    const isInt = Number.isSafeInteger(v) && !Object.is(v, -0);
    return { kind: 'scalar', text: isInt ? String(v) : floatText(v), isString: false };
  }
  if (v instanceof JsonFloat) return { kind: 'scalar', text: floatText(v.value), isString: false };
  if (typeof v === 'string') return { kind: 'scalar', text: v, isString: true };
  if (Array.isArray(v))
    return { kind: 'seq', items: (v as readonly PyJson[]).map((x) => represent(x, flow)), flow };
  if (isPyDict(v)) {
    const entries = pyDictEntries(v).sort((a, b) => pyStrCompare(a[0], b[0]));
    return {
      kind: 'map',
      pairs: entries.map(([k, x]) => [represent(k, flow), represent(x, flow)] as const),
      flow,
    };
  }
  throw new TypeError(`cannot represent ${String(v)} as YAML`);
}

// ---------------------------------------------------------------------------------------------
// scalar analysis (PyYAML `analyze_scalar`)

const BREAKS = '\n\x85\u2028\u2029';
const BLANK_OR_BREAK = '\0 \t\r\n\x85\u2028\u2029';
const isBlankOrBreak = (ch: string | undefined): boolean => ch !== undefined && BLANK_OR_BREAK.includes(ch);

interface Analysis {
  readonly chars: readonly string[];
  readonly empty: boolean;
  readonly multiline: boolean;
  readonly allowFlowPlain: boolean;
  readonly allowBlockPlain: boolean;
  readonly allowSingleQuoted: boolean;
}

function isPrintableUnicode(cp: number): boolean {
  return (
    cp === 0x85 ||
    (cp >= 0xa0 && cp <= 0xd7ff) ||
    (cp >= 0xe000 && cp <= 0xfffd) ||
    (cp >= 0x10000 && cp < 0x10ffff)
  );
}

function analyze(text: string): Analysis {
  const chars = [...text];
  if (chars.length === 0) {
    return {
      chars,
      empty: true,
      multiline: false,
      allowFlowPlain: false,
      allowBlockPlain: true,
      allowSingleQuoted: true,
    };
  }
  const { blockIndicators, flowIndicators } = scanIndicators(text, chars);
  const ws = scanSpacesAndBreaks(chars);
  let flowPlain = true;
  let blockPlain = true;
  let singleQuoted = true;
  if (ws.leadingSpace || ws.leadingBreak || ws.trailingSpace || ws.trailingBreak)
    flowPlain = blockPlain = false;
  if (ws.breakSpace) flowPlain = blockPlain = singleQuoted = false;
  if (ws.spaceBreak || ws.special) flowPlain = blockPlain = singleQuoted = false;
  if (ws.lineBreaks) flowPlain = blockPlain = false;
  if (flowIndicators) flowPlain = false;
  if (blockIndicators) blockPlain = false;
  return {
    chars,
    empty: false,
    multiline: ws.lineBreaks,
    allowFlowPlain: flowPlain,
    allowBlockPlain: blockPlain,
    allowSingleQuoted: singleQuoted,
  };
}

/** `analyze_scalar`'s indicator checks: characters that make a plain scalar ambiguous in flow or block context. */
function scanIndicators(
  text: string,
  chars: readonly string[],
): { blockIndicators: boolean; flowIndicators: boolean } {
  let blockIndicators = false;
  let flowIndicators = false;
  if (text.startsWith('---') || text.startsWith('...')) {
    blockIndicators = true;
    flowIndicators = true;
  }
  let precededByWhitespace = true;
  let followedByWhitespace = chars.length === 1 || isBlankOrBreak(chars[1]);
  for (const [i, ch] of chars.entries()) {
    if (i === 0) {
      if ('#,[]{}&*!|>\'"%@`'.includes(ch)) {
        flowIndicators = true;
        blockIndicators = true;
      }
      if (ch === '?' || ch === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      }
      if (ch === '-' && followedByWhitespace) {
        flowIndicators = true;
        blockIndicators = true;
      }
    } else {
      if (',?[]{}'.includes(ch)) flowIndicators = true;
      if (ch === ':') {
        flowIndicators = true;
        if (followedByWhitespace) blockIndicators = true;
      }
      if (ch === '#' && precededByWhitespace) {
        flowIndicators = true;
        blockIndicators = true;
      }
    }
    precededByWhitespace = BLANK_OR_BREAK.includes(ch);
    followedByWhitespace = i + 2 >= chars.length || isBlankOrBreak(chars[i + 2]);
  }
  return { blockIndicators, flowIndicators };
}

/** `analyze_scalar`'s checks of line breaks, special characters and where spaces and breaks sit. */
function scanSpacesAndBreaks(chars: readonly string[]): {
  lineBreaks: boolean;
  special: boolean;
  leadingSpace: boolean;
  leadingBreak: boolean;
  trailingSpace: boolean;
  trailingBreak: boolean;
  breakSpace: boolean;
  spaceBreak: boolean;
} {
  let lineBreaks = false;
  let special = false;
  let leadingSpace = false;
  let leadingBreak = false;
  let trailingSpace = false;
  let trailingBreak = false;
  let breakSpace = false;
  let spaceBreak = false;
  let previousSpace = false;
  let previousBreak = false;
  const last = chars.length - 1;
  for (const [i, ch] of chars.entries()) {
    if (BREAKS.includes(ch)) lineBreaks = true;
    const cp = ch.codePointAt(0) as number;
    if (!(ch === '\n' || (cp >= 0x20 && cp <= 0x7e))) {
      // allow_unicode: printable non-ASCII is fine; everything else needs double quotes
      if (!(isPrintableUnicode(cp) && cp !== 0xfeff)) special = true;
    }
    if (ch === ' ') {
      if (i === 0) leadingSpace = true;
      if (i === last) trailingSpace = true;
      if (previousBreak) breakSpace = true;
      previousSpace = true;
      previousBreak = false;
    } else if (BREAKS.includes(ch)) {
      if (i === 0) leadingBreak = true;
      if (i === last) trailingBreak = true;
      if (previousSpace) spaceBreak = true;
      previousSpace = false;
      previousBreak = true;
    } else {
      previousSpace = false;
      previousBreak = false;
    }
  }
  return {
    lineBreaks,
    special,
    leadingSpace,
    leadingBreak,
    trailingSpace,
    trailingBreak,
    breakSpace,
    spaceBreak,
  };
}

// ---------------------------------------------------------------------------------------------
// the emitter

interface Context {
  readonly root?: boolean;
  readonly sequence?: boolean;
  readonly mapping?: boolean;
  readonly simpleKey?: boolean;
}

const ESCAPES: Readonly<Record<string, string>> = {
  '\0': '0',
  '\x07': 'a',
  '\x08': 'b',
  '\t': 't',
  '\n': 'n',
  '\x0b': 'v',
  '\x0c': 'f',
  '\r': 'r',
  '\x1b': 'e',
  '"': '"',
  '\\': '\\',
  '\x85': 'N',
  '\xa0': '_',
  '\u2028': 'L',
  '\u2029': 'P',
};

class Emitter {
  private readonly out: string[] = [];
  private column = 0;
  private whitespace = true;
  private indention = true;
  private openEnded = false;
  private indent: number | null = null;
  private readonly indents: (number | null)[] = [];
  private flowLevel = 0;
  private readonly bestIndent = 2;

  constructor(private readonly bestWidth: number) {}

  document(root: YamlNode): string {
    this.node(root, { root: true });
    this.writeIndent();
    if (this.openEnded) {
      this.writeIndicator('...', true);
      this.writeIndent();
    }
    return this.out.join('');
  }

  private write(data: string): void {
    this.out.push(data);
    this.column += [...data].length;
  }

  private increaseIndent(flow: boolean, indentless = false): void {
    this.indents.push(this.indent);
    if (this.indent === null) this.indent = flow ? this.bestIndent : 0;
    else if (!indentless) this.indent += this.bestIndent;
  }

  private popIndent(): void {
    this.indent = this.indents.pop() ?? null;
  }

  private writeIndicator(indicator: string, needWhitespace: boolean, whitespace = false, indention = false) {
    const data = this.whitespace || !needWhitespace ? indicator : ` ${indicator}`;
    this.whitespace = whitespace;
    this.indention = this.indention && indention;
    this.openEnded = false;
    this.write(data);
  }

  private writeIndent(): void {
    const indent = this.indent ?? 0;
    if (!this.indention || this.column > indent || (this.column === indent && !this.whitespace)) {
      this.writeLineBreak();
    }
    if (this.column < indent) {
      this.whitespace = true;
      this.write(' '.repeat(indent - this.column));
    }
  }

  private writeLineBreak(data = '\n'): void {
    this.whitespace = true;
    this.indention = true;
    this.out.push(data);
    this.column = 0;
  }

  private isEmptyCollection(n: YamlNode): boolean {
    return (n.kind === 'seq' && n.items.length === 0) || (n.kind === 'map' && n.pairs.length === 0);
  }

  private checkSimpleKey(n: YamlNode): boolean {
    if (n.kind === 'scalar') {
      const a = analyze(n.text);
      return a.chars.length < 128 && !a.empty && !a.multiline;
    }
    return this.isEmptyCollection(n);
  }

  private node(n: YamlNode, ctx: Context): void {
    if (n.kind === 'scalar') {
      this.increaseIndent(true);
      this.scalar(n, ctx);
      this.popIndent();
    } else if (n.kind === 'seq') {
      if (this.flowLevel > 0 || n.flow || n.items.length === 0) this.flowSequence(n.items);
      else this.blockSequence(n.items, ctx);
    } else if (this.flowLevel > 0 || n.flow || n.pairs.length === 0) {
      this.flowMapping(n.pairs);
    } else {
      this.blockMapping(n.pairs);
    }
  }

  private flowSequence(items: readonly YamlNode[]): void {
    this.writeIndicator('[', true, true);
    this.flowLevel++;
    this.increaseIndent(true);
    items.forEach((item, i) => {
      if (i > 0) this.writeIndicator(',', false);
      if (this.column > this.bestWidth) this.writeIndent();
      this.node(item, { sequence: true });
    });
    this.popIndent();
    this.flowLevel--;
    this.writeIndicator(']', false);
  }

  private flowMapping(pairs: readonly (readonly [YamlNode, YamlNode])[]): void {
    this.writeIndicator('{', true, true);
    this.flowLevel++;
    this.increaseIndent(true);
    pairs.forEach(([k, v], i) => {
      if (i > 0) this.writeIndicator(',', false);
      if (this.column > this.bestWidth) this.writeIndent();
      if (this.checkSimpleKey(k)) {
        this.node(k, { mapping: true, simpleKey: true });
        this.writeIndicator(':', false);
      } else {
        this.writeIndicator('?', true);
        this.node(k, { mapping: true });
        if (this.column > this.bestWidth) this.writeIndent();
        this.writeIndicator(':', true);
      }
      this.node(v, { mapping: true });
    });
    this.popIndent();
    this.flowLevel--;
    this.writeIndicator('}', false);
  }

  private blockSequence(items: readonly YamlNode[], ctx: Context): void {
    this.increaseIndent(false, Boolean(ctx.mapping) && !this.indention);
    for (const item of items) {
      this.writeIndent();
      this.writeIndicator('-', true, false, true);
      this.node(item, { sequence: true });
    }
    this.popIndent();
  }

  private blockMapping(pairs: readonly (readonly [YamlNode, YamlNode])[]): void {
    this.increaseIndent(false);
    for (const [k, v] of pairs) {
      this.writeIndent();
      if (this.checkSimpleKey(k)) {
        this.node(k, { mapping: true, simpleKey: true });
        this.writeIndicator(':', false);
      } else {
        this.writeIndicator('?', true, false, true);
        this.node(k, { mapping: true });
        this.writeIndent();
        this.writeIndicator(':', true, false, true);
      }
      this.node(v, { mapping: true });
    }
    this.popIndent();
  }

  private scalar(n: YamlNode & { kind: 'scalar' }, ctx: Context): void {
    const a = analyze(n.text);
    const plainOk = n.isString ? plainScalarIsStr(n.text) : true;
    const simpleKey = Boolean(ctx.simpleKey);
    const split = !simpleKey;
    let style: '' | "'" | '"' = '"';
    if (
      plainOk &&
      !(simpleKey && (a.empty || a.multiline)) &&
      (this.flowLevel > 0 ? a.allowFlowPlain : a.allowBlockPlain)
    ) {
      style = '';
    } else if (a.allowSingleQuoted && !(simpleKey && a.multiline)) {
      style = "'";
    }
    if (style === '') this.writePlain(a.chars, split, Boolean(ctx.root));
    else if (style === "'") this.writeSingleQuoted(a.chars, split);
    else this.writeDoubleQuoted(a.chars, split);
  }

  private writePlain(text: readonly string[], split: boolean, root: boolean): void {
    if (root) this.openEnded = true;
    if (text.length === 0) return;
    if (!this.whitespace) this.write(' ');
    this.whitespace = false;
    this.indention = false;
    let spaces = false;
    let breaks = false;
    let start = 0;
    for (let end = 0; end <= text.length; end++) {
      const ch = text[end] ?? null; // null past the end
      if (spaces) {
        if (ch !== ' ') {
          if (start + 1 === end && this.column > this.bestWidth && split) {
            this.writeIndent();
            this.whitespace = false;
            this.indention = false;
          } else {
            this.write(text.slice(start, end).join(''));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch === null || !BREAKS.includes(ch)) {
          if (text[start] === '\n') this.writeLineBreak();
          for (const br of text.slice(start, end)) this.writeLineBreak(br);
          this.writeIndent();
          this.whitespace = false;
          this.indention = false;
          start = end;
        }
      } else if (ch === null || ` ${BREAKS}`.includes(ch)) {
        this.write(text.slice(start, end).join(''));
        start = end;
      }
      if (ch !== null) {
        spaces = ch === ' ';
        breaks = BREAKS.includes(ch);
      }
    }
  }

  private writeSingleQuoted(text: readonly string[], split: boolean): void {
    this.writeIndicator("'", true);
    let spaces = false;
    let breaks = false;
    let start = 0;
    for (let end = 0; end <= text.length; end++) {
      const ch = text[end] ?? null; // null past the end
      if (spaces) {
        if (ch === null || ch !== ' ') {
          if (
            start + 1 === end &&
            this.column > this.bestWidth &&
            split &&
            start !== 0 &&
            end !== text.length
          ) {
            this.writeIndent();
          } else {
            this.write(text.slice(start, end).join(''));
          }
          start = end;
        }
      } else if (breaks) {
        if (ch === null || !BREAKS.includes(ch)) {
          if (text[start] === '\n') this.writeLineBreak();
          for (const br of text.slice(start, end)) this.writeLineBreak(br);
          this.writeIndent();
          start = end;
        }
      } else if (ch === null || ` ${BREAKS}`.includes(ch) || ch === "'") {
        if (start < end) {
          this.write(text.slice(start, end).join(''));
          start = end;
        }
      }
      if (ch === "'") {
        this.write("''");
        start = end + 1;
      }
      if (ch !== null) {
        spaces = ch === ' ';
        breaks = BREAKS.includes(ch);
      }
    }
    this.writeIndicator("'", false);
  }

  private writeDoubleQuoted(text: readonly string[], split: boolean): void {
    this.writeIndicator('"', true);
    let start = 0;
    for (let end = 0; end <= text.length; end++) {
      const ch = text[end] ?? null; // null past the end
      const cp = ch === null ? 0 : (ch.codePointAt(0) as number);
      if (
        ch === null ||
        '"\\\x85\u2028\u2029\ufeff'.includes(ch) ||
        !((cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd))
      ) {
        if (start < end) {
          this.write(text.slice(start, end).join(''));
          start = end;
        }
        if (ch !== null) {
          const esc = ESCAPES[ch];
          let data: string;
          if (esc !== undefined) data = `\\${esc}`;
          else if (cp <= 0xff) data = `\\x${cp.toString(16).toUpperCase().padStart(2, '0')}`;
          else if (cp <= 0xffff) data = `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`;
          else data = `\\U${cp.toString(16).toUpperCase().padStart(8, '0')}`;
          this.write(data);
          start = end + 1;
        }
      }
      if (
        end > 0 &&
        end < text.length - 1 &&
        (ch === ' ' || start >= end) &&
        this.column + (end - start) > this.bestWidth &&
        split
      ) {
        const data = `${text.slice(start, end).join('')}\\`;
        if (start < end) start = end;
        this.write(data);
        this.writeIndent();
        this.whitespace = false;
        this.indention = false;
        if (text[start] === ' ') this.write('\\');
      }
    }
    this.writeIndicator('"', false);
  }
}

export interface DumpOptions {
  /** PyYAML's `default_flow_style` (patronictl: false for show-config, true for tags in tsv/topology) */
  readonly flow?: boolean;
  /** line width (patronictl: 200) */
  readonly width?: number;
}

/** `yaml.safe_dump(value, default_flow_style=flow, allow_unicode=True, width=200)`. */
export function pyYamlDump(value: PyJson, options: DumpOptions = {}): string {
  const width = options.width ?? 200;
  return new Emitter(width > 4 ? width : 80).document(represent(value, options.flow ?? false));
}

// ---------------------------------------------------------------------------------------------
// loading

export class YamlLoadError extends Error {
  override readonly name = 'YamlLoadError';
}

/** The loader's Python values → our JSON value model, keys as Python's `json.dumps` writes them. */
function toPyJson(v: PyYamlValue): PyJson {
  if (typeof v === 'bigint') return intFromBigInt(v);
  if (typeof v === 'number') return new JsonFloat(v);
  if (Array.isArray(v)) return v.map(toPyJson);
  if (v instanceof Map) {
    const out = new Map<string, PyJson>();
    // two keys that print alike (`True` and `'true'`) become one, the last value at the first
    // position, as json.loads reads what json.dumps wrote for them
    for (const [k, x] of v) out.set(pyJsonDictKey(k), toPyJson(x));
    return out;
  }
  return v;
}

/**
 * `yaml.safe_load(text)` (see `src/py/yaml.ts`) into the value model of `src/dcs/model/json.ts`:
 * mappings are `Map`s in document order, ints are `number` (or `bigint` beyond 2^53), floats
 * `JsonFloat`; an empty document is null.
 */
export function pyYamlLoad(text: string): PyJson {
  try {
    return toPyJson(pyYamlSafeLoad(text));
  } catch (e) {
    if (e instanceof PyYamlError) throw new YamlLoadError(e.message);
    throw e;
  }
}
