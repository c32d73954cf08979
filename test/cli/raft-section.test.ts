/**
 * The timeout knobs of the `raft:` section (M01, M02) and Patroni's data_dir check (M05), as the
 * controller parses them (src/config/raft-section.ts). In-process; the spawned controller tests
 * check that these messages reach the operator.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import {
  parseRaftSection,
  parseTimeouts,
  syncObjTimeouts,
  validateDataDir,
} from '../../src/config/raft-section.js';
import { type ConfigMap, parseYaml } from '../../src/config/yaml.js';

const section = (yaml: string) => parseYaml(yaml, 't') as ConfigMap;

function failure(yaml: string): string {
  try {
    parseTimeouts(section(yaml));
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).reason;
  }
  throw new Error(`no error for ${yaml}`);
}

describe('M01 timeout ordering: Patroni order and exact messages', () => {
  it.each([
    ['{min_timeout: 10.0, max_timeout: 5.0}', 'max_timeout (5.0) must be > min_timeout (10.0)'],
    [
      '{append_entries_period: 0.5, min_timeout: 1.0}',
      'min_timeout (1.0) must be > 3 * append_entries_period (0.5)',
    ],
    ['{min_timeout: 1.4}', 'max_timeout (1.4 (default)) must be > min_timeout (1.4)'],
    [
      '{max_timeout: 10.0, connection_timeout: 5.0}',
      'connection_timeout (5.0) must be >= max_timeout (10.0)',
    ],
    [
      '{append_entries_period: 1.0, min_timeout: 3.0}',
      'min_timeout (3.0) must be > 3 * append_entries_period (1.0)',
    ],
    [
      '{append_entries_period: 50.0, min_timeout: 200.0, max_timeout: 300.0, connection_timeout: 400.0, leader_fallback_timeout: 30.0}',
      'leader_fallback_timeout (30.0) must be > append_entries_period (50.0)',
    ],
    // double arithmetic: 0.1 * 3 = 0.30000000000000004
    ['{min_timeout: 0.3}', 'min_timeout (0.3) must be > 3 * append_entries_period (0.1 (default))'],
    // integers print as Python ints
    ['{min_timeout: 5}', 'max_timeout (1.4 (default)) must be > min_timeout (5)'],
  ])('M01 %s', (yaml, message) => {
    expect(failure(yaml)).toBe(message);
  });

  it('M01 the error names the failing key under raft.', () => {
    try {
      parseTimeouts(section('{min_timeout: 10.0, max_timeout: 5.0}'));
      expect.unreachable();
    } catch (e) {
      expect((e as ConfigError).key).toBe('raft.max_timeout');
      expect((e as ConfigError).message).toBe(
        'raft.max_timeout: max_timeout (5.0) must be > min_timeout (10.0)',
      );
    }
  });
});

describe('M02 accepted timeouts', () => {
  it('M02 no knob: pysyncobj defaults, no "Applying custom" line', () => {
    const s = parseRaftSection(section('self_addr: a:1\n'));
    expect(s.customTimeoutsMessage).toBeNull();
    expect(syncObjTimeouts(s)).toEqual({
      raftMinTimeout: 0.4,
      raftMaxTimeout: 1.4,
      connectionTimeout: 3.5,
      appendEntriesPeriod: 0.1,
      connectionRetryTime: 5.0,
      leaderFallbackTimeout: 30.0,
    });
  });

  it('M02 append_entries_period alone; connection_retry_time 0; integers; nulls are unset', () => {
    expect(parseTimeouts(section('{append_entries_period: 0.05}')).message).toBe(
      'Applying custom pysyncobj timeouts: append_entries_period=0.05',
    );
    expect(parseTimeouts(section('{connection_retry_time: 0}')).timeouts.connection_retry_time.value).toBe(
      0n,
    );
    const ints = parseTimeouts(
      section(
        '{min_timeout: 5, max_timeout: 10, connection_timeout: 15, append_entries_period: 1, connection_retry_time: 10, leader_fallback_timeout: 60}',
      ),
    );
    expect(ints.message).toBe(
      'Applying custom pysyncobj timeouts: append_entries_period=1, min_timeout=5, max_timeout=10, connection_timeout=15, connection_retry_time=10, leader_fallback_timeout=60',
    );
    expect(parseTimeouts(section('{min_timeout: null}')).message).toBeNull();
  });

  it('M02 a non-number is rejected naming the option', () => {
    expect(failure('{min_timeout: "abc"}')).toBe(
      'min_timeout must be a number of seconds, got the string "abc"',
    );
    expect(failure('{max_timeout: true}')).toContain('max_timeout must be a number');
    expect(failure('{connection_retry_time: -1}')).toBe('connection_retry_time (-1) must be >= 0');
    expect(failure('{min_timeout: .inf}')).toContain('min_timeout must be a finite number');
  });
});

describe('M05 data_dir', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'raftdcs-datadir-'));
  });
  afterEach(() => {
    chmodSync(dir, 0o700);
    rmSync(dir, { recursive: true, force: true });
  });

  it('M05 an existing regular file: "<path> is not a directory"', () => {
    const f = join(dir, 'file');
    writeFileSync(f, 'x');
    expect(() => validateDataDir(f)).toThrow(`raft.data_dir: ${f} is not a directory`);
  });

  it('M05 a directory where no file can be created: "<path> the directory is not writable"', () => {
    // root ignores permission bits: use a directory of a read-only file system then
    let ro = join(dir, 'ro');
    if (process.getuid?.() === 0) ro = '/proc/1';
    else {
      validateDataDir(ro);
      chmodSync(ro, 0o555);
    }
    expect(() => validateDataDir(ro)).toThrow(`raft.data_dir: ${ro} the directory is not writable`);
  });

  it('M05 a missing directory is created (with its parents); one under a file cannot be', () => {
    const nested = join(dir, 'a', 'b');
    validateDataDir(nested);
    expect(existsSync(nested)).toBe(true);
    const f = join(dir, 'plain');
    writeFileSync(f, 'x');
    expect(() => validateDataDir(join(f, 'sub'))).toThrow(`${join(f, 'sub')} couldn't create the directory`);
  });
});
