/**
 * Chaos campaigns: many runs (./run.ts), their reports, one summary. The default campaign is the
 * one CI runs (`npm test` through chaos.test.ts, and `npm run chaos` with no arguments): a 3-node
 * and a 5-node schedule, plus a control run whose controllers keep no journal — a whole-cluster
 * kill -9 must then show as a violation, or the checks could not catch a lost write.
 */
import { cleanupStale } from './netns.js';
import { type RunReport, runChaos } from './run.js';
import { describeSchedule, makeSchedule } from './schedule.js';

export interface CampaignOptions {
  /** first seed; runs take seeds from, from+1, … */
  readonly from: number;
  readonly schedules: number;
  /** node counts, used in turn */
  readonly nodes: readonly number[];
  readonly chaosMs: number;
  /** runs at once (each in its own namespaces) */
  readonly jobs: number;
  /** add a control run (no journal, whole-cluster kill) that must be caught */
  readonly control: boolean;
  /** membership changes during the faults (a spare node added, members removed) */
  readonly membership: boolean;
  /** how many members run Python's controller, in turn (like `nodes`) */
  readonly python: readonly number[];
  readonly keep?: boolean;
  readonly log: (line: string) => void;
}

export const CI_CAMPAIGN: Omit<CampaignOptions, 'log'> = {
  from: 1,
  schedules: 3,
  nodes: [3, 5, 3],
  chaosMs: 15_000,
  jobs: 1,
  control: true,
  membership: true,
  python: [0, 0, 1],
};

export interface CampaignResult {
  readonly runs: RunReport[];
  readonly control: RunReport | null;
  readonly summary: string;
  readonly table: string;
}

function describeRun(r: RunReport): string {
  const v = r.violations.length;
  return [
    `run seed ${r.seed} (${r.nodes} nodes${r.pythonNodes.length > 0 ? `, Python: ${r.pythonNodes.map((i) => `n${i}`).join(',')}` : ''}): ${r.ops} operations, ${r.acked} acknowledged writes, ${r.unknown} unknown; ` +
      `${r.counts.partitions} partitions (${r.droppedPackets} packets dropped), ${r.counts.pauses} pauses, ` +
      `${r.counts.crashes} crashes (${r.counts.nodesKilled} nodes killed), ${r.counts.membershipChanges} membership changes; ` +
      `recovery ${r.recoveryMs ?? '-'} ms; ` +
      `leaders seen: ${r.leadersSeen.map((i) => `n${i}`).join(',') || '-'}; ` +
      `${v} violations${v > 0 ? ` (logs kept in ${r.dir})` : ''}`,
    ...r.applied.map(
      (a) =>
        `    +${a.at} ms ${a.what}${a.durationMs > 0 ? ` for ${a.durationMs} ms` : ''}${a.dropped === undefined ? '' : `, ${a.dropped} packets dropped`}`,
    ),
    ...r.violations.map((x) => `    VIOLATION ${x.check}${x.key ? ` on ${x.key}` : ''}: ${x.detail}`),
    ...(r.expectedPythonFailure ? [`    EXPECTED PYTHON-SIDE FAILURE: ${r.expectedPythonFailure}`] : []),
  ].join('\n');
}

export function summarize(runs: readonly RunReport[], control: RunReport | null): string {
  const sum = (f: (r: RunReport) => number) => runs.reduce((a, r) => a + f(r), 0);
  const longest = Math.max(0, ...runs.map((r) => r.recoveryMs ?? 0));
  const n3 = runs.filter((r) => r.nodes === 3).length;
  const mixed = runs.filter((r) => r.pythonNodes.length > 0).length;
  const expected = runs.filter((r) => r.expectedPythonFailure !== null).length;
  const pythonLed = runs.filter((r) => r.leadersSeen.some((i) => r.pythonNodes.includes(i))).length;
  const unexpected = runs
    .filter((r) => r.expectedPythonFailure === null)
    .reduce((a, r) => a + r.violations.length, 0);
  const n5 = runs.filter((r) => r.nodes === 5).length;
  const controlText =
    control === null ? '' : `; control run ${control.violations.length > 0 ? 'caught' : 'NOT CAUGHT'}`;
  return (
    `${runs.length} schedules (${n3} with 3 nodes, ${n5} with 5, ${mixed} mixed with Python, a Python leader seen in ${pythonLed}), ${sum((r) => r.ops)} operations, ` +
    `${sum((r) => r.acked)} acknowledged writes, faults: ${sum((r) => r.counts.partitions)} partitions ` +
    `(${sum((r) => r.droppedPackets)} packets dropped), ${sum((r) => r.counts.pauses)} pauses, ` +
    `${sum((r) => r.counts.crashes)} crashes (${sum((r) => r.counts.nodesKilled)} nodes killed), ` +
    `${sum((r) => r.counts.membershipChanges)} membership changes, ` +
    `${unexpected} violations, ${expected} expected Python-side failures, longest recovery after a heal ${longest} ms${controlText}`
  );
}

export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  // namespaces a crashed earlier run left behind (their creating process is gone)
  const stale = await cleanupStale();
  if (stale.length > 0) o.log(`removed ${stale.length} stale namespaces and links of earlier runs`);
  const seeds = Array.from({ length: o.schedules }, (_, i) => o.from + i);
  const runs: RunReport[] = [];
  let next = 0;
  const worker = async () => {
    while (next < seeds.length) {
      const k = next++;
      const seed = seeds[k] as number;
      const nodes = o.nodes[k % o.nodes.length] as number;
      const lines = [describeSchedule(makeSchedule(seed, nodes, o.chaosMs, o.membership))];
      const r = await runChaos({
        seed,
        nodes,
        chaosMs: o.chaosMs,
        membership: o.membership,
        python: o.python[k % o.python.length] ?? 0,
        keep: o.keep,
        log: (l) => lines.push(l),
      });
      runs.push(r);
      o.log([...lines, describeRun(r)].join('\n'));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  let control: RunReport | null = null;
  if (o.control) {
    const seed = o.from + o.schedules;
    control = await runChaos({ seed, nodes: 3, chaosMs: 6000, unsafeNoJournal: true, keep: o.keep });
    o.log(`control (no journal, whole-cluster kill -9 at the end):\n${describeRun(control)}`);
  }
  runs.sort((a, b) => a.seed - b.seed);
  const table = [
    '| seed | nodes | Python | operations | acknowledged | partitions | packets dropped | pauses | crashes | nodes killed | membership changes | recovery ms | violations |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...runs.map(
      (r) =>
        `| ${r.seed} | ${r.nodes} | ${r.pythonNodes.length} | ${r.ops} | ${r.acked} | ${r.counts.partitions} | ${r.droppedPackets} | ${r.counts.pauses} | ${r.counts.crashes} | ${r.counts.nodesKilled} | ${r.counts.membershipChanges} | ${r.recoveryMs ?? '-'} | ${r.violations.length}${r.expectedPythonFailure ? ' (expected, Python)' : ''} |`,
    ),
  ].join('\n');
  return { runs, control, summary: summarize(runs, control), table };
}
