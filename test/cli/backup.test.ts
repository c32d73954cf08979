/**
 * Backups as an operator takes and restores them (docs/backups.md), on real processes, sockets and
 * files:
 *
 * - the round trip: three `raftdcs controller`s hold Patroni-shaped keys; `raftdcs admin -snapshot`
 *   saves a follower's state; `raftdcs snapshot status` prints what the file holds; `raftdcs recover
 *   --from-snapshot` builds a new data dir for a new address from it; a controller started there
 *   serves every key with its index, and writes;
 * - `-compact`: the log is cut at the applied index (status's `log_len`) and the dump is on disk;
 * - 100,000 keys: saved (in chunks), checked, restored and read back whole;
 * - the refusals: a damaged or truncated file (status exit 6, recover exit 5, nothing created), a
 *   data dir that is not empty, a node that does not answer the command within -timeout, a node
 *   that is not running, a directory that does not exist — and a Python node (Debian's
 *   `patroni_raft_controller`), which is never sent the command and keeps running;
 * - `--for-pysyncobj`: the restored dump alone, which `patroni_raft_controller` starts from.
 *
 * Processes go through useProcesses (killed in afterEach); in-process nodes are destroyed in
 * afterEach; every wait is bounded.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeSnapshotFile } from '../../src/backup/format.js';
import { readSnapshotFile } from '../../src/backup/snapshot-file.js';
import { runAdmin } from '../../src/cli/admin.js';
import { runRecover } from '../../src/cli/recover.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { NO_OP_COMMAND } from '../../src/raft/core/types.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { realDumpCodec } from '../../src/raft/runtime/dump-codec.js';
import type { PyDictKey, PyValue } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { describePython } from '../helpers/python.js';
import { waitFor } from '../helpers/wait.js';
import { eventually, PATRONI_RAFT_CONTROLLER, type Proc, useProcesses } from './cli-process.js';
import {
  allKeys,
  FAST,
  keysOnDisk,
  kvClient,
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
const nodes: KVStoreTTL[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.destroy()));
});

interface Outcome {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** `raftdcs admin <args>` in-process. */
async function admin(args: readonly string[]): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await runAdmin(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

/** `raftdcs recover <args>` in-process (stdin empty: no confirmation without --yes). */
async function recoverHere(
  configPath: string,
  args: Partial<Parameters<typeof runRecover>[0]>,
): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const code = await runRecover({
    configPath,
    forceNewCluster: false,
    members: null,
    yes: true,
    dryRun: false,
    allowPartialData: false,
    checkTimeoutMs: 1000,
    stdin: process.stdin,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    ...args,
  });
  return { code, stdout, stderr };
}

/** Run a spawned process to its end. */
async function finish(p: Proc, timeoutMs = 60_000): Promise<Outcome> {
  const st = await p.waitExit(timeoutMs);
  return { code: st.code ?? -1, stdout: p.stdout(), stderr: p.stderr() };
}

/** The highest index among the records. */
function lastIndexOf(keys: Record<string, KvRecord>): number {
  return Math.max(...Object.values(keys).map((r) => r.index));
}

/** A node's YAML: self_addr, data_dir, no partners. */
function nodeConfig(dir: string, addr: string, name: string): NodeSpec {
  const dataDir = join(dir, name);
  const config = join(dir, `${name}.yml`);
  writeFileSync(
    config,
    `scope: batman\nname: ${name}\nraft:\n  self_addr: '${addr}'\n  data_dir: ${dataDir}\n${FAST}`,
  );
  return { addr, config, dataDir };
}

/** An in-process KVStoreTTL node on a data dir (the files a controller keeps), once it leads. */
async function nodeOn(spec: NodeSpec): Promise<KVStoreTTL> {
  mkdirSync(spec.dataDir, { recursive: true });
  const paths = journalPaths(spec.dataDir, spec.addr);
  const kv = new KVStoreTTL({
    selfAddr: spec.addr,
    partnerAddrs: [],
    conf: {
      appendEntriesPeriod: 0.05,
      raftMinTimeout: 0.2,
      raftMaxTimeout: 0.4,
      journalFile: paths.journal,
      fullDumpFile: paths.dump,
    },
  });
  nodes.push(kv);
  await kv.waitBinded();
  await waitFor(() => kv.isLeader(), 30_000, `${spec.addr} to lead`);
  return kv;
}

