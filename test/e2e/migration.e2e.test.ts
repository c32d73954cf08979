/**
 * Topology C (`npm run test:e2e` only): a running cluster of 2 Patroni 3.0.2 nodes whose witness is
 * Debian's `patroni_raft_controller` has its witness replaced live by `raftdcs controller` — same
 * YAML, same data_dir and self_addr, while Patroni keeps running. The new witness imports the
 * pysyncobj journal (keeping the Python files as backups) and catches up; the leadership does not
 * move. Then the primary's Patroni is killed: with one Patroni node left, the promotion needs the
 * migrated witness's vote.
 */
import { existsSync, readFileSync } from 'node:fs';
import { expect } from 'vitest';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { BOUNDS, createTable, leaderKey, rowIds, waitWitnessCaughtUp, writeAndReplicate } from './checks.js';
import { compareList } from './ctl-compare.js';
import { describeE2e } from './env.js';
import { useSharedCluster } from './fixture.js';
import type { Healthy } from './harness.js';
import { raftStatus } from './observe.js';
import { report } from './report.js';
import { PROMOTE_BOUND_MS } from './steps.js';

const label = { topology: 'C', witness: 'python -> raftdcs' };
const measured = (what: string, ms: number) => report({ ...label, what, seconds: ms / 1000 });

describeE2e('e2e topology C: patroni_raft_controller replaced live by raftdcs controller', () => {
  const { step } = useSharedCluster({ scope: 'c-migration', nodes: 2, witnesses: ['python'] });
  let healthy: Healthy | null = null;
  const settled = () => healthy ?? expect.unreachable('no settled cluster from the previous step');

  step('bootstraps with a patroni_raft_controller witness', 240_000, async (c) => {
    const t0 = Date.now();
    await c.startAll();
    healthy = await c.waitHealthy(BOUNDS.bootstrapMs, 'the bootstrap');
    measured('bootstrap (Python witness) -> leader + streaming replica', Date.now() - t0);
    await createTable(c, healthy);
    await writeAndReplicate(c, healthy, 1, 'bootstrap');
  });

  step(
    'the witness is replaced by raftdcs controller on the same data_dir: no failover',
    180_000,
    async (c) => {
      const h = settled();
      const w = c.witnesses[0] ?? expect.unreachable('no witness');
      const key = await leaderKey(c);
      expect(key?.value).toBe(h.leader);
      const files = journalPaths(w.dataDir, w.addr);
      expect(existsSync(files.journal), 'the Python controller keeps a journal').toBe(true);
      const t0 = Date.now();
      await w.stop();
      w.start('raftdcs');
      const ms = await waitWitnessCaughtUp(c, w, 60_000);
      measured('Python witness stopped, raftdcs controller started -> caught up', Date.now() - t0);
      expect(ms).toBeGreaterThan(0);
      expect(existsSync(files.journalBackup), `${files.journalBackup} kept`).toBe(true);
      expect(readFileSync(w.logFile, 'utf8')).toContain('imported the pysyncobj journal');
      const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the cluster after the witness replacement');
      expect(h2).toEqual(h);
      expect((await leaderKey(c))?.created, 'the same leader key').toBe(key?.created);
      await writeAndReplicate(c, h2, 2, 'witness migrated');
      healthy = h2;
    },
  );

  step('raftdcs ctl list equals patronictl list (after the migration)', 120_000, async (c) => {
    const r = await compareList((c.nodes[0] ?? expect.unreachable()).yamlFile);
    console.log(`[e2e] C: ctl list = patronictl list (attempt ${r.attempts})\n${r.ours}`);
  });

  step("primary's Patroni killed: the promotion needs the migrated witness's vote", 300_000, async (c) => {
    const h = settled();
    const old = c.node(h.leader);
    const w = c.witnesses[0] ?? expect.unreachable('no witness');
    const before = await raftStatus(w.addr);
    const t0 = Date.now();
    await old.killPatroni();
    await old.stopPostgres();
    const p = await c.waitPromoted(h.leader, t0, PROMOTE_BOUND_MS);
    measured('Patroni of the primary killed -> replica promoted (raftdcs witness)', p.ms);
    expect(p.ms).toBeLessThan(PROMOTE_BOUND_MS);
    expect((await raftStatus(w.addr))?.lastApplied ?? -1).toBeGreaterThan(before?.lastApplied ?? 0);
    await old.start();
    const h2 = await c.waitHealthy(BOUNDS.rejoinMs, 'the former primary streaming again');
    expect(h2.leader).toBe(p.leader);
    expect(h2.timeline).toBe(h.timeline + 1);
    expect(await rowIds(c, h2.leader)).toEqual([1, 2]);
    await writeAndReplicate(c, h2, 3, 'failover after migration');
  });
});
