/**
 * A mixed KVStoreTTL cluster over real TCP on loopback: one Python node (Debian Patroni 3.0.2's
 * patroni.dcs.raft.KVStoreTTL over pysyncobj 0.3.11, test/kv/py/kvstore_node.py, ticking in its
 * own thread) and two TypeScript KVStoreTTL nodes. Writes come from both sides (TTL sets, every
 * CAS form, deletes, recursive deletes); expiry is driven first by a TypeScript leader, then —
 * after that leader stops — by the Python node as leader; the stopped node restarts from its data
 * dir; and at every checkpoint all nodes hold identical data: same keys in the same order, same
 * values, created/updated/expire doubles and indexes.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it, onTestFailed } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython, PYTHON } from '../helpers/python.js';
import { waitFor } from '../helpers/wait.js';

const NODE_PY = fileURLToPath(new URL('./py/kvstore_node.py', import.meta.url));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Reply = { [k: string]: Json };

interface PyStatus {
  readonly leader: string | null;
  readonly isLeader: boolean;
  readonly applied: number;
  readonly commit: number;
  readonly term: number;
  readonly tickThreadAlive: boolean;
}

/** The Python node: one process, JSON lines both ways, every request bounded in time. */
class PyKv {
  readonly stderr: string[] = [];
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private exited: string | null = null;

  private constructor(
    readonly addr: string,
    private readonly proc: ChildProcess,
  ) {}

  static async start(addr: string, partners: string[], dataDir: string): Promise<PyKv> {
    const proc = spawn(
      PYTHON,
      [NODE_PY, '--self', addr, '--partners', JSON.stringify(partners), '--data-dir', dataDir],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const node = new PyKv(addr, proc);
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the Python node did not start within 20 s')), 20_000);
      createInterface({ input: proc.stdout as NodeJS.ReadableStream }).on('line', (line) => {
        const msg = JSON.parse(line) as Reply;
        if (msg.event === 'started') {
          clearTimeout(timer);
          resolve();
          return;
        }
        const p = node.pending.get(msg.id as number);
        if (!p) return;
        node.pending.delete(msg.id as number);
        if (typeof msg.error === 'string') p.reject(new Error(`python: ${msg.error}`));
        else p.resolve(msg);
      });
      proc.on('exit', (code, signal) => {
        clearTimeout(timer);
        node.exited = `exited (code ${code}, signal ${signal})`;
        for (const p of node.pending.values()) p.reject(new Error(`the Python node ${node.exited}`));
        node.pending.clear();
        reject(new Error(`the Python node ${node.exited}`));
      });
    });
    createInterface({ input: proc.stderr as NodeJS.ReadableStream }).on('line', (l) => node.stderr.push(l));
    await started;
    return node;
  }

  request(req: Reply, timeoutMs = 15_000): Promise<Reply> {
    if (this.exited) return Promise.reject(new Error(`the Python node ${this.exited}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`python request ${JSON.stringify(req)} unanswered after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        resolve: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.proc.stdin?.write(`${JSON.stringify({ ...req, id })}\n`);
    });
  }

  async set(
    key: string,
    value: string,
    o: { ttl?: number; kw?: Reply; timeout?: number } = {},
  ): Promise<Json> {
    return (
      await this.request({
        cmd: 'set',
        key,
        value,
        ttl: o.ttl ?? null,
        kw: o.kw ?? {},
        timeout: o.timeout ?? 5,
      })
    ).result as Json;
  }

  async delete(key: string, o: { recursive?: boolean; kw?: Reply } = {}): Promise<Json> {
    return (
      await this.request({ cmd: 'delete', key, recursive: o.recursive ?? false, kw: o.kw ?? {}, timeout: 5 })
    ).result as Json;
  }

  async get(key: string): Promise<KvRecord | null> {
    return (await this.request({ cmd: 'get', key })).record as unknown as KvRecord | null;
  }

  async prefix(key = ''): Promise<[string, KvRecord][]> {
    return (await this.request({ cmd: 'prefix', key })).records as unknown as [string, KvRecord][];
  }

  async status(): Promise<PyStatus> {
    return (await this.request({ cmd: 'status' })) as unknown as PyStatus;
  }

  async deletedKeys(): Promise<string[]> {
    const ev = (await this.request({ cmd: 'events' })).events as Json[][];
    return ev.filter((e) => e[0] === 'delete').map((e) => e[1] as string);
  }

  kill(): void {
    if (!this.exited) this.proc.kill('SIGKILL');
  }
}

