/**
 * The controller's view of the `raft:` section (src/config/controller-config.ts over the Raft DCS
 * parser src/dcs/raft-config.ts, whose own tests live in test/dcs): the timeout knobs with
 * Patroni's messages under `raft.<key>` (M01, M02) and Patroni's data_dir check (M05). In-process;
 * the spawned controller tests check that these messages reach the operator.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  controllerSettings,
  DEFAULT_READY_MAX_LAG,
  prepareControllerDataDir,
} from '../../src/config/controller-config.js';
import { type ConfigMap, parseYaml } from '../../src/config/yaml.js';
import { ConfigError } from '../../src/raft/config.js';

/** The controller settings for a raft section with self_addr plus the given knobs (YAML flow map). */
function settings(knobs: string) {
  const config = parseYaml(`raft: {self_addr: '127.0.0.1:7101', ${knobs.replace(/^\{|\}$/g, '')}}`, 't');
  return controllerSettings(config as ConfigMap);
}

function failure(knobs: string): ConfigError {
  try {
    settings(knobs);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error(`no error for ${knobs}`);
}

describe('M01 timeout ordering: Patroni order and exact messages', () => {
  it.each([
    [
      '{min_timeout: 10.0, max_timeout: 5.0}',
      'max_timeout',
      'max_timeout (5.0) must be > min_timeout (10.0)',
    ],
    [
      '{append_entries_period: 0.5, min_timeout: 1.0}',
      'min_timeout',
      'min_timeout (1.0) must be > 3 * append_entries_period (0.5)',
    ],
    ['{min_timeout: 1.4}', 'max_timeout', 'max_timeout (1.4 (default)) must be > min_timeout (1.4)'],
    [
      '{max_timeout: 10.0, connection_timeout: 5.0}',
      'connection_timeout',
      'connection_timeout (5.0) must be >= max_timeout (10.0)',
    ],
    [
      '{append_entries_period: 1.0, min_timeout: 3.0}',
      'min_timeout',
      'min_timeout (3.0) must be > 3 * append_entries_period (1.0)',
    ],
    [
      '{append_entries_period: 50.0, min_timeout: 200.0, max_timeout: 300.0, connection_timeout: 400.0, leader_fallback_timeout: 30.0}',
      'leader_fallback_timeout',
      'leader_fallback_timeout (30.0) must be > append_entries_period (50.0)',
    ],
    // double arithmetic: 0.1 * 3 = 0.30000000000000004
    [
      '{min_timeout: 0.3}',
      'min_timeout',
      'min_timeout (0.3) must be > 3 * append_entries_period (0.1 (default))',
    ],
  ])('M01 %s', (knobs, key, message) => {
    const e = failure(knobs);
    expect(e.key).toBe(`raft.${key}`);
    expect(e.message).toBe(`raft.${key}: ${message}`);
  });
});

describe('M02 accepted timeouts', () => {
  it('M02 no knob: pysyncobj defaults, no "Applying custom" line', () => {
    const s = settings('');
    expect(s.node.timeouts.logLine).toBeNull();
    expect(s.node.timeouts.effective).toEqual({
      raftMinTimeout: 0.4,
      raftMaxTimeout: 1.4,
      connectionTimeout: 3.5,
      appendEntriesPeriod: 0.1,
      connectionRetryTime: 5.0,
      leaderFallbackTimeout: 30.0,
    });
  });

  it('M02 append_entries_period alone; connection_retry_time 0; integers; null is unset', () => {
    expect(settings('{append_entries_period: 0.05}').node.timeouts.logLine).toBe(
      'Applying custom pysyncobj timeouts: append_entries_period=0.05',
    );
    expect(settings('{connection_retry_time: 0}').node.conf.connectionRetryTime).toBe(0);
    const ints = settings(
      '{min_timeout: 5, max_timeout: 10, connection_timeout: 15, append_entries_period: 1, connection_retry_time: 10, leader_fallback_timeout: 60}',
    );
    expect(ints.node.timeouts.logLine).toBe(
      'Applying custom pysyncobj timeouts: append_entries_period=1, min_timeout=5, max_timeout=10, connection_timeout=15, connection_retry_time=10, leader_fallback_timeout=60',
    );
    expect(ints.node.conf.raftMinTimeout).toBe(5);
    expect(settings('{min_timeout: null}').node.timeouts.logLine).toBeNull();
  });

  it('M02 a non-number, a non-finite or out-of-range value is rejected naming the option', () => {
    const abc = failure('{min_timeout: "abc"}');
    expect(abc.key).toBe('raft.min_timeout');
    expect(abc.message).toMatch(/^raft\.min_timeout: must be a number of seconds/);
    expect(failure('{max_timeout: true}').key).toBe('raft.max_timeout');
    expect(failure('{connection_retry_time: -1}').message).toMatch(/^raft\.connection_retry_time: .*>= 0/);
    expect(failure('{min_timeout: .inf}').message).toMatch(/^raft\.min_timeout: .*finite/);
  });
});

describe('raftdcs.ready_max_lag (GET /readyz)', () => {
  const withRaftdcs = (section: string) =>
    controllerSettings(
      parseYaml(`raft: {self_addr: '127.0.0.1:7101'}\nraftdcs: ${section}`, 't') as ConfigMap,
    );

  it('defaults to DEFAULT_READY_MAX_LAG (1000); a whole number >= 0 is taken', () => {
    expect(DEFAULT_READY_MAX_LAG).toBe(1000);
    expect(settings('').readyMaxLag).toBe(1000);
    expect(withRaftdcs('{ready_max_lag: null}').readyMaxLag).toBe(1000);
    expect(withRaftdcs('{ready_max_lag: 0}').readyMaxLag).toBe(0);
    expect(withRaftdcs('{ready_max_lag: 50}').readyMaxLag).toBe(50);
  });

  it('anything else is a ConfigError naming raftdcs.ready_max_lag', () => {
    for (const bad of ['-1', '1.5', 'lots', 'true']) {
      expect(() => withRaftdcs(`{ready_max_lag: ${bad}}`), bad).toThrow(
        /^raftdcs\.ready_max_lag: expected a whole number >= 0, got /,
      );
    }
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
    expect(() => prepareControllerDataDir(f)).toThrow(`raft.data_dir: ${f} is not a directory`);
  });

  it('M05 a directory where no file can be created: "<path> the directory is not writable"', () => {
    // root ignores permission bits: use a directory of a read-only file system then
    let ro = join(dir, 'ro');
    if (process.getuid?.() === 0) ro = '/proc/1';
    else {
      prepareControllerDataDir(ro);
      chmodSync(ro, 0o555);
    }
    expect(() => prepareControllerDataDir(ro)).toThrow(`raft.data_dir: ${ro} the directory is not writable`);
  });

  it("M05 a missing directory is created (with its parents); one under a file cannot be; '' is the cwd", () => {
    const nested = join(dir, 'a', 'b');
    prepareControllerDataDir(nested);
    expect(existsSync(nested)).toBe(true);
    const f = join(dir, 'plain');
    writeFileSync(f, 'x');
    expect(() => prepareControllerDataDir(join(f, 'sub'))).toThrow(
      `raft.data_dir: ${join(f, 'sub')} couldn't create the directory`,
    );
    expect(() => prepareControllerDataDir('')).not.toThrow();
  });
});
