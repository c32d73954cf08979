/**
 * `raftdcs recover --force-new-cluster` as an operator runs it, on real processes, sockets and files:
 *
 * - the disaster: three `raftdcs controller`s hold Patroni-shaped keys (some with TTLs); two are
 *   killed (SIGKILL) and their data dirs removed; the survivor is stopped; recover rewrites its
 *   files (the old ones kept as backups, byte for byte); the survivor restarts with its unchanged
 *   YAML — which still lists the dead partners — as a one-node cluster and elects itself; the two
 *   lost members come back with empty data dirs through `raftdcs admin -add`; every key, value,
 *   index and timestamp is then on all three, and writes work;
 * - the refusals (exit 5, not a byte changed): on a running node, when a majority of the old
 *   members is alive (this node counted), when a node that answers has a leader and a quorum, on an
 *   incomplete data dir — and the override that then rebuilds from the dump alone;
 * - the question: without --yes it asks, and any answer but yes changes nothing; --dry-run;
 *   --for-pysyncobj on a raftdcs journal is refused.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runAdmin } from '../../src/cli/admin.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { FileDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { eventually, type Proc, useProcesses } from './cli-process.js';
import {
  allKeys,
  FAST,
  keysOnDisk,
  kvClient,
  membersOf,
  type NodeSpec,
  recover,
  startController,
  status,
  threeNodeConfigs,
  waitApplied,
  waitLeader,
  writePatroniKeys,
} from './recover-helpers.js';

const procs = useProcesses();

/** Every file in a data dir with its bytes (to prove a refusal changed nothing). */
function snapshotDir(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f)).toString('base64')]),
  );
}

/** `raftdcs admin -conn <at> -add <addr>` in-process; its stdout. */
async function adminAdd(at: string, addr: string): Promise<string> {
  let out = '';
  await runAdmin(['-conn', at, '-add', addr, '-timeout', '30'], {
    stdout: { write: (s: string) => (out += s) },
    stderr: { write: () => undefined },
  });
  return out;
}

/** The highest index among the records. */
function lastIndexOf(keys: Record<string, KvRecord>): number {
  return Math.max(...Object.values(keys).map((r) => r.index));
}

/** Stop a controller cleanly (exit 0). */
async function stop(p: Proc | undefined): Promise<void> {
  p?.signal('SIGTERM');
  expect((await p?.waitExit(20_000))?.code, p?.stderr()).toBe(0);
}

