/**
 * `raftdcs ctl list` against Debian's `patronictl list` on a live cluster, with the same Patroni
 * YAML: both run at the same time, in the pretty and the JSON format. Two runs are two instants, so
 * one thing may legitimately differ: the `Lag in MB` of a replica (the leader's optime and the
 * replica's position move between the reads). Only that cell is normalised; everything else —
 * members, hosts, roles, states, timelines, which cells are empty — must be equal, and when the lags
 * happen to be equal too the pretty tables must be equal byte for byte (ours adds the system id to
 * the title, as patronictl >= 3.0.3 does, which `withoutSysid` removes).
 *
 * A member key may change between the two reads (a replica's state while it restarts), so a
 * mismatch is tried again, at most `attempts` times; every attempt's outputs are kept for the error.
 */
import { ctl, patronictl, type RunResult, withoutSysid } from '../cli/ctl-helpers.js';

const LAG = 'Lag in MB';

export interface ListComparison {
  readonly ours: string;
  readonly theirs: string;
  readonly attempts: number;
  /** the lags differed (normalised) at the attempt that matched */
  readonly lagNormalised: boolean;
}

function ok(r: RunResult, what: string): string {
  if (r.code !== 0)
    throw new Error(`${what} exited with ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
  return r.stdout;
}

/** The rows of a pretty table as cells, the Lag column replaced by `#` where it holds a number. */
function cells(table: string): { title: string; rows: string[][]; lags: string[] } {
  const lines = table.split('\n');
  const title = (lines[0] ?? '').replace(/-+/g, '-');
  const rows = lines
    .filter((l) => l.startsWith('|'))
    .map((l) =>
      l
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  const lagAt = rows[0]?.indexOf(LAG) ?? -1;
  const lags: string[] = [];
  for (const row of rows.slice(1)) {
    const v = row[lagAt];
    if (lagAt >= 0 && v !== undefined && /^\d+$/.test(v)) {
      lags.push(v);
      row[lagAt] = '#';
    }
  }
  return { title, rows, lags };
}

function normalisedJson(text: string): { rows: unknown[]; lags: unknown[] } {
  const rows = JSON.parse(text) as Record<string, unknown>[];
  const lags: unknown[] = [];
  for (const r of rows) {
    if (typeof r[LAG] === 'number') {
      lags.push(r[LAG]);
      r[LAG] = '#';
    }
  }
  return { rows, lags };
}

/** The difference between the two runs after normalising, or null when they agree. */
function difference(ours: string, theirs: string, oursJson: string, theirsJson: string): string | null {
  const a = cells(withoutSysid(ours));
  const b = cells(theirs);
  if (JSON.stringify([a.title, a.rows]) !== JSON.stringify([b.title, b.rows])) return 'pretty tables differ';
  if (JSON.stringify(a.lags) === JSON.stringify(b.lags) && withoutSysid(ours) !== theirs)
    return 'pretty tables with equal lags differ in bytes';
  const j = normalisedJson(oursJson);
  const k = normalisedJson(theirsJson);
  if (JSON.stringify(j.rows) !== JSON.stringify(k.rows)) return 'json rows differ';
  return null;
}

/** Compare `raftdcs ctl list` and `patronictl list` with `configFile`; throws with every attempt. */
export async function compareList(configFile: string, attempts = 3): Promise<ListComparison> {
  const c = ['-c', configFile];
  const o = { timeoutMs: 60_000 };
  const failures: string[] = [];
  for (let i = 1; i <= attempts; i++) {
    const [ours, theirs, oursJson, theirsJson] = await Promise.all([
      ctl([...c, 'list'], o),
      patronictl([...c, 'list'], o),
      ctl([...c, 'list', '-f', 'json'], o),
      patronictl([...c, 'list', '-f', 'json'], o),
    ]);
    const texts = [
      ok(ours, 'raftdcs ctl list'),
      ok(theirs, 'patronictl list'),
      ok(oursJson, 'raftdcs ctl list -f json'),
      ok(theirsJson, 'patronictl list -f json'),
    ] as const;
    const diff = difference(...texts);
    if (diff === null) {
      const lagNormalised = JSON.stringify(cells(texts[0]).lags) !== JSON.stringify(cells(texts[1]).lags);
      return { ours: texts[0], theirs: texts[1], attempts: i, lagNormalised };
    }
    failures.push(
      `attempt ${i}: ${diff}\n--- raftdcs ctl list\n${texts[0]}--- patronictl list\n${texts[1]}` +
        `--- raftdcs ctl list -f json\n${texts[2]}--- patronictl list -f json\n${texts[3]}`,
    );
  }
  throw new Error(`raftdcs ctl list and patronictl list disagree:\n${failures.join('\n')}`);
}