/** Wait for an async condition, bounded. */
async function until(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

let py: PyKv | null = null;
let ts: KVStoreTTL[] = [];
let dirs: string[] = [];
afterEach(async () => {
  py?.kill();
  py = null;
  await Promise.all(ts.map((n) => n.destroy()));
  ts = [];
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  dirs = [];
});

/** pysyncobj's defaults but quick reconnection (the Python side gets the same). */
const BASE: SyncObjConfOptions = { connectionRetryTime: 0.3 };

describePython('mixed KVStoreTTL cluster: Patroni 3.0.2 (Python) + 2 raftdcs nodes over TCP', () => {
  it('writes from both sides, expiry by a TS leader then by the Python leader, identical data everywhere', async () => {
    const pyNode = (): PyKv => {
      if (py === null) throw new Error('the Python node is not running');
      return py;
    };
    let pyStderr: string[] | null = null;
    onTestFailed(() => {
      process.stderr.write(`\n--- Python node stderr ---\n${pyStderr?.join('\n') ?? '(not started)'}\n`);
    });
    const [pyAddr, a1, a2] = (await freeLoopbackAddresses(3)) as [string, string, string];
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-mixed-'));
    dirs.push(dir);
    const deleted: Record<string, string[]> = { ts1: [], ts2: [] };
    const tsNode = (name: 'ts1' | 'ts2', addr: string, conf: SyncObjConfOptions) => {
      const kv = new KVStoreTTL({
        selfAddr: addr,
        partnerAddrs: [pyAddr, a1, a2].filter((a) => a !== addr),
        conf: {
          ...BASE,
          ...conf,
          bindAddress: addr,
          journalFile: join(dir, `${addr}.journal`),
          fullDumpFile: join(dir, `${addr}.dump`),
        },
        onDelete: (k) => deleted[name]?.push(k),
      });
      ts.push(kv);
      return kv;
    };
    // ts1 times out first and leads; ts2 is slow to start an election of its own
    const ts1Conf: SyncObjConfOptions = { raftMinTimeout: 0.4, raftMaxTimeout: 0.6 };
    let ts1 = tsNode('ts1', a1, ts1Conf);
    const ts2 = tsNode('ts2', a2, { raftMinTimeout: 3, raftMaxTimeout: 4, connectionTimeout: 4 });
    await waitFor(() => ts1.isLeader() && ts2.getLeader() === a1, 15_000, 'ts1 leading');
    py = await PyKv.start(pyAddr, [a1, a2], join(dir, 'py'));
    pyStderr = py.stderr;
    await until(async () => (await pyNode().status()).leader === a1, 15_000, 'the Python node following ts1');

    /** All three nodes hold the same [key, record] list (bounded wait), which is returned. */
    const sameEverywhere = async (nodes: KVStoreTTL[], what: string): Promise<[string, KvRecord][]> => {
      let last = '';
      await until(
        async () => {
          const p = JSON.stringify(await pyNode().prefix(''));
          const t = nodes.map((n) => JSON.stringify([...n.getPrefix('')]));
          last = `python ${p}\n${t.map((x, i) => `ts#${i} ${x}`).join('\n')}`;
          return t.every((x) => x === p);
        },
        10_000,
        `${what}: identical data on every node\n${last}`,
      );
      const records = await pyNode().prefix('');
      for (const n of nodes) expect([...n.getPrefix('')]).toEqual(records);
      return records;
    };

    // ---------------- phase 1: a TypeScript leader
    const term1 = ts1.raftCurrentTerm;
    const M = '/service/batman/members/';
    const L = '/service/batman/leader';
    const C = '/service/batman/config';
    expect(await ts1.set(`${M}ts1`, '{"state":"running"}', { ttl: 30 })).not.toBe(false);
    expect(await pyNode().set(`${M}py`, '{"state":"running"}', { ttl: 30 })).toBe(true);
    expect(await ts2.set(`${M}ts2`, '{"state":"running"}', { ttl: 30 })).not.toBe(false);
    // the leader race: Python wins with prevExist False, a TS node loses
    expect(await pyNode().set(L, 'py', { ttl: 30, kw: { prevExist: false } })).toBe(true);
    await waitFor(() => ts2.get(L)?.value === 'py', 5000, 'ts2 seeing the Python leader key');
    await waitFor(() => ts1.get(L)?.value === 'py', 5000, 'ts1 seeing the Python leader key');
    expect(await ts2.set(L, 'ts2', { ttl: 30, prevExist: false })).toBe(false);
    // a TS node refreshes the key Python wrote (prevValue): created is kept
    const pyLeaderKey = await pyNode().get(L);
    const refreshed = await ts1.set(L, 'py', { ttl: 30, prevValue: 'py' });
    expect(refreshed).toMatchObject({ value: 'py', created: pyLeaderKey?.created });
    // config by index: None first, then the index, then a stale index
    expect(await pyNode().set(C, '{"ttl":30}', { kw: { prevIndex: null } })).toBe(true);
    await waitFor(() => ts2.get(C) !== null, 5000, 'ts2 seeing config');
    const cfg = ts2.get(C) as KvRecord;
    const cfg2 = await ts2.set(C, '{"ttl":20}', { prevIndex: cfg.index });
    expect(cfg2).not.toBe(false);
    await until(async () => (await pyNode().get(C))?.value === '{"ttl":20}', 5000, 'Python seeing config 2');
    expect(await pyNode().set(C, '{"ttl":10}', { kw: { prevIndex: cfg.index } })).toBe(false);
    expect(await ts1.set(C, '{"ttl":10}', { prevIndex: cfg.index })).toBe(false);
    // deletes both ways
    expect(await ts2.delete(`${M}py`, { prevValue: '{"state":"running"}' })).toBe(true);
    expect(await pyNode().delete(`${M}ts2`)).toBe(true);
    expect(await pyNode().delete(`${M}ts1`, { kw: { prevValue: 'nope' } })).toBe(false);
    // recursive deletes both ways (keys written by the other side)
    for (const k of ['a', 'b', 'c']) expect(await ts1.set(`/service/other/${k}`, k)).not.toBe(false);
    expect(await pyNode().set('/service/other2/x', 'x')).toBe(true);
    expect(await pyNode().delete('/service/other/', { recursive: true })).toBe(true);
    for (const k of ['p', 'q']) expect(await pyNode().set(`/tmp/${k}`, k)).toBe(true);
    await waitFor(() => ts2.get('/tmp/q') !== null, 5000, 'ts2 seeing /tmp/q');
    expect(await ts2.delete('/tmp/', { recursive: true })).toBe(true);
    // expiry driven by the TS leader, for keys written by both sides
    expect(await pyNode().set('/ttl/py1', 'x', { ttl: 1 })).toBe(true);
    expect(await ts2.set('/ttl/ts1', 'y', { ttl: 1 })).not.toBe(false);
    await until(
      async () =>
        (await pyNode().prefix('/ttl/')).length === 0 &&
        ts1.getPrefix('/ttl/').size === 0 &&
        ts2.getPrefix('/ttl/').size === 0,
      8000,
      'the TS leader expiring /ttl/*',
    );
    expect(ts1.isLeader() && ts1.raftCurrentTerm === term1, 'ts1 led throughout phase 1').toBe(true);
    for (const k of ['/ttl/py1', '/ttl/ts1']) {
      expect(await pyNode().deletedKeys()).toContain(k);
      expect(deleted.ts2).toContain(k);
    }
    const phase1 = await sameEverywhere([ts1, ts2], 'after phase 1');
    expect(phase1.map(([k]) => k)).toEqual([`${M}ts1`, L, C, '/service/other2/x']);

    // ---------------- phase 2: ts1 stops; the Python node leads
    await ts1.destroy();
    ts = ts.filter((n) => n !== ts1);
    await until(
      async () => (await pyNode().status()).isLeader && ts2.getLeader() === pyAddr,
      15_000,
      'the Python node leading',
    );
    const term2 = (await pyNode().status()).term;
    expect(await ts2.set(`${M}ts2`, '{"state":"running","role":"replica"}', { ttl: 30 })).not.toBe(false);
    expect(await pyNode().set(L, 'py', { ttl: 30, kw: { prevValue: 'py' } })).toBe(true);
    expect(await ts2.set(L, 'ts2', { ttl: 30, prevValue: 'ts2' })).toBe(false);
    expect(await ts2.delete(L, { prevValue: 'py' })).toBe(true);
    expect(await pyNode().set(L, 'py', { ttl: 30, kw: { prevExist: false } })).toBe(true);
    for (const k of ['m', 'n']) expect(await ts2.set(`/service/other3/${k}`, k)).not.toBe(false);
    expect(await ts2.delete('/service/other3/', { recursive: true })).toBe(true);
    // our unconditional delete carries prevExist: True, which Python applies like the plain delete
    expect(await ts2.delete('/service/other2/x')).toBe(true);
    expect(await ts2.delete('/service/other2/x')).toBe(false);
    // expiry driven by the Python leader
    expect(await ts2.set('/ttl/ts2', 'z', { ttl: 1 })).not.toBe(false);
    expect(await pyNode().set('/ttl/py2', 'w', { ttl: 1 })).toBe(true);
    await until(
      async () => (await pyNode().prefix('/ttl/')).length === 0 && ts2.getPrefix('/ttl/').size === 0,
      8000,
      'the Python leader expiring /ttl/*',
    );
    const st2 = await pyNode().status();
    expect(st2.isLeader && st2.term === term2, 'the Python node led throughout phase 2').toBe(true);
    for (const k of ['/ttl/ts2', '/ttl/py2']) expect(deleted.ts2).toContain(k);
    await sameEverywhere([ts2], 'after phase 2');

    // ---------------- phase 3: ts1 restarts from its data dir and catches up
    ts1 = tsNode('ts1', a1, ts1Conf);
    const final = await sameEverywhere([ts1, ts2], 'after ts1 restarted');
    expect(final.map(([k]) => k)).toEqual([`${M}ts1`, C, `${M}ts2`, L]);
    expect(await pyNode().deletedKeys()).toContain('/service/other2/x');
    // Python's view of a record written by TypeScript, field by field (doubles included)
    const tsWritten = ts2.get(`${M}ts2`) as KvRecord;
    expect(await pyNode().get(`${M}ts2`)).toEqual(tsWritten);
    expect(Object.keys(tsWritten)).toEqual(['value', 'updated', 'created', 'expire', 'index']);
    expect(Number.isInteger(tsWritten.updated)).toBe(false);
    expect((await pyNode().status()).tickThreadAlive, "the Python node's tick thread still runs").toBe(true);
  });
});
