/**
 * The backup commands a node serves (src/raft/snapshot/snapshot-service.ts), over real TCP, through
 * the client `raftdcs admin` uses (src/backup/client.ts):
 *
 * - the feature probe: `['status', 'raftdcs_features']` lists the commands, plain `status` is the
 *   dict syncobj_admin sees (no extra key);
 * - a snapshot is the state at exactly its index, while writes go on (checked against every set
 *   the state machine applied);
 * - a dump larger than one chunk arrives in chunks, checked against the SHA-256 the node stated;
 *   bad `snapshot_chunk` requests are answered with FAIL texts;
 * - `compact` cuts the log at the applied index and stores the dump, even with logCompactionSplit
 *   keeping automatic compactions away; a second one finds nothing new.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BackupClient } from '../../src/backup/client.js';
import { kvKeyCount } from '../../src/backup/snapshot-file.js';
import { KVStoreTTL, type KVStoreTTLOptions } from '../../src/kv/kvstore-ttl.js';
import type { KvRecord } from '../../src/kv/record.js';
import type { SyncObjConfOptions } from '../../src/raft/config.js';
import { decodeDump } from '../../src/raft/snapshot/dump.js';
import { splitObjectState } from '../../src/raft/snapshot/object-state.js';
import { SNAPSHOT_CHUNK_BYTES } from '../../src/raft/snapshot/utility-protocol.js';
import { TcpUtility } from '../../src/raft/transport/utility-client.js';
import { isDict, type PyValue } from '../../src/wire/value.js';
import { freeLoopbackAddresses } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

const FAST: SyncObjConfOptions = {
  appendEntriesPeriod: 0.05,
  raftMinTimeout: 0.2,
  raftMaxTimeout: 0.4,
  connectionTimeout: 1.5,
  connectionRetryTime: 0.5,
};

const nodes: KVStoreTTL[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.destroy()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A one-node cluster that leads. */
async function leader(options: Partial<KVStoreTTLOptions> = {}, conf: SyncObjConfOptions = {}) {
  const [addr] = (await freeLoopbackAddresses(1)) as [string];
  const kv = new KVStoreTTL({ selfAddr: addr, partnerAddrs: [], ...options, conf: { ...FAST, ...conf } });
  nodes.push(kv);
  await kv.waitBinded();
  await waitFor(() => kv.isLeader(), 10_000, `${addr} to lead`);
  return { kv, addr };
}

function client(addr: string, timeoutMs = 20_000): BackupClient {
  return new BackupClient(addr, { password: null, timeoutMs });
}

/** The key → record dict of a KVStoreTTL dump's state. */
function dumpRecords(data: PyValue): Map<string, { index: PyValue; value: PyValue }> {
  const kv = splitObjectState(data, 0).own?.get('_KVStoreTTL__data');
  const out = new Map<string, { index: PyValue; value: PyValue }>();
  if (!(kv instanceof Map)) throw new Error('not a KVStoreTTL state');
  for (const [k, r] of kv) {
    if (!isDict(r)) throw new Error(`record of ${String(k)} is not a dict`);
    out.set(String(k), { index: r.get('index') ?? null, value: r.get('value') ?? null });
  }
  return out;
}

describe('the feature probe', () => {
  it("status with 'raftdcs_features' lists the backup commands and transfer; plain status has no extra key", async () => {
    const { addr } = await leader();
    const util = new TcpUtility({ timeoutMs: 5000 });
    const probed = await util.execute(addr, ['status', 'raftdcs_features']);
    const plain = await util.execute(addr, ['status']);
    expect(isDict(probed) && probed.get('raftdcs_features')).toEqual([
      'snapshot',
      'snapshot_chunk',
      'compact',
      'transfer',
    ]);
    expect(isDict(plain) && plain.has('raftdcs_features')).toBe(false);
  });
});

