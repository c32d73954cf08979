/**
 * Group K (docs/dcs.md §12.11): AbstractDCS behaviour on the Raft DCS (docs/dcs.md §8.3–§8.8) — the
 * cluster cache, status writes (carry-over, deep_compare, legacy optime), update_leader, failover,
 * sync state, member keys, config/history/initialize. T is the injected wall clock.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PyDateTime } from '../../src/dcs/model/datetime.js';
import { RaftDcs } from '../../src/dcs/raft-dcs.js';
import { createTcpTransport } from '../../src/raft/tcp-factory.js';
import type { CachingDnsResolver } from '../../src/raft/transport/dns.js';
import { TcpTransport } from '../../src/raft/transport/tcp-transport.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { DcsCluster, lastLogIndex, loggedCalls, P, rec } from './dcs-helpers.js';

let c: DcsCluster | null = null;
afterEach(async () => {
  await c?.destroy();
  c = null;
});

async function cluster(size = 3): Promise<DcsCluster> {
  c = await DcsCluster.start({ size });
  return c;
}

describe('K: AbstractDCS', () => {
  it('K01 the cluster cache is valid until getCluster time + ttl; lastSeen is int(time); resetCluster drops it', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    expect(dcs.cluster).toBeNull();
    expect(dcs.lastSeen).toBe(0);
    c.setTime(1000.7);
    const cl = await dcs.getCluster();
    expect(dcs.lastSeen).toBe(1000);
    expect(dcs.cluster).toBe(cl);
    c.setTime(1030.69);
    expect(dcs.cluster).toBe(cl);
    c.setTime(1000.7 + 30); // valid-till > now is false at the boundary
    expect(dcs.cluster).toBeNull();
    c.setTime(1030.71);
    expect(dcs.cluster).toBeNull();
    c.setTime(1001);
    expect(dcs.cluster).toBe(cl);
    dcs.resetCluster();
    expect(dcs.cluster).toBeNull();
    // a failing load also drops the cache (H12's second half)
    await dcs.getCluster();
    expect(dcs.cluster).not.toBeNull();
    expect(await dcs.kv.set(`${P}failover`, '{"leader":"pg1","scheduled_at":"next tuesday-ish"}')).not.toBe(
      false,
    );
    await expect(dcs.getCluster()).rejects.toThrow(/failover.*next tuesday-ish/);
    expect(dcs.cluster).toBeNull();
  });

  it('K02 writeStatus carries slots and retain_slots over and skips an unchanged status', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    expect(await dcs.kv.set(`${P}status`, '{"optime":100,"slots":{"a":1},"retain_slots":["pg2"]}')).not.toBe(
      false,
    );
    await dcs.getCluster();
    const before = lastLogIndex(c.n1);
    await dcs.writeStatus({ optime: 100 });
    expect(lastLogIndex(c.n1)).toBe(before);
    await dcs.writeStatus({ optime: 101 });
    expect(rec(dcs.kv.get(`${P}status`)).value).toBe('{"optime":101,"slots":{"a":1},"retain_slots":["pg2"]}');
    expect(loggedCalls(c.n1, before)).toHaveLength(1);
  });

  it('K03 updateLeader writes the status without carrying slots, the failsafe once; a non-holder writes nothing', async () => {
    const c = await cluster();
    const pg1 = c.n1.dcs;
    expect(await pg1.kv.set(`${P}status`, '{"optime":100,"slots":{"a":1},"retain_slots":["pg2"]}')).not.toBe(
      false,
    );
    expect(await pg1.takeLeader()).toBe(true);
    let cl = await pg1.getCluster();
    expect(await pg1.updateLeader(cl, 200, null, null)).toBe(true);
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe('{"optime":200}');

    let before = lastLogIndex(c.n1);
    expect(await pg1.updateLeader(cl, 0, { a: 1 }, null)).toBe(true);
    expect(loggedCalls(c.n1, before).map((x) => x.key)).toEqual([`${P}leader`]);

    expect(await pg1.updateLeader(cl, 300, null, { pg1: 'http://a' })).toBe(true);
    expect(rec(pg1.kv.get(`${P}failsafe`)).value).toBe('{"pg1":"http://a"}');
    cl = await pg1.getCluster();
    before = lastLogIndex(c.n1);
    expect(await pg1.updateLeader(cl, 300, null, { pg1: 'http://a' })).toBe(true);
    // no failsafe entry; (the status is rewritten once: after getCluster the last status has
    // `retain_slots: []`, which deep_compare does not equal to a missing key — Patroni 4.x does the same)
    expect(loggedCalls(c.n1, before).filter((x) => x.key === `${P}failsafe`)).toEqual([]);

    await c.settle();
    const pg2 = c.n2.dcs;
    const cl2 = await pg2.getCluster();
    before = lastLogIndex(c.n1);
    expect(await pg2.updateLeader(cl2, 400, null, { pg2: 'http://b' })).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(lastLogIndex(c.n1)).toBe(before);
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe('{"optime":300}');
    expect(rec(pg1.kv.get(`${P}failsafe`)).value).toBe('{"pg1":"http://a"}');
  });

  it('K03 slots owned by members are retained in status.retain_slots; acquireLeaderLock restarts their clock', async () => {
    const c = await cluster(1);
    const pg1 = c.n1.dcs;
    expect(await pg1.kv.set(`${P}members/pg2`, '{"version":"4.0.4"}')).not.toBe(false);
    expect(await pg1.kv.set(`${P}members/pg-3`, '{"version":"4.0.4","tags":{"nostream":"on"}}')).not.toBe(
      false,
    );
    expect(
      await pg1.kv.set(`${P}config`, '{"member_slots_ttl":"1min","permanent_slots":{"perm":null}}'),
    ).not.toBe(false);
    expect(await pg1.acquireLeaderLock()).toBe(true);
    const cl = await pg1.getCluster();
    expect(await pg1.updateLeader(cl, 10, { pg2: 5, pg_3: 6, perm: 7, pg1: 8 }, null)).toBe(true);
    // pg2: member slot; pg_3: nostream member; perm: permanent; pg1: ours (we have no member key)
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe(
      '{"optime":10,"slots":{"pg2":5,"pg_3":6,"perm":7,"pg1":8},"retain_slots":["pg1","pg2"]}',
    );
    c.setTime(1059);
    expect(await pg1.updateLeader(cl, 11, null, null)).toBe(true);
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe('{"optime":11,"retain_slots":["pg1","pg2"]}');
    c.setTime(1060); // member_slots_ttl (1 min) passed
    expect(await pg1.updateLeader(cl, 12, null, null)).toBe(true);
    expect(rec(pg1.kv.get(`${P}status`)).value).toBe('{"optime":12}');
  });

  it('K04 while a member runs Patroni < 2.1.0 the legacy optime/leader is written too, once per change', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    expect(await dcs.kv.set(`${P}members/pg1`, '{"version":"2.0.2"}')).not.toBe(false);
    expect(await dcs.kv.set(`${P}members/pg2`, '{"version":"4.0.1"}')).not.toBe(false);
    await dcs.getCluster();
    await dcs.writeLeaderOptime(1234);
    expect(rec(dcs.kv.get(`${P}status`)).value).toBe('{"optime":1234}');
    expect(rec(dcs.kv.get(`${P}optime/leader`)).value).toBe('1234');
    const before = lastLogIndex(c.n1);
    await dcs.writeLeaderOptime(1234);
    expect(lastLogIndex(c.n1)).toBe(before);

    expect(await dcs.kv.delete(`${P}members/pg1`)).toBe(true);
    expect(await dcs.kv.delete(`${P}optime/leader`)).toBe(true);
    await dcs.getCluster();
    await dcs.writeLeaderOptime(5678);
    await dcs.writeLeaderOptime(5679);
    expect(rec(dcs.kv.get(`${P}status`)).value).toBe('{"optime":5679}');
    expect(dcs.kv.get(`${P}optime/leader`)).toBeNull();
  });

  it('K05 manualFailover writes leader/member/scheduled_at; empty clears; a stale version changes nothing', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    expect(await dcs.manualFailover('pg1', 'pg2', new Date('2024-05-01T12:00:00Z'), null)).toBe(true);
    expect(rec(dcs.kv.get(`${P}failover`)).value).toBe(
      '{"leader":"pg1","member":"pg2","scheduled_at":"2024-05-01T12:00:00+00:00"}',
    );
    const offset = new PyDateTime(2024, 5, 1, 14, 0, 0, 500, 7200);
    expect(await dcs.manualFailover(null, 'pg3', offset, null)).toBe(true);
    expect(rec(dcs.kv.get(`${P}failover`)).value).toBe(
      '{"member":"pg3","scheduled_at":"2024-05-01T14:00:00.000500+02:00"}',
    );
    expect(await dcs.manualFailover('', '')).toBe(true);
    const cleared = rec(dcs.kv.get(`${P}failover`));
    expect(cleared.value).toBe('{}');
    expect(await dcs.manualFailover('', 'pg2', null, cleared.index - 1)).toBe(false);
    expect(dcs.kv.get(`${P}failover`)).toEqual(cleared);
  });

  it('K06 writeSyncState writes the 4.x shape and returns the new SyncState; deleteSyncState is CAS by version', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    const s = await dcs.writeSyncState('pg1', ['pg3', 'pg2'], 1, null);
    const stored = rec(dcs.kv.get(`${P}sync`));
    expect(stored.value).toBe('{"leader":"pg1","quorum":1,"sync_standby":"pg2,pg3"}');
    expect(s).not.toBeNull();
    expect(s).toMatchObject({ version: stored.index, leader: 'pg1', syncStandby: 'pg2,pg3', quorum: 1 });
    expect(s!.voters).toEqual(['pg2', 'pg3']);
    const s2 = await dcs.writeSyncState('pg1', null, 0, stored.index);
    expect(rec(dcs.kv.get(`${P}sync`)).value).toBe('{"leader":"pg1","quorum":0,"sync_standby":null}');
    expect(s2).toMatchObject({
      version: rec(dcs.kv.get(`${P}sync`)).index,
      leader: 'pg1',
      syncStandby: null,
      quorum: 0,
    });
    expect(await dcs.writeSyncState('pg1', ['pg2'], 1, stored.index)).toBeNull();
    expect(await dcs.deleteSyncState(99999)).toBe(false);
    expect(await dcs.deleteSyncState(s2!.version)).toBe(true);
    expect(dcs.kv.get(`${P}sync`)).toBeNull();
    // without a version and without a key: false, and nothing replicated (no unconditional delete)
    const before = lastLogIndex(c.n1);
    expect(await dcs.deleteSyncState()).toBe(false);
    expect(lastLogIndex(c.n1)).toBe(before);
    // without a version on an existing key: deleted, sent with prevExist (never unconditional)
    expect(await dcs.writeSyncState('pg1', null, 0)).not.toBeNull();
    expect(await dcs.deleteSyncState()).toBe(true);
    expect(loggedCalls(c.n1, before).at(-1)).toMatchObject({
      method: 'delete',
      key: `${P}sync`,
      kwargs: [
        ['recursive', false],
        ['prevExist', true],
      ],
    });
  });

  it('K07 touchMember writes compact JSON with the current ttl', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    const data = {
      conn_url: 'postgres://h:5432/postgres',
      api_url: 'http://h:8008/patroni',
      state: 'running',
      role: 'replica',
      version: '4.0.4',
    };
    expect(await dcs.touchMember(data)).toBe(true);
    expect(rec(dcs.kv.get(`${P}members/pg1`))).toMatchObject({
      value:
        '{"conn_url":"postgres://h:5432/postgres","api_url":"http://h:8008/patroni","state":"running","role":"replica","version":"4.0.4"}',
      expire: 1030,
    });
    dcs.setTtl(60);
    expect(dcs.ttl).toBe(60);
    c.setTime(1010);
    expect(await dcs.touchMember(data)).toBe(true);
    expect(rec(dcs.kv.get(`${P}members/pg1`)).expire).toBe(1070);
  });

  it('K08 config CAS, history, cancelInitialization (absent key: false, nothing replicated, node keeps working)', async () => {
    const c = await cluster(1);
    const dcs = c.n1.dcs;
    expect(await dcs.setConfigValue('{"ttl":30}')).toBe(true);
    const v1 = (await dcs.getCluster()).config!.version;
    expect(await dcs.setConfigValue('{"ttl":20}', v1)).toBe(true);
    expect(await dcs.setConfigValue('{"ttl":10}', v1)).toBe(false);
    expect(rec(dcs.kv.get(`${P}config`)).value).toBe('{"ttl":20}');
    expect(await dcs.setHistoryValue('[]')).toBe(true);
    expect((await dcs.getCluster()).timeline).toBe(1);
    expect(await dcs.initialize()).toBe(true);
    expect(await dcs.cancelInitialization()).toBe(true);
    const before = lastLogIndex(c.n1);
    expect(await dcs.cancelInitialization()).toBe(false);
    expect(lastLogIndex(c.n1)).toBe(before);
    expect(await dcs.setHistoryValue('[[1,25165984,"x"]]')).toBe(true);
    expect((await dcs.getCluster()).timeline).toBe(2);
  });

  it('reloadConfig sets loop_wait, ttl, retry_timeout and the DNS cache times (ttl / loop_wait) of the transport', async () => {
    const [addr] = await freeLoopbackAddresses(1);
    const calls: [number, number][] = [];
    const dcs = await RaftDcs.create(
      {
        name: 'pg1',
        scope: 'batman',
        self_addr: addr!,
        data_dir: mkdtempSync(join(tmpdir(), 'raftdcs-reload-')),
        ttl: 30,
        loop_wait: 10,
        retry_timeout: 10,
      },
      {
        deps: {
          transport: (handler, conf, self) => {
            const t = createTcpTransport(handler, conf, self);
            expect(t).toBeInstanceOf(TcpTransport);
            const resolver = (t as TcpTransport).resolver as CachingDnsResolver;
            const original = resolver.setTimeouts.bind(resolver);
            resolver.setTimeouts = (cache, fail) => {
              calls.push([cache, fail]);
              original(cache, fail);
            };
            return t;
          },
        },
      },
    );
    try {
      expect([dcs.loopWait, dcs.ttl, dcs.kv.retryTimeout]).toEqual([10, 30, 10]);
      expect([dcs.kv.conf.values.dnsCacheTime, dcs.kv.conf.values.dnsFailCacheTime]).toEqual([30, 10]);
      dcs.reloadConfig({ loop_wait: 5, ttl: 20, retry_timeout: 3 });
      expect([dcs.loopWait, dcs.ttl, dcs.kv.retryTimeout]).toEqual([5, 20, 3]);
      expect(calls).toEqual([[20_000, 5_000]]);
      dcs.setRetryTimeout(7);
      expect(dcs.kv.retryTimeout).toBe(7);
    } finally {
      await dcs.close();
    }
  });
});
