/**
 * Group M (M01, M02, M05; docs/dcs.md §12.13): the Raft DCS configuration (docs/dcs.md §10.2,
 * §10.3) — the pysyncobj timeout knobs with Patroni's exact messages and order, defaults, the
 * "Applying custom pysyncobj timeouts" line, rejection of non-numbers naming the key, and
 * `data_dir` validation with Patroni's messages. Also the derived node settings (docs/dcs.md §10.2, §5.4).
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JsonFloat } from '../../src/dcs/model/json.js';
import { prepareDataDir, RaftConfigError, raftNodeSettings } from '../../src/dcs/raft-config.js';
import { RaftDcs } from '../../src/dcs/raft-dcs.js';
import { DCSError, RaftError } from '../../src/kv/errors.js';
import { MemoryJournal } from '../../src/raft/journal/memory.js';
import { MemoryDumpStore } from '../../src/raft/snapshot/dump-store.js';
import { MemoryNetwork } from '../../src/raft/transport/memory-transport.js';
import { recordingLogger } from './dcs-helpers.js';

const BASE = { name: 'pg1', scope: 'batman', self_addr: '127.0.0.1:7101' } as const;
const tmp = mkdtempSync(join(tmpdir(), 'raftdcs-config-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let opened: RaftDcs[] = [];
afterEach(async () => {
  await Promise.all(opened.map((d) => d.close()));
  opened = [];
});

async function createDcs(extra: Record<string, unknown>, logger = recordingLogger()) {
  const dcs = await RaftDcs.create(
    { ...BASE, ...extra },
    {
      logger: logger.logger,
      deps: {
        transport: new MemoryNetwork().factory,
        journal: new MemoryJournal(),
        dumpStore: new MemoryDumpStore(),
      },
    },
  );
  opened.push(dcs);
  return { dcs, lines: logger.lines };
}

function errorOf(fn: () => unknown): RaftConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RaftConfigError);
    return e as RaftConfigError;
  }
  throw new Error('no error thrown');
}

describe('M01 timeout ordering rules', () => {
  const cases: [Record<string, number>, string, string][] = [
    [
      { min_timeout: 10.0, max_timeout: 5.0 },
      'max_timeout (5.0) must be > min_timeout (10.0)',
      'max_timeout',
    ],
    [
      { append_entries_period: 0.5, min_timeout: 1.0 },
      'min_timeout (1.0) must be > 3 * append_entries_period (0.5)',
      'min_timeout',
    ],
    [{ min_timeout: 1.4 }, 'max_timeout (1.4 (default)) must be > min_timeout (1.4)', 'max_timeout'],
    [
      { max_timeout: 10.0, connection_timeout: 5.0 },
      'connection_timeout (5.0) must be >= max_timeout (10.0)',
      'connection_timeout',
    ],
    [
      { append_entries_period: 1.0, min_timeout: 3.0 },
      'min_timeout (3.0) must be > 3 * append_entries_period (1.0)',
      'min_timeout',
    ],
    [
      {
        append_entries_period: 50.0,
        min_timeout: 200.0,
        max_timeout: 300.0,
        connection_timeout: 400.0,
        leader_fallback_timeout: 30.0,
      },
      'leader_fallback_timeout (30.0) must be > append_entries_period (50.0)',
      'leader_fallback_timeout',
    ],
    // double arithmetic: 0.1 × 3 = 0.30000000000000004
    [
      { min_timeout: 0.3 },
      'min_timeout (0.3) must be > 3 * append_entries_period (0.1 (default))',
      'min_timeout',
    ],
  ];
  for (const [knobs, message, key] of cases) {
    it(`M01 ${JSON.stringify(knobs)} → ${message}`, async () => {
      const e = errorOf(() => raftNodeSettings({ ...BASE, ...knobs }));
      expect(e.message).toBe(message);
      expect(e.key).toBe(key);
      expect(e).toBeInstanceOf(RaftError);
      expect(e).toBeInstanceOf(DCSError);
      await expect(createDcs(knobs)).rejects.toThrow(message);
    });
  }

  it('M01 a YAML integer (bigint) prints as Python prints an int', () => {
    expect(errorOf(() => raftNodeSettings({ ...BASE, min_timeout: 10n, max_timeout: 5n })).message).toBe(
      'max_timeout (5) must be > min_timeout (10)',
    );
    expect(errorOf(() => raftNodeSettings({ ...BASE, min_timeout: 1.4 })).message).toBe(
      'max_timeout (1.4 (default)) must be > min_timeout (1.4)',
    );
  });
});

describe('M02 defaults, accepted values and rejected non-numbers', () => {
  it('M02 no knob: pysyncobj defaults and no "Applying custom pysyncobj timeouts" line', async () => {
    const s = raftNodeSettings(BASE);
    expect(s.timeouts.effective).toEqual({
      raftMinTimeout: 0.4,
      raftMaxTimeout: 1.4,
      connectionTimeout: 3.5,
      appendEntriesPeriod: 0.1,
      connectionRetryTime: 5.0,
      leaderFallbackTimeout: 30.0,
    });
    expect(s.timeouts.logLine).toBeNull();
    expect(s.timeouts.custom).toEqual({});
    const nulls = raftNodeSettings({ ...BASE, min_timeout: null, max_timeout: null });
    expect(nulls.timeouts.logLine).toBeNull();
    const { dcs, lines } = await createDcs({});
    expect(lines.filter((l) => l.msg.includes('Applying custom pysyncobj timeouts'))).toEqual([]);
    const v = dcs.kv.conf.values;
    expect([
      v.raftMinTimeout,
      v.raftMaxTimeout,
      v.connectionTimeout,
      v.appendEntriesPeriod,
      v.connectionRetryTime,
      v.leaderFallbackTimeout,
    ]).toEqual([0.4, 1.4, 3.5, 0.1, 5.0, 30.0]);
  });

  it('M02 append_entries_period 0.05 alone is accepted (defaults fill in) and logged', async () => {
    const { dcs, lines } = await createDcs({ append_entries_period: 0.05 });
    expect(dcs.kv.conf.values.appendEntriesPeriod).toBe(0.05);
    expect(dcs.kv.conf.values.raftMinTimeout).toBe(0.4);
    expect(lines.map((l) => l.msg)).toContain(
      'Applying custom pysyncobj timeouts: append_entries_period=0.05',
    );
  });

  it('M02 connection_retry_time 0 is accepted', async () => {
    const { dcs } = await createDcs({ connection_retry_time: 0 });
    expect(dcs.kv.conf.values.connectionRetryTime).toBe(0);
  });

  it('M02 integer values are accepted (numbers and YAML ints as bigint)', async () => {
    const ints = {
      min_timeout: 5,
      max_timeout: 10,
      connection_timeout: 15,
      append_entries_period: 1,
      connection_retry_time: 10,
      leader_fallback_timeout: 60,
    };
    const { dcs, lines } = await createDcs(ints);
    const v = dcs.kv.conf.values;
    expect([v.raftMinTimeout, v.raftMaxTimeout, v.connectionTimeout, v.appendEntriesPeriod]).toEqual([
      5, 10, 15, 1,
    ]);
    expect([v.connectionRetryTime, v.leaderFallbackTimeout]).toEqual([10, 60]);
    expect(lines.map((l) => l.msg)).toContain(
      'Applying custom pysyncobj timeouts: append_entries_period=1.0, min_timeout=5.0, max_timeout=10.0, connection_timeout=15.0, connection_retry_time=10.0, leader_fallback_timeout=60.0',
    );
    const big = raftNodeSettings({
      ...BASE,
      min_timeout: 5n,
      max_timeout: 10n,
      connection_timeout: 15n,
      append_entries_period: 1n,
      connection_retry_time: 10n,
      leader_fallback_timeout: 60n,
    });
    expect(big.conf.raftMinTimeout).toBe(5);
    expect(big.timeouts.logLine).toBe(
      'Applying custom pysyncobj timeouts: append_entries_period=1, min_timeout=5, max_timeout=10, connection_timeout=15, connection_retry_time=10, leader_fallback_timeout=60',
    );
    expect(raftNodeSettings({ ...BASE, min_timeout: new JsonFloat(0.5) }).conf.raftMinTimeout).toBe(0.5);
  });

  it('M02 [improvement] non-numbers are rejected with a message naming the key', async () => {
    for (const bad of ['abc', '0.5', true, [1], { a: 1 }]) {
      const e = errorOf(() => raftNodeSettings({ ...BASE, min_timeout: bad as unknown as number }));
      expect(e.key).toBe('min_timeout');
      expect(e.message).toMatch(/^raft\.min_timeout must be a number/);
    }
    await expect(createDcs({ min_timeout: 'abc' })).rejects.toThrow(
      /raft\.min_timeout must be a number.*'abc'/,
    );
    const neg = errorOf(() => raftNodeSettings({ ...BASE, append_entries_period: -1 }));
    expect(neg.key).toBe('append_entries_period');
    expect(errorOf(() => raftNodeSettings({ ...BASE, min_timeout: Number.NaN })).key).toBe('min_timeout');
    expect(errorOf(() => raftNodeSettings({ ...BASE, partner_addrs: [620 as unknown as string] })).key).toBe(
      'partner_addrs',
    );
    expect(errorOf(() => raftNodeSettings({ ...BASE, ttl: 'x' as unknown as number })).key).toBe('ttl');
    await expect(RaftDcs.create({ scope: 'batman' } as unknown as typeof BASE)).rejects.toThrow(
      /name is required/,
    );
    expect(errorOf(() => raftNodeSettings({ partner_addrs: ['a:1'] }, { requireSelfAddr: true })).key).toBe(
      'raft.self_addr',
    );
  });
});

describe('node settings (docs/dcs.md §10.2, §5.4)', () => {
  it('derives journal/dump names, DNS cache times, retry timeout and patronictl read-only mode', () => {
    const s = raftNodeSettings({
      ...BASE,
      data_dir: '/var/lib/raft',
      partner_addrs: ['127.0.0.1:7102', '127.0.0.1:7101', '127.0.0.1:7102'],
      ttl: 20,
      loop_wait: 5,
      retry_timeout: 7.9,
    });
    expect(s.selfAddr).toBe('127.0.0.1:7101');
    expect(s.partnerAddrs).toEqual(['127.0.0.1:7102']);
    expect(s.files).toEqual({
      journal: '/var/lib/raft/127.0.0.1:7101.journal',
      dump: '/var/lib/raft/127.0.0.1:7101.dump',
    });
    expect(s.conf).toMatchObject({
      dnsCacheTime: 20,
      dnsFailCacheTime: 5,
      commandsWaitLeader: false,
      appendEntriesUseBatch: false,
      dynamicMembershipChange: true,
      journalFile: '/var/lib/raft/127.0.0.1:7101.journal',
      fullDumpFile: '/var/lib/raft/127.0.0.1:7101.dump',
    });
    expect(s.retryTimeout).toBe(7);
    expect(raftNodeSettings({ ...BASE, data_dir: 'C:\\raft' }, { windows: true }).files?.journal).toBe(
      'C:\\raft\\127.0.0.1_7101.journal',
    );
    const defaults = raftNodeSettings(BASE);
    expect(defaults.files?.journal).toBe('127.0.0.1:7101.journal');
    expect([defaults.ttl, defaults.loopWait, defaults.retryTimeout]).toEqual([30, 10, 10]);
    expect([defaults.conf.dnsCacheTime, defaults.conf.dnsFailCacheTime]).toEqual([30, 10]);
    const ctl = raftNodeSettings({ ...BASE, patronictl: true, partner_addrs: ['127.0.0.1:7102'] });
    expect(ctl.selfAddr).toBeNull();
    expect(ctl.readOnly).toBe(true);
    expect(ctl.files).toBeNull();
    expect(ctl.conf.journalFile).toBeNull();
    expect(ctl.partnerAddrs).toEqual(['127.0.0.1:7102', '127.0.0.1:7101']);
    const noSelf = raftNodeSettings({ name: 'pg1', scope: 'batman', partner_addrs: ['127.0.0.1:7102'] });
    expect(noSelf.readOnly).toBe(true);
    expect(noSelf.files).toBeNull();
  });
});

describe('M05 data_dir', () => {
  it('M05 an existing regular file is not a directory', async () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    expect(errorOf(() => prepareDataDir(file)).message).toBe(`${file} is not a directory`);
    await expect(createDcs({ data_dir: file })).rejects.toThrow(`${file} is not a directory`);
    // also in patronictl mode (validated before anything else)
    await expect(createDcs({ data_dir: file, patronictl: true })).rejects.toThrow(
      `${file} is not a directory`,
    );
  });

  it('M05 a non-writable directory is refused', async () => {
    // as root no permission bit stops a write: use a file system that refuses new files (procfs)
    let dir: string;
    if (process.getuid?.() === 0) {
      dir = '/proc';
    } else {
      dir = join(tmp, 'read-only');
      mkdirSync(dir);
      chmodSync(dir, 0o555);
    }
    expect(errorOf(() => prepareDataDir(dir)).message).toBe(`${dir} the directory is not writable`);
    await expect(createDcs({ data_dir: dir })).rejects.toThrow(`${dir} the directory is not writable`);
  });

  it('M05 a missing directory is created; one that cannot be created is reported', async () => {
    const dir = join(tmp, 'new', 'nested');
    expect(existsSync(dir)).toBe(false);
    const { dcs } = await createDcs({ data_dir: dir });
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(dcs.settings.files?.journal).toBe(`${dir}/127.0.0.1:7101.journal`);
    const blocked = join(tmp, 'a-file-2', 'sub');
    writeFileSync(join(tmp, 'a-file-2'), 'x');
    expect(errorOf(() => prepareDataDir(blocked)).message).toBe(`${blocked} couldn't create the directory`);
    await expect(createDcs({ data_dir: blocked })).rejects.toThrow(
      `${blocked} couldn't create the directory`,
    );
  });
});
