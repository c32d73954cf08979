/**
 * `raftdcs ctl`'s REST commands against real Patroni 3.0.2, side by side with Debian's patronictl:
 * each command is run by both programs from the same cluster state, and both must exit the same way
 * and print the same thing (our first `version` line names our program instead of patronictl).
 * The effect is checked through Patroni's REST API and PostgreSQL: `pause` shows on every node,
 * `restart` gives the replica a new postmaster, `reinit` clones it again, the leader never changes.
 *
 * Order (one step, on the settled cluster): version; ours pause, theirs resume, theirs pause, ours
 * resume (each pair starts from the same state); resume when not paused (the error); reload; flush
 * restart; restart of a replica by each; reinit of a replica by each.
 */
import { expect } from 'vitest';
import { ctl, patronictl, type RunResult, withoutSysid } from '../cli/ctl-helpers.js';
import { BOUNDS, writeAndReplicate } from './checks.js';
import type { E2eCluster, Healthy } from './harness.js';
import { patroniStatus, psqlOk, until } from './observe.js';
import { measured, type Run } from './steps.js';

const RUN = { timeoutMs: 240_000 };

function shown(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}--- stderr\n${r.stderr}`;
}

/**
 * Both programs ran the command the same way. `firstLineDiffers`: the version banner. The member
 * tables some commands print lose their system id (Debian's patronictl 3.0.2 does not print it).
 */
function expectSame(what: string, ours: RunResult, theirs: RunResult, firstLineDiffers = false): void {
  const strip = (s: string) => (firstLineDiffers ? s.split('\n').slice(1).join('\n') : s);
  const context = `${what}\n=== raftdcs ctl: ${shown(ours)}\n=== patronictl: ${shown(theirs)}`;
  expect(ours.code, context).toBe(theirs.code);
  expect(strip(withoutSysid(ours.stdout)), context).toBe(strip(theirs.stdout));
  expect(ours.stderr, context).toBe(theirs.stderr);
}

async function both(args: readonly string[], cfg: string): Promise<[RunResult, RunResult]> {
  const ours = await ctl(['-c', cfg, ...args], RUN);
  const theirs = await patronictl(['-c', cfg, ...args], RUN);
  return [ours, theirs];
}

/** Every node's `GET /patroni` says paused (or not). */
async function waitPause(c: E2eCluster, paused: boolean): Promise<void> {
  await until(`pause=${paused} on every node`, 30_000, async () => {
    for (const n of c.nodes) {
      const s = (await patroniStatus(n.addrs.api)) as { pause?: boolean } | null;
      if (s === null || (s.pause === true) !== paused) return undefined;
    }
    return true;
  });
}

async function postmasterStart(c: E2eCluster, node: string): Promise<string> {
  return psqlOk(c.node(node).addrs.pg, 'SELECT pg_postmaster_start_time()');
}

async function pauseAndResume(c: E2eCluster, scope: string, cfg: string): Promise<void> {
  const oursPause = await ctl(['-c', cfg, 'pause', scope, '--wait'], RUN);
  expect(oursPause.code, shown(oursPause)).toBe(0);
  await waitPause(c, true);
  const theirsResume = await patronictl(['-c', cfg, 'resume', scope, '--wait'], RUN);
  await waitPause(c, false);
  const theirsPause = await patronictl(['-c', cfg, 'pause', scope, '--wait'], RUN);
  await waitPause(c, true);
  const oursResume = await ctl(['-c', cfg, 'resume', scope, '--wait'], RUN);
  await waitPause(c, false);
  expectSame('pause --wait', oursPause, theirsPause);
  expectSame('resume --wait', oursResume, theirsResume);
  const [ours, theirs] = await both(['resume', scope], cfg);
  expect(ours.code).toBe(1);
  expectSame('resume when not paused', ours, theirs);
}

async function restartReplica(c: E2eCluster, scope: string, cfg: string, replica: string): Promise<void> {
  const before = await postmasterStart(c, replica);
  const ours = await ctl(['-c', cfg, 'restart', scope, replica, '--force'], RUN);
  await c.waitHealthy(BOUNDS.rejoinMs, `the cluster after raftdcs ctl restart of ${replica}`);
  const between = await postmasterStart(c, replica);
  expect(between, 'raftdcs ctl restart gave the replica a new postmaster').not.toBe(before);
  const theirs = await patronictl(['-c', cfg, 'restart', scope, replica, '--force'], RUN);
  await c.waitHealthy(BOUNDS.rejoinMs, `the cluster after patronictl restart of ${replica}`);
  expect(await postmasterStart(c, replica)).not.toBe(between);
  expectSame('restart --force', ours, theirs);
}

async function reinitReplica(c: E2eCluster, scope: string, cfg: string, replica: string): Promise<void> {
  const ours = await ctl(['-c', cfg, 'reinit', scope, replica, '--force', '--wait'], RUN);
  await c.waitHealthy(BOUNDS.rejoinMs, `the cluster after raftdcs ctl reinit of ${replica}`);
  const theirs = await patronictl(['-c', cfg, 'reinit', scope, replica, '--force', '--wait'], RUN);
  await c.waitHealthy(BOUNDS.rejoinMs, `the cluster after patronictl reinit of ${replica}`);
  expectSame('reinit --force --wait', ours, theirs);
  expect(ours.stdout).toMatch(new RegExp(`Reinitialize is completed on: ${replica}`));
}

/** The step: every REST command, by both programs, on the settled cluster `run.healthy`. */
export async function restCommands(run: Run, c: E2eCluster): Promise<void> {
  const h: Healthy = await c.waitHealthy(BOUNDS.rejoinMs, 'a settled cluster before the REST commands');
  const scope = c.spec.scope;
  const cfg = c.node(h.leader).yamlFile;
  const replica = h.replicas[0] ?? expect.unreachable('no replica');
  const t0 = Date.now();

  const [oursVersion, theirsVersion] = await both(['version', scope], cfg);
  expect(oursVersion.stdout.split('\n')[0]).toMatch(/^raftdcs ctl version \d/);
  expect(oursVersion.stdout).toMatch(/Patroni 3\.0\.2 PostgreSQL 15\./);
  expectSame('version', oursVersion, theirsVersion, true);

  await pauseAndResume(c, scope, cfg);
  const [oursReload, theirsReload] = await both(['reload', scope, '--force'], cfg);
  expect(oursReload.code, shown(oursReload)).toBe(0);
  expectSame('reload --force', oursReload, theirsReload);
  const [oursFlush, theirsFlush] = await both(['flush', scope, 'restart', '--force'], cfg);
  expectSame('flush restart --force', oursFlush, theirsFlush);

  await restartReplica(c, scope, cfg, replica);
  await reinitReplica(c, scope, cfg, replica);

  const after = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after the REST commands');
  expect(after.leader, 'the REST commands never moved the leader').toBe(h.leader);
  expect(after.timeline).toBe(h.timeline);
  run.healthy = after;
  await writeAndReplicate(c, after, run.nextRow++, 'REST commands');
  measured(run, 'REST commands by both programs (version … reinit)', Date.now() - t0);
}
