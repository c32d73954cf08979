/**
 * GET /health and GET /readyz of the controller's HTTP endpoint, in every state a node goes through:
 *
 * - in process: KVStoreTTL nodes on an in-memory network, each behind the real endpoint
 *   (src/cli/http.ts on a kernel-chosen port) — a voter whose peers are down, a formed cluster
 *   (leader and followers), a leader whose followers stopped, a leader whose followers went silent
 *   while staying connected (frozen), a frozen leader replaced by the others, a read-only node,
 *   and a loop that does not tick; plus `?max_lag=`, HEAD, `/status`'s `health`, the metrics and
 *   the 404 text;
 * - spawned: two `raftdcs controller` processes over TCP — one alone (no leader), both (leader and
 *   follower ready), the follower stopped with SIGSTOP (the leader stops being ready within the
 *   contact window), continued, then the leader killed (the follower stops being ready).
 *
 * Every wait is a bounded poll; every node, endpoint and process is closed after its test.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type HttpEndpoint, startHttpEndpoint } from '../../src/cli/http.js';
import { createMetrics } from '../../src/cli/metrics.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { silentLogger } from '../../src/logger.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import type { Transport, TransportHandler } from '../../src/raft/transport/types.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { eventually, useProcesses } from './cli-process.js';

/** Timings for in-process nodes: contact window = raftMaxTimeout = 600 ms. */
const CONF: SyncObjConfOptions = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.3,
  raftMaxTimeout: 0.6,
  connectionTimeout: 2,
  autoTickPeriod: 0.05,
};
const WINDOW_MS = 600;

interface Served {
  readonly kv: KVStoreTTL;
  readonly http: HttpEndpoint;
  /** base URL of its endpoint */
  readonly url: string;
  /** drop everything it sends and receives while its connections stay up */
  freeze(frozen: boolean): void;
}

const nodes: Served[] = [];
afterEach(async () => {
  for (const n of nodes.splice(0)) {
    await n.http.close();
    await n.kv.destroy();
  }
});

/** A transport whose traffic can be swallowed without a disconnect (a frozen process, a silent link). */
function freezable(net: MemoryNetwork): {
  factory: (handler: TransportHandler, conf: unknown, self: string | null) => Transport;
  freeze(frozen: boolean): void;
} {
  let frozen = false;
  return {
    freeze: (f) => {
      frozen = f;
    },
    factory: (handler, conf, self) => {
      const inner = net.factory(
        { ...handler, onMessage: (peer, message) => (frozen ? undefined : handler.onMessage(peer, message)) },
        conf,
        self,
      );
      return {
        start: () => inner.start(),
        addNode: (a) => inner.addNode(a),
        dropNode: (a) => inner.dropNode(a),
        send: (peer, message) => (frozen ? inner.isConnected(peer) : inner.send(peer, message)),
        sendPickled: (peer, bytes) => (frozen ? inner.isConnected(peer) : inner.sendPickled(peer, bytes)),
        isConnected: (peer) => inner.isConnected(peer),
        destroy: () => inner.destroy(),
      };
    },
  };
}

/** A KVStoreTTL node on `net` behind the real HTTP endpoint on a free loopback port. */
async function serve(
  net: MemoryNetwork,
  self: string | null,
  partners: readonly string[],
  options: { conf?: SyncObjConfOptions; readyMaxLag?: number } = {},
): Promise<Served> {
  const transport = freezable(net);
  const kv = new KVStoreTTL({
    selfAddr: self,
    partnerAddrs: partners,
    conf: { ...CONF, ...options.conf },
    deps: { transport: transport.factory },
  });
  const http = await startHttpEndpoint({
    listen: { host: '127.0.0.1', port: 0 },
    kv,
    metrics: createMetrics(kv, 'test', options.readyMaxLag),
    version: 'test',
    logger: silentLogger,
    readyMaxLag: options.readyMaxLag,
  });
  const served = { kv, http, url: `http://${http.address}`, freeze: transport.freeze };
  nodes.push(served);
  await kv.waitBinded();
  return served;
}

async function stop(n: Served): Promise<void> {
  nodes.splice(nodes.indexOf(n), 1);
  await n.http.close();
  await n.kv.destroy();
}

interface Answer {
  readonly status: number;
  readonly body: Record<string, unknown>;
}

