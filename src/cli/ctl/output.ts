/**
 * patronictl's `print_output`: one list of rows in one of its formats.
 *
 * - `pretty`: a PrettyTable (./table.ts); `topology` is the same table (the caller ordered the
 *   rows as a tree); for member lists the `Cluster` column (and `Group` when one group is shown)
 *   is left out because the title names them;
 * - `tsv`: the header and the rows joined with tabs, every value as Python's `str()`;
 * - `json`: Python's `json.dumps(list_of_objects)` (default separators `, ` / `: `), one object per
 *   row keyed by column name; when the table has a title (member lists) empty cells are left out;
 * - `yaml`: the same objects as PyYAML prints them (keys sorted).
 *
 * Member tags are shown as YAML in the table formats (block style in `pretty`, flow style in
 * `tsv` and `topology`), as patronictl does. Pure: returns text.
 */
import { assert } from '../../assert.js';
import { type PyJson, pyJsonDumpsWith, pyStr, pyTruthy } from '../../dcs/model/json.js';
import { pyStrip } from '../../py/numbers.js';
import { pyYamlDump } from './pyyaml.js';
import { type Align, renderTable } from './table.js';

export const OUTPUT_FORMATS = ['pretty', 'tsv', 'json', 'yaml', 'yml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number] | 'topology';

/** Python's `json.dumps(value)` (default separators). */
export function pyJsonDumpsDefault(value: PyJson): string {
  return pyJsonDumpsWith(value, [', ', ': ']);
}

/**
 * The text patronictl echoes for these rows (with a trailing newline).
 * @param header the member-list title (`' Cluster: batman (…) '`), or null for other tables
 */
export function printOutput(
  columns: readonly string[],
  rows: readonly (readonly PyJson[])[],
  align: Readonly<Record<string, Align>>,
  fmt: OutputFormat,
  header: string | null = null,
): string {
  if (fmt === 'json' || fmt === 'yaml' || fmt === 'yml') {
    const elements = rows.map((r) => {
      const o = new Map<string, PyJson>();
      columns.forEach((c, i) => {
        const v = r[i];
        assert(v !== undefined, () => `a row without a ${c} cell`);
        if (!header || pyStr(v) !== '') o.set(c, v);
      });
      return o;
    });
    return fmt === 'json' ? `${pyJsonDumpsDefault(elements)}\n` : `${pyYamlDump(elements)}\n`;
  }
  let cols = [...columns];
  let body: PyJson[][] = rows.map((r) => [...r]);
  const memberList = Boolean(header) && cols[0] === 'Cluster';
  const tagsAt = cols.indexOf('Tags');
  if (memberList && tagsAt >= 0) {
    for (const row of body) {
      const tags = row[tagsAt];
      if (tags !== undefined && pyTruthy(tags))
        row[tagsAt] = pyStrip(pyYamlDump(tags, { flow: fmt !== 'pretty' }));
    }
  }
  if (memberList && fmt !== 'tsv') {
    const skip = header?.includes(' (group: ') ? 2 : 1;
    cols = cols.slice(skip);
    body = body.map((r) => r.slice(skip));
  }
  if (fmt === 'tsv') {
    return [cols, ...body].map((r) => `${r.map((v) => pyStr(v)).join('\t')}\n`).join('');
  }
  const text = renderTable(
    cols,
    body.map((r) => r.map((v) => pyStr(v))),
    { align, title: header },
  );
  return `${text}\n`;
}
