/**
 * The tables patronictl prints: PrettyTable (python3-prettytable 3.6, as patronictl configures it:
 * every column left-aligned unless told otherwise, one space of padding, `+ - |` borders) with
 * patronictl's title written into the top border (`+ Cluster: batman (7234…) --+------+`).
 *
 * Rules kept from PrettyTable: a column is as wide as its widest line (header included), measured
 * in terminal cells (East Asian wide characters count 2, combining marks 0, ANSI colour codes 0);
 * headers are justified like their column; a table with a multi-line cell gets a rule after every
 * row (patronictl's `hrules=ALL`), otherwise only the frame; an empty table still prints its
 * header; the title is cut to the table's width.
 *
 * Why not a table library: PrettyTable's exact bytes are what operators' scripts and our
 * agreement tests compare, the rules above are all there is to it, and the npm table packages
 * (cli-table3, table) draw different borders and pad differently. Pure: no I/O.
 */

export type Align = 'l' | 'r';

export interface TableOptions {
  /** per column; default left */
  readonly align?: Readonly<Record<string, Align>>;
  /** written into the top border after its first `+` (patronictl's table header) */
  readonly title?: string | null;
}

const ESC = String.fromCharCode(0x1b);
/** ANSI colour codes take no room (PrettyTable strips them before measuring) */
const ANSI = new RegExp(`${ESC}\\[[0-9;]*m|${ESC}\\(B`, 'g');

function isWide(cp: number): boolean {
  return (
    (cp >= 0x1100 && cp <= 0x115f) ||
    (cp >= 0x2e80 && cp <= 0x303e) ||
    (cp >= 0x3041 && cp <= 0x33ff) ||
    (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x4e00 && cp <= 0x9fff) ||
    (cp >= 0xa000 && cp <= 0xa4cf) ||
    (cp >= 0xac00 && cp <= 0xd7a3) ||
    (cp >= 0xf900 && cp <= 0xfaff) ||
    (cp >= 0xfe30 && cp <= 0xfe4f) ||
    (cp >= 0xff00 && cp <= 0xff60) ||
    (cp >= 0xffe0 && cp <= 0xffe6) ||
    (cp >= 0x1f300 && cp <= 0x1f64f) ||
    (cp >= 0x1f900 && cp <= 0x1f9ff) ||
    (cp >= 0x20000 && cp <= 0x3fffd)
  );
}

const ZERO_WIDTH = /^[\p{Mn}\p{Me}\u200b-\u200f\u2060]$/u;

/** Terminal cells a line takes (wcwidth's rules for the common cases). */
export function displayWidth(text: string): number {
  let w = 0;
  for (const ch of text.replace(ANSI, '')) {
    const cp = ch.codePointAt(0) as number;
    if (ZERO_WIDTH.test(ch)) continue;
    w += isWide(cp) ? 2 : 1;
  }
  return w;
}

function justify(text: string, width: number, align: Align): string {
  const pad = ' '.repeat(Math.max(0, width - displayWidth(text)));
  return align === 'r' ? pad + text : text + pad;
}

/** Render a table (cells are already text; `\n` makes a multi-line cell). No trailing newline. */
export function renderTable(
  fields: readonly string[],
  rows: readonly (readonly string[])[],
  o: TableOptions = {},
): string {
  const align = (f: string): Align => o.align?.[f] ?? 'l';
  const widths = fields.map((f) => Math.max(...f.split('\n').map(displayWidth)));
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, ...cell.split('\n').map(displayWidth));
    });
  }
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  let top = rule;
  if (o.title) {
    const line = [...rule];
    const header = [...o.title].slice(0, Math.max(0, line.length - 2));
    top = [line[0], ...header, ...line.slice(1 + header.length)].join('');
  }
  const allRules = rows.some((r) => r.some((c) => c.includes('\n')));
  const lines: string[] = [top];
  lines.push(`|${fields.map((f, i) => ` ${justify(f, widths[i] ?? 0, align(f))} `).join('|')}|`);
  lines.push(rule);
  for (const row of rows) {
    const cells = row.map((c) => c.split('\n'));
    const height = Math.max(1, ...cells.map((c) => c.length));
    for (let y = 0; y < height; y++) {
      lines.push(
        `|${fields.map((f, i) => ` ${justify(cells[i]?.[y] ?? '', widths[i] ?? 0, align(f))} `).join('|')}|`,
      );
    }
    if (allRules) lines.push(rule);
  }
  if (!allRules) lines.push(rule);
  return lines.join('\n');
}
