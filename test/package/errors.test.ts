/**
 * The public errors: every error class `raftdcs` exports is a `RaftdcsError` with its own `name`, a
 * string `code` and a message that names the failure (the code-prefixed ones start with the code);
 * `cause` is carried; no two classes in src/ share a name.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as api from '../../src/index.js';
import { FatalApplyError } from '../../src/raft/runtime/driver.js';

type ErrorClass = abstract new (...args: never[]) => Error;

/** one instance of each exported error class; `prefixed`: its message starts with its code */
const SAMPLES: Record<string, { make: () => Error; prefixed: boolean }> = {
  ClusterParseError: {
    make: () => new api.ClusterParseError('BAD_SCHEDULED_AT', '/failover', 'soon', 'not a date-time'),
    prefixed: false,
  },
  JsonParseError: {
    make: () => new api.JsonParseError('JSON_SYNTAX', 'Expecting value', 0),
    prefixed: false,
  },
  RaftConfigError: { make: () => new api.RaftConfigError('raft.self_addr', 'is required'), prefixed: false },
  DCSError: { make: () => new api.DCSError('unreachable'), prefixed: false },
  RaftError: { make: () => new api.RaftError('timeout'), prefixed: false },
  ConfigError: { make: () => new api.ConfigError('raftMinTimeout', 'must be positive'), prefixed: false },
  JournalCorruptError: {
    make: () => new api.JournalCorruptError('JOURNAL_BAD_MAGIC', '/j', 0, 'no magic'),
    prefixed: true,
  },
  JournalMigrationError: { make: () => new api.JournalMigrationError('/j', 'truncated'), prefixed: true },
  JournalStateError: { make: () => new api.JournalStateError('JOURNAL_CLOSED', 'closed'), prefixed: true },
  PartialDataError: {
    make: () => new api.PartialDataError('DUMP_MISSING', '/j', '/d', 'the dump is gone', 'restore it', true),
    prefixed: true,
  },
  SyncObjError: { make: () => new api.SyncObjError(api.FailReason.MissingLeader), prefixed: false },
  AddressError: { make: () => new api.AddressError("expected 'host:port'"), prefixed: false },
  TransportError: {
    make: () => new api.TransportError('BIND_FAILED', 'cannot bind', '127.0.0.1:1'),
    prefixed: true,
  },
  UtilityError: { make: () => new api.UtilityError('TIMEOUT', '127.0.0.1:1', 'no reply'), prefixed: true },
  WireError: { make: () => new api.WireError('BAD_PICKLE', 'unknown opcode', 3), prefixed: true },
  InvariantError: { make: () => new api.InvariantError('applied 7 after 5'), prefixed: true },
};

function exportedErrorClasses(): [string, ErrorClass][] {
  return Object.entries(api).flatMap(([name, value]) =>
    typeof value === 'function' && value.prototype instanceof Error ? [[name, value as ErrorClass]] : [],
  );
}