/** Every file in a directory with its bytes (to prove a refusal changed nothing). */
function dirContents(dir: string): Record<string, string> {
  if (!existsSync(dir)) return {};
  return Object.fromEntries(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f)).toString('base64')]),
  );
}

describe('backups: save, status, restore', () => {
  it('a follower of three saves a snapshot; status prints it; recover --from-snapshot builds a new node that serves every key and writes', async () => {
    const cluster = await threeNodeConfigs(procs);
    for (const n of cluster.nodes) startController(procs, n);
    const leader = await waitLeader(cluster.addrs);
    const writer = await kvClient(cluster.addrs);
    await writePatroniKeys(writer);
    const before = allKeys(writer);
    expect(Object.keys(before)).toHaveLength(9);
    await waitApplied(cluster.addrs, lastIndexOf(before));
    await writer.destroy();

    // save: from a follower (any member holds the whole state)
    const follower = cluster.addrs.find((a) => a !== leader) as string;
    const file = join(cluster.dir, 'batman.snapshot');
    const saved = await finish(procs.raftdcs(['admin', '-conn', follower, '-snapshot', file]));
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toContain(`Saved a snapshot of ${follower} to ${file}\n`);
    expect(saved.stdout).toMatch(/\nkeys: +9\n/);
    expect(saved.stdout).toMatch(/\nchecksum: +ok \(sha256 [0-9a-f]{64}\)\n/);

    // status: what the file holds
    const st = await finish(procs.raftdcs(['snapshot', 'status', file]));
    expect(st.code, st.stderr).toBe(0);
    expect(st.stdout).toContain(`node:         ${follower}\n`);
    expect(st.stdout).toMatch(/\nindex: +\d+ \(term \d+\)\n/);
    const js = await finish(procs.raftdcs(['snapshot', 'status', file, '--json']));
    expect(js.code, js.stderr).toBe(0);
    const summary = JSON.parse(js.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({
      file,
      ok: true,
      node: follower,
      keys: 9,
      checksum_ok: true,
      format_version: 1,
    });
    expect([...(summary.cluster as string[])].sort()).toEqual([...cluster.addrs].sort());
    expect(summary.last_index).toBeGreaterThanOrEqual(lastIndexOf(before));
    expect(summary.bytes).toBe(statSync(file).size);

    // restore: a new data dir (absent) for a new address
    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const restored = nodeConfig(cluster.dir, addr, 'restored');
    const r = await recover(['-c', restored.config, '--from-snapshot', file, '--yes']);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`Snapshot ${file} (checksum ok): taken from ${follower}`);
    expect(r.stdout).toContain(`Kept: the state as of index ${summary.last_index}`);
    expect(r.stdout).toContain('  9 keys:');
    expect(r.stdout).toContain(`New cluster: ${addr} alone`);
    expect(readdirSync(restored.dataDir).sort()).toEqual([`${addr}.dump`, `${addr}.journal`]);
    expect(await keysOnDisk(restored)).toEqual(before);

    // the restored node serves every key with its index, and writes
    startController(procs, restored);
    expect(await waitLeader([addr], 30_000)).toBe(addr);
    const kv = await kvClient([addr], lastIndexOf(before));
    expect(allKeys(kv)).toEqual(before);
    expect(await kv.set('/service/batman/leader', 'pg1', { ttl: 3600, prevValue: 'pg1' })).not.toBe(false);
    expect(await kv.set('/service/batman/members/pg4', '{"role":"replica"}', { ttl: 3600 })).not.toBe(false);
    expect(kv.get('/service/batman/members/pg4')?.index).toBeGreaterThan(summary.last_index as number);
  });

  it('-compact cuts the log at the applied index and stores the dump; --json', async () => {
    const dir = procs.dir();
    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const spec = nodeConfig(dir, addr, 'n0');
    startController(procs, spec);
    await waitLeader([addr]);
    const kv = await kvClient([addr]);
    for (let i = 0; i < 40; i++)
      expect(await kv.set(`/service/batman/members/m${i}`, `{"i":${i}}`)).not.toBe(false);
    const applied = kv.raftLastApplied;
    await waitApplied([addr], applied);
    const logBefore = (await status(addr))?.get('log_len');
    expect(logBefore).toBeGreaterThan(40);
    const dump = journalPaths(spec.dataDir, addr).dump;
    expect(existsSync(dump)).toBe(false);

    const c = await finish(procs.raftdcs(['admin', '-conn', addr, '-compact']));
    expect(c.code, c.stderr).toBe(0);
    const lines = new Map(
      c.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(': ') as [string, string]),
    );
    expect(Number(lines.get('last_index'))).toBeGreaterThanOrEqual(applied);
    expect(lines.get('log_len')).toBe('2');
    expect(Number(lines.get('dump_bytes'))).toBeGreaterThan(0);
    expect((await status(addr))?.get('log_len')).toBe(2);
    const stored = await realDumpCodec.decode(readFileSync(dump));
    expect(stored.lastEntry.index).toBe(Number(lines.get('last_index')));

    const j = await admin(['-conn', addr, '-compact', '--json']);
    expect(j.code, j.stderr).toBe(0);
    expect(JSON.parse(j.stdout)).toMatchObject({
      node: addr,
      command: ['compact'],
      ok: true,
      reply: { log_len: 2, dump_bytes: null },
    });
  });

  it('100,000 keys: saved in chunks, checked, restored and read back whole', async () => {
    const dir = procs.dir();
    const [a, b] = (await freeLoopbackAddresses(2)) as [string, string];
    // a snapshot file made by hand holds the first state; restored, it makes a node to save from
    const keys = new Map<PyDictKey, PyValue>();
    for (let i = 0; i < 100_000; i++) {
      const value = `{"conn_url":"postgres://10.${i >> 16}.${(i >> 8) & 255}.${i & 255}:5432/postgres","xlog_location":${i * 4096}}`;
      keys.set(
        `/service/c${i % 100}/members/m${i}`,
        new Map<PyDictKey, PyValue>([
          ['value', value],
          ['index', 10 + (i % 1000)],
          ['created', 1_700_000_000 + i],
          ['updated', 1_700_000_000 + i],
        ]),
      );
    }
    const dump = {
      data: new Map<PyDictKey, PyValue>([
        ['_SyncObj__enabledCodeVersion', 0],
        ['_KVStoreTTL__data', keys],
      ]),
      lastEntry: { command: NO_OP_COMMAND, index: 2000, term: 4 },
      prevEntry: { command: NO_OP_COMMAND, index: 1999, term: 4 },
      cluster: ['10.0.0.1:2222'],
    };
    const seed = join(dir, 'seed.snapshot');
    writeFileSync(
      seed,
      encodeSnapshotFile(
        {
          node: '10.0.0.1:2222',
          created: new Date().toISOString(),
          raftdcsVersion: 'test',
          lastIndex: 2000,
          lastTerm: 4,
          prevIndex: 1999,
          prevTerm: 4,
          cluster: ['10.0.0.1:2222'],
          raftTerm: 4,
          commitIndex: 2000,
        },
        await realDumpCodec.encode(dump),
      ),
    );
    const first = nodeConfig(dir, a, 'first');
    const r1 = await recoverHere(first.config, { fromSnapshot: seed });
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain('  100000 keys:');
    expect(r1.stdout).toContain('    … and 99970 more');
    const node1 = await nodeOn(first);
    expect(node1.getPrefix('').size).toBe(100_000);

    const file = join(dir, 'big.snapshot');
    const saved = await admin(['-conn', a, '-snapshot', file, '-timeout', '120']);
    expect(saved.code, saved.stderr).toBe(0);
    const contents = await readSnapshotFile(file);
    expect(contents.keys).toBe(100_000);
    expect(contents.dumpGz.length).toBeGreaterThan(1 << 20); // more than one chunk
    expect(contents.header.node).toBe(a);

    const second = nodeConfig(dir, b, 'second');
    const r2 = await recoverHere(second.config, { fromSnapshot: file });
    expect(r2.code, r2.stderr).toBe(0);
    const node2 = await nodeOn(second);
    const got = node2.getPrefix('');
    expect(got.size).toBe(100_000);
    expect(Object.fromEntries(got)).toEqual(Object.fromEntries(node1.getPrefix('')));
  }, 240_000);
});

