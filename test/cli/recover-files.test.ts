/**
 * `raftdcs recover` on files, in process: a real Patroni 3.0.2 node's pysyncobj data dir (the
 * capture's dump, compacted journal and `.meta`) is rebuilt — the old files kept byte for byte as
 * backups, the `.meta` moved aside, the new files read by the runtime, which starts them as a
 * one-node cluster holding every key (less those whose TTL ran out long ago, which it expires as
 * the leader); the crash window between the two renames (new dump, old
 * journal) starts as a one-node cluster too; files that change between the read and the switch are
 * refused before anything is written.
 */
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runRecover } from '../../src/cli/recover.js';
import { KVStoreTTL } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import { FileJournal } from '../../src/raft/journal/file-journal.js';
import { journalPaths } from '../../src/raft/journal/paths.js';
import { FileDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { RecoverRefusal } from '../../src/recover/errors.js';
import { planRecovery } from '../../src/recover/plan.js';
import { readSurvivorFiles } from '../../src/recover/survivor-files.js';
import { backupStamp, writeRecoveredFiles } from '../../src/recover/write-files.js';
import { VECTORS_DIR } from '../helpers/vectors.js';
import { waitFor } from '../helpers/wait.js';
import { useProcesses } from './cli-process.js';

const procs = useProcesses();
const SELF = '127.0.0.1:21002';
const CAPTURE = join(VECTORS_DIR, 'capture/plain-files');

/** The capture's node 127.0.0.1:21002 in a data dir of its own, with a controller YAML. */
function placeCapturedNode(): { dir: string; dataDir: string; config: string } {
  const dir = procs.dir();
  const dataDir = join(dir, 'raft');
  mkdirSync(dataDir);
  const p = journalPaths(dataDir, SELF, { windows: false });
  copyFileSync(join(CAPTURE, '127.0.0.1_21002.journal'), p.journal);
  copyFileSync(join(CAPTURE, '127.0.0.1_21002.journal.meta'), p.meta);
  copyFileSync(join(CAPTURE, '127.0.0.1_21002.dump'), p.dump);
  const config = join(dir, 'raft.yml');
  writeFileSync(config, `raft:\n  self_addr: '${SELF}'\n  data_dir: ${dataDir}\n`);
  return { dir, dataDir, config };
}

/** A KVStoreTTL node on the files in `dataDir` (in-memory network, nobody else); destroyed by the caller. */
function nodeOn(dataDir: string): KVStoreTTL {
  const p = journalPaths(dataDir, SELF, { windows: false });
  return new KVStoreTTL({
    selfAddr: SELF,
    partnerAddrs: ['127.0.0.1:21001', '127.0.0.1:21003'],
    conf: { raftMinTimeout: 0.08, raftMaxTimeout: 0.16, appendEntriesPeriod: 0.02 },
    deps: {
      transport: new MemoryNetwork().factory,
      journal: new FileJournal(p.journal),
      dumpStore: new FileDumpStore(p.dump),
    },
  });
}

/**
 * The keys a leader holds once it expired those whose TTL ran out (the capture's TTLs are long
 * past): the node, elected, removes them at once.
 */
async function expectKeysOnceExpired(node: KVStoreTTL, keys: ReadonlyMap<string, KvRecord>): Promise<void> {
  const live = new Map([...keys].filter(([, r]) => r.expire === undefined || r.expire > Date.now() / 1000));
  expect(live.size).toBeGreaterThan(0);
  await waitFor(() => node.size === live.size, 10_000, 'the expired keys to be removed');
  expect(node.getPrefix('')).toEqual(live);
}

async function recoverInProcess(config: string) {
  let stdout = '';
  let stderr = '';
  const code = await runRecover({
    configPath: config,
    forceNewCluster: true,
    members: null,
    yes: true,
    dryRun: false,
    allowPartialData: false,
    checkTimeoutMs: 1000,
    stdin: process.stdin,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  });
  return { code, stdout, stderr };
}

describe('raftdcs recover on a real pysyncobj data dir', () => {
  it('rebuilds it: backups byte for byte, the .meta moved aside, the runtime starts it alone with every key', async () => {
    const { dataDir, config } = placeCapturedNode();
    const p = journalPaths(dataDir, SELF, { windows: false });
    const original = Object.fromEntries(
      [p.journal, p.meta, p.dump].map((f) => [f, readFileSync(f).toString('base64')]),
    );
    const files = await readSurvivorFiles(p);
    expect(files.journalFormat).toBe('pysyncobj');
    const expected = planRecovery({
      selfAddr: SELF,
      partnerAddrs: [],
      files,
      members: null,
      allowPartialData: false,
    });
    expect(expected.keys.size).toBeGreaterThan(0);

    const r = await recoverInProcess(config);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`cluster ${files.dump?.cluster.join(', ')}`);
    const names = readdirSync(dataDir);
    for (const [file, bytes] of Object.entries(original)) {
      const base = file.slice(dataDir.length + 1);
      const backup = names.find((n) => n.startsWith(`${base}.before-recover-`));
      expect(backup, `a backup of ${base} among ${names.join(', ')}`).toBeDefined();
      expect(readFileSync(join(dataDir, backup as string)).toString('base64')).toBe(bytes);
    }
    expect(existsSync(p.meta)).toBe(false);

    const after = await readSurvivorFiles(p);
    expect(after.journalFormat).toBe('raftdcs');
    expect(after.dump?.cluster).toEqual([SELF]);
    expect(after.journal.hardState).toEqual({ term: expected.newTerm, votedFor: null });
    expect(after.journal.entries).toEqual([expected.prevEntry, expected.lastEntry]);

    const node = nodeOn(dataDir);
    try {
      await waitFor(() => node.isLeader(), 10_000, 'the recovered node to elect itself');
      expect(node.raftCurrentTerm).toBeGreaterThan(expected.newTerm);
      expect(node.otherNodes).toEqual([]);
      await expectKeysOnceExpired(node, expected.keys);
      expect(await node.set('/service/batman/after', 'x')).not.toBe(false);
    } finally {
      await node.destroy();
    }
  });

  it('the crash window between the renames (the new dump beside the old journal) starts as a one-node cluster', async () => {
    const old = placeCapturedNode();
    const rebuilt = placeCapturedNode();
    expect((await recoverInProcess(rebuilt.config)).code).toBe(0);
    const oldPaths = journalPaths(old.dataDir, SELF, { windows: false });
    copyFileSync(journalPaths(rebuilt.dataDir, SELF, { windows: false }).dump, oldPaths.dump);
    const files = await readSurvivorFiles(oldPaths);
    const keys = planRecovery({
      selfAddr: SELF,
      partnerAddrs: [],
      files,
      members: null,
      allowPartialData: false,
    }).keys;

    const node = nodeOn(old.dataDir);
    try {
      await waitFor(() => node.isLeader(), 10_000, 'the node to elect itself');
      expect(node.otherNodes).toEqual([]);
      await expectKeysOnceExpired(node, keys);
    } finally {
      await node.destroy();
    }
  });

  it('files that change after they were read: FILES_CHANGED, nothing written', async () => {
    const { dataDir } = placeCapturedNode();
    const p = journalPaths(dataDir, SELF, { windows: false });
    const files = await readSurvivorFiles(p);
    const plan = planRecovery({
      selfAddr: SELF,
      partnerAddrs: [],
      files,
      members: null,
      allowPartialData: false,
    });
    const before = readdirSync(dataDir).sort();
    writeFileSync(p.meta, readFileSync(p.meta)); // rewritten: a new mtime (and maybe inode)
    const stamp = backupStamp(Date.now());
    const e = await writeRecoveredFiles(files, plan, stamp).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RecoverRefusal);
    expect((e as RecoverRefusal).code).toBe('FILES_CHANGED');
    expect(readdirSync(dataDir).sort()).toEqual(before);
  });
});
