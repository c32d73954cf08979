/**
 * Group D (docs/dcs.md §12.4) — delete (docs/dcs.md §2.7, §3.3), including the two deviations from
 * Patroni: an unconditional delete of a missing key applies as a no-op (Python's apply loop dies
 * on it), and our own unconditional deletes carry `prevExist: true`.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FailReason } from '../../src/raft/core/types.js';
import {
  KvCluster,
  kvLog,
  kwargs,
  lastLogIndex,
  ok,
  plain,
  rawCall,
  recordDict,
  sleep,
} from './acceptance-helpers.js';

let cluster: KvCluster | null = null;
afterEach(async () => {
  await cluster?.destroy();
  cluster = null;
});

describe('D. delete', () => {
  it('D01 a delete removes the key everywhere and runs on_delete once on each node', async () => {
    cluster = await KvCluster.start();
    const a = ok(await cluster.n1.kv.set('/a', 'x'));
    await cluster.waitApplied(a.index);
    expect(await cluster.n2.kv.delete('/a')).toBe(true);
    await cluster.waitApplied(lastLogIndex(cluster.n1));
    for (const n of cluster.nodes) {
      expect(n.kv.get('/a'), n.name).toBeNull();
      expect(n.deletes, n.name).toEqual(['/a']);
    }
  });

  it('D02 a failing local CAS appends nothing; a matching prevIndex deletes', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    const a = ok(await n1.kv.set('/a', 'x'));
    await cluster.waitApplied(a.index);
    const before = lastLogIndex(n1);
    expect(await n2.kv.delete('/a', { prevValue: 'y' })).toBe(false);
    await sleep(50);
    expect(lastLogIndex(n1)).toBe(before);
    expect(n2.kv.get('/a')).toStrictEqual(a);
    expect(await n2.kv.delete('/a', { prevIndex: a.index })).toBe(true);
    expect(n2.kv.get('/a')).toBeNull();
  });

  it('D03 a recursive delete removes every key with the prefix, on_delete in map order', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n1.kv;
    for (const k of ['/service/batman/leader', '/service/batman/members/pg1', '/service/batman2/leader']) {
      ok(await kv.set(k, 'v'));
    }
    for (const n of cluster.nodes) n.deletes.length = 0;
    expect(await cluster.n3.kv.delete('/service/batman/', { recursive: true })).toBe(true);
    await cluster.waitApplied(lastLogIndex(cluster.n1));
    for (const n of cluster.nodes) {
      expect([...n.kv.getPrefix('').keys()], n.name).toEqual(['/service/batman2/leader']);
      expect(n.deletes, n.name).toEqual(['/service/batman/leader', '/service/batman/members/pg1']);
    }
  });

  it('D04 a recursive delete ignores CAS options and returns true even when nothing matches', async () => {
    cluster = await KvCluster.start();
    const kv = cluster.n1.kv;
    ok(await kv.set('/x/1', 'a'));
    expect(await kv.delete('/x/', { recursive: true, prevValue: 'nomatch' })).toBe(true);
    expect(kv.get('/x/1')).toBeNull();
    expect(await kv.delete('/none/', { recursive: true })).toBe(true);
  });

  it('D05 [deviation] a committed unconditional delete of a missing key is a no-op; the node goes on', async () => {
    cluster = await KvCluster.start();
    const { n1, n2, n3 } = cluster;
    const out = await rawCall(n2.kv, '_delete', ['/missing'], kwargs([['recursive', false]]));
    expect(out).toEqual({ result: false, reason: FailReason.Success });
    const after = await rawCall(n3.kv, '_set', ['/after', recordDict('1', 1000.0, 1000.0)]);
    expect(after.reason).toBe(FailReason.Success);
    await cluster.waitApplied(lastLogIndex(n1));
    for (const n of cluster.nodes) {
      expect(n.deletes, n.name).toEqual([]);
      expect(n.kv.get('/after')?.value, n.name).toBe('1');
      expect(n.kv.failure, n.name).toBeNull();
    }
    // N2 and N3 still take part in Raft: each is, in turn, the majority the leader needs
    for (const [cut, partner] of [
      [n2, n3],
      [n3, n2],
    ] as const) {
      cluster.net.setCut(n1.addr, cut.addr, true);
      const key = `/after-${partner.name}`;
      ok(await n1.kv.set(key, 'y', { timeout: 3 }));
      await cluster.waitApplied(lastLogIndex(n1), 3000, [n1, partner]);
      expect(partner.kv.get(key)?.value).toBe('y');
      cluster.net.setCut(n1.addr, cut.addr, false);
    }
  });

  it('D06 [deviation] our unconditional delete sends {recursive: False, prevExist: True}; absent locally → false, nothing sent', async () => {
    cluster = await KvCluster.start();
    const { n1, n2 } = cluster;
    const k = ok(await n1.kv.set('/k', 'v'));
    await cluster.waitApplied(k.index);
    expect(await n2.kv.delete('/k')).toBe(true);
    const entry = kvLog(n1).at(-1);
    expect(entry?.method).toBe('_delete');
    expect(entry?.args).toEqual(['/k']);
    expect(plain(entry?.kwargs)).toEqual([
      ['recursive', false],
      ['prevExist', true],
    ]);
    await cluster.waitApplied(lastLogIndex(n1));
    // only `prevIndex: None` (no version known) requires nothing either: prevExist is added too
    const k2 = ok(await n1.kv.set('/k2', 'v'));
    await cluster.waitApplied(k2.index);
    expect(await n2.kv.delete('/k2', { prevIndex: null })).toBe(true);
    expect(plain(kvLog(n1).at(-1)?.kwargs)).toEqual([
      ['recursive', false],
      ['prevIndex', null],
      ['prevExist', true],
    ]);
    await cluster.waitApplied(lastLogIndex(n1));
    // a condition that requires the key (prevValue, a prevIndex) goes as given, without prevExist
    const byValue = ok(await n1.kv.set('/k3', 'v'));
    await cluster.waitApplied(byValue.index);
    expect(await n2.kv.delete('/k3', { prevValue: 'v' })).toBe(true);
    expect(plain(kvLog(n1).at(-1)?.kwargs)).toEqual([
      ['recursive', false],
      ['prevValue', 'v'],
    ]);
    await cluster.waitApplied(lastLogIndex(n1));
    const byIndex = ok(await n1.kv.set('/k4', 'v'));
    await cluster.waitApplied(byIndex.index);
    expect(await n2.kv.delete('/k4', { prevIndex: byIndex.index })).toBe(true);
    expect(plain(kvLog(n1).at(-1)?.kwargs)).toEqual([
      ['recursive', false],
      ['prevIndex', byIndex.index],
    ]);
    await cluster.waitApplied(lastLogIndex(n1));
    const before = lastLogIndex(n1);
    expect(await n2.kv.delete('/k')).toBe(false);
    // even when the caller's conditions allow a missing key, nothing is sent (Python nodes crash
    // applying a delete of a missing key)
    expect(await n2.kv.delete('/k', { prevExist: false })).toBe(false);
    await sleep(50);
    expect(lastLogIndex(n1)).toBe(before);
  });
});
