/**
 * `npm run chaos -- [options]`: fault campaigns on real controller processes in network
 * namespaces (root needed). With no options it runs CI's campaign. The last line printed is the
 * summary; the exit code is 1 when any run had a violation or the control run was not caught.
 *
 *   --schedules N   runs (default 2)            --from S      first seed (default 1)
 *   --nodes 3,5     node counts, in turn        --chaos-ms M  fault phase per run (default 15000)
 *   --jobs J        runs at once (default 1)    --no-control  skip the control run
 *   --seed S        one run: seed S (with --nodes K)
 *   --no-membership no membership changes (the fault windows of a seed stay the same)
 *   --python 0,1    members running Debian's Python controller, in turn (default 0; CI: 0,0,1)
 *   --keep          keep every run's directory (logs, data)
 *   --table FILE    write a Markdown table of the runs
 *   --check-history FILE [--max-steps N]
 *                   check a saved history again (a run with a violation saves its history.json)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { CI_CAMPAIGN, runCampaign } from './campaign.js';
import { type ChaosOp, checkHistoryLinearizable, checkLockHolders } from './checks.js';
import { killAllChildren } from './cluster.js';
import { netnsSupport } from './netns.js';
import { LOCK_KEY } from './run.js';

const { values } = parseArgs({
  options: {
    schedules: { type: 'string' },
    from: { type: 'string' },
    seed: { type: 'string' },
    nodes: { type: 'string' },
    'chaos-ms': { type: 'string' },
    jobs: { type: 'string' },
    'no-control': { type: 'boolean' },
    'no-membership': { type: 'boolean' },
    python: { type: 'string' },
    keep: { type: 'boolean' },
    table: { type: 'string' },
    'check-history': { type: 'string' },
    'max-steps': { type: 'string' },
  },
});

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`--${name}: expected a non-negative integer, got '${v}'`);
    process.exit(2);
  }
  return n;
}

if (values['check-history'] !== undefined) {
  const file = values['check-history'];
  const ops = JSON.parse(readFileSync(file, 'utf8'), (_k, v: unknown) =>
    v === 'Infinity' ? Number.POSITIVE_INFINITY : v,
  ) as ChaosOp[];
  const maxSteps = int('max-steps', values['max-steps'], 2_000_000);
  const lin = checkHistoryLinearizable(ops, maxSteps, 1);
  const locks = checkLockHolders(ops, LOCK_KEY);
  const violations = [...lin.violations, ...locks.violations];
  for (const v of violations) console.log(`VIOLATION ${v.check}${v.key ? ` on ${v.key}` : ''}: ${v.detail}`);
  console.log(
    `${file}: ${ops.length} operations, ${lin.keys} keys, ${lin.steps} search steps, ${violations.length} violations`,
  );
  process.exit(violations.length > 0 ? 1 : 0);
}

// interrupted: kill what we started (its namespaces are removed by the next campaign's cleanup)
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    console.error(`chaos: ${sig}: killing the processes started, exiting`);
    killAllChildren();
    process.exit(130);
  });
}

const support = await netnsSupport();
if (!support.ok) {
  console.error(`chaos: cannot run: ${support.reason}`);
  process.exit(2);
}
const single = values.seed !== undefined;
const nodes = (values.nodes ?? (single ? '3' : CI_CAMPAIGN.nodes.join(',')))
  .split(',')
  .map((s) => int('nodes', s, 3));
const result = await runCampaign({
  from: int('seed', values.seed, int('from', values.from, CI_CAMPAIGN.from)),
  schedules: single ? 1 : int('schedules', values.schedules, CI_CAMPAIGN.schedules),
  nodes,
  chaosMs: int('chaos-ms', values['chaos-ms'], CI_CAMPAIGN.chaosMs),
  jobs: int('jobs', values.jobs, CI_CAMPAIGN.jobs),
  control: !single && !values['no-control'],
  membership: !values['no-membership'],
  python: (values.python ?? (single ? '0' : CI_CAMPAIGN.python.join(',')))
    .split(',')
    .map((s) => int('python', s, 0)),
  keep: values.keep,
  log: (l) => console.log(l),
});
if (values.table) writeFileSync(values.table, `${result.table}\n`);
console.log(result.summary);
const bad =
  result.runs.some((r) => r.violations.length > 0 && r.expectedPythonFailure === null) ||
  (result.control !== null && result.control.violations.length === 0);
process.exit(bad ? 1 : 0);
