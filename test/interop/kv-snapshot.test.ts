/**
 * Snapshot transfer between raftdcs and Debian's Patroni KVStoreTTL (run as patroni_raft_controller),
 * both directions, through the real join flow (members discovery + add): a Python node joining a
 * TS cluster gets the TS leader's dump; a TS node joining a Python cluster gets the Python leader's.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import { recordView } from '../../src/kv/record.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { readPysyncobjJournalMetaFile } from '../../src/raft/journal/pysyncobj-journal.js';
import { decodeDump } from '../../src/raft/snapshot/dump.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import type { PyValue } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { waitFor } from '../helpers/wait.js';

const FAST = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.2,
  raftMaxTimeout: 0.4,
  connectionTimeout: 1,
  connectionRetryTime: 0.2,
};

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

function controller(dir: string, self: string, partners: string[], logs: string[]): ChildProcess {
  const dataDir = join(dir, self.replace(':', '_'));
  const config = join(dir, `${self.replace(':', '_')}.yml`);
  writeFileSync(
    config,
    `raft:\n  self_addr: '${self}'\n  partner_addrs: [${partners.map((p) => `'${p}'`).join(', ')}]\n  data_dir: ${dataDir}\n`,
  );
  const p = spawn('/usr/bin/patroni_raft_controller', [config], { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout?.on('data', (d: Buffer) => logs.push(`[${self}] ${d}`));
  p.stderr?.on('data', (d: Buffer) => logs.push(`[${self}] ${d}`));
  cleanup.push(async () => {
    if (p.exitCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGKILL');
      await exited;
    }
  });
  return p;
}

async function stop(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await exited;
}

async function status(addr: string): Promise<Map<string, PyValue>> {
  return (await new TcpUtility({ timeoutMs: 3000 }).execute(addr, ['status'])) as Map<string, PyValue>;
}

describePython('snapshots between raftdcs and Patroni KVStoreTTL', () => {
  it('a Python node joining a raftdcs cluster installs the raftdcs leader dump', {
    timeout: 120_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-snap-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const [a1, a2, py] = await freeLoopbackAddresses(3);
    const ts = [a1!, a2!].map(
      (a) =>
        new KVStoreTTL({
          selfAddr: a,
          partnerAddrs: [a1!, a2!],
          conf: { ...FAST, bindAddress: a, logCompactionMinEntries: 50 },
        }),
    );
    for (const n of ts) cleanup.push(() => n.destroy());
    await waitFor(() => ts.some((n) => n.isLeader()), 20_000);
    const leader = ts.find((n) => n.isLeader())!;
    for (let i = 0; i < 300; i++)
      expect(await leader.set(`/s/k${i}`, `v${i}`, { ttl: i % 2 ? 3600 : undefined })).not.toBe(false);
    await waitFor(() => Number(leader.getStatus().log_len) < 100, 20_000, 'the TS leader to compact');
    const logs: string[] = [];
    const p = controller(dir, py!, [a1!], logs);
    await waitFor(
      () => leader.otherNodes.includes(py!),
      30_000,
      `the Python node to be added\n${logs.join('')}`,
    );
    const target = leader.raftCommitIndex;
    let st = new Map<string, PyValue>();
    await waitFor(
      () => Number(st.get('last_applied') ?? 0) >= target,
      30_000,
      'Python to apply',
      async () => {
        st = await status(py!).catch(() => st);
      },
    );
    // pysyncobj persists its commit index lazily (≤ 1/s): wait until its .meta covers everything
    const meta = journalPaths(join(dir, py!.replace(':', '_')), py!).meta;
    await waitFor(
      async () => existsSync(meta) && (await readPysyncobjJournalMetaFile(meta)).raftCommitIndex >= target,
      20_000,
      'the Python meta file',
    );
    await stop(p);
    const ours = leader.getPrefix('/s/');
    // the Python node kept what it received in its dump file (the TS leader's dump: TCPNode cluster set,
    // Python-loadable data) and the entries after it in its journal
    const files = journalPaths(join(dir, py!.replace(':', '_')), py!);
    expect(existsSync(files.dump)).toBe(true);
    const dump = await decodeDump(readFileSync(files.dump));
    const data = (dump.data as Map<string, PyValue>).get('_KVStoreTTL__data') as Map<
      string,
      Map<string, PyValue>
    >;
    expect(data.size).toBeGreaterThan(200);
    for (const [k, v] of data) if (k.startsWith('/s/')) expect(recordView(v), k).toEqual(ours.get(k));
    expect([...dump.cluster].sort()).toEqual([a1, a2].sort()); // the membership at the dump point (the add came later)
    // everything the Python node applied — dump + journal — read back by a raftdcs node started on its data dir
    for (const n of ts) await n.destroy();
    const reader = new KVStoreTTL({
      selfAddr: py!,
      partnerAddrs: [],
      conf: { ...FAST, bindAddress: py!, journalFile: files.journal, fullDumpFile: files.dump },
    });
    cleanup.push(() => reader.destroy());
    await waitFor(
      () => reader.appliedLocalLog && reader.getPrefix('/s/').size === ours.size,
      20_000,
      'the Python data dir to load',
    );
    const theirs = reader.getPrefix('/s/');
    for (const [k, v] of ours) expect(theirs.get(k), k).toEqual(v);
  });

  it('a raftdcs node joining a Python cluster installs the Python leader dump', {
    timeout: 180_000,
  }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-snap-'));
    cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
    const [p1, p2, t1] = await freeLoopbackAddresses(3);
    const logs: string[] = [];
    controller(dir, p1!, [p2!], logs);
    controller(dir, p2!, [p1!], logs);
    const client = new KVStoreTTL({ selfAddr: null, partnerAddrs: [p1!, p2!], retryTimeout: 5, conf: FAST });
    cleanup.push(() => client.destroy());
    await waitFor(() => client.getLeader() !== null, 30_000, `a Python leader\n${logs.join('')}`);
    const n = 5200; // pysyncobj makes a dump once its log holds more than 5000 entries
    for (let i = 0; i < n; i += 200) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 200); j++)
        batch.push(client.set(`/s/k${j}`, `v${j}`, { ttl: j % 2 ? 3600 : undefined }));
      for (const r of await Promise.all(batch)) expect(r).not.toBe(false);
    }
    const leaderAddr = client.getLeader()!;
    const leaderDump = journalPaths(join(dir, leaderAddr.replace(':', '_')), leaderAddr).dump;
    await waitFor(() => existsSync(leaderDump), 60_000, 'the Python leader to dump');
    await waitFor(
      async () => Number((await status(leaderAddr)).get('log_len')) < 1000,
      60_000,
      'the Python leader to compact',
    );
    const seen: string[] = [];
    const ts = await KVStoreTTL.open({
      selfAddr: t1!,
      partnerAddrs: [p1!],
      retryTimeout: 5,
      onSet: (k) => seen.push(k),
      conf: { ...FAST, bindAddress: t1! },
      joinBackoffMs: 200,
    });
    cleanup.push(() => ts.destroy());
    await waitFor(
      () => ts.size >= n,
      60_000,
      `the TS node to install the snapshot\n${logs.join('').slice(-3000)}`,
    );
    const expected = client.getPrefix('/s/');
    const got = ts.getPrefix('/s/');
    expect(got.size).toBe(expected.size);
    for (const [k, v] of expected) expect(got.get(k), k).toEqual(v);
    expect(seen.filter((k) => k.startsWith('/s/')).length).toBeLessThan(n); // most came by snapshot, not apply
    expect(await client.set('/s/after', 'x')).not.toBe(false);
    await waitFor(() => ts.get('/s/after')?.value === 'x', 20_000);
  });
});
