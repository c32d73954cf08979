/**
 * One measured time of an end-to-end scenario, and the table that compares them across witness
 * kinds (kept free of vitest imports: the e2e global setup prints it).
 */
export interface Measurement {
  /** topology letter: A, B, C */
  readonly topology: string;
  /** what the witnesses run: raftdcs, python, or a description (C) */
  readonly witness: string;
  /** the scenario, the same for every witness kind (the table's row) */
  readonly what: string;
  readonly seconds: number;
  /** what varies between runs (which node, which Raft role), printed but not a row of its own */
  readonly detail?: string;
}

/** A table of measurements: one row per (topology, what), one column per witness kind. */
export function comparisonTable(ms: readonly Measurement[]): string {
  const witnesses = [...new Set(ms.map((m) => m.witness))];
  const rows = new Map<string, Map<string, number[]>>();
  for (const m of ms) {
    const key = `${m.topology}  ${m.what}`;
    const row = rows.get(key) ?? new Map<string, number[]>();
    row.set(m.witness, [...(row.get(m.witness) ?? []), m.seconds]);
    rows.set(key, row);
  }
  const header = ['scenario', ...witnesses];
  const body = [...rows].map(([key, row]) => [
    key,
    ...witnesses.map((w) => (row.get(w) ?? []).map((s) => `${s.toFixed(1)} s`).join(', ') || '-'),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  const rule = `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`;
  return [line(header), rule, ...body.map(line)].join('\n');
}