describe('raftdcs recover --force-new-cluster: two of three members destroyed', () => {
  it('keeps every key with its index; the survivor restarts alone; the lost members rejoin empty; writes work', async () => {
    const cluster = await threeNodeConfigs(procs);
    const [survivor, dead1, dead2] = cluster.nodes as [NodeSpec, NodeSpec, NodeSpec];
    const running = new Map(cluster.nodes.map((n) => [n.addr, startController(procs, n)]));
    await waitLeader(cluster.addrs);
    const writer = await kvClient(cluster.addrs);
    await writePatroniKeys(writer);
    const before = allKeys(writer);
    expect(Object.keys(before)).toHaveLength(9);
    await waitApplied(cluster.addrs, lastIndexOf(before));
    await writer.destroy();

    // the disaster: two members and their data dirs are gone; the survivor is stopped
    for (const n of [dead1, dead2]) {
      const p = running.get(n.addr);
      p?.signal('SIGKILL');
      await p?.waitExit(10_000);
      rmSync(n.dataDir, { recursive: true, force: true });
    }
    await stop(running.get(survivor.addr));
    const oldFiles = snapshotDir(survivor.dataDir);
    expect(Object.keys(oldFiles)).toEqual([`${survivor.addr}.journal`]);

    const r = await recover(['-c', survivor.config, '--force-new-cluster', '--yes', '--check-timeout', '1']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    const kept = /Kept: the state as of index (\d+) \(term \d+\):/.exec(r.stdout);
    expect(Number(kept?.[1])).toBeGreaterThanOrEqual(lastIndexOf(before));
    expect(r.stdout).toContain('  9 keys:');
    expect(r.stdout).toContain(
      `/service/batman/leader  index ${before['/service/batman/leader']?.index}  (TTL:`,
    );
    expect(r.stdout).toMatch(/May be lost:\n {2}- entries after index \d+ that other members may have had/);
    expect(r.stdout).toContain(`${dead1.addr}: unreachable`);
    expect(r.stdout).toContain('1 of 3 alive; a majority is 2: no majority');
    expect(r.stdout).toContain(`New cluster: ${survivor.addr} alone`);
    // the old files are kept byte for byte under backup names; a dump now sits beside the journal
    const after = snapshotDir(survivor.dataDir);
    for (const [name, bytes] of Object.entries(oldFiles)) {
      const backup = Object.keys(after).find((f) => f.startsWith(`${name}.before-recover-`));
      expect(backup, `a backup of ${name} in ${Object.keys(after).join(', ')}`).toBeDefined();
      expect(after[backup as string]).toBe(bytes);
    }
    expect(existsSync(journalPaths(survivor.dataDir, survivor.addr).dump)).toBe(true);
    expect(await keysOnDisk(survivor)).toEqual(before);

    // the survivor starts with its unchanged YAML (the dead partners listed) as a one-node cluster
    running.set(survivor.addr, startController(procs, survivor));
    expect(await waitLeader([survivor.addr], 30_000)).toBe(survivor.addr);
    expect(await membersOf(survivor.addr)).toEqual([survivor.addr]);

    // the lost members come back at their addresses with empty data dirs, one at a time
    for (const n of [dead1, dead2]) {
      mkdirSync(n.dataDir, { recursive: true });
      const added = adminAdd(survivor.addr, n.addr);
      await eventually(
        async () => ((await membersOf(survivor.addr)).includes(n.addr) ? true : undefined),
        20_000,
        `${n.addr} in the survivor's membership`,
      );
      running.set(n.addr, startController(procs, n));
      expect(await added).toBe(`SUCCESS ADD ${n.addr}\n`);
    }
    expect(await membersOf(survivor.addr)).toEqual([...cluster.addrs].sort());

    // the keys are served as they were, writes work and reach every member
    const kv = await kvClient(cluster.addrs, lastIndexOf(before));
    expect(allKeys(kv)).toEqual(before);
    expect(await kv.set('/service/batman/members/pg4', '{"role":"replica"}', { ttl: 3600 })).not.toBe(false);
    expect(await kv.set('/service/batman/leader', 'pg1', { ttl: 3600, prevValue: 'pg1' })).not.toBe(false);
    const now = allKeys(kv);
    await waitApplied(cluster.addrs, lastIndexOf(now));
    await kv.destroy();

    // every member's files hold the same keys: the old ones as they were, plus the new writes
    for (const p of running.values()) await stop(p);
    for (const n of cluster.nodes) {
      const onDisk = await keysOnDisk(n);
      expect(onDisk, `keys of ${n.addr}`).toEqual(now);
      for (const [key, rec] of Object.entries(before)) {
        if (key === '/service/batman/leader') continue; // renewed above
        expect(onDisk[key], `${key} on ${n.addr}`).toEqual(rec);
      }
    }
  });
});

describe('raftdcs recover: refusals change nothing', () => {
  it('on a running node; while a majority of the old members is alive (this node counted)', async () => {
    const cluster = await threeNodeConfigs(procs);
    const [a, b, c] = cluster.nodes as [NodeSpec, NodeSpec, NodeSpec];
    const running = new Map(cluster.nodes.map((n) => [n.addr, startController(procs, n)]));
    await waitLeader(cluster.addrs);
    const kv = await kvClient(cluster.addrs);
    await writePatroniKeys(kv);
    await waitApplied(cluster.addrs, lastIndexOf(allKeys(kv)));
    await kv.destroy();

    const args = ['-c', a.config, '--force-new-cluster', '--yes', '--check-timeout', '1'];
    const onRunning = snapshotDir(a.dataDir);
    const r1 = await recover(args);
    expect(r1.code, r1.stderr).toBe(5);
    expect(r1.stderr).toContain(`NODE_RUNNING: the node ${a.addr} is running`);
    expect(r1.stderr).toContain('held by a running process: controller pid');
    expect(r1.stderr).toContain(`something accepts connections on self_addr ${a.addr}`);
    expect(r1.stderr).toContain('Nothing was changed.');
    // (the running node's journal may grow by itself; compare what recover could have touched)
    expect(Object.keys(snapshotDir(a.dataDir))).toEqual(Object.keys(onRunning));

    await stop(running.get(a.addr));
    const stopped = snapshotDir(a.dataDir);
    const r2 = await recover(args);
    expect(r2.code, r2.stderr).toBe(5);
    expect(r2.stderr).toContain('MAJORITY_REACHABLE: 3 of the 3 old members are alive');
    expect(r2.stderr).toContain(`${b.addr}: alive — answers:`);
    expect(snapshotDir(a.dataDir)).toEqual(stopped);

    // one more member lost: this node and the last one still make a majority
    running.get(c.addr)?.signal('SIGKILL');
    await running.get(c.addr)?.waitExit(10_000);
    const r3 = await recover(args);
    expect(r3.code, r3.stderr).toBe(5);
    expect(r3.stderr).toContain('MAJORITY_REACHABLE: 2 of the 3 old members');
    expect(r3.stderr).toContain(`${c.addr}: unreachable`);
    expect(r3.stderr).toContain('Start this node');
    expect(snapshotDir(a.dataDir)).toEqual(stopped);
  });
});

describe('raftdcs recover: a working cluster answers', () => {
  it('a configured partner outside the log has a leader and a quorum: CLUSTER_WORKING, nothing changed', async () => {
    const { node } = await survivorWithDump();
    // a one-node cluster at an address the YAML lists but the log does not (added after this log ends)
    const [other] = (await freeLoopbackAddresses(1)) as [string];
    const dir = procs.dir();
    const otherNode: NodeSpec = { addr: other, config: join(dir, 'x.yml'), dataDir: join(dir, 'x') };
    writeFileSync(
      otherNode.config,
      `raft:\n  self_addr: '${other}'\n  data_dir: ${otherNode.dataDir}\n${FAST}`,
    );
    const ctl = startController(procs, otherNode);
    await waitLeader([other]);
    writeFileSync(
      node.config,
      readFileSync(node.config, 'utf8').replace('partner_addrs: [', `partner_addrs: ['${other}', `),
    );
    const stopped = snapshotDir(node.dataDir);
    const r = await recover(['-c', node.config, '--force-new-cluster', '--yes', '--check-timeout', '1']);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(
      `CLUSTER_WORKING: a cluster with a leader and a quorum answers: ${other} (leader ${other})`,
    );
    expect(r.stderr).toContain(`${other} (a configured partner, not a member in the log): alive`);
    expect(snapshotDir(node.dataDir)).toEqual(stopped);
    await stop(ctl);
  });
});

/**
 * The files a member of a three-node cluster leaves (built in process, no sockets): Patroni-shaped
 * keys, a dump, and a write after it in the journal only. The other two members' addresses answer
 * nothing. Returns the member's node spec (a YAML naming all three), the keys its dump holds and
 * the keys it holds.
 */
async function survivorWithDump(): Promise<{
  node: NodeSpec;
  /** the two lost members, with configurations and empty data dirs of their own */
  lost: NodeSpec[];
  dumpKeys: Record<string, KvRecord>;
  keys: Record<string, KvRecord>;
}> {
  const addrs = await freeLoopbackAddresses(3);
  const dir = procs.dir();
  const net = new MemoryNetwork();
  const nodes = addrs.map((addr, i) => {
    const dataDir = join(dir, `d${i}`);
    mkdirSync(dataDir);
    const files = journalPaths(dataDir, addr);
    return new KVStoreTTL({
      selfAddr: addr,
      partnerAddrs: addrs.filter((x) => x !== addr),
      conf: { raftMinTimeout: 0.08, raftMaxTimeout: 0.16, appendEntriesPeriod: 0.02 },
      deps: {
        transport: net.factory,
        journal: new FileJournal(files.journal),
        dumpStore: new FileDumpStore(files.dump),
      },
    });
  });
  try {
    await waitFor(() => nodes.some((n) => n.isLeader()), 10_000, 'an in-process leader');
    const leader = nodes.find((n) => n.isLeader()) as KVStoreTTL;
    await writePatroniKeys(leader);
    const survivor = nodes[0] as KVStoreTTL;
    await waitFor(() => survivor.raftLastApplied >= leader.raftCommitIndex, 10_000, 'the survivor to apply');
    survivor.forceLogCompaction();
    const dump = journalPaths(join(dir, 'd0'), addrs[0] as string).dump;
    await waitFor(() => existsSync(dump), 10_000, 'a dump');
    const dumpKeys = Object.fromEntries(survivor.getPrefix(''));
    expect(
      await leader.set('/service/batman/members/pg3', '{"role":"replica","state":"streaming"}'),
    ).not.toBe(false);
    await waitFor(() => survivor.raftLastApplied >= leader.raftCommitIndex, 10_000, 'the survivor to apply');
    const keys = Object.fromEntries(survivor.getPrefix(''));
    const partners = addrs.map((x) => `'${x}'`).join(', ');
    const [node, ...lost] = addrs.map((addr, i) => {
      const config = join(dir, `n${i}.yml`);
      const dataDir = join(dir, i === 0 ? 'd0' : `new${i}`);
      writeFileSync(
        config,
        `raft:\n  self_addr: '${addr}'\n  partner_addrs: [${partners}]\n  data_dir: ${dataDir}\n${FAST}`,
      );
      return { addr, config, dataDir };
    }) as [NodeSpec, ...NodeSpec[]];
    return { node, lost, dumpKeys, keys };
  } finally {
    await Promise.all(nodes.map((n) => n.destroy()));
  }
}

describe('raftdcs recover --members', () => {
  it('rewrites the membership to the list: the node waits for a majority of it, then leads members started empty', async () => {
    const { node, lost, keys } = await survivorWithDump();
    const bad = await recover([
      '-c',
      node.config,
      '--force-new-cluster',
      '--yes',
      '--members',
      lost.map((n) => n.addr).join(','),
    ]);
    expect(bad.code).toBe(5);
    expect(bad.stderr).toContain(`BAD_MEMBERS: --members must include this node's self_addr ${node.addr}`);
    const members = [node, ...lost].map((n) => n.addr);
    const r = await recover([
      '-c',
      node.config,
      '--force-new-cluster',
      '--yes',
      '--check-timeout',
      '1',
      '--members',
      members.join(','),
    ]);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`New cluster: ${members.join(', ')} (3 members: a majority of them must run`);

    const running = [startController(procs, node)];
    await eventually(
      async () => ((await status(node.addr))?.get('partner_nodes_count') === 2 ? true : undefined),
      20_000,
      'the recovered node to list the new members',
    );
    expect((await status(node.addr))?.get('state')).not.toBe(2); // alone it has no majority
    running.push(startController(procs, lost[0] as NodeSpec));
    expect(await waitLeader(members, 30_000)).toBe(node.addr);
    running.push(startController(procs, lost[1] as NodeSpec));
    const kv = await kvClient(members, lastIndexOf(keys));
    expect(allKeys(kv)).toEqual(keys);
    await kv.destroy();
    await waitApplied(members, lastIndexOf(keys));
    for (const p of running) await stop(p);
  });
});