async function get(url: string): Promise<Answer> {
  const r = await fetch(url);
  expect(r.headers.get('content-type')).toBe('application/json');
  return { status: r.status, body: (await r.json()) as Record<string, unknown> };
}

/** Poll `path` until its status code is `code`; the answer. */
function until(url: string, code: number, timeoutMs: number, what: string): Promise<Answer> {
  return eventually(
    async () => {
      const a = await get(url);
      return a.status === code ? a : undefined;
    },
    timeoutMs,
    `${url} → ${code} (${what})`,
  );
}

/** The value of an unlabelled metric. */
async function metric(base: string, name: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  expect(m, `metric ${name}`).not.toBeNull();
  return Number((m as RegExpExecArray)[1]);
}

/** Three voters A, B, C (addresses are only names on the in-memory network). */
function three(): [string, string, string] {
  const id = Math.floor(Math.random() * 50_000) + 10_000;
  return [`10.1.0.1:${id}`, `10.1.0.2:${id}`, `10.1.0.3:${id}`];
}

async function cluster(net: MemoryNetwork, addrs: readonly string[]): Promise<Served[]> {
  const out: Served[] = [];
  for (const a of addrs)
    out.push(
      await serve(
        net,
        a,
        addrs.filter((b) => b !== a),
      ),
    );
  return out;
}

async function leaderOf(ns: readonly Served[]): Promise<Served> {
  return eventually(
    () => {
      const leaders = ns.filter((n) => n.kv.isLeader());
      return leaders.length === 1 && ns.every((n) => n.kv.getLeader() !== null) ? leaders[0] : undefined;
    },
    15_000,
    'one leader known to all',
  );
}