describe('snapshot', () => {
  it('is the state at exactly its index while writes go on', async () => {
    const applied: { key: string; record: KvRecord }[] = [];
    const { kv, addr } = await leader({ onSet: (key, record) => applied.push({ key, record }) });
    let stop = false;
    let written = 0;
    const writer = (async () => {
      for (let round = 0; !stop; round++) {
        await Promise.all(
          Array.from({ length: 20 }, (_, j) =>
            kv.set(`/service/batman/k${(round * 7 + j) % 40}`, `v${round}.${j}`),
          ),
        );
        written += 20;
      }
    })();
    await waitFor(() => written >= 100, 20_000, 'the first writes');
    const snapshots = [];
    for (let i = 0; i < 3; i++) snapshots.push(await client(addr).takeSnapshot());
    stop = true;
    await writer;
    const indexes = snapshots.map((s) => s.offer.lastIndex);
    expect(new Set(indexes).size, `three snapshots at different indexes: ${indexes}`).toBe(3);
    for (const { offer, dumpGz } of snapshots) {
      const dump = await decodeDump(dumpGz);
      expect([dump.lastEntry.index, dump.lastEntry.term]).toEqual([offer.lastIndex, offer.lastTerm]);
      expect([dump.prevEntry.index, dump.prevEntry.term]).toEqual([offer.prevIndex, offer.prevTerm]);
      expect(dump.cluster).toEqual([addr]);
      expect(offer.commitIndex).toBeGreaterThanOrEqual(offer.lastIndex);
      // the state as of lastIndex: for each key, the last set applied at or before it
      const expected = new Map<string, { index: PyValue; value: PyValue }>();
      for (const { key, record } of applied) {
        if (record.index <= offer.lastIndex) expected.set(key, { index: record.index, value: record.value });
      }
      expect(dumpRecords(dump.data)).toEqual(expected);
    }
  });

  it('comes in chunks when larger than one, checked by length and SHA-256; bad chunk requests get FAIL texts', async () => {
    const { kv, addr } = await leader();
    // random values do not compress: the dump is about 2.5 chunks
    const values = Array.from({ length: 5 }, () => randomBytes(400_000).toString('base64'));
    for (const [i, v] of values.entries()) expect(await kv.set(`/big/${i}`, v)).not.toBe(false);
    const { offer, dumpGz } = await client(addr).takeSnapshot();
    expect(offer.size).toBeGreaterThan(2 * SNAPSHOT_CHUNK_BYTES);
    expect(dumpGz.length).toBe(offer.size);
    const dump = await decodeDump(dumpGz);
    expect(kvKeyCount(dump.data)).toBe(5);
    expect(dumpRecords(dump.data).get('/big/4')?.value).toBe(values[4]);

    const util = new TcpUtility({ timeoutMs: 5000 });
    expect(await util.execute(addr, ['snapshot_chunk', 'no-such-id', 0])).toMatch(
      /^FAIL SNAPSHOT_CHUNK: no snapshot "no-such-id" here/,
    );
    expect(await util.execute(addr, ['snapshot_chunk', offer.id, offer.size])).toBe(
      `FAIL SNAPSHOT_CHUNK: offset ${offer.size} is past the end (${offer.size} bytes)`,
    );
    expect(await util.execute(addr, ['snapshot_chunk', offer.id])).toBe(
      'FAIL SNAPSHOT_CHUNK: expected the arguments (id: str, offset: int >= 0)',
    );
    const again = await util.execute(addr, ['snapshot_chunk', offer.id, SNAPSHOT_CHUNK_BYTES]);
    expect(isDict(again) && again.get('data')).toEqual(
      dumpGz.subarray(SNAPSHOT_CHUNK_BYTES, 2 * SNAPSHOT_CHUNK_BYTES),
    );
  });
});

describe('compact', () => {
  it('cuts the log at the applied index and stores the dump, outside the logCompactionSplit slot; again: nothing new', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'raftdcs-compact-'));
    dirs.push(dir);
    const [addr] = (await freeLoopbackAddresses(1)) as [string];
    const files = { journalFile: join(dir, `${addr}.journal`), fullDumpFile: join(dir, `${addr}.dump`) };
    // the split slot is the first 30 % of a 10^9-second period: never open now, so no compaction
    // happens by itself (nor would forceLogCompaction's)
    const kv = new KVStoreTTL({
      selfAddr: addr,
      partnerAddrs: [],
      conf: { ...FAST, ...files, logCompactionSplit: true, logCompactionMinTime: 1e9 },
    });
    nodes.push(kv);
    await kv.waitBinded();
    await waitFor(() => kv.isLeader(), 10_000, `${addr} to lead`);
    for (let i = 0; i < 30; i++)
      expect(await kv.set(`/service/batman/members/m${i}`, `{"n":${i}}`)).not.toBe(false);
    const before = kv.getStatus();
    expect(before.log_len).toBeGreaterThan(30);
    expect(existsSync(files.fullDumpFile)).toBe(false);

    const r = await client(addr).compact();
    expect(r.lastIndex).toBe(kv.raftLastApplied);
    expect(r.logLength).toBe(2);
    expect(r.dumpBytes).toBeGreaterThan(0);
    expect(kv.getStatus().log_len).toBe(2);
    const stored = await decodeDump(readFileSync(files.fullDumpFile));
    expect(stored.lastEntry.index).toBe(r.lastIndex);
    expect(kvKeyCount(stored.data)).toBe(30);

    const again = await client(addr).compact();
    expect(again).toEqual({ ...r, dumpBytes: null });
  });
});