describe('backups: refusals', () => {
  /** A running one-node cluster with a few keys, and a snapshot file of it. */
  async function nodeAndSnapshot(): Promise<{ dir: string; addr: string; file: string; kv: KVStoreTTL }> {
    const dir = procs.dir();
    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const kv = await nodeOn(nodeConfig(dir, addr, 'n0'));
    for (let i = 0; i < 5; i++) expect(await kv.set(`/service/batman/k${i}`, `v${i}`)).not.toBe(false);
    const file = join(dir, 'good.snapshot');
    const saved = await admin(['-conn', addr, '-snapshot', file]);
    expect(saved.code, saved.stderr).toBe(0);
    return { dir, addr, file, kv };
  }

  it('a damaged or truncated file: status exits 6 and says why; recover refuses and creates nothing', async () => {
    const { dir, file } = await nodeAndSnapshot();
    const bytes = readFileSync(file);
    const damaged = join(dir, 'damaged.snapshot');
    const flipped = Buffer.from(bytes);
    flipped[bytes.length - 40] = (flipped[bytes.length - 40] as number) ^ 0xff;
    writeFileSync(damaged, flipped);
    const truncated = join(dir, 'truncated.snapshot');
    writeFileSync(truncated, bytes.subarray(0, bytes.length - 1000));

    const s1 = await finish(procs.raftdcs(['snapshot', 'status', damaged]));
    expect(s1.code).toBe(6);
    expect(s1.stdout).toBe('');
    expect(s1.stderr).toMatch(
      new RegExp(
        `^raftdcs snapshot status: SNAPSHOT_FILE_CHECKSUM_MISMATCH at offset \\d+: snapshot file ${damaged}: the SHA-256 does not match`,
      ),
    );
    const s2 = await finish(procs.raftdcs(['snapshot', 'status', truncated, '--json']));
    expect(s2.code).toBe(6);
    expect(JSON.parse(s2.stdout)).toMatchObject({
      file: truncated,
      ok: false,
      error: 'SNAPSHOT_FILE_TRUNCATED',
    });
    expect(JSON.parse(s2.stdout).detail).toContain('the file was cut short');
    const s3 = await finish(procs.raftdcs(['snapshot', 'status', join(dir, 'missing.snapshot')]));
    expect(s3.code).toBe(6);
    expect(s3.stderr).toContain('SNAPSHOT_FILE_UNREADABLE');

    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const target = nodeConfig(dir, addr, 'target');
    for (const bad of [damaged, truncated]) {
      const r = await recoverHere(target.config, { fromSnapshot: bad });
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toContain(`raftdcs recover: refusing: SNAPSHOT_UNREADABLE: SNAPSHOT_FILE_`);
      expect(r.stderr).toContain(`snapshot file ${bad}: `);
      expect(r.stderr).toContain('Nothing was changed.');
      expect(existsSync(target.dataDir)).toBe(false);
    }
  });

  it('a data dir that is not empty is refused and left as it was; --dry-run writes nothing', async () => {
    const { dir, file } = await nodeAndSnapshot();
    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const target = nodeConfig(dir, addr, 'target');
    mkdirSync(target.dataDir);
    writeFileSync(join(target.dataDir, `${addr}.journal`), 'an old journal');
    const before = dirContents(target.dataDir);
    const r = await recoverHere(target.config, { fromSnapshot: file });
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toContain(
      `DATA_DIR_NOT_EMPTY: the data dir ${target.dataDir} is not empty (${addr}.journal): --from-snapshot only builds a new data dir`,
    );
    expect(dirContents(target.dataDir)).toEqual(before);

    const dry = nodeConfig(dir, addr, 'dry');
    const d = await recoverHere(dry.config, { fromSnapshot: file, dryRun: true });
    expect(d.code, d.stderr).toBe(0);
    expect(d.stdout).toContain('Dry run: nothing was changed.');
    expect(existsSync(dry.dataDir)).toBe(false);
    const partial = await recoverHere(dry.config, { fromSnapshot: file, allowPartialData: true });
    expect(partial.code).toBe(1);
    expect(partial.stderr).toContain('--unsafe-allow-partial-data does not apply to --from-snapshot');
  });

  it('no answer within -timeout, a node that is not running, a missing directory: exit 1 with the reason', async () => {
    const { dir, addr, kv } = await nodeAndSnapshot();
    const [closed] = (await freeLoopbackAddresses(1)) as [string];
    const down = await admin(['-conn', closed, '-snapshot', join(dir, 'x.snapshot'), '-timeout', '2']);
    expect(down.code).toBe(1);
    expect(down.stderr).toMatch(
      /^raftdcs admin: snapshot: BACKUP_NODE_UNREACHABLE: 127\.0\.0\.1:\d+: no answer to status/,
    );
    const nodir = await admin(['-conn', addr, '-snapshot', join(dir, 'nope', 'x.snapshot')]);
    expect(nodir.code).toBe(1);
    expect(nodir.stderr).toContain(
      `cannot write ${join(dir, 'nope', 'x.snapshot')}: its directory does not exist`,
    );

    // a node that takes the command and never answers it
    kv.registerUtility('snapshot', () => undefined);
    const t0 = Date.now();
    const silent = await admin([
      '-conn',
      addr,
      '-snapshot',
      join(dir, 'y.snapshot'),
      '-timeout',
      '1.5',
      '--json',
    ]);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(silent.code).toBe(1);
    expect(JSON.parse(silent.stdout)).toMatchObject({ node: addr, ok: false, error: 'BACKUP_NO_ANSWER' });
    expect(JSON.parse(silent.stdout).detail).toContain(
      'the node did not answer the snapshot command within 1.5 s: it may be a pysyncobj/Patroni node, which does not serve it',
    );
    expect(existsSync(join(dir, 'y.snapshot'))).toBe(false);
  });
});