describe('raftdcs recover: incomplete data, the question, --dry-run', () => {
  it('a dump without its journal: refused; with --unsafe-allow-partial-data, rebuilt from the dump', async () => {
    const { node, dumpKeys, keys } = await survivorWithDump();
    rmSync(journalPaths(node.dataDir, node.addr).journal);
    const stopped = snapshotDir(node.dataDir);
    const r1 = await recover(['-c', node.config, '--force-new-cluster', '--yes', '--check-timeout', '1']);
    expect(r1.code, r1.stderr).toBe(5);
    expect(r1.stderr).toContain('DATA_INCOMPLETE: the data files are incomplete (JOURNAL_MISSING)');
    expect(r1.stderr).toContain('--unsafe-allow-partial-data');
    expect(snapshotDir(node.dataDir)).toEqual(stopped);

    const r2 = await recover([
      '-c',
      node.config,
      '--force-new-cluster',
      '--yes',
      '--unsafe-allow-partial-data',
      '--check-timeout',
      '1',
    ]);
    expect(r2.code, `${r2.stdout}\n${r2.stderr}`).toBe(0);
    expect(r2.stdout).toContain('the data files are incomplete (JOURNAL_MISSING, accepted with');
    // the state of the dump: the last write was only in the lost journal
    expect(await keysOnDisk(node)).toEqual(dumpKeys);
    expect(dumpKeys['/service/batman/members/pg3']).not.toEqual(keys['/service/batman/members/pg3']);
    const ctl = startController(procs, node);
    expect(await waitLeader([node.addr], 30_000)).toBe(node.addr);
    await stop(ctl);
  });

  it('asks without --yes (anything but yes changes nothing); --dry-run and a refused --for-pysyncobj change nothing; a full log is kept', async () => {
    const { node, keys } = await survivorWithDump();
    const stopped = snapshotDir(node.dataDir);
    const base = ['-c', node.config, '--force-new-cluster', '--check-timeout', '1'];
    const no = await recover(base, 'n\n');
    expect(no.code, no.stderr).toBe(1);
    expect(no.stdout).toMatch(
      /as this new cluster\? Only if the other members are gone for good \[y\/N\]: $/,
    );
    expect(no.stderr).toContain('Aborted: nothing was changed.');
    const eof = await recover(base, '');
    expect(eof.code).toBe(1);
    const forPython = await recover([...base, '--yes', '--for-pysyncobj']);
    expect(forPython.code).toBe(5);
    expect(forPython.stderr).toContain('NOT_PYSYNCOBJ: --for-pysyncobj: ');
    expect(forPython.stderr).toContain('is a raftdcs journal, which pysyncobj cannot read');
    const dry = await recover(['-c', node.config, '--dry-run', '--check-timeout', '1']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toContain('Dry run: nothing was changed.');
    expect(snapshotDir(node.dataDir)).toEqual(stopped);

    const yes = await recover(base, 'y\n');
    expect(yes.code, `${yes.stdout}\n${yes.stderr}`).toBe(0);
    expect(await keysOnDisk(node)).toEqual(keys);
    const ctl = startController(procs, node);
    expect(await waitLeader([node.addr], 30_000)).toBe(node.addr);
    const kv = await kvClient([node.addr], lastIndexOf(keys));
    expect(allKeys(kv)).toEqual(keys);
    expect((await status(node.addr))?.get('partner_nodes_count')).toBe(0);
    await kv.destroy();
    await stop(ctl);
  });
});