describe('coded errors', () => {
  it('every exported error class has a sample here (RaftInvariantError aside)', () => {
    const names = exportedErrorClasses()
      .map(([n]) => n)
      .filter((n) => n !== 'RaftdcsError' && n !== 'RaftInvariantError');
    expect(names.sort()).toEqual(Object.keys(SAMPLES).sort());
  });

  it.each(Object.entries(SAMPLES))('%s is a RaftdcsError with its name, a code and a message', (name, s) => {
    const e = s.make();
    const cls = (api as unknown as Record<string, ErrorClass>)[name] as ErrorClass;
    expect(e).toBeInstanceOf(cls);
    expect(e).toBeInstanceOf(api.RaftdcsError);
    expect(e).toBeInstanceOf(Error);
    const coded = e as api.RaftdcsError;
    expect(coded.name).toBe(name);
    expect(typeof coded.code).toBe('string');
    expect(coded.code).toMatch(/^[A-Z][A-Z_]*[A-Z]$/);
    expect(coded.message.length).toBeGreaterThan(0);
    expect(String(coded).startsWith(`${name}: `)).toBe(true);
    if (s.prefixed) expect(coded.message.startsWith(coded.code)).toBe(true);
  });

  it('the codes of the classes without a code list', () => {
    const code = (name: string) => {
      const sample = SAMPLES[name];
      if (sample === undefined) throw new Error(`no sample for ${name}`);
      return (sample.make() as api.RaftdcsError).code;
    };
    expect(code('DCSError')).toBe(api.DcsErrorCode.Dcs);
    expect(code('RaftError')).toBe(api.DcsErrorCode.Raft);
    expect(code('RaftConfigError')).toBe(api.DcsErrorCode.RaftConfig);
    expect(code('ConfigError')).toBe('CONFIG_INVALID');
    expect(code('AddressError')).toBe('INVALID_ADDRESS');
    expect(code('JournalMigrationError')).toBe('JOURNAL_MIGRATION_FAILED');
    expect(code('SyncObjError')).toBe('MISSING_LEADER');
    expect(code('InvariantError')).toBe('INVARIANT_VIOLATED');
    expect(new api.SyncObjError('timeout').code).toBe('TIMEOUT');
    expect(new FatalApplyError('upgrade').code).toBe('FATAL_APPLY');
    expect(new FatalApplyError('upgrade')).toBeInstanceOf(api.RaftdcsError);
  });

  it('messages and extra fields are as before', () => {
    expect(new api.WireError('BAD_PICKLE', 'unknown opcode', 3).message).toBe(
      'BAD_PICKLE at offset 3: unknown opcode',
    );
    expect(new api.WireError('BAD_ZLIB', 'bad stream').message).toBe('BAD_ZLIB: bad stream');
    const t = new api.TransportError('BIND_FAILED', 'cannot bind', '127.0.0.1:1');
    expect([t.message, t.address]).toEqual(['BIND_FAILED: cannot bind', '127.0.0.1:1']);
    const u = new api.UtilityError('TIMEOUT', '127.0.0.1:1', 'no reply');
    expect([u.message, u.address]).toEqual(['TIMEOUT: 127.0.0.1:1: no reply', '127.0.0.1:1']);
    const c = new api.ConfigError('raftMinTimeout', 'must be positive');
    expect([c.message, c.key, c.reason]).toEqual([
      'raftMinTimeout: must be positive',
      'raftMinTimeout',
      'must be positive',
    ]);
    expect(new api.ConfigError('', 'Config is empty.').message).toBe('Config is empty.');
    expect(new api.RaftError('timeout').message).toBe('timeout');
    expect(new api.RaftError()).toBeInstanceOf(api.DCSError);
    expect(new api.RaftConfigError('k', 'm')).toBeInstanceOf(api.RaftError);
    expect(new api.SyncObjError(api.FailReason.MissingLeader).message).toBe('command failed: MISSING_LEADER');
  });

  it('carries the cause', () => {
    const root = new Error('ECONNREFUSED');
    expect(new api.UtilityError('CONNECT_FAILED', 'h:1', 'refused', root).cause).toBe(root);
    expect(new api.TransportError('BIND_FAILED', 'cannot bind', 'h:1', root).cause).toBe(root);
    expect(new api.JournalStateError('JOURNAL_FAILED', 'failed', { cause: root }).cause).toBe(root);
    expect(new api.JournalMigrationError('/j', 'bad', { cause: root }).cause).toBe(root);
    expect(new api.RaftError('timeout', { cause: root }).cause).toBe(root);
    expect('cause' in new api.UtilityError('TIMEOUT', 'h:1', 'no reply')).toBe(false);
  });

  it('RaftInvariantError (a bug in the pure core) stays a plain Error', () => {
    expect(new api.RaftInvariantError('x')).not.toBeInstanceOf(api.RaftdcsError);
  });

  it('no two classes in src/ share a name, nor two error classes a `name`', () => {
    const root = fileURLToPath(new URL('../../src', import.meta.url));
    const classes: string[] = [];
    const errorNames: string[] = [];
    const walk = (dir: string) => {
      for (const d of readdirSync(dir, { withFileTypes: true })) {
        const p = join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (d.name.endsWith('.ts')) {
          const text = readFileSync(p, 'utf8');
          for (const m of text.matchAll(/^\s*(?:export\s+)?(?:abstract\s+)?class\s+([A-Za-z0-9_$]+)/gm))
            classes.push(m[1] as string);
          for (const m of text.matchAll(/override readonly name(?::\s*string)?\s*=\s*'([^']+)'/g))
            errorNames.push(m[1] as string);
        }
      }
    };
    walk(root);
    const dupes = (xs: string[]) => xs.filter((x, i) => xs.indexOf(x) !== i);
    expect(classes.length).toBeGreaterThan(50);
    expect(dupes(classes)).toEqual([]);
    expect(errorNames.length).toBeGreaterThan(15);
    expect(dupes(errorNames)).toEqual([]);
  });
});