describe('GET /health and /readyz, in process', () => {
  it('a voter whose peers are down: live, not ready (no leader), in /readyz, /status and /metrics', async () => {
    const [a, b, c] = three();
    const n = await serve(new MemoryNetwork(), a, [b, c]);
    // live from the start (the first tick is due within a tick period), then ticking
    expect((await get(`${n.url}/health`)).status).toBe(200);
    const health = await eventually(
      async () => {
        const h = await get(`${n.url}/health`);
        return typeof h.body.last_tick_ms_ago === 'number' ? h : undefined;
      },
      5000,
      'a tick',
    );
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({ status: 'live', live: true, tick_bound_ms: 1000, reasons: [] });
    expect(health.body.last_tick_ms_ago).toBeLessThanOrEqual(1000);
    const ready = await get(`${n.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(ready.body).toMatchObject({
      status: 'not ready',
      ready: false,
      role: 'follower',
      leader: null,
      checks: { ticking: true, member: true, leader: false, contact: false },
      reasons: expect.arrayContaining(['no leader known']),
    });
    // HEAD: the same status, no body
    const head = await fetch(`${n.url}/readyz`, { method: 'HEAD' });
    expect(head.status).toBe(503);
    expect(await head.text()).toBe('');
    expect((await fetch(`${n.url}/health`, { method: 'HEAD' })).status).toBe(200);
    // the same facts in /status and /metrics
    const status = await get(`${n.url}/status`);
    expect(status.status).toBe(200);
    expect(status.body.health).toMatchObject({
      live: true,
      ready: false,
      checks: { leader: false },
      max_lag: 1000,
      reasons: expect.arrayContaining(['no leader known']),
    });
    expect(await metric(n.url, 'raftdcs_live')).toBe(1);
    expect(await metric(n.url, 'raftdcs_ready')).toBe(0);
    // unknown paths name the ones there are; other methods are refused
    const nope = await fetch(`${n.url}/healthz`);
    expect(nope.status).toBe(404);
    expect(await nope.text()).toBe('not found: try /status, /health, /readyz, /metrics\n');
    expect((await fetch(`${n.url}/readyz`, { method: 'POST' })).status).toBe(405);
  });

  it('a formed cluster: leader and followers ready; ?max_lag= is checked; lag in /metrics', async () => {
    const ns = await cluster(new MemoryNetwork(), three());
    const leader = await leaderOf(ns);
    const lr = await until(`${leader.url}/readyz`, 200, 10_000, 'leader ready');
    expect(lr.body).toMatchObject({
      status: 'ready',
      role: 'leader',
      leader: leader.kv.selfNode,
      checks: { ticking: true, member: true, leader: true, contact: true, caught_up: true },
      contact: { as: 'leader', window_ms: WINDOW_MS, voters: 3, majority: 2 },
      reasons: [],
    });
    expect(lr.body.lag).toBeLessThanOrEqual(1000);
    for (const f of ns.filter((n) => n !== leader)) {
      const fr = await until(`${f.url}/readyz`, 200, 10_000, 'follower ready');
      expect(fr.body).toMatchObject({
        role: 'follower',
        leader: leader.kv.selfNode,
        contact: { as: 'follower', window_ms: WINDOW_MS },
      });
      expect(
        (fr.body.contact as { leader_last_heard_ms_ago: number }).leader_last_heard_ms_ago,
      ).toBeLessThanOrEqual(WINDOW_MS);
      expect((await get(`${f.url}/health`)).status).toBe(200);
      expect(await metric(f.url, 'raftdcs_ready')).toBe(1);
      expect(await metric(f.url, 'raftdcs_raft_apply_lag')).toBeGreaterThanOrEqual(0);
    }
    // max_lag from the query: 0 is allowed, garbage is a 400 naming the parameter
    expect((await get(`${leader.url}/readyz?max_lag=0`)).body.max_lag).toBe(0);
    const bad = await get(`${leader.url}/readyz?max_lag=-1`);
    expect(bad).toEqual({ status: 400, body: { error: 'max_lag must be a whole number >= 0, got "-1"' } });
  });

  it('a leader whose followers stopped: not ready within the contact window; still live', async () => {
    const ns = await cluster(new MemoryNetwork(), three());
    const leader = await leaderOf(ns);
    await until(`${leader.url}/readyz`, 200, 10_000, 'leader ready');
    const stoppedAt = Date.now();
    for (const f of ns.filter((n) => n !== leader)) await stop(f);
    const lost = await until(`${leader.url}/readyz`, 503, WINDOW_MS + 2000, 'leader without quorum');
    expect(Date.now() - stoppedAt).toBeLessThan(WINDOW_MS + 2000);
    // it still leads (leader_fallback_timeout is 30 s) but says it lacks a quorum
    expect(lost.body).toMatchObject({
      role: 'leader',
      checks: { contact: false },
      contact: { as: 'leader', voters: 3, heard: 1, majority: 2 },
      reasons: [
        `leading without a quorum: heard from 1 of 3 voters (this node included) in the last ${WINDOW_MS} ms, a majority is 2`,
      ],
    });
    expect((await get(`${leader.url}/health`)).status).toBe(200);
  });

  it('followers frozen but connected: the leader stops being ready, though it still counts them as connected', async () => {
    const ns = await cluster(new MemoryNetwork(), three());
    const leader = await leaderOf(ns);
    await until(`${leader.url}/readyz`, 200, 10_000, 'leader ready');
    const followers = ns.filter((n) => n !== leader);
    const frozenAt = Date.now();
    for (const f of followers) f.freeze(true);
    const lost = await until(`${leader.url}/readyz`, 503, WINDOW_MS + 2000, 'no answers from a majority');
    expect(Date.now() - frozenAt).toBeLessThan(WINDOW_MS + 2000);
    expect(lost.body).toMatchObject({ role: 'leader', checks: { contact: false } });
    // the connections are up: pysyncobj's has_quorum still says true
    expect((await get(`${leader.url}/status`)).body).toMatchObject({
      has_quorum: true,
      health: { ready: false, checks: { contact: false } },
    });
    for (const f of followers) f.freeze(false);
    await until(`${leader.url}/readyz`, 200, 10_000, 'answers again');
  });

  it('a frozen leader of three: the others elect another and are ready under it; it is not', async () => {
    const ns = await cluster(new MemoryNetwork(), three());
    const old = await leaderOf(ns);
    const followers = ns.filter((n) => n !== old);
    for (const f of followers) await until(`${f.url}/readyz`, 200, 10_000, 'follower ready');
    old.freeze(true);
    // (a follower is not ready only for the moment of the election: it campaigns within
    // max_timeout of the last heartbeat, i.e. within the contact window)
    await eventually(
      () => (followers.some((f) => f.kv.isLeader()) ? true : undefined),
      15_000,
      'a new leader among the others',
    );
    for (const f of followers) {
      const again = await until(`${f.url}/readyz`, 200, 15_000, 'ready under the new leader');
      expect(again.body.leader).not.toBe(old.kv.selfNode);
    }
    // the frozen one hears nobody: not ready once its last answers are older than the window
    await until(`${old.url}/readyz`, 503, WINDOW_MS + 2000, 'the frozen leader');
  });

  it('a frozen leader and a stopped follower: the last follower cannot elect and is not ready until they return', async () => {
    const ns = await cluster(new MemoryNetwork(), three());
    const leader = await leaderOf(ns);
    const [f1, f2] = ns.filter((n) => n !== leader) as [Served, Served];
    await stop(f2);
    await until(`${leader.url}/readyz`, 200, 10_000, 'leader ready with one follower');
    await until(`${f1.url}/readyz`, 200, 10_000, 'follower ready');
    const frozenAt = Date.now();
    leader.freeze(true);
    const orphan = await until(`${f1.url}/readyz`, 503, WINDOW_MS + 2000, 'follower of a silent leader');
    expect(Date.now() - frozenAt).toBeLessThan(WINDOW_MS + 2000);
    // it either still waits for the silent leader or campaigns in vain
    expect(orphan.body.checks).toMatchObject({ ticking: true, member: true });
    expect(orphan.body.reasons).toEqual([
      expect.stringMatching(
        /^(the leader \S+ was last heard from \d+ ms ago \(bound 600 ms\)|no leader known: an election is under way)$/,
      ),
    ]);
    await until(`${leader.url}/readyz`, 503, WINDOW_MS + 2000, 'the frozen leader');
    leader.freeze(false);
    await until(`${f1.url}/readyz`, 200, 15_000, 'follower ready again');
  });

  it('a read-only node: not ready before it reaches a leader, ready once it follows and is caught up', async () => {
    const net = new MemoryNetwork();
    const [a] = three();
    const ro = await serve(net, null, [a]);
    const alone = await get(`${ro.url}/readyz`);
    expect(alone.status).toBe(503);
    expect(alone.body.reasons).toContain('no leader known');
    expect((await until(`${ro.url}/health`, 200, 5000, 'ticking')).body.live).toBe(true);
    const voter = await serve(net, a, []);
    await until(`${voter.url}/readyz`, 200, 10_000, 'lone leader ready');
    expect(await voter.kv.set('/k', 'v')).not.toBe(false);
    const ready = await until(`${ro.url}/readyz`, 200, 10_000, 'read-only ready');
    expect(ready.body).toMatchObject({ role: 'follower', leader: a, checks: { member: true } });
    // a read-only node never campaigns: a silent leader stays its leader, heard too long ago
    voter.freeze(true);
    const silent = await until(`${ro.url}/readyz`, 503, WINDOW_MS + 2000, 'its leader silent');
    expect(silent.body.reasons).toEqual([
      expect.stringMatching(
        new RegExp(`^the leader ${a} was last heard from \\d+ ms ago \\(bound 600 ms\\)$`),
      ),
    ]);
    voter.freeze(false);
    await until(`${ro.url}/readyz`, 200, 10_000, 'read-only ready again');
    await stop(voter);
    const gone = await until(`${ro.url}/readyz`, 503, WINDOW_MS + 2000, 'its leader gone');
    expect(gone.body.checks).toMatchObject({ contact: false });
    expect(gone.body.reasons).toEqual([`not connected to the leader ${a}`]);
  });

  it('a loop that does not tick (autoTick off, nobody calls doTick): not live after the bound, live after a tick', async () => {
    const [a] = three();
    const n = await serve(new MemoryNetwork(), a, [], { conf: { autoTick: false } });
    const dead = await until(`${n.url}/health`, 503, 5000, 'not ticking');
    expect(dead.body).toMatchObject({ status: 'not live', live: false, last_tick_ms_ago: null });
    expect(String((dead.body.reasons as string[])[0])).toMatch(
      /^the Raft loop has not ticked since the node started \d+ ms ago \(bound 1000 ms\)$/,
    );
    expect((await get(`${n.url}/readyz`)).body.checks).toMatchObject({ ticking: false });
    expect(await metric(n.url, 'raftdcs_live')).toBe(0);
    await n.kv.doTick();
    expect((await get(`${n.url}/health`)).status).toBe(200);
  });

  it('raftdcs.ready_max_lag reaches /readyz and /status (readyMaxLag of the endpoint)', async () => {
    const [a] = three();
    const n = await serve(new MemoryNetwork(), a, [], { readyMaxLag: 7 });
    const ready = await until(`${n.url}/readyz`, 200, 10_000, 'lone leader ready');
    expect(ready.body.max_lag).toBe(7);
    expect((await get(`${n.url}/status`)).body.health).toMatchObject({ ready: true, max_lag: 7, lag: 0 });
    expect((await get(`${n.url}/readyz?max_lag=3`)).body.max_lag).toBe(3);
  });
});

describe('GET /health and /readyz of spawned controllers over TCP', () => {
  const procs = useProcesses();

  it('alone, then leader and follower, the follower stopped and continued, the leader killed', async () => {
    const [raftA, raftB, httpA, httpB] = (await freeLoopbackAddresses(4)) as [string, string, string, string];
    const dir = procs.dir();
    const config = (self: string, partner: string, http: string, name: string) => {
      const p = join(dir, `${name}.yml`);
      writeFileSync(
        p,
        `raft:\n  self_addr: ${self}\n  partner_addrs: ['${partner}']\n  data_dir: ${join(dir, name)}\n` +
          '  append_entries_period: 0.05\n  min_timeout: 0.3\n  max_timeout: 0.6\n' +
          '  connection_timeout: 3\n  connection_retry_time: 0.2\n' +
          `raftdcs:\n  http: ${http}\n  ready_max_lag: 50\n`,
      );
      return p;
    };
    const started = (p: ReturnType<typeof procs.raftdcs>) =>
      p.waitForLog(
        (l) => l.msg === 'HTTP endpoint listening (GET /status, /health, /readyz, /metrics)',
        30_000,
        'HTTP endpoint',
      );
    const a = procs.raftdcs(['controller', config(raftA, raftB, httpA, 'a')]);
    const listening = await started(a);
    expect(listening.readyMaxLag).toBe(50);
    // alone: its partner is not up, no leader; live but not ready
    await until(`http://${httpA}/health`, 200, 10_000, 'A live');
    const lonely = await get(`http://${httpA}/readyz`);
    expect(lonely.status).toBe(503);
    expect(lonely.body).toMatchObject({ leader: null, max_lag: 50 });
    expect(lonely.body.reasons).toContain('no leader known');

    const b = procs.raftdcs(['controller', config(raftB, raftA, httpB, 'b')]);
    await started(b);
    const ready = await Promise.all([
      until(`http://${httpA}/readyz`, 200, 20_000, 'A ready'),
      until(`http://${httpB}/readyz`, 200, 20_000, 'B ready'),
    ]);
    const leaderIsA = ready[0].body.role === 'leader';
    const [leader, follower] = leaderIsA ? [a, b] : [b, a];
    const [leaderHttp, followerHttp] = leaderIsA ? [httpA, httpB] : [httpB, httpA];
    const leaderRaft = leaderIsA ? raftA : raftB;
    expect(ready[leaderIsA ? 1 : 0].body).toMatchObject({ role: 'follower' });

    // the follower frozen: the leader stops being ready within the contact window (0.6 s) plus
    // polling, long before its connection times out (3 s) or it steps down (30 s)
    follower.signal('SIGSTOP');
    const lost = await until(`http://${leaderHttp}/readyz`, 503, 3000, 'leader without answers');
    expect(lost.body).toMatchObject({ role: 'leader', contact: { voters: 2, heard: 1, majority: 2 } });
    expect((await get(`http://${leaderHttp}/health`)).status).toBe(200);
    follower.signal('SIGCONT');
    await until(`http://${leaderHttp}/readyz`, 200, 20_000, 'leader ready again');
    await until(`http://${followerHttp}/readyz`, 200, 20_000, 'follower ready again');

    // the leader killed: the follower is left without a leader it hears (one of two cannot elect)
    leader.signal('SIGKILL');
    await leader.waitExit(10_000);
    const orphan = await until(`http://${followerHttp}/readyz`, 503, 5000, 'follower without its leader');
    // it does not campaign (no voter is connected): it keeps the dead leader, not connected to it
    expect(orphan.body).toMatchObject({
      leader: leaderRaft,
      checks: { contact: false },
      reasons: [`not connected to the leader ${leaderRaft}`],
    });
    expect((await get(`http://${followerHttp}/health`)).status).toBe(200);
    expect((await get(`http://${followerHttp}/status`)).body.health).toMatchObject({
      live: true,
      ready: false,
    });

    follower.signal('SIGTERM');
    expect((await follower.waitExit(20_000)).code).toBe(0);
  });
});