describePython('backups: a Python node (Debian patroni_raft_controller)', () => {
  it('-snapshot and -compact are refused at once without sending the command; the node keeps working', async () => {
    const [a] = (await freeLoopbackAddresses(1)) as [string];
    const dir = procs.dir();
    const config = join(dir, 'patroni.yml');
    writeFileSync(config, `raft:\n  self_addr: ${a}\n  data_dir: ${dir}\n`);
    const py = procs.run(PATRONI_RAFT_CONTROLLER, [config], { cwd: dir });
    await eventually(
      async () => ((await status(a))?.get('state') === 2 ? true : undefined),
      30_000,
      `the Python controller at ${a} to lead`,
    );
    const file = join(dir, 'py.snapshot');
    const t0 = Date.now();
    const s = await admin(['-conn', a, '-snapshot', file, '-timeout', '10']);
    const c = await admin(['-conn', a, '-compact', '-timeout', '10', '--json']);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(s.code).toBe(1);
    expect(s.stderr).toContain(`BACKUP_NOT_SERVED: ${a}: the node does not serve the snapshot command`);
    expect(s.stderr).toContain('a pysyncobj/Patroni node');
    expect(existsSync(file)).toBe(false);
    expect(c.code).toBe(1);
    expect(JSON.parse(c.stdout)).toMatchObject({ ok: false, error: 'BACKUP_NOT_SERVED' });
    // it still answers, and its tick never saw an unknown command
    expect((await status(a))?.get('state')).toBe(2);
    expect(`${py.stdout()}${py.stderr()}`).not.toContain('doTick');
  });
  it('--from-snapshot --for-pysyncobj: the dump alone, which patroni_raft_controller starts from and serves', async () => {
    const dir = procs.dir();
    const [a, b] = (await freeLoopbackAddresses(2)) as [string, string];
    const kv = await nodeOn(nodeConfig(dir, a, 'ts'));
    for (let i = 0; i < 5; i++)
      expect(await kv.set(`/service/batman/k${i}`, `v${i}`, { ttl: i === 0 ? 3600 : null })).not.toBe(false);
    const keys = Object.fromEntries(kv.getPrefix(''));
    const file = join(dir, 'ts.snapshot');
    expect((await admin(['-conn', a, '-snapshot', file])).code).toBe(0);
    const target = join(dir, 'py');
    const config = join(dir, 'py.yml');
    writeFileSync(config, `raft:\n  self_addr: '${b}'\n  data_dir: ${target}\n`);
    const r = await recoverHere(config, { fromSnapshot: file, forPysyncobj: true });
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(target)).toEqual([`${b}.dump`]);
    expect(r.stdout).toContain('start the node (Patroni or patroni_raft_controller)');
    procs.run(PATRONI_RAFT_CONTROLLER, [config], { cwd: dir });
    await eventually(
      async () => ((await status(b))?.get('state') === 2 ? true : undefined),
      30_000,
      `the Python controller at ${b} to lead`,
    );
    const client = await kvClient([b], lastIndexOf(keys));
    expect(allKeys(client)).toEqual(keys);
    expect(await client.set('/service/batman/k9', 'new')).not.toBe(false);
  });
});
