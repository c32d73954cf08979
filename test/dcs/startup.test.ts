/**
 * Group L (L01, L02, L03, L07; legend in docs/dcs.md §12.12): start-up of the Raft DCS (docs/dcs.md
 * §5, §10.4) — file names in data_dir (real TCP), ready via the local log without a leader
 * (in-process restart), patronictl read-only mode (real TCP), re-joining after a removal (real TCP).
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { RaftDcsConfig } from '../../src/dcs/raft-config.js';
import { RaftDcs, type RaftDcsOptions } from '../../src/dcs/raft-dcs.js';
import { parseMembersReply } from '../../src/kv/dyn-member.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import {
  DcsCluster,
  FAST_RAFT,
  FIRST_LEADER_RAFT,
  flush,
  P,
  recordingLogger,
  waitFor,
} from './dcs-helpers.js';

const TCP_FAST = { ...FAST_RAFT, connection_retry_time: 0.2 } as const;
const TCP_FIRST = { ...FIRST_LEADER_RAFT, connection_retry_time: 0.2 } as const;

const tmp = mkdtempSync(join(tmpdir(), 'raftdcs-startup-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let opened: RaftDcs[] = [];
let inProcess: DcsCluster | null = null;
afterEach(async () => {
  await Promise.all(opened.map((d) => d.close()));
  opened = [];
  await inProcess?.destroy();
  inProcess = null;
});

async function tcpNode(config: Partial<RaftDcsConfig> & { name: string }, options: RaftDcsOptions = {}) {
  const dcs = await RaftDcs.create(
    // a data_dir of its own unless the test gives one (else the journal lands in the cwd)
    {
      scope: 'batman',
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 5,
      data_dir: mkdtempSync(join(tmp, 'node-')),
      ...TCP_FAST,
      ...config,
    },
    { conf: { autoTickPeriod: 0.02 }, joinBackoffMs: 200, ...options },
  );
  opened.push(dcs);
  return dcs;
}

function comparable(dcs: RaftDcs): [string, string, number][] {
  return [...dcs.kv.getPrefix(P)].map(([k, r]) => [k, r.value, r.index]);
}

describe('L: start-up', () => {
  it('L01 journal and dump are named <data_dir>/<self_addr>.journal / .dump (and in the cwd without data_dir)', async () => {
    const [a1, a2] = await freeLoopbackAddresses(2);
    const dir = join(tmp, 'l01');
    const dcs = await tcpNode({ name: 'pg1', self_addr: a1!, data_dir: dir, ...TCP_FIRST });
    await waitFor(() => dcs.kv.isLeader(), 5000, 'single node leader');
    expect(await dcs.takeLeader()).toBe(true);
    // the journal file: written once SyncObj persists through the FileJournal when journalFile is set
    await waitFor(() => existsSync(join(dir, `${a1}.journal`)), 5000, `${dir}/${a1}.journal`);
    dcs.kv.forceLogCompaction();
    await waitFor(() => existsSync(join(dir, `${a1}.dump`)), 5000, `${dir}/${a1}.dump`);
    const names = readdirSync(dir).sort();
    expect(names.filter((n) => !n.startsWith(`${a1}.journal`) && n !== `${a1}.dump`)).toEqual([]);

    const cwd = process.cwd();
    const here = join(tmp, 'l01-cwd');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(here);
    process.chdir(here);
    try {
      const dcs2 = await tcpNode({ name: 'pg2', self_addr: a2!, data_dir: undefined, ...TCP_FIRST });
      await waitFor(() => dcs2.kv.isLeader(), 5000);
      expect(await dcs2.takeLeader()).toBe(true);
      await waitFor(() => existsSync(join(here, `${a2}.journal`)), 5000, `./${a2}.journal`);
      dcs2.kv.forceLogCompaction();
      await waitFor(() => existsSync(join(here, `${a2}.dump`)), 5000, `./${a2}.dump`);
    } finally {
      process.chdir(cwd);
    }
  });

  it('L02 a member restarting alone returns from start-up via its local log and shows its last keys', async () => {
    const c = await DcsCluster.start();
    inProcess = c;
    const pg1 = c.n1.dcs;
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    expect(await pg1.touchMember({ state: 'running' })).toBe(true);
    expect(await pg1.setConfigValue('{"ttl":30}')).toBe(true);
    await c.settle();
    const before = comparable(pg1);
    expect(before).toHaveLength(3);
    await Promise.all([c.stop(0), c.stop(1), c.stop(2)]);
    const t = performance.now();
    const again = await c.open(0);
    expect(performance.now() - t).toBeLessThan(3000);
    expect(again.kv.getLeader()).toBeNull();
    expect(again.kv.isReady()).toBe(false);
    expect(again.kv.appliedLocalLog).toBe(true);
    const cl = await again.getCluster();
    expect(cl.leaderName).toBe('pg1');
    expect(cl.members.map((m) => m.name)).toEqual(['pg1']);
    expect(cl.config?.data).toEqual({ ttl: 30 });
    expect(comparable(again)).toEqual(before);
  });

  it('L03 patronictl: read-only, connects to both addresses, no files, waits for a leader, then reads and writes', async () => {
    const [a1, a2] = await freeLoopbackAddresses(2);
    const dir = join(tmp, 'l03');
    const log = recordingLogger();
    let ctlReady = false;
    const ctlPromise = RaftDcs.create(
      {
        name: 'ctl',
        scope: 'batman',
        patronictl: true,
        self_addr: a1!,
        partner_addrs: [a2!],
        data_dir: dir,
        retry_timeout: 5,
        ...TCP_FAST,
      },
      { logger: log.logger, readyLogIntervalMs: 300, conf: { autoTickPeriod: 0.02 } },
    ).then((d) => {
      ctlReady = true;
      opened.push(d);
      return d;
    });
    await new Promise((r) => setTimeout(r, 1000));
    expect(ctlReady).toBe(false);
    expect(log.lines.filter((l) => l.msg === 'waiting on raft').length).toBeGreaterThanOrEqual(2);

    const v1 = tcpNode({
      name: 'pg1',
      self_addr: a1!,
      partner_addrs: [a2!],
      data_dir: join(tmp, 'l03-v1'),
      ...TCP_FIRST,
    });
    const v2 = tcpNode({ name: 'pg2', self_addr: a2!, partner_addrs: [a1!], data_dir: join(tmp, 'l03-v2') });
    const [pg1, pg2] = await Promise.all([v1, v2]);
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    expect(await pg1.setConfigValue('{"ttl":30}')).toBe(true);
    const ctl = await ctlPromise;
    expect(ctl.kv.getLeader()).not.toBeNull();
    expect(ctl.kv.isReady()).toBe(true); // onReady: the leader's commit index is applied here
    expect(ctl.kv.selfNode).toBeNull();
    await waitFor(
      () => ctl.kv.isNodeConnected(a1!) && ctl.kv.isNodeConnected(a2!),
      5000,
      'ctl connected to both',
    );
    expect(readdirSync(dir)).toEqual([]);
    await waitFor(() => ctl.kv.raftLastApplied >= pg1.kv.raftCommitIndex, 5000, 'ctl caught up');
    await flush();
    expect(comparable(ctl)).toEqual(comparable(pg1));
    const cl = await ctl.getCluster();
    expect(cl).toEqual(await pg1.getCluster());
    expect(cl.leaderName).toBe('pg1');
    expect(await ctl.setConfigValue('{"ttl":20}', cl.config!.version)).toBe(true);
    await waitFor(
      () => pg2.kv.get(`${P}config`)?.value === '{"ttl":20}',
      5000,
      'config written through the ctl',
    );
    expect(pg1.kv.readonlyNodes.length + pg2.kv.readonlyNodes.length).toBeGreaterThanOrEqual(1);
  });

  it('L07 a removed member restarted with partner_addrs [N1] re-adds itself and receives the state', async () => {
    const [a1, a2, a3] = await freeLoopbackAddresses(3);
    const all = [a1!, a2!, a3!];
    const journal3 = new MemoryJournal();
    const node = (name: string, addr: string, partners: string[], extra: Partial<RaftDcsConfig> = {}) =>
      tcpNode(
        { name, self_addr: addr, partner_addrs: partners.filter((p) => p !== addr), ...extra },
        addr === a3 ? { deps: { journal: journal3 } } : {},
      );
    const [pg1, pg2, pg3] = await Promise.all([
      node('pg1', a1!, all, TCP_FIRST),
      node('pg2', a2!, all),
      node('pg3', a3!, all),
    ]);
    expect(await pg1.attemptToAcquireLeader()).toBe(true);
    await waitFor(() => pg3.kv.get(`${P}leader`) !== null, 5000);
    await pg3.close();
    opened = opened.filter((d) => d !== pg3);
    const reply = await new TcpUtility({ timeoutMs: 3000 }).execute(a1!, ['remove', a3!]);
    expect(String(reply)).toMatch(/SUCCESS/);
    await waitFor(
      () => !pg1.kv.otherNodes.includes(a3!) && !pg2.kv.otherNodes.includes(a3!),
      5000,
      'N3 removed',
    );
    // the cluster moves on without N3
    expect(await pg1.touchMember({ state: 'running' })).toBe(true);
    expect(await pg1.setConfigValue('{"ttl":30}')).toBe(true);

    const back = await node('pg3', a3!, [a1!]);
    await waitFor(() => pg1.kv.otherNodes.includes(a3!), 10_000, 'N1 lists N3 again');
    const members = parseMembersReply(await new TcpUtility({ timeoutMs: 3000 }).execute(a1!, ['members']));
    expect(members?.sort()).toEqual([...all].sort());
    await waitFor(() => back.kv.raftLastApplied >= pg1.kv.raftCommitIndex, 10_000, 'N3 caught up');
    await flush();
    expect(comparable(back)).toEqual(comparable(pg1));
    expect((await back.getCluster()).config?.data).toEqual({ ttl: 30 });
  });

  it('start-up without a reachable leader can be aborted (the node is destroyed, create rejects)', async () => {
    const [a1, a2] = await freeLoopbackAddresses(2);
    const abort = new AbortController();
    const log = recordingLogger();
    const pending = RaftDcs.create(
      { name: 'ctl', scope: 'batman', patronictl: true, partner_addrs: [a1!, a2!], ...TCP_FAST },
      { signal: abort.signal, logger: log.logger, readyLogIntervalMs: 100 },
    );
    await new Promise((r) => setTimeout(r, 350));
    abort.abort();
    await expect(pending).rejects.toThrow('RaftDcs start-up aborted');
    expect(log.lines.filter((l) => l.msg === 'waiting on raft').length).toBeGreaterThanOrEqual(2);
  });
});
