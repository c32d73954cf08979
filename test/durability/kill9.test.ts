/**
 * Acknowledged writes survive kill -9: three raftdcs nodes as real processes with crash-safe
 * journals (fsync always), a client writing and recording every acknowledgement, 20 kill -9
 * events of random nodes — all three at once included — with restarts. At the end every
 * acknowledged write is present on every node and the nodes' states agree.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { BenchCluster } from '../../bench/cluster.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { Rng } from '../sim/rng.js';

const SEED = Number(process.env.RAFTDCS_KILL_SEED ?? Date.now() % 100000);
const EVENTS = Number(process.env.RAFTDCS_KILL_EVENTS ?? 20);

let cluster: BenchCluster | null = null;
let client: KVStoreTTL | null = null;
afterAll(async () => {
  await client?.destroy();
  await cluster?.destroy();
});

describe('durability under kill -9', () => {
  it('control: the same check catches lost writes when nodes keep no journal', {
    timeout: 120_000,
  }, async () => {
    const c = new BenchCluster(['--journal', 'memory', '--fast']);
    await c.init(3);
    try {
      await c.start();
      const kv = new KVStoreTTL({
        selfAddr: null,
        partnerAddrs: c.addrs,
        retryTimeout: 2,
        retryPauseMs: 100,
        conf: { appendEntriesPeriod: 0.05, raftMinTimeout: 0.2, raftMaxTimeout: 0.4, connectionTimeout: 1 },
      });
      try {
        for (let i = 0; i < 20; i++) expect(await kv.set(`/c/${i}`, 'x')).not.toBe(false);
      } finally {
        await kv.destroy();
      }
      for (const a of c.addrs) c.nodes.get(a)?.kill9();
      for (const a of c.addrs)
        await c.startNode(
          a,
          c.addrs.filter((b) => b !== a),
        );
      await c.waitLeader(30_000);
      const n = c.alive()[0]!;
      const dump = (await n.cmd({ op: 'dump', prefix: '/c/' }, 30_000)).keys as Record<string, unknown>;
      expect(Object.keys(dump)).toHaveLength(0); // everything acknowledged before the crash is gone
    } finally {
      await c.destroy();
    }
  });

  it(`keeps every acknowledged write through ${EVENTS} kill -9 events (seed ${SEED})`, {
    timeout: 240_000,
  }, async () => {
    const rng = new Rng(SEED);
    const c = new BenchCluster(['--journal', 'file', '--fsync', 'always', '--fast']);
    cluster = c;
    await c.init(3);
    await c.start();
    const kv = new KVStoreTTL({
      selfAddr: null,
      partnerAddrs: c.addrs,
      retryTimeout: 2,
      retryPauseMs: 100,
      conf: {
        appendEntriesPeriod: 0.05,
        raftMinTimeout: 0.2,
        raftMaxTimeout: 0.4,
        connectionTimeout: 1,
        connectionRetryTime: 0.2,
      },
    });
    client = kv;
    const acked = new Map<string, string>();
    let attempted = 0;
    let failed = 0;
    let writing = true;
    const writer = async (w: number) => {
      for (let i = 0; writing; i++) {
        const key = `/d/w${w}-${i}`;
        const value = `v${w}-${i}`;
        attempted++;
        const r = await kv.set(key, value, { timeout: 2 });
        if (r !== false) acked.set(key, value);
        else failed++;
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    const kinds: string[] = [];
    for (let ev = 0; ev < EVENTS; ev++) {
      await new Promise((r) => setTimeout(r, rng.range(300, 1200)));
      const r = rng.next();
      const count = ev === 3 || ev === 13 ? 3 : r < 0.5 ? 1 : r < 0.8 ? 2 : 3;
      const victims = [...c.addrs].sort(() => rng.next() - 0.5).slice(0, count);
      kinds.push(`${count}`);
      for (const v of victims) c.nodes.get(v)?.kill9();
      await new Promise((res) => setTimeout(res, rng.range(100, 800)));
      for (const v of victims)
        await c.startNode(
          v,
          c.addrs.filter((a) => a !== v),
        );
    }
    await new Promise((r) => setTimeout(r, 1000));
    writing = false;
    await Promise.all(writers);
    // one more write after the storm must still work, then everybody converges
    expect(await kv.set('/d/final', 'done', { timeout: 10 })).not.toBe(false);
    acked.set('/d/final', 'done');
    await c.waitLeader(30_000);
    await c.waitAllApplied(60_000);
    const dumps: { addr: string; keys: Record<string, [string, number]> }[] = [];
    for (const n of c.alive()) {
      const d = await n.cmd({ op: 'dump', prefix: '/d/' }, 30_000);
      dumps.push({ addr: n.addr, keys: d.keys as Record<string, [string, number]> });
    }
    console.log(
      `kill -9 durability (seed ${SEED}): ${EVENTS} events (victims per event: ${kinds.join(' ')}), ` +
        `${attempted} writes attempted, ${acked.size} acknowledged, ${failed} not acknowledged; ` +
        `states: ${dumps.map((d) => `${d.addr}=${Object.keys(d.keys).length} keys`).join(', ')}`,
    );
    expect(acked.size).toBeGreaterThan(100);
    const lost: string[] = [];
    for (const d of dumps) {
      const keys = d.keys;
      for (const [k, v] of acked) if (keys[k]?.[0] !== v) lost.push(`${d.addr} ${k}`);
    }
    expect(lost, `acknowledged writes missing (seed ${SEED})`).toEqual([]);
    const ref = JSON.stringify(Object.entries(dumps[0]!.keys).sort());
    for (const d of dumps) expect(JSON.stringify(Object.entries(d.keys).sort()), d.addr).toBe(ref);
  });
});
