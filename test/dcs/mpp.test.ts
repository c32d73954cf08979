/**
 * Group I (docs/dcs.md §12.9), the DCS-level parts (docs/dcs.md §6.3, §7.12): MPP paths through
 * a running Raft DCS (I01), the worker's view and `getMppCoordinator` (I04, with Patroni's error
 * log), `deleteCluster` limited to the own group / own scope (I05). I02, I03, I06, I07 are covered
 * by the model tests (cluster builders) and, through the DCS, by the differential test.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { RaftDcs } from '../../src/dcs/raft-dcs.js';
import { DcsCluster } from './dcs-helpers.js';

let c: DcsCluster | null = null;
afterEach(async () => {
  await c?.destroy();
  c = null;
});

async function single(citus?: unknown): Promise<DcsCluster> {
  c = await DcsCluster.start({ size: 1, config: citus === undefined ? {} : { citus } });
  return c;
}

async function putAll(dcs: RaftDcs, keys: [string, string][]): Promise<void> {
  for (const [k, v] of keys) expect(await dcs.kv.set(k, v)).not.toBe(false);
}

/** The keys of I02. */
const I02_KEYS: [string, string][] = [
  ['/service/batman/0/leader', 'c1'],
  ['/service/batman/0/members/c1', '{"role":"primary","version":"4.0.4"}'],
  ['/service/batman/1/leader', 'w1'],
  ['/service/batman/2/members/w2', '{}'],
  ['/service/batman/01/leader', 'x'],
  ['/service/batman/x/leader', 'x'],
  ['/service/batman/-1/leader', 'x'],
  ['/service/batman/leader', 'x'],
  ['/service/batman2/0/leader', 'x'],
];

describe('I: MPP through the Raft DCS', () => {
  it('I01 a worker writes under its group path; group 0 is the coordinator; no database → MPP disabled', async () => {
    let dcs = (await single({ group: 1, database: 'citus' })).n1.dcs;
    expect(dcs.isMppCoordinator()).toBe(false);
    expect(dcs.paths.leader).toBe('/service/batman/1/leader');
    expect(dcs.paths.member).toBe('/service/batman/1/members/pg1');
    expect(dcs.paths.status).toBe('/service/batman/1/status');
    expect(await dcs.takeLeader()).toBe(true);
    expect(await dcs.touchMember({ state: 'running' })).toBe(true);
    await dcs.writeStatus({ optime: 7 });
    expect([...dcs.kv.getPrefix('/').keys()]).toEqual([
      '/service/batman/1/leader',
      '/service/batman/1/members/pg1',
      '/service/batman/1/status',
    ]);
    await c!.destroy();

    dcs = (await single({ group: 0, database: 'citus' })).n1.dcs;
    expect(dcs.isMppCoordinator()).toBe(true);
    expect(dcs.paths.leader).toBe('/service/batman/0/leader');
    await c!.destroy();

    dcs = (await single({ group: 1 })).n1.dcs;
    expect(c!.n1.log.map((l) => l.msg)).toContain(
      'citus section ignored, MPP disabled: citus.database is not a string',
    );
    expect(dcs.isMppCoordinator()).toBe(false);
    expect(dcs.paths.leader).toBe('/service/batman/leader');
    expect(await dcs.takeLeader()).toBe(true);
    expect([...dcs.kv.getPrefix('/').keys()]).toEqual(['/service/batman/leader']);
  });

  it('I02 (via the DCS) the coordinator sees group 0 with every valid worker group', async () => {
    const dcs = (await single({ group: 0, database: 'citus' })).n1.dcs;
    await putAll(dcs, I02_KEYS);
    const cl = await dcs.getCluster();
    expect(cl.leaderName).toBe('c1');
    expect(cl.members.map((m) => m.name)).toEqual(['c1']);
    expect([...cl.workers.keys()].sort()).toEqual([1, 2]);
    expect(cl.workers.get(1)?.leaderName).toBe('w1');
    expect(cl.workers.get(2)?.members.map((m) => m.name)).toEqual(['w2']);
  });

  it('I04 a worker sees only its group; getMppCoordinator loads group 0 (or logs and returns null)', async () => {
    const c = await single({ group: 1, database: 'citus' });
    const dcs = c.n1.dcs;
    await putAll(dcs, I02_KEYS);
    const cl = await dcs.getCluster();
    expect(cl.leaderName).toBe('w1');
    expect(cl.members).toEqual([]);
    expect(cl.workers.size).toBe(0);
    const coord = await dcs.getMppCoordinator();
    expect(coord?.leaderName).toBe('c1');
    expect(coord?.members.map((m) => m.name)).toEqual(['c1']);
    expect(coord?.members[0]?.version).toBe(dcs.kv.get('/service/batman/0/members/c1')?.index);

    await putAll(dcs, [['/service/batman/0/failover', '{"leader":"c1","scheduled_at":"soon"}']]);
    expect(await dcs.getMppCoordinator()).toBeNull();
    const errors = c.n1.log.filter((l) => l.level === 'error');
    expect(errors).toHaveLength(1);
    expect(errors[0]?.msg).toMatch(
      /^Failed to load Citus coordinator cluster from Raft: ClusterParseError\('.*soon/,
    );
    expect(errors[0]?.msg).toContain('/service/batman/0/failover');
    // the worker's own load is unaffected
    expect((await dcs.getCluster()).leaderName).toBe('w1');
  });

  it('I05 deleteCluster removes only the own group (coordinator) or the own scope (non-MPP)', async () => {
    let dcs = (await single({ group: 0, database: 'citus' })).n1.dcs;
    await putAll(dcs, [
      ['/service/batman/0/leader', 'c1'],
      ['/service/batman/0/members/c1', '{}'],
      ['/service/batman/1/leader', 'w1'],
      ['/service/batman/1/members/w1', '{}'],
    ]);
    expect(await dcs.deleteCluster()).toBe(true);
    expect([...dcs.kv.getPrefix('/').keys()]).toEqual([
      '/service/batman/1/leader',
      '/service/batman/1/members/w1',
    ]);
    await c!.destroy();

    dcs = (await single()).n1.dcs;
    await putAll(dcs, [
      ['/service/batman/leader', 'pg1'],
      ['/service/batman2/leader', 'x'],
      ['/service/batman/members/pg1', '{}'],
      ['/service/batman2/members/x', '{}'],
      ['/service/batmanx', 'y'],
    ]);
    expect(await dcs.deleteCluster()).toBe(true);
    expect([...dcs.kv.getPrefix('/').keys()]).toEqual([
      '/service/batman2/leader',
      '/service/batman2/members/x',
      '/service/batmanx',
    ]);
  });
});
